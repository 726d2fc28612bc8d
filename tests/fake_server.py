"""``python -m tests.fake_server COMPUTE_S``: the fake captioner as a real process.

Prints ``PORT=<n>`` once listening, then serves until SIGTERM (used by the
drain test, which needs a real signal).
"""

from __future__ import annotations

import asyncio
import sys

from serving import logs
from serving.settings import ModelServerSettings
from tests.fakes import ByteCountModel, build_fake_app


async def _serve(compute_s: float) -> None:
    settings = ModelServerSettings(port=0, metrics_port=0, drain_delay_s=0.5, grace_period_s=10)
    app = build_fake_app(settings, ByteCountModel(compute_s=compute_s))
    task = asyncio.create_task(app.run_until_signal())
    while app.port == 0 and not task.done():
        await asyncio.sleep(0.01)
    print(f"PORT={app.port}", flush=True)
    await task


if __name__ == "__main__":
    logs.configure("INFO", json_format=True)
    asyncio.run(_serve(float(sys.argv[1])))
