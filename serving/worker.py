"""One dedicated thread per model instance, so compute never blocks the event loop.

torch releases the GIL inside kernels, so health checks, metrics and other
streams keep being served while a batch runs.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


class ModelWorker:
    """Runs callables on one named thread, one at a time, in submission order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"model-{name}")

    async def run(self, fn: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Runs ``fn(*args, **kwargs)`` on the worker thread and awaits its result.
        ``fn`` runs in a copy of the caller's context, as with ``asyncio.to_thread``
        (the running batch's trace span)."""
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await loop.run_in_executor(self._executor, call)

    def close(self) -> None:
        """Lets the running call finish, then stops the thread."""
        self._executor.shutdown(wait=True, cancel_futures=True)
