"""The captioner's batch function, on the model's worker thread: dispatches
each typed batch key to the engine and records per-stage metrics."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Hashable, Iterator, Sequence
from typing import Any

from captioner_svc.engine import CaptionEngine, CaptionFn
from captioner_svc.metrics import CaptionerMetrics
from captioner_svc.options import (
    AttentionJob,
    AttentionKey,
    AttentionResult,
    CaptionJob,
    CaptionKey,
    CaptionResult,
    DecodeOptions,
    EmbedImageKey,
    EmbedTextKey,
    MatchJob,
    MatchKey,
)
from serving import tracing
from serving.batcher import JoinInbox, WorkItem
from serving.compute import Row


class BatchRunner:
    """``process(key, items)`` for the runtime's batcher: one result per item;
    None for an item whose caller left (``serving.compute``)."""

    def __init__(
        self, engine: CaptionEngine, metrics: CaptionerMetrics, decode: CaptionFn | None = None
    ) -> None:
        self.engine = engine
        self.metrics = metrics
        # Caption batches: ``engine.caption``, or the same in a child process (``DecodeProcess``).
        self.decode: CaptionFn = decode or engine.caption

    def __call__(self, key: Hashable, items: Sequence[Any], inbox: JoinInbox | None = None) -> Sequence[Any]:
        payloads = [item.payload for item in items]
        match key:
            case CaptionKey(options):
                return self._caption(options, payloads, items, inbox)
            case EmbedImageKey():
                with self._stage("embed_image"):
                    return self.engine.embed_images(payloads)
            case EmbedTextKey():
                with self._stage("embed_text"):
                    return self.engine.embed_texts(payloads)
            case MatchKey():
                with self._stage("match"):
                    return [self._match(job) for job in payloads]
            case AttentionKey():
                with self._stage("cross_attention"):
                    return [self._attention(job, item) for job, item in zip(payloads, items, strict=True)]
        raise TypeError(f"unknown batch key {key!r}")

    @contextlib.contextmanager
    def _stage(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
        self.metrics.stage_seconds.labels(stage).observe(elapsed)
        tracing.record_stages([(stage, elapsed)])

    def _caption(
        self,
        options: DecodeOptions,
        jobs: Sequence[CaptionJob],
        items: Sequence[WorkItem[Any]],
        inbox: JoinInbox | None,
    ) -> list[CaptionResult | None]:
        def finished(item: Row, result: CaptionResult) -> None:
            # Each caller is answered as its row ends, not when the batch does.
            self.metrics.tokens.inc(len(result.token_ids))
            self.metrics.stage_seconds.labels("decode").observe(result.decode_s)
            assert isinstance(item, WorkItem)
            item.finish(result)

        def encoded(seconds: float) -> None:
            # Once per group: the batch's rows, then each group that joins it while it decodes
            # (under steady load a decode may run for minutes, so not only when it ends).
            self.metrics.stage_seconds.labels("encode_image").observe(seconds)

        results = self.decode(options, jobs, items, inbox, finished, encoded)
        done = [r for r in results if r is not None]
        if done:
            # The batch's span: its own rows' encoding (they share it) and the first one's decode.
            tracing.record_stages([("encode_image", done[0].encode_s), ("decode", done[0].decode_s)])
        return results

    def _match(self, job: MatchJob) -> list[tuple[float, float]]:
        return self.engine.match(job.image, job.texts)

    def _attention(self, job: AttentionJob, row: Row) -> AttentionResult | None:
        caption = job.caption
        if not caption:
            # The call's own item is the caption's row: cancelled, it stops decoding at the next token.
            result = self.engine.caption(job.options, [CaptionJob(job.image, job.seed)], [row])[0]
            if result is None:
                return None
            caption = result.text
        return self.engine.cross_attention(job.image, caption, job.layers, job.per_head)
