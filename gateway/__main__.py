"""``python -m gateway [--port N ...]``: runs the gateway until SIGTERM."""

from __future__ import annotations

import asyncio
import sys

from gateway.server import build_app
from gateway.settings import GatewaySettings
from serving import logs
from serving.settings import load_settings


def main(argv: list[str] | None = None) -> None:
    settings = load_settings(GatewaySettings, sys.argv[1:] if argv is None else argv)
    logs.configure(settings.log_level, settings.log_json)
    asyncio.run(build_app(settings).run_until_signal())


if __name__ == "__main__":
    main()
