"""Alembic migrations of the gateway's store (``python -m gateway migrate``)."""
