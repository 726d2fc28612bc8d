"""Makes one logical call: one idempotency key, one deadline for all its
attempts, retries as the ``RetryPolicy`` allows, errors as ``ImagingError``.
Sync and asyncio flavours of the same loop."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import grpc

from imaging.client.connection import Settings
from imaging.client.errors import ImagingError, from_rpc_error
from imaging.client.retry import RetryEvent

IDEMPOTENCY_KEY = "x-idempotency-key"


def new_idempotency_key() -> str:
    """A fresh key: 32 hex characters, within the gateway's 1-128 printable ASCII."""
    return uuid.uuid4().hex


class _Attempts:
    """The bookkeeping of one logical call's attempts."""

    def __init__(
        self,
        settings: Settings,
        method: str,
        timeout_s: float | None,
        idempotency_key: str | None,
        billed: bool,
    ) -> None:
        self.settings = settings
        self.method = method
        timeout = settings.timeout_s if timeout_s is None else timeout_s
        self.deadline = None if timeout is None else time.monotonic() + timeout
        extra: tuple[tuple[str, str], ...] = ()
        if billed:
            extra = ((IDEMPOTENCY_KEY, idempotency_key or new_idempotency_key()),)
        self.metadata = settings.call_metadata(extra)
        self.attempt = 0

    def next_attempt(self) -> float | None:
        """Counts a new attempt; returns its timeout: what is left of the call's deadline."""
        self.attempt += 1
        if self.deadline is None:
            return None
        return max(0.001, self.deadline - time.monotonic())

    def failed(self, exc: grpc.RpcError, retry: bool) -> tuple[ImagingError, float | None]:
        """The error of the attempt that just failed, and the wait before the
        next one (None: raise the error)."""
        error = from_rpc_error(exc, self.attempt)
        if not retry:
            return error, None
        delay = self.settings.retry.delay_s(error, self.attempt)
        if delay is None:
            return error, None
        if self.deadline is not None and time.monotonic() + delay >= self.deadline:
            return error, None  # the retry could not finish in time: say why now
        if self.settings.on_retry is not None:
            self.settings.on_retry(RetryEvent(self.method, self.attempt, delay, error))
        return error, delay


class SyncTransport:
    """Calls on a ``grpc.Channel``; closes it only if it opened it."""

    def __init__(self, channel: grpc.Channel, settings: Settings, owns_channel: bool) -> None:
        self.channel = channel
        self.settings = settings
        self._owns = owns_channel

    def derive(self, credential: str | None, metadata: tuple[tuple[str, str], ...] = ()) -> SyncTransport:
        """The same channel and policies with another credential and more
        metadata; closing the result never closes the channel."""
        settings = replace(
            self.settings, credential=credential, metadata=(*self.settings.metadata, *metadata)
        )
        return SyncTransport(self.channel, settings, owns_channel=False)

    def unary(
        self,
        method: Any,
        request: Any,
        *,
        name: str,
        timeout_s: float | None = None,
        billed: bool = False,
        idempotency_key: str | None = None,
        retry: bool = True,
    ) -> Any:
        attempts = _Attempts(self.settings, name, timeout_s, idempotency_key, billed)
        while True:
            timeout = attempts.next_attempt()
            try:
                return method(request, metadata=attempts.metadata, timeout=timeout)
            except grpc.RpcError as exc:
                error, delay = attempts.failed(exc, retry)
                if delay is None:
                    raise error from exc
            time.sleep(delay)

    def stream(
        self,
        method: Any,
        request: Any,
        *,
        name: str,
        timeout_s: float | None = None,
        billed: bool = False,
        idempotency_key: str | None = None,
    ) -> Iterator[Any]:
        """Yields the stream's messages; retried only until the first one arrives.
        Closing the iterator early cancels the call."""
        attempts = _Attempts(self.settings, name, timeout_s, idempotency_key, billed)
        while True:
            call = method(request, metadata=attempts.metadata, timeout=attempts.next_attempt())
            try:
                first = next(call)
                break
            except StopIteration:
                return
            except grpc.RpcError as exc:
                error, delay = attempts.failed(exc, retry=True)
                if delay is None:
                    raise error from exc
            time.sleep(delay)
        try:
            yield first
            yield from call
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, attempts.attempt) from exc
        finally:
            call.cancel()

    def close(self) -> None:
        if self._owns:
            self.channel.close()


class AsyncTransport:
    """Calls on a ``grpc.aio.Channel``; closes it only if it opened it."""

    def __init__(self, channel: grpc.aio.Channel, settings: Settings, owns_channel: bool) -> None:
        self.channel = channel
        self.settings = settings
        self._owns = owns_channel

    def derive(self, credential: str | None, metadata: tuple[tuple[str, str], ...] = ()) -> AsyncTransport:
        """The same channel and policies with another credential and more
        metadata; closing the result never closes the channel."""
        settings = replace(
            self.settings, credential=credential, metadata=(*self.settings.metadata, *metadata)
        )
        return AsyncTransport(self.channel, settings, owns_channel=False)

    async def unary(
        self,
        method: Any,
        request: Any,
        *,
        name: str,
        timeout_s: float | None = None,
        billed: bool = False,
        idempotency_key: str | None = None,
        retry: bool = True,
    ) -> Any:
        attempts = _Attempts(self.settings, name, timeout_s, idempotency_key, billed)
        while True:
            timeout = attempts.next_attempt()
            try:
                return await method(request, metadata=attempts.metadata, timeout=timeout)
            except grpc.RpcError as exc:  # grpc.aio.AioRpcError
                error, delay = attempts.failed(exc, retry)
                if delay is None:
                    raise error from exc
            await asyncio.sleep(delay)

    async def stream(
        self,
        method: Any,
        request: Any,
        *,
        name: str,
        timeout_s: float | None = None,
        billed: bool = False,
        idempotency_key: str | None = None,
    ) -> AsyncIterator[Any]:
        """Yields the stream's messages; retried only until the first one arrives.
        Closing the iterator (``aclose``) early cancels the call."""
        attempts = _Attempts(self.settings, name, timeout_s, idempotency_key, billed)
        while True:
            call = method(request, metadata=attempts.metadata, timeout=attempts.next_attempt())
            try:
                first = await call.read()
                break
            except grpc.RpcError as exc:
                error, delay = attempts.failed(exc, retry=True)
                if delay is None:
                    raise error from exc
            await asyncio.sleep(delay)
        try:
            message = first
            while message is not grpc.aio.EOF:
                yield message
                message = await call.read()
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, attempts.attempt) from exc
        finally:
            call.cancel()

    async def close(self) -> None:
        if self._owns:
            await self.channel.close()
