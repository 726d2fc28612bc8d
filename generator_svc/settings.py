"""Settings of the generator server (flags or ``GENERATOR_*`` environment variables)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from generator_svc.variants import DEFAULT_VARIANTS_FILE, check_adapter_overrides
from serving.compute import DtypeName
from serving.settings import ModelServerSettings


class GeneratorSettings(ModelServerSettings):
    """Defaults work on a laptop with no GPU and no network: they serve the shipped
    toy-world checkpoints named in ``generator_svc/variants.yaml``."""

    model_config = SettingsConfigDict(
        env_prefix="GENERATOR_", frozen=True, extra="forbid", cli_kebab_case=True
    )

    port: int = Field(50052, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
    metrics_port: int = Field(9102, ge=0, le=65535, description="Port of /metrics; 0 picks a free one.")
    max_batch_size: int = Field(4, ge=1, description="Most compatible requests run as one pipeline call.")
    max_queue_size: int = Field(32, ge=1, description="Requests that may wait for the pipelines.")
    variants_file: str = Field(
        str(DEFAULT_VARIANTS_FILE),
        description="YAML file of the served variants (names, checkpoints, limits, prices); relative "
        "checkpoint paths in it resolve against the repository root.",
    )
    adapters: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="More LoRA adapters by variant, as JSON: "
        '{"flux.1-schnell": {"outline": "/path/to/lora"}}. Each adds or replaces (with an empty '
        "description) that variant's adapter of that name in the variants file; relative paths resolve "
        "against the repository root, and an adapter whose directory is missing is not served. Naming a "
        "variant the variants file does not configure is an error.",
    )
    device: Literal["cpu", "cuda"] = Field("cpu", description="Where the pipelines run.")
    dtype: DtypeName = Field(
        "float32", description="Transformer and VAE weights' dtype; text encoders stay float32."
    )
    cpu_offload: bool = Field(
        False,
        description="Keeps components in CPU memory and moves each to the GPU while it runs "
        "(enable_model_cpu_offload): less GPU memory, slower. Needs device=cuda.",
    )
    cpu_threads: int = Field(
        0,
        ge=0,
        description="torch intra-op CPU threads for the whole process; 0 keeps torch's default (one per "
        "core). Set it to the container's CPU limit: more threads than free cores make every step slower.",
    )
    vae_tiling: bool = Field(
        False, description="Decodes latents tile by tile: less memory for large images, slightly slower."
    )
    preview_max_side_px: int = Field(
        256,
        ge=16,
        description="Largest side of a StreamGenerate step preview, in pixels; larger previews cost a "
        "larger VAE pass and PNG per preview.",
    )
    max_image_bytes: int = Field(
        20 * 1024 * 1024, ge=1, description="Largest encoded reference image or mask, in bytes."
    )
    max_image_pixels: int = Field(
        16_000_000, ge=1, description="Largest decoded reference image or mask, width x height."
    )
    currency_code: str = Field("USD", description="ISO 4217 code of the prices in the variants file.")

    @model_validator(mode="after")
    def _offload_needs_cuda(self) -> GeneratorSettings:
        if self.cpu_offload and self.device != "cuda":
            raise ValueError("cpu_offload needs device=cuda (it moves components to the GPU while they run)")
        return self

    @model_validator(mode="after")
    def _adapters_name_configured_variants(self) -> GeneratorSettings:
        if self.adapters:
            check_adapter_overrides(self.adapters, self.variants_file)
        return self
