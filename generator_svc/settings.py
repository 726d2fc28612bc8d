"""Settings of the generator server (flags or ``GENERATOR_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from serving.settings import ModelServerSettings


class GeneratorSettings(ModelServerSettings):
    """Defaults work on a laptop with no GPU and no network."""

    model_config = SettingsConfigDict(
        env_prefix="GENERATOR_", frozen=True, extra="forbid", cli_kebab_case=True
    )

    port: int = Field(50052, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
    metrics_port: int = Field(9102, ge=0, le=65535, description="Port of /metrics; 0 picks a free one.")
    max_batch_size: int = Field(4, ge=1, description="Most compatible requests run as one pipeline call.")
    max_queue_size: int = Field(32, ge=1, description="Requests that may wait per variant family.")
