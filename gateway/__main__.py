"""``python -m gateway [--port N ...]``: runs the gateway until SIGTERM.

``python -m gateway migrate [--database-url URL]`` brings the store's schema up
to date and exits (the gateway also does this on every start)."""

from __future__ import annotations

import asyncio
import sys

from gateway.server import build_app
from gateway.settings import GatewaySettings
from gateway.store.database import database_url, describe, migrate, open_engines
from serving import logs, tracing
from serving.settings import load_settings


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["migrate"]:
        settings = load_settings(GatewaySettings, args[1:])
        logs.configure(settings.log_level, settings.log_json)
        url = database_url(settings.database_url, settings.data_dir)
        engines = open_engines(url)
        migrate(engines.writer)
        engines.dispose()
        print(f"store schema up to date: {describe(url)}")
        return
    settings = load_settings(GatewaySettings, args)
    logs.configure(settings.log_level, settings.log_json)
    tracing.setup("gateway")
    asyncio.run(build_app(settings).run_until_signal())


if __name__ == "__main__":
    main()
