"""Settings of the captioner server (flags or ``CAPTIONER_*`` environment variables)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from serving.compute import DtypeName
from serving.settings import ModelServerSettings

# The checkpoints the project ships (trained by toyworld/); real BLIP weights
# are a configuration change: CAPTIONER_CAPTION_MODEL=/path/to/blip-image-captioning-base.
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


class CaptionerSettings(ModelServerSettings):
    """Defaults work on a laptop with no GPU and no network: they serve the shipped models."""

    model_config = SettingsConfigDict(
        env_prefix="CAPTIONER_", frozen=True, extra="forbid", cli_kebab_case=True
    )

    port: int = Field(50051, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
    metrics_port: int = Field(9101, ge=0, le=65535, description="Port of /metrics; 0 picks a free one.")
    max_batch_size: int = Field(16, ge=1, description="Most compatible images decoded as one batch.")
    max_queue_size: int = Field(256, ge=1, description="Images that may wait; beyond, RESOURCE_EXHAUSTED.")
    max_batch_delay_ms: float = Field(
        0.0,
        ge=0,
        description="How long the oldest image waits for others. 0: none; batches still form from the "
        "images that arrive while the model is busy, so an idle server adds no latency.",
    )
    continuous_batching: bool = Field(
        True,
        description="Greedy and sampled captions that arrive while a batch decodes join it at its next "
        "step, and each caller is answered as its caption ends. false: fixed batches.",
    )
    join_after_steps: int = Field(
        16,
        ge=1,
        description="Continuous batching: calls that wait to join a running decode join once as many "
        "wait as decode, or after this many tokens (TGI's max_waiting_tokens). Lower: sooner first "
        "tokens; higher: fewer pauses of the running rows, more throughput.",
    )
    caption_model: str = Field(
        str(MODELS_DIR / "blip-captioner"),
        description="BlipForConditionalGeneration checkpoint (directory or hub id) for Caption, "
        "StreamCaption and GetCrossAttention; empty disables them.",
    )
    retrieval_model: str = Field(
        str(MODELS_DIR / "blip-matcher"),
        description="BlipForImageTextRetrieval checkpoint for EmbedImages, EmbedTexts and "
        "MatchImageText; empty disables them.",
    )
    adapters: dict[str, str] = Field(
        default_factory=lambda: {"fr": str(MODELS_DIR / "blip-captioner-lora-fr")},
        description='LoRA adapters of the caption model by request name, as JSON: {"fr": "/path"}.',
    )
    device: Literal["cpu", "cuda"] = Field("cpu", description="Where the models run.")
    cpu_threads: int = Field(
        0,
        ge=0,
        description="torch intra-op CPU threads for the whole process; 0 keeps torch's default (one per "
        "core), or with decode_process half the cores for each of the two processes. Set it to the "
        "container's CPU limit: more threads than free cores make every step slower.",
    )
    encoder_processes: int = Field(
        0,
        ge=0,
        description="CPU only: caption images are encoded by the vision tower in this many processes of "
        "their own (each holds a copy of it), beside the decode loop instead of on its thread. 0: on "
        "the model's thread.",
    )
    decode_process: bool = Field(
        False,
        description="CPU only: greedy, sampled and beam captions decode in a child process holding its own "
        "copy of the caption model, so the decode loop no longer shares this process's interpreter lock "
        "with gRPC and image preparation.",
    )
    dtype: DtypeName = Field("float32", description="Model weights' dtype.")
    default_max_new_tokens: int = Field(
        30, ge=1, description="max_new_tokens when a request leaves it unset."
    )
    max_new_tokens_limit: int = Field(
        64,
        ge=1,
        description="The largest max_new_tokens a request may ask; the caption model's decoder positions "
        "(less BOS and the prefix) may cap it further, and GetModelInfo reports what applies.",
    )
    max_images_per_request: int = Field(16, ge=1, description="Most images in one request.")
    max_image_bytes: int = Field(20 * 1024 * 1024, ge=1, description="Largest encoded image, in bytes.")
    max_image_pixels: int = Field(40_000_000, ge=1, description="Largest decoded image, width x height.")

    def torch_threads(self) -> int:
        """torch's threads in this process and, with ``decode_process``, in the child
        (0: torch's default). Two processes each with one thread per core would
        oversubscribe the cores, so unless set they share them."""
        if self.cpu_threads or not self.decode_process:
            return self.cpu_threads
        return max(1, len(os.sched_getaffinity(0)) // 2)

    @model_validator(mode="after")
    def _default_within_limit(self) -> CaptionerSettings:
        if self.default_max_new_tokens > self.max_new_tokens_limit:
            raise ValueError("default_max_new_tokens must be <= max_new_tokens_limit")
        return self

    @model_validator(mode="after")
    def _encoders_on_cpu(self) -> CaptionerSettings:
        if self.encoder_processes and self.device != "cpu":
            raise ValueError("encoder_processes is for device cpu; on a GPU the vision tower runs batched")
        return self

    @model_validator(mode="after")
    def _decode_process_on_cpu(self) -> CaptionerSettings:
        if self.decode_process and self.device != "cpu":
            raise ValueError("decode_process is for device cpu; on a GPU the model stays in one process")
        if self.decode_process and self.encoder_processes:
            raise ValueError("choose decode_process or encoder_processes, not both")
        return self
