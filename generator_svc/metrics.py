"""Generator-specific Prometheus metrics (the RPC and queue ones come from serving).

Steps per second follow from ``rate(imaging_generator_denoising_steps_total)``
over ``rate(imaging_generator_stage_seconds_sum{stage="denoise"})``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from serving.metrics import LATENCY_BUCKETS_S


class GeneratorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.images = Counter(
            "imaging_generator_images", "Images generated, by variant.", ("variant",), registry=registry
        )
        self.megapixels = Counter(
            "imaging_generator_megapixels",
            "Output megapixels generated, by variant.",
            ("variant",),
            registry=registry,
        )
        self.steps = Counter(
            "imaging_generator_denoising_steps",
            "Denoising steps run (one per step of a pipeline call, whatever its batch size), by variant.",
            ("variant",),
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "imaging_generator_stage_seconds",
            "Time per stage of a pipeline call: encode (prompts), denoise and decode (latents to "
            "pixels), in seconds.",
            ("stage",),
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.time_to_first_step = Histogram(
            "imaging_generator_time_to_first_step_seconds",
            "From a call's arrival to its first finished denoising step, in seconds.",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
