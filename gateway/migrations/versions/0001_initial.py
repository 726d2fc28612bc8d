"""Keys, secrets, quota counters, reservations, the usage ledger, idempotency
keys and the append-only audit log.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("secret_prefix", sa.String(32), nullable=False),
        sa.Column("plan", sa.String(64), nullable=False),
        sa.Column("requests_per_minute", sa.Integer, nullable=False),
        sa.Column("images_per_month", sa.BigInteger, nullable=False),
        sa.Column("spend_per_month_micros", sa.BigInteger, nullable=False),
        sa.Column("currency_code", sa.String(8), nullable=False),
        sa.Column("allowed_variants", sa.JSON, nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("create_time", sa.Float, nullable=False),
        sa.Column("expire_time", sa.Float),
        sa.Column("revoke_time", sa.Float),
    )
    op.create_table(
        "key_secrets",
        sa.Column("secret_hash", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("expire_time", sa.Float),
    )
    op.create_index("ix_key_secrets_key_id", "key_secrets", ["key_id"])
    op.create_table(
        "quota_counters",
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("images_used", sa.BigInteger, nullable=False),
        sa.Column("spend_used_micros", sa.BigInteger, nullable=False),
        sa.Column("images_reserved", sa.BigInteger, nullable=False),
        sa.Column("spend_reserved_micros", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("subject", "period"),
    )
    op.create_table(
        "reservations",
        sa.Column("reservation_id", sa.String(32), primary_key=True),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("images", sa.BigInteger, nullable=False),
        sa.Column("spend_micros", sa.BigInteger, nullable=False),
        sa.Column("expire_time", sa.Float, nullable=False),
    )
    op.create_index("ix_reservations_expire_time", "reservations", ["expire_time"])
    op.create_table(
        "usage_records",
        sa.Column("record_id", sa.String(64), primary_key=True),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("method", sa.String(128), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("image_index", sa.Integer, nullable=False),
        sa.Column("megapixels", sa.Float, nullable=False),
        sa.Column("input_megapixels", sa.Float, nullable=False),
        sa.Column("token_count", sa.Integer, nullable=False),
        sa.Column("cost_micros", sa.BigInteger, nullable=False),
        sa.Column("currency_code", sa.String(8), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("create_time", sa.Float, nullable=False),
    )
    op.create_index("ix_usage_records_subject_period", "usage_records", ["subject", "period"])
    op.create_index("ix_usage_records_create_time", "usage_records", ["create_time"])
    op.create_table(
        "idempotency_keys",
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("create_time", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("subject", "idempotency_key"),
    )
    op.create_table(
        "audit_events",
        sa.Column(
            "event_id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("create_time", sa.Float, nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_events_key_id", "audit_events", ["key_id"])
    _make_audit_append_only()


def _make_audit_append_only() -> None:
    """The database itself refuses to change or delete an audit event."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    for table in (
        "audit_events",
        "idempotency_keys",
        "usage_records",
        "reservations",
        "quota_counters",
        "key_secrets",
        "api_keys",
    ):
        op.drop_table(table)
