"""The generator server's entry for ``__main__`` and tests."""

from generator_svc.service import build_app

__all__ = ["build_app"]
