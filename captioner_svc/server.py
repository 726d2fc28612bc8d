"""The captioner server's entry for ``__main__`` and tests."""

from captioner_svc.service import build_app

__all__ = ["build_app"]
