"""The batch function the micro-batcher runs on the model's worker thread, and
the batch keys' cost key.

Batch key: ``BatchKey`` (variant, size, steps, guidance, true CFG, adapter);
calls with reference images carry a unique ``solo`` number and run alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence

from generator_svc.engine import FluxEngine
from generator_svc.metrics import GeneratorMetrics
from generator_svc.options import BatchKey, GenerationJob, GenerationResult
from serving import tracing
from serving.batcher import WorkItem


def run(
    engine: FluxEngine, metrics: GeneratorMetrics, key: Hashable, items: Sequence[WorkItem[GenerationJob]]
) -> list[GenerationResult | None]:
    """One pipeline call for ``items``; None for a caller who left (``serving.compute``)."""
    assert isinstance(key, BatchKey)
    steps_before = engine.steps_run
    try:
        results = engine.generate(key, [item.payload for item in items], items)
    finally:
        metrics.steps.labels(key.variant).inc(engine.steps_run - steps_before)
    finished = next((result for result in results if result is not None), None)
    if finished is not None:
        metrics.stage_seconds.labels("encode").observe(finished.encode_s)
        metrics.stage_seconds.labels("denoise").observe(finished.denoise_s)
        metrics.stage_seconds.labels("decode").observe(finished.decode_s)
        # Encode, denoise and VAE decode run back to back, ending about when generate returned.
        tracing.record_stages(
            [("encode", finished.encode_s), ("denoise", finished.denoise_s), ("decode", finished.decode_s)]
        )
    return results


def cost_key(key: Hashable) -> Hashable:
    """A call with reference images runs alone under a unique key; it costs about
    what a text-to-image batch of its parameters costs."""
    assert isinstance(key, BatchKey)
    return dataclasses.replace(key, solo=0) if key.solo else key
