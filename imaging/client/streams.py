"""Streams of events that end in one result: caption tokens then the caption,
denoising steps then the images.

    stream = client.captioner.stream_caption("cat.png")
    for token in stream:
        print(token.text, end="", flush=True)
    print(stream.result.captions[0].finish_reason)

Iterating yields the events; the result is kept, not yielded. ``final()``
reads whatever is left and returns the result. The call starts on the first
iteration; leaving early (``close()``, or the ``with`` block) cancels it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar

import grpc

from imaging.client.errors import InternalError

E = TypeVar("E")
R = TypeVar("R")


def _no_result() -> InternalError:
    return InternalError(grpc.StatusCode.INTERNAL, "the stream ended without its final message")


class Stream(Generic[E, R]):
    """A sync stream of ``E`` events ending in one ``R`` result."""

    def __init__(
        self, messages: Iterator[Any], convert: Callable[[Any], E | R], result_type: type[R]
    ) -> None:
        self._messages = messages
        self._convert = convert
        self._result_type = result_type
        self._result: R | None = None

    def __iter__(self) -> Stream[E, R]:
        return self

    def __next__(self) -> E:
        for message in self._messages:
            item = self._convert(message)
            if isinstance(item, self._result_type):
                self._result = item
                continue  # read on to the stream's end, so that a trailing error is seen
            return item  # type: ignore[return-value]  # not R, hence E
        raise StopIteration

    @property
    def result(self) -> R:
        """The result, once the events have been read to the end."""
        if self._result is None:
            raise RuntimeError("the stream has not finished: iterate it to the end, or call final()")
        return self._result

    def final(self) -> R:
        """Reads the remaining events and returns the result."""
        for _ in self:
            pass
        if self._result is None:
            raise _no_result()
        return self._result

    def close(self) -> None:
        """Cancels the call if it is still running."""
        close = getattr(self._messages, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Stream[E, R]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class AsyncStream(Generic[E, R]):
    """An asyncio stream of ``E`` events ending in one ``R`` result."""

    def __init__(
        self, messages: AsyncIterator[Any], convert: Callable[[Any], E | R], result_type: type[R]
    ) -> None:
        self._messages = messages
        self._convert = convert
        self._result_type = result_type
        self._result: R | None = None

    def __aiter__(self) -> AsyncStream[E, R]:
        return self

    async def __anext__(self) -> E:
        async for message in self._messages:
            item = self._convert(message)
            if isinstance(item, self._result_type):
                self._result = item
                continue
            return item  # type: ignore[return-value]  # not R, hence E
        raise StopAsyncIteration

    @property
    def result(self) -> R:
        """The result, once the events have been read to the end."""
        if self._result is None:
            raise RuntimeError("the stream has not finished: iterate it to the end, or await final()")
        return self._result

    async def final(self) -> R:
        """Reads the remaining events and returns the result."""
        async for _ in self:
            pass
        if self._result is None:
            raise _no_result()
        return self._result

    async def aclose(self) -> None:
        """Cancels the call if it is still running."""
        aclose = getattr(self._messages, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> AsyncStream[E, R]:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()
