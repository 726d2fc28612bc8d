"""The gateway's durable state: keys, quota counters, reservations, the usage
ledger, idempotency keys and the audit log, behind one SQLAlchemy code path
for SQLite (embedded) and PostgreSQL (several replicas)."""
