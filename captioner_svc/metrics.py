"""Captioner-specific Prometheus metrics (the RPC and queue ones come from serving)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from serving.metrics import LATENCY_BUCKETS_S


class CaptionerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.time_to_first_token = Histogram(
            "imaging_captioner_time_to_first_token_seconds",
            "From a StreamCaption call's arrival to its first token, in seconds.",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "imaging_captioner_stage_seconds",
            "Time per stage, in seconds: preprocess (decode and fit images, per request); encode_image "
            "(vision tower, per batch and per group that joins a running decode); decode (text decoder, "
            "per caption); per batch, embed_image, embed_text, match and cross_attention.",
            ("stage",),
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.tokens = Counter("imaging_captioner_tokens", "Caption tokens generated.", registry=registry)
        self.images = Counter(
            "imaging_captioner_images", "Images processed, by operation.", ("operation",), registry=registry
        )
