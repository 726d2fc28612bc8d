"""Settings of the captioner server (flags or ``CAPTIONER_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from serving.settings import ModelServerSettings


class CaptionerSettings(ModelServerSettings):
    """Defaults work on a laptop with no GPU and no network."""

    model_config = SettingsConfigDict(
        env_prefix="CAPTIONER_", frozen=True, extra="forbid", cli_kebab_case=True
    )

    port: int = Field(50051, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
    metrics_port: int = Field(9101, ge=0, le=65535, description="Port of /metrics; 0 picks a free one.")
