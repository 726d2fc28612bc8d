"""Generator-specific Prometheus metrics (the RPC and queue ones come from serving).

Steps per second follow from ``rate(imaging_generator_denoising_steps_total)``
over ``rate(imaging_generator_stage_seconds_sum{stage="denoise"})``. The
per-call timings are by ``variant``, from the call's arrival at the server.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from serving.metrics import LATENCY_BUCKETS_S


class GeneratorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.images = Counter(
            "imaging_generator_images",
            "Images generated, in images (a call makes 1-4), by variant.",
            ("variant",),
            registry=registry,
        )
        self.megapixels = Counter(
            "imaging_generator_megapixels",
            "Output generated, in megapixels, by variant.",
            ("variant",),
            registry=registry,
        )
        self.steps = Counter(
            "imaging_generator_denoising_steps",
            "Denoising steps run, in steps (one per step of a pipeline call, whatever its batch size), "
            "by variant.",
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
        self.queue_wait_seconds = Histogram(
            "imaging_generator_queue_wait_seconds",
            "From a call's arrival to the start of its pipeline call (validation, reference-image "
            "decoding and the queue), in seconds, by variant.",
            ("variant",),
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.time_to_first_step = Histogram(
            "imaging_generator_time_to_first_step_seconds",
            "From a call's arrival to its first finished denoising step, in seconds, by variant.",
            ("variant",),
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.latency_seconds = Histogram(
            "imaging_generator_latency_seconds",
            "From a call's arrival to its response with the encoded images, in seconds, by variant "
            "(calls that made their images).",
            ("variant",),
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
