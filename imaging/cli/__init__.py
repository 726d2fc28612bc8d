"""The ``imaging`` command line (``imaging --help``), a typer app on the typed
clients of ``imaging.client``: ``caption``, ``embed``, ``match``,
``generate``, ``variants``, ``usage`` and ``keys``."""

from imaging.cli.main import app

__all__ = ["app"]
