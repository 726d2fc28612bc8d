"""The committed stubs are exactly what the contracts generate."""

from __future__ import annotations

from pathlib import Path

from tools.gen_protos import REPO_ROOT, generate


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    fresh = generate(tmp_path)
    assert fresh, "no stubs generated"
    stale = []
    for path in fresh:
        relative = path.relative_to(tmp_path)
        committed = REPO_ROOT / relative
        if not committed.exists() or committed.read_bytes() != path.read_bytes():
            stale.append(str(relative))
    assert not stale, f"stale generated code, run `make gen`: {stale}"
    committed_stubs = {p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "imaging").rglob("*_pb2*.py*")}
    assert committed_stubs == {p.relative_to(tmp_path) for p in fresh if "_pb2" in p.name}
