"""Tables of the key store and ledger (SQLAlchemy Core).

Money is integer micros and time is UTC epoch seconds (floats), so sums are
exact and both databases compare times the same way. Alembic migrations under
``gateway/migrations`` create exactly these tables; a test checks they agree.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("display_name", String(128), nullable=False),
    Column("secret_prefix", String(32), nullable=False),
    Column("plan", String(64), nullable=False),
    Column("requests_per_minute", Integer, nullable=False),
    Column("images_per_month", BigInteger, nullable=False),
    Column("spend_per_month_micros", BigInteger, nullable=False),
    Column("currency_code", String(8), nullable=False),
    Column("allowed_variants", JSON, nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("create_time", Float, nullable=False),
    Column("expire_time", Float),
    Column("revoke_time", Float),
)

# One row per secret: a rotated key keeps its old secret until expire_time.
key_secrets = Table(
    "key_secrets",
    metadata,
    Column("secret_hash", String(64), primary_key=True),
    Column("key_id", String(64), nullable=False, index=True),
    Column("expire_time", Float),
)

# Per key and month: what is billed and what in-flight calls have reserved.
quota_counters = Table(
    "quota_counters",
    metadata,
    Column("subject", String(80), nullable=False),
    Column("period", String(7), nullable=False),
    Column("images_used", BigInteger, nullable=False),
    Column("spend_used_micros", BigInteger, nullable=False),
    Column("images_reserved", BigInteger, nullable=False),
    Column("spend_reserved_micros", BigInteger, nullable=False),
    PrimaryKeyConstraint("subject", "period"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("reservation_id", String(32), primary_key=True),
    Column("subject", String(80), nullable=False),
    Column("period", String(7), nullable=False),
    Column("images", BigInteger, nullable=False),
    Column("spend_micros", BigInteger, nullable=False),
    Column("expire_time", Float, nullable=False, index=True),
)

# One row per billed image; record_id is derived from the call, so a retry
# with the same idempotency key collides here instead of billing twice.
usage_records = Table(
    "usage_records",
    metadata,
    Column("record_id", String(64), primary_key=True),
    Column("subject", String(80), nullable=False),
    Column("period", String(7), nullable=False),
    Column("method", String(128), nullable=False),
    Column("model", String(64), nullable=False),
    Column("image_index", Integer, nullable=False),
    Column("megapixels", Float, nullable=False),
    Column("input_megapixels", Float, nullable=False),
    Column("token_count", Integer, nullable=False),
    Column("cost_micros", BigInteger, nullable=False),
    Column("currency_code", String(8), nullable=False),
    Column("request_id", String(128), nullable=False),
    Column("create_time", Float, nullable=False),
    Index("ix_usage_records_subject_period", "subject", "period"),
    Index("ix_usage_records_create_time", "create_time"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("subject", String(80), nullable=False),
    Column("idempotency_key", String(128), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("create_time", Float, nullable=False),
    PrimaryKeyConstraint("subject", "idempotency_key"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("event_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("create_time", Float, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(32), nullable=False),
    Column("key_id", String(64), nullable=False, index=True),
    Column("details", Text, nullable=False),
)
