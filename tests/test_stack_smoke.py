"""``python -m stack.smoke``, the checks scripts/container_smoke.sh runs against
the three containers, passes against the three servers as processes, so the
container smoke run fails only for what is about containers."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack import smoke
from tests.gateway_support import ADMIN_TOKEN, Process, gateway_env, spawn


def test_the_smoke_checks_pass_on_a_live_stack(
    backends: tuple[Process, Process], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    captioner, generator = backends
    # The dns:/// target is the one the manifests give the gateway.
    env = gateway_env(f"dns:///{captioner.address}", generator.address, tmp_path)
    gateway = spawn("gateway", "GATEWAY", tmp_path, env)
    try:
        smoke.check(
            gateway.address,
            captioner.address,
            generator.address,
            f"http://127.0.0.1:{gateway.metrics_port}/metrics",
            ADMIN_TOKEN,
            timeout_s=60,
        )
    finally:
        gateway.stop()
    out = capsys.readouterr().out
    assert "metering: 2 images billed" in out
    assert gateway.popen.returncode == 0


def test_the_smoke_checks_name_what_is_not_serving() -> None:
    with pytest.raises(SystemExit, match="not SERVING after 1 s"):
        smoke.wait_serving("127.0.0.1:1", "liveness", timeout_s=1)
