"""``python -m captioner_svc [--port N ...]``: runs the captioner server until SIGTERM."""

from __future__ import annotations

import asyncio
import sys

from captioner_svc.server import build_app
from captioner_svc.settings import CaptionerSettings
from serving import logs, tracing
from serving.settings import load_settings


def main(argv: list[str] | None = None) -> None:
    settings = load_settings(CaptionerSettings, sys.argv[1:] if argv is None else argv)
    logs.configure(settings.log_level, settings.log_json)
    tracing.setup("captioner")
    asyncio.run(build_app(settings).run_until_signal())


if __name__ == "__main__":
    main()
