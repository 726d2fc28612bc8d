"""Settings of the gateway (flags or ``GATEWAY_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from serving.settings import ServerSettings


class GatewaySettings(ServerSettings):
    """Defaults work on a laptop with no GPU and no network."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", frozen=True, extra="forbid", cli_kebab_case=True)

    port: int = Field(50050, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
    metrics_port: int = Field(9100, ge=0, le=65535, description="Port of /metrics; 0 picks a free one.")
