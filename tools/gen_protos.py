"""Generates the Python stubs (+ .pyi type stubs) of every contract under protos/.

``python -m tools.gen_protos [OUT_DIR]`` writes ``imaging/<pkg>/v1/*_pb2*.py[i]``
under OUT_DIR (default: the repository root, so the stubs land in the public
``imaging`` package). The generated files are committed so that installing the
package needs no protoc; tests/test_generated_code.py fails when they are stale.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO_ROOT / "protos"
_INIT_DOC = '"""Generated from protos/{path}; do not edit: run `make gen`."""\n'


def proto_files() -> list[Path]:
    """Returns every .proto file under protos/, sorted."""
    return sorted(PROTO_ROOT.rglob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Generates stubs for all contracts into ``out_dir``; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    well_known = resources.files("grpc_tools") / "_proto"
    bin_dir = Path(sys.executable).parent
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        # The mypy-protobuf plugins live beside this interpreter, maybe off PATH.
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *(str(p.relative_to(PROTO_ROOT)) for p in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed; see the messages above")
    # protoc writes no packages: add an __init__.py to each generated folder.
    for proto in proto_files():
        package_dir = out_dir / proto.parent.relative_to(PROTO_ROOT)
        for folder in (package_dir, *package_dir.relative_to(out_dir).parents):
            init = out_dir / folder / "__init__.py"
            if folder != Path(".") and folder != Path("imaging") and not init.exists():
                init.write_text(_INIT_DOC.format(path=init.parent.relative_to(out_dir)))
    return sorted(p for p in (out_dir / "imaging").rglob("*") if p.is_file() and _is_generated(p))


def _is_generated(path: Path) -> bool:
    return "_pb2" in path.name or (path.name == "__init__.py" and path.parent.name != "imaging")


def main() -> None:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT
    for path in generate(out_dir):
        print(path.relative_to(out_dir))


if __name__ == "__main__":
    main()
