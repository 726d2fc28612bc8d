"""Opens the store: one SQLAlchemy engine for SQLite (embedded, WAL) or
PostgreSQL (shared by replicas), with the schema brought up to date by Alembic."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

_LOGGER = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_FILE = "gateway.db"


def database_url(configured: str, data_dir: Path) -> str:
    """The configured URL, or the embedded SQLite file in ``data_dir``."""
    if configured:
        return configured
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(data_dir / SQLITE_FILE).resolve()}"


@dataclass(frozen=True)
class Engines:
    """``writer`` for transactions that write, ``reader`` for reads. On SQLite
    the writer takes the write lock when a transaction begins (BEGIN
    IMMEDIATE), so two processes never deadlock upgrading a read lock."""

    writer: Engine
    reader: Engine

    def dispose(self) -> None:
        self.writer.dispose()
        self.reader.dispose()


def open_engines(url: str, sqlite_synchronous: str = "FULL", pool_size: int = 8) -> Engines:
    if not url.startswith("sqlite"):
        engine = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        return Engines(engine, engine)
    return Engines(_sqlite(url, sqlite_synchronous, immediate=True), _sqlite(url, sqlite_synchronous, False))


def _sqlite(url: str, synchronous: str, immediate: bool) -> Engine:
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event says how to begin
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def migrate(engine: Engine) -> None:
    """Applies every Alembic migration not yet applied (safe to run on every start)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two replicas starting together must not both create the tables.
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(7346001)"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    _LOGGER.info("store schema up to date", extra={"dialect": engine.dialect.name})


def describe(url: str) -> str:
    """The URL without its password, for logs."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)
