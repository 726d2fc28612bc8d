"""The caption model's vision tower in processes of its own (CPU serving).

On a CPU, gRPC, image preparation and the decode loop share one interpreter
lock, and every call that joined a running decode paused all its rows for
an image encode. With ``CAPTIONER_ENCODER_PROCESSES=N`` each call's images
are encoded in one of N processes, each holding its own copy of the vision
tower, while the model's thread keeps decoding: the decode loop only
prefills the text decoder on embeddings that are ready. This is encoder
disaggregation as multimodal LLM servers do it across GPUs, here across
interpreters. Most LoRA adapters of the caption model touch only its text
decoder, so one bare vision tower serves them; a call whose adapter has
LoRA layers in the tower (``CaptionEngine.vision_adapters``) is encoded on
the model's thread instead.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from typing import Any

import numpy as np

from serving import errors

_LOGGER = logging.getLogger(__name__)

# Image embeddings (tokens x hidden) and the seconds their batch spent in the tower.
Encoded = tuple[np.ndarray, float]

# The worker process's vision tower (set by ``_load``).
_vision: Any = None


def _load(source: str, dtype: str) -> None:
    """(worker process) Loads the checkpoint's vision tower; one torch thread,
    as the process is one of several sharing the cores."""
    global _vision
    import torch
    from transformers import BlipForConditionalGeneration

    from serving.compute import torch_dtype

    torch.set_num_threads(1)
    _exit_with_parent()
    model = BlipForConditionalGeneration.from_pretrained(source, dtype=torch_dtype(dtype))  # type: ignore[arg-type]
    _vision = model.vision_model.eval()


def _exit_with_parent() -> None:
    """(worker process) Ends this process when the server's ends, even by SIGKILL:
    the worker waits on a queue whose pipe it holds both ends of, so it would
    never see an end of file, and would outlive the server."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-server", daemon=True).start()


def _encode(pixels: np.ndarray) -> Encoded:
    """(worker process) A batch of model inputs (images x channels x height x
    width) -> the vision tower's last hidden state (images x tokens x hidden),
    float32, and the seconds the tower took."""
    import torch

    from captioner_svc.vision_tower import encode_images

    started = time.perf_counter()
    with torch.inference_mode():
        values = torch.from_numpy(pixels).to(_vision.dtype)
        embeds = encode_images(_vision, values).float().numpy()
    return embeds, time.perf_counter() - started


def _ready() -> bool:
    return _vision is not None


class EncoderPool:
    """``processes`` worker processes, each with the vision tower of ``source``.

    Images are encoded in batches (a batch of one costs a tower pass of
    Python overhead, as much as a batch of 16 on a small model): whatever
    waits when a process is free goes to it, up to ``max_batch_size``."""

    def __init__(self, source: str, processes: int, dtype: str, max_batch_size: int) -> None:
        self.processes = processes
        self.max_batch_size = max_batch_size
        self._initargs = (source, dtype)
        self._executor = self._new_executor()
        self._waiting: list[tuple[np.ndarray, asyncio.Future[Encoded]]] = []
        self._free = asyncio.Semaphore(processes)  # processes without a batch
        self._sender: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()  # batches in the processes

    def _new_executor(self) -> ProcessPoolExecutor:
        # spawn: a forked child would inherit the server's threads and gRPC state.
        return ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load,
            initargs=self._initargs,
        )

    async def start(self) -> None:
        """Returns once every process has loaded its tower (a load error is raised here)."""
        loop = asyncio.get_running_loop()
        # ProcessPoolExecutor starts its processes on demand: one task each starts them all.
        await asyncio.gather(*(loop.run_in_executor(self._executor, _ready) for _ in range(self.processes)))

    async def encode(self, pixels: np.ndarray) -> Encoded:
        """The image embeddings (tokens x hidden) of one prepared image, and the
        seconds its batch spent in the tower."""
        future: asyncio.Future[Encoded] = asyncio.get_running_loop().create_future()
        self._waiting.append((pixels, future))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send())
        return await future

    async def _send(self) -> None:
        """Sends what waits, in batches, as processes become free; ends when nothing waits."""
        while self._waiting:
            await self._free.acquire()
            batch = [(p, f) for p, f in self._waiting[: self.max_batch_size] if not f.done()]
            del self._waiting[: self.max_batch_size]
            if not batch:
                self._free.release()
                continue
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[tuple[np.ndarray, asyncio.Future[Encoded]]]) -> None:
        loop = asyncio.get_running_loop()
        try:
            stacked = np.stack([pixels for pixels, _ in batch])
            encoded, seconds = await loop.run_in_executor(self._executor, _encode, stacked)
        except BrokenExecutor as exc:
            # A process died (killed, out of memory): these calls may retry, and the
            # next batch starts a fresh pool (its processes load the tower again).
            _LOGGER.warning("an image encoder process died; starting new ones", extra={"error": repr(exc)})
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            _fail(batch, errors.Unavailable("the image encoder restarted; retry"))
            return
        except asyncio.CancelledError:  # the server is stopping
            _fail(batch, errors.Unavailable("the server is shutting down; retry"))
            raise
        except Exception as exc:  # every caller of the batch hears of it, none waits forever
            _fail(batch, exc)
            return
        finally:
            self._free.release()
        for (_, future), embeds in zip(batch, encoded, strict=True):
            if not future.done():  # its caller may have left
                future.set_result((embeds, seconds))

    @property
    def pids(self) -> list[int]:
        """The encoder processes' ids (for operators and tests)."""
        processes = self._executor._processes or {}  # None once shut down
        return [process.pid for process in processes.values() if process.pid]

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _fail(batch: list[tuple[np.ndarray, asyncio.Future[Encoded]]], error: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)
