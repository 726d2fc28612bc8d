"""Settings of the gateway (flags or ``GATEWAY_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from serving.settings import ServerSettings

DEFAULT_DATA_DIR = Path("var/gateway")


class GatewaySettings(ServerSettings):
    """Defaults work on a laptop with no GPU and no network: SQLite beside the
    checkout, rate limits in process, the model servers on their default ports."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", frozen=True, extra="forbid", cli_kebab_case=True)

    port: int = Field(50050, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
    metrics_port: int = Field(9100, ge=0, le=65535, description="Port of /metrics; 0 picks a free one.")
    captioner_address: str = Field(
        "127.0.0.1:50051",
        description="The captioner's target: host:port, or dns:///name:port to balance per call.",
    )
    generator_address: str = Field(
        "127.0.0.1:50052",
        description="The generator's target: host:port, or dns:///name:port to balance per call.",
    )
    data_dir: Path = Field(
        DEFAULT_DATA_DIR, description="Holds the embedded SQLite database and the generated key pepper."
    )
    database_url: str = Field(
        "",
        description="SQLAlchemy URL of the key store and ledger. Empty: SQLite (WAL) in data_dir; "
        "postgresql+psycopg://... for several replicas.",
    )
    redis_url: str = Field(
        "", description="Empty: rate limits in process. redis://...: token buckets shared by replicas."
    )
    admin_token: SecretStr = Field(
        SecretStr(""), description="Credential of AdminService. Empty: AdminService refuses every call."
    )
    key_pepper: SecretStr = Field(
        SecretStr(""),
        description="Server-side secret of the key hashes. Empty: generated once and kept in data_dir "
        "(set it, the same on every replica, when the database is shared).",
    )
    default_plan: str = Field("free", description="The plan of keys created without a quota.")
    anonymous_plan: str = Field(
        "", description="Empty: a call without a key is UNAUTHENTICATED. A plan name: served under it."
    )
    key_cache_s: float = Field(
        1.0,
        ge=0,
        le=10,
        description="How long a replica trusts a key lookup; a revocation takes effect within.",
    )
    reservation_ttl_s: float = Field(
        900.0,
        gt=0,
        description="Longest a forwarded call may hold a quota reservation; the call is cut at this age "
        "so a reservation of a dead gateway expires and nothing is billed past it.",
    )
    sweep_every_s: float = Field(
        5.0, gt=0, description="How often reservations past their expiry (a dead gateway's) are released."
    )
    health_poll_s: float = Field(1.0, gt=0, description="How often backend and store health are checked.")
    ledger_synchronous: str = Field(
        "FULL",
        pattern="^(FULL|NORMAL)$",
        description="SQLite durability: FULL syncs each ledger commit to disk (survives power loss); "
        "NORMAL survives a crash of the process only.",
    )
