"""Forwards the captioner's and generator's RPCs to their backends, unchanged.

Requests and responses travel as the bytes the client and backend sent (new
fields pass through a gateway that does not know them yet); the gateway
parses a copy only to authorise and meter. Each call: authenticate, check
scopes, take a rate-limit token, reserve quota, forward (deadline, metadata
and cancellation carried over), then settle the ledger *before* the message
that carries the images goes to the client, so every delivered image is
billed, durably, exactly once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from gateway import metering
from gateway.auth import Authenticator, Principal
from gateway.metrics import GatewayMetrics
from gateway.ratelimit import RateLimiter, take_token
from gateway.store.ledger import Claim, Ledger, Reservation
from imaging.generator.v1 import generator_pb2
from serving import errors
from serving.interceptors import REQUEST_ID_KEY, parse_request, split_method
from serving.logs import request_id_var

_LOGGER = logging.getLogger(__name__)
_Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]

IDEMPOTENCY_KEY = "x-idempotency-key"
KEY_ID_HEADER = "x-imaging-key-id"
# Credentials stay at the gateway; transport headers are the channel's own.
_NOT_FORWARDED = {
    "authorization",
    "x-api-key",
    "user-agent",
    "content-type",
    "te",
    KEY_ID_HEADER,
    REQUEST_ID_KEY,
}
_STATUS_DETAILS = "grpc-status-details-bin"
_VARIANTS_MAX_AGE_S = 60.0


@dataclass
class Backend:
    """One model server: its name in metrics, its contract and its channel."""

    name: str
    service: ServiceDescriptor
    channel: grpc.aio.Channel


def open_channel(
    target: str, max_message_bytes: int, interceptors: Sequence[grpc.aio.ClientInterceptor] = ()
) -> grpc.aio.Channel:
    """A channel to a backend; ``dns:///`` targets spread calls over every address.
    ``interceptors``: the trace context's (``serving.tracing.client_interceptors``)."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.enable_retries", 0),
    ]
    if target.startswith("dns:"):
        options.append(("grpc.lb_policy_name", "round_robin"))
    return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors or None)


@dataclass
class _Admitted:
    """A call that passed every check, with what it holds."""

    principal: Principal
    rule: metering.MethodRule
    claim: Claim
    reservation: Reservation | None
    metadata: tuple[tuple[str, str | bytes], ...]
    timeout_s: float
    request_id: str


class VariantPrices:
    """The generator's variants (for spend reservations), refreshed every minute."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._list = channel.unary_unary(
            "/imaging.generator.v1.GeneratorService/ListVariants",
            request_serializer=generator_pb2.ListVariantsRequest.SerializeToString,
            response_deserializer=generator_pb2.ListVariantsResponse.FromString,
        )
        self._variants: dict[str, generator_pb2.Variant] = {}
        self._fetched = 0.0

    async def get(self, name: str) -> generator_pb2.Variant | None:
        stale = time.monotonic() - self._fetched > _VARIANTS_MAX_AGE_S
        if stale or (name not in self._variants and time.monotonic() - self._fetched > 5):
            try:
                response = await self._list(generator_pb2.ListVariantsRequest(), timeout=5)
            except grpc.aio.AioRpcError:
                return self._variants.get(name)  # the call itself will meet the backend's state
            self._variants = {v.name: v for v in response.variants}
            self._fetched = time.monotonic()
        return self._variants.get(name)


class Forwarder:
    """Builds the generic handlers that serve the backends' contracts."""

    def __init__(
        self,
        backends: list[Backend],
        auth: Authenticator,
        limiter: RateLimiter,
        ledger: Ledger,
        metrics: GatewayMetrics,
        prices: VariantPrices,
        reservation_ttl_s: float,
        currency: str = "USD",
    ) -> None:
        self._backends = backends
        self._auth = auth
        self._limiter = limiter
        self._ledger = ledger
        self._metrics = metrics
        self._prices = prices
        self._ttl_s = reservation_ttl_s
        self._currency = currency

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        return [self._service_handler(backend) for backend in self._backends]

    def _service_handler(self, backend: Backend) -> grpc.GenericRpcHandler:
        methods: dict[str, grpc.RpcMethodHandler] = {}
        for method in backend.service.methods:
            full = f"/{backend.service.full_name}/{method.name}"
            rule = metering.RULES[full]
            if method.server_streaming:
                stream = backend.channel.unary_stream(full)
                methods[method.name] = grpc.unary_stream_rpc_method_handler(
                    self._stream_handler(backend, full, rule, stream)
                )
            else:
                unary = backend.channel.unary_unary(full)
                methods[method.name] = grpc.unary_unary_rpc_method_handler(
                    self._unary_handler(backend, full, rule, unary)
                )
        return grpc.method_handlers_generic_handler(backend.service.full_name, methods)

    def _unary_handler(
        self, backend: Backend, full: str, rule: metering.MethodRule, call_backend: Any
    ) -> Callable[[bytes, _Context], Awaitable[bytes]]:
        labels = split_method(full)

        async def handle(request: bytes, context: _Context) -> bytes:
            admitted = await self._admit(full, labels, rule, request, context)
            start = time.perf_counter()
            call = call_backend(request, metadata=admitted.metadata, timeout=admitted.timeout_s)
            try:
                await self._hold_quota(admitted, labels, call)
                response: bytes = await call
            except grpc.aio.AioRpcError as exc:
                await self._ledger.release(admitted.reservation)
                await self._pass_error(exc, backend, context)
                raise  # not reached: _pass_error raises
            except BaseException:
                self._ledger.release_nowait(admitted.reservation)
                raise
            finally:
                self._metrics.backend_seconds.labels(backend.name, full).observe(time.perf_counter() - start)
            if rule.billed:
                await self._settle(admitted, full, labels, rule.response_type.FromString(response))
            return response

        return handle

    def _stream_handler(
        self, backend: Backend, full: str, rule: metering.MethodRule, call_backend: Any
    ) -> Callable[[bytes, _Context], AsyncIterator[bytes]]:
        labels = split_method(full)

        async def handle(request: bytes, context: _Context) -> AsyncIterator[bytes]:
            admitted = await self._admit(full, labels, rule, request, context)
            start = time.perf_counter()
            call = call_backend(request, metadata=admitted.metadata, timeout=admitted.timeout_s)
            settled = False
            try:
                await self._hold_quota(admitted, labels, call)
                async for message in call:
                    if rule.billed and rule.is_final is not None:
                        parsed = rule.response_type.FromString(message)
                        if rule.is_final(parsed):
                            await self._settle(admitted, full, labels, parsed)
                            settled = True
                    yield message
            except grpc.aio.AioRpcError as exc:
                await self._ledger.release(admitted.reservation)
                settled = True  # released
                await self._pass_error(exc, backend, context)
            finally:
                call.cancel()  # the client left or failed: stop the backend's compute too
                self._metrics.backend_seconds.labels(backend.name, full).observe(time.perf_counter() - start)
                if not settled:
                    self._ledger.release_nowait(admitted.reservation)

        return handle

    async def _admit(
        self, full: str, labels: tuple[str, str], rule: metering.MethodRule, raw: bytes, context: _Context
    ) -> _Admitted:
        invocation = tuple(context.invocation_metadata() or ())
        metadata = {k: v for k, v in invocation if isinstance(v, str)}
        principal = await self._auth.authenticate(metadata, context.peer())
        self._auth.check_scope(principal, full)
        try:
            await take_token(self._limiter, principal.subject, principal.limits.requests_per_minute)
        except errors.ResourceExhausted:
            self._metrics.rate_limited.labels(*labels).inc()
            raise
        request = parse_request(rule.request_type.FromString, raw)
        variant = rule.variant(request)
        self._auth.check_variant(principal, variant)
        request_id = request_id_var.get() or uuid.uuid4().hex
        idempotency_key = _idempotency_key(metadata)
        claim = Claim(
            subject=principal.subject,
            limits=principal.limits,
            images=rule.planned_images(request) if rule.planned_images else 0,
            spend_micros=await self._planned_spend(principal, request) if variant else 0,
            call_key=f"idem:{idempotency_key}" if idempotency_key else f"call:{uuid.uuid4().hex}",
            fingerprint=hashlib.sha256(full.encode() + b"\0" + raw).hexdigest() if idempotency_key else "",
            idempotency_key=idempotency_key,
        )
        remaining = context.time_remaining()
        # A call may not outlive its reservation: cut it a little before that expires.
        timeout = self._ttl_s * 0.95 if remaining is None else min(remaining, self._ttl_s * 0.95)
        forwarded = [(k, v) for k, v in invocation if _forwarded(k)]
        forwarded += [(REQUEST_ID_KEY, request_id), (KEY_ID_HEADER, principal.subject)]
        return _Admitted(principal, rule, claim, None, tuple(forwarded), timeout, request_id)

    async def _hold_quota(self, admitted: _Admitted, labels: tuple[str, str], call: grpc.aio.Call) -> None:
        """Reserves the call's quota while the backend already starts on it (the
        reservation takes a database round trip the client need not wait for);
        a refusal cancels the backend call before anything reaches the client."""
        if not admitted.rule.billed:
            return
        try:
            admitted.reservation = await self._ledger.reserve(admitted.claim, self._ttl_s)
        except BaseException as exc:
            call.cancel()
            if isinstance(exc, errors.QuotaExceeded):
                self._metrics.quota_refused.labels(*labels).inc()
            raise

    async def _planned_spend(self, principal: Principal, request: Any) -> int:
        if not principal.limits.spend_per_month_micros:
            return 0  # nothing to hold against
        spec = request.spec
        return metering.estimate_cost_micros(spec, await self._prices.get(spec.variant))

    async def _settle(
        self, admitted: _Admitted, full: str, labels: tuple[str, str], message: Message
    ) -> None:
        images = metering.billed_images(message, self._currency)
        try:
            outcome = await self._ledger.settle(
                admitted.reservation, admitted.claim, full, admitted.request_id, images
            )
        except errors.QuotaExceeded:
            self._metrics.quota_refused.labels(*labels).inc()
            raise
        except errors.Unavailable:
            self._metrics.ledger_failures.inc()
            raise
        for image in outcome.billed:
            self._metrics.billed_images.labels(full, image.model).inc()
            self._metrics.billed_cost.labels(full, image.model).inc(image.cost_micros)

    async def _pass_error(self, exc: grpc.aio.AioRpcError, backend: Backend, context: _Context) -> None:
        """Re-raises a backend's status to the client with its details intact; a
        backend that cannot be reached becomes UNAVAILABLE with RetryInfo."""
        code = exc.code()
        self._metrics.backend_errors.labels(backend.name, code.name).inc()
        trailing = tuple(
            (k, v)
            for k, v in exc.trailing_metadata() or ()
            if k == _STATUS_DETAILS or not k.startswith("grpc-")
        )
        has_details = any(k == _STATUS_DETAILS for k, _ in trailing)
        if code == grpc.StatusCode.UNAVAILABLE and not has_details:
            raise errors.Unavailable(
                f"the {backend.name} backend is unavailable; retry shortly",
                reason="BACKEND_UNAVAILABLE",
                metadata={"backend": backend.name},
                retry_after_s=1.0,
            )
        if code == grpc.StatusCode.CANCELLED and context.cancelled():
            raise asyncio.CancelledError
        await context.abort(code, exc.details() or "", trailing_metadata=trailing)


def _forwarded(key: str) -> bool:
    return key not in _NOT_FORWARDED and not key.startswith(("grpc-", ":"))


def _idempotency_key(metadata: dict[str, str]) -> str:
    value = metadata.get(IDEMPOTENCY_KEY, "")
    if value and (len(value) > 128 or not value.isascii() or not value.isprintable()):
        raise errors.InvalidArgument.of(
            f"metadata.{IDEMPOTENCY_KEY}",
            "must be 1 to 128 printable ASCII characters",
            reason="BAD_METADATA",
        )
    return value
