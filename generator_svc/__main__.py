"""``python -m generator_svc [--port N ...]``: runs the generator server until SIGTERM."""

from __future__ import annotations

import asyncio
import sys

from generator_svc.server import build_app
from generator_svc.settings import GeneratorSettings
from serving import logs, tracing
from serving.settings import load_settings


def main(argv: list[str] | None = None) -> None:
    settings = load_settings(GeneratorSettings, sys.argv[1:] if argv is None else argv)
    logs.configure(settings.log_level, settings.log_json)
    tracing.setup("generator")
    asyncio.run(build_app(settings).run_until_signal())


if __name__ == "__main__":
    main()
