"""Blocking clients: ``Client`` (all four services on one channel) and one client
per service. See ``imaging.client`` for an example."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self

import grpc

from imaging.captioner.v1 import captioner_pb2 as cap
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.client import _convert as convert
from imaging.client import types as t
from imaging.client._transport import SyncTransport
from imaging.client.connection import (
    DEFAULT_ADDRESS,
    DEFAULT_TIMEOUT_S,
    TLS,
    Settings,
    resolve_tls,
    sync_channel,
)
from imaging.client.retry import RetryHook, RetryPolicy
from imaging.client.streams import Stream
from imaging.gateway.v1 import gateway_pb2 as gw
from imaging.gateway.v1 import gateway_pb2_grpc
from imaging.generator.v1 import generator_pb2 as gen
from imaging.generator.v1 import generator_pb2_grpc

CaptionStream = Stream[t.CaptionToken, t.CaptionResult]
GenerationStream = Stream[t.Progress, t.Generation]


def _transport(
    address: str,
    credential: str | None,
    tls: TLS | bool | None,
    timeout_s: float | None,
    retry: RetryPolicy | None,
    on_retry: RetryHook | None,
    metadata: Sequence[tuple[str, str]],
    channel: grpc.Channel | None,
) -> SyncTransport:
    settings = Settings(
        credential,
        timeout_s=timeout_s,
        retry=retry or RetryPolicy(),
        on_retry=on_retry,
        metadata=tuple(metadata),
    )
    if channel is not None:
        return SyncTransport(channel, settings, owns_channel=False)
    return SyncTransport(sync_channel(address, resolve_tls(tls)), settings, owns_channel=True)


class _Service:
    """Connection arguments shared by every client:

    - ``address``: ``host:port`` of the gateway (or of a model server, which
      needs no key);
    - ``api_key`` (``AdminClient``: ``admin_token``): sent as
      ``authorization: Bearer <key>``;
    - ``tls``: ``True`` for TLS with default roots, or ``TLS(...)``; plaintext
      by default;
    - ``timeout_s``: the default deadline of a call, retries included (None:
      none); each method takes its own ``timeout_s`` too;
    - ``retry``: a ``RetryPolicy`` (``RetryPolicy.never()`` to turn retries off);
      ``on_retry`` is called before each wait;
    - ``metadata``: extra metadata for every call (``x-request-id`` ...);
    - ``channel``: an existing channel to use instead of opening one (it is
      then not closed by ``close()``).
    """

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        api_key: str | None = None,
        tls: TLS | bool | None = None,
        timeout_s: float | None = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        on_retry: RetryHook | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        channel: grpc.Channel | None = None,
    ) -> None:
        self._transport = _transport(address, api_key, tls, timeout_s, retry, on_retry, metadata, channel)
        self._bind()

    @classmethod
    def _on(cls, transport: SyncTransport) -> Self:
        client = cls.__new__(cls)
        client._transport = transport
        client._bind()
        return client

    def _bind(self) -> None:
        """Makes the stubs on the transport's channel."""

    def close(self) -> None:
        """Closes the channel, if this client opened it."""
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class CaptionerClient(_Service):
    """``imaging.captioner.v1.CaptionerService``: captions, token streams,
    embeddings, image-text matching and cross-attention."""

    def _bind(self) -> None:
        self._stub = captioner_pb2_grpc.CaptionerServiceStub(self._transport.channel)

    def model_info(self, *, timeout_s: float | None = None) -> t.ModelInfo:
        """The loaded models, capabilities and limits."""
        response: cap.GetModelInfoResponse = self._transport.unary(
            self._stub.GetModelInfo, cap.GetModelInfoRequest(), name="GetModelInfo", timeout_s=timeout_s
        )
        return convert.model_info(response)

    def caption(
        self,
        *images: t.ImageInput,
        decoding: t.Decoding | None = None,
        prefix: str = "",
        adapter: str = "",
        resize: t.ResizeMode | None = None,
        timeout_s: float | None = None,
        idempotency_key: str | None = None,
    ) -> t.CaptionResult:
        """Captions one or more images (one caption each, in order) with one set
        of decoding options, an optional text ``prefix`` and LoRA ``adapter``."""
        request = convert.caption_request(images, decoding, prefix, adapter, resize)
        response: cap.CaptionResponse = self._transport.unary(
            self._stub.Caption,
            request,
            name="Caption",
            timeout_s=timeout_s,
            billed=True,
            idempotency_key=idempotency_key,
        )
        return convert.caption_result(response)

    def stream_caption(
        self,
        image: t.ImageInput,
        *,
        decoding: t.Decoding | None = None,
        prefix: str = "",
        adapter: str = "",
        resize: t.ResizeMode | None = None,
        timeout_s: float | None = None,
        idempotency_key: str | None = None,
    ) -> CaptionStream:
        """Captions one image, yielding each ``CaptionToken`` as it is decoded;
        the stream's ``result`` (or ``final()``) is the caption."""
        request = convert.stream_caption_request(image, decoding, prefix, adapter, resize)
        messages = self._transport.stream(
            self._stub.StreamCaption,
            request,
            name="StreamCaption",
            timeout_s=timeout_s,
            billed=True,
            idempotency_key=idempotency_key,
        )
        return Stream(messages, convert.caption_event, t.CaptionResult)

    def embed_images(
        self,
        *images: t.ImageInput,
        resize: t.ResizeMode | None = None,
        timeout_s: float | None = None,
        idempotency_key: str | None = None,
    ) -> t.Embeddings:
        """Image embeddings in the shared space: ``vectors`` of shape (images, dimension)."""
        request = convert.embed_images_request(images, resize)
        response: cap.EmbedImagesResponse = self._transport.unary(
            self._stub.EmbedImages,
            request,
            name="EmbedImages",
            timeout_s=timeout_s,
            billed=True,
            idempotency_key=idempotency_key,
        )
        return convert.embeddings(response, convert.usage(response.usage))

    def embed_texts(self, *texts: str, timeout_s: float | None = None) -> t.Embeddings:
        """Text embeddings in the shared space: ``vectors`` of shape (texts, dimension). Free."""
        response: cap.EmbedTextsResponse = self._transport.unary(
            self._stub.EmbedTexts,
            cap.EmbedTextsRequest(texts=list(texts)),
            name="EmbedTexts",
            timeout_s=timeout_s,
        )
        return convert.embeddings(response)

    def match(
        self,
        image: t.ImageInput,
        *texts: str,
        resize: t.ResizeMode | None = None,
        timeout_s: float | None = None,
        idempotency_key: str | None = None,
    ) -> t.MatchResult:
        """How well each text describes the image; ``ranked()`` sorts them."""
        request = convert.match_request(image, texts, resize)
        response: cap.MatchImageTextResponse = self._transport.unary(
            self._stub.MatchImageText,
            request,
            name="MatchImageText",
            timeout_s=timeout_s,
            billed=True,
            idempotency_key=idempotency_key,
        )
        return convert.match_result(response)

    def attention(
        self,
        image: t.ImageInput,
        *,
        caption: str = "",
        decoding: t.Decoding | None = None,
        layers: Sequence[int] = (),
        per_head: bool = False,
        heatmaps: bool = False,
        resize: t.ResizeMode | None = None,
        timeout_s: float | None = None,
        idempotency_key: str | None = None,
    ) -> t.Attention:
        """The decoder's cross-attention per token of ``caption`` (empty: a
        caption the server generates greedily), as numpy maps; ``heatmaps``
        asks for the server's PNG per token too."""
        request = convert.attention_request(image, caption, decoding, layers, per_head, heatmaps, resize)
        response: cap.GetCrossAttentionResponse = self._transport.unary(
            self._stub.GetCrossAttention,
            request,
            name="GetCrossAttention",
            timeout_s=timeout_s,
            billed=True,
            idempotency_key=idempotency_key,
        )
        return convert.attention(response)


class GeneratorClient(_Service):
    """``imaging.generator.v1.GeneratorService``: variants and image generation."""

    def _bind(self) -> None:
        self._stub = generator_pb2_grpc.GeneratorServiceStub(self._transport.channel)

    def variants(self, *, timeout_s: float | None = None) -> tuple[t.Variant, ...]:
        """The served variants, sorted by name, with limits and prices."""
        response: gen.ListVariantsResponse = self._transport.unary(
            self._stub.ListVariants, gen.ListVariantsRequest(), name="ListVariants", timeout_s=timeout_s
        )
        return tuple(convert.variant(v) for v in response.variants)

    def quote(
        self,
        prompt: str,
        *,
        variant: str,
        width_px: int | None = None,
        height_px: int | None = None,
        aspect_ratio: str | None = None,
        megapixels: float | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        true_cfg_scale: float | None = None,
        negative_prompt: str = "",
        seed: int | None = None,
        count: int = 1,
        output_format: t.ImageFormat | None = None,
        quality: int | None = None,
        references: Sequence[t.ImageInput] = (),
        mask: t.ImageInput | None = None,
        strength: float | None = None,
        adapter: str = "",
        timeout_s: float | None = None,
    ) -> t.Quote:
        """What ``generate`` with the same arguments would make and bill, without
        generating: the size, steps, image count and cost (free through the gateway)."""
        spec = convert.generation_spec(
            prompt,
            variant=variant,
            width_px=width_px,
            height_px=height_px,
            aspect_ratio=aspect_ratio,
            megapixels=megapixels,
            steps=steps,
            guidance_scale=guidance_scale,
            true_cfg_scale=true_cfg_scale,
            negative_prompt=negative_prompt,
            seed=seed,
            count=count,
            output_format=output_format,
            quality=quality,
            references=references,
            mask=mask,
            strength=strength,
            adapter=adapter,
        )
        response: gen.QuoteResponse = self._transport.unary(
            self._stub.Quote, gen.QuoteRequest(spec=spec), name="Quote", timeout_s=timeout_s
        )
        return convert.quote(response)

    def generate(
        self,
        prompt: str,
        *,
        variant: str,
        width_px: int | None = None,
        height_px: int | None = None,
        aspect_ratio: str | None = None,
        megapixels: float | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        true_cfg_scale: float | None = None,
        negative_prompt: str = "",
        seed: int | None = None,
        count: int = 1,
        output_format: t.ImageFormat | None = None,
        quality: int | None = None,
        references: Sequence[t.ImageInput] = (),
        mask: t.ImageInput | None = None,
        strength: float | None = None,
        adapter: str = "",
        timeout_s: float | None = None,
        idempotency_key: str | None = None,
    ) -> t.Generation:
        """Generates ``count`` images of ``prompt`` with ``variant``. Size: both
        ``width_px`` and ``height_px``, or ``aspect_ratio`` ("16:9") with optional
        ``megapixels``, or neither (the variant's default). Image i uses seed + i."""
        spec = convert.generation_spec(
            prompt,
            variant=variant,
            width_px=width_px,
            height_px=height_px,
            aspect_ratio=aspect_ratio,
            megapixels=megapixels,
            steps=steps,
            guidance_scale=guidance_scale,
            true_cfg_scale=true_cfg_scale,
            negative_prompt=negative_prompt,
            seed=seed,
            count=count,
            output_format=output_format,
            quality=quality,
            references=references,
            mask=mask,
            strength=strength,
            adapter=adapter,
        )
        response: gen.GenerateResponse = self._transport.unary(
            self._stub.Generate,
            gen.GenerateRequest(spec=spec),
            name="Generate",
            timeout_s=timeout_s,
            billed=True,
            idempotency_key=idempotency_key,
        )
        return convert.generation(response)

    def stream_generate(
        self,
        prompt: str,
        *,
        variant: str,
        width_px: int | None = None,
        height_px: int | None = None,
        aspect_ratio: str | None = None,
        megapixels: float | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        true_cfg_scale: float | None = None,
        negative_prompt: str = "",
        seed: int | None = None,
        count: int = 1,
        output_format: t.ImageFormat | None = None,
        quality: int | None = None,
        references: Sequence[t.ImageInput] = (),
        mask: t.ImageInput | None = None,
        strength: float | None = None,
        adapter: str = "",
        preview_every: int = 0,
        timeout_s: float | None = None,
        idempotency_key: str | None = None,
    ) -> GenerationStream:
        """As ``generate``, yielding a ``Progress`` per denoising step (with a
        preview every ``preview_every`` steps; 0: none); the stream's ``result``
        (or ``final()``) is the ``Generation``."""
        spec = convert.generation_spec(
            prompt,
            variant=variant,
            width_px=width_px,
            height_px=height_px,
            aspect_ratio=aspect_ratio,
            megapixels=megapixels,
            steps=steps,
            guidance_scale=guidance_scale,
            true_cfg_scale=true_cfg_scale,
            negative_prompt=negative_prompt,
            seed=seed,
            count=count,
            output_format=output_format,
            quality=quality,
            references=references,
            mask=mask,
            strength=strength,
            adapter=adapter,
        )
        messages = self._transport.stream(
            self._stub.StreamGenerate,
            gen.StreamGenerateRequest(spec=spec, preview_every_steps=preview_every),
            name="StreamGenerate",
            timeout_s=timeout_s,
            billed=True,
            idempotency_key=idempotency_key,
        )
        return Stream(messages, convert.generation_event, t.Generation)


class UsageClient(_Service):
    """``imaging.gateway.v1.UsageService``: the calling key's own usage."""

    def _bind(self) -> None:
        self._stub = gateway_pb2_grpc.UsageServiceStub(self._transport.channel)

    def get(self, *, timeout_s: float | None = None) -> t.UsageReport:
        """This quota period's usage of the calling key, and what is left."""
        response: gw.GetUsageResponse = self._transport.unary(
            self._stub.GetUsage, gw.GetUsageRequest(), name="GetUsage", timeout_s=timeout_s
        )
        return convert.usage_report(response)


class AdminClient(_Service):
    """``imaging.gateway.v1.AdminService``: keys, quotas, usage export and the
    audit log, with the gateway's admin token (``GATEWAY_ADMIN_TOKEN``).
    Calls that create secrets (``create_key``, ``rotate_key``) are never
    retried: a retry could make a second one."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        admin_token: str | None = None,
        identity: str = "",
        tls: TLS | bool | None = None,
        timeout_s: float | None = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        on_retry: RetryHook | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        channel: grpc.Channel | None = None,
    ) -> None:
        """``identity`` names the admin in the audit log (``x-admin-identity``)."""
        extra = (*metadata, ("x-admin-identity", identity)) if identity else tuple(metadata)
        super().__init__(
            address,
            api_key=admin_token,
            tls=tls,
            timeout_s=timeout_s,
            retry=retry,
            on_retry=on_retry,
            metadata=extra,
            channel=channel,
        )

    def _bind(self) -> None:
        self._stub = gateway_pb2_grpc.AdminServiceStub(self._transport.channel)

    def create_key(
        self,
        display_name: str,
        *,
        quota: t.Quota | None = None,
        scopes: Sequence[str] = (),
        expires: datetime | None = None,
        timeout_s: float | None = None,
    ) -> t.CreatedKey:
        """Creates a key (``quota`` unset: the gateway's default plan); its
        ``secret`` is in the result, and only there."""
        request = convert.create_key_request(display_name, quota, scopes, expires)
        response: gw.CreateApiKeyResponse = self._transport.unary(
            self._stub.CreateApiKey, request, name="CreateApiKey", timeout_s=timeout_s, retry=False
        )
        return convert.created_key(response)

    def list_keys(
        self, *, show_revoked: bool = False, page_size: int = 100, timeout_s: float | None = None
    ) -> Iterator[t.ApiKey]:
        """Every key, newest first, fetching pages of ``page_size`` as iterated."""
        token = ""
        while True:
            request = gw.ListApiKeysRequest(page_size=page_size, page_token=token, show_revoked=show_revoked)
            response: gw.ListApiKeysResponse = self._transport.unary(
                self._stub.ListApiKeys, request, name="ListApiKeys", timeout_s=timeout_s
            )
            yield from (convert.api_key(k) for k in response.keys)
            token = response.next_page_token
            if not token:
                return

    def revoke_key(self, key_id: str, *, timeout_s: float | None = None) -> t.ApiKey:
        """Revokes a key: its calls are UNAUTHENTICATED from now on."""
        response: gw.RevokeApiKeyResponse = self._transport.unary(
            self._stub.RevokeApiKey,
            gw.RevokeApiKeyRequest(key_id=key_id),
            name="RevokeApiKey",
            timeout_s=timeout_s,
        )
        return convert.api_key(response.key)

    def rotate_key(
        self, key_id: str, *, grace_period_s: float = 0.0, timeout_s: float | None = None
    ) -> t.RotatedKey:
        """Gives a key a new secret; the old one works ``grace_period_s`` longer (0-30 days)."""
        request = convert.rotate_key_request(key_id, grace_period_s)
        response: gw.RotateApiKeyResponse = self._transport.unary(
            self._stub.RotateApiKey, request, name="RotateApiKey", timeout_s=timeout_s, retry=False
        )
        return convert.rotated_key(response)

    def set_quota(self, key_id: str, quota: t.Quota, *, timeout_s: float | None = None) -> t.ApiKey:
        """Replaces a key's limits whole."""
        request = gw.SetQuotaRequest(key_id=key_id, quota=convert.quota(quota))
        response: gw.SetQuotaResponse = self._transport.unary(
            self._stub.SetQuota, request, name="SetQuota", timeout_s=timeout_s
        )
        return convert.api_key(response.key)

    def export_usage(
        self,
        *,
        key_id: str = "",
        start: datetime | None = None,
        end: datetime | None = None,
        timeout_s: float | None = None,
    ) -> Iterator[t.UsageRecord]:
        """The ledger's records in [start, end), oldest first (one per billed image)."""
        request = convert.export_request(key_id, start, end)
        for message in self._transport.stream(
            self._stub.ExportUsage, request, name="ExportUsage", timeout_s=timeout_s
        ):
            yield convert.usage_record(message.record)

    def audit_events(
        self, *, key_id: str = "", page_size: int = 100, timeout_s: float | None = None
    ) -> Iterator[t.AuditEvent]:
        """The audit log, newest first, fetching pages as iterated."""
        token = ""
        while True:
            request = gw.ListAuditEventsRequest(page_size=page_size, page_token=token, key_id=key_id)
            response: gw.ListAuditEventsResponse = self._transport.unary(
                self._stub.ListAuditEvents, request, name="ListAuditEvents", timeout_s=timeout_s
            )
            yield from (convert.audit_event(e) for e in response.events)
            token = response.next_page_token
            if not token:
                return


class Client:
    """The four services on one channel:

        with Client("127.0.0.1:50050", api_key="img_...") as client:
            print(client.captioner.caption("cat.png").text)
            client.generator.generate("a red circle", variant="flux.1-schnell").images[0].save("out.png")
            print(client.usage.get().remaining_images)

    ``admin_token`` enables ``client.admin``. The other arguments are those of
    every service client (see ``CaptionerClient``).
    """

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        api_key: str | None = None,
        admin_token: str | None = None,
        admin_identity: str = "",
        tls: TLS | bool | None = None,
        timeout_s: float | None = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        on_retry: RetryHook | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        channel: grpc.Channel | None = None,
    ) -> None:
        self._transport = _transport(address, api_key, tls, timeout_s, retry, on_retry, metadata, channel)
        self.captioner = CaptionerClient._on(self._transport)
        self.generator = GeneratorClient._on(self._transport)
        self.usage = UsageClient._on(self._transport)
        identity = (("x-admin-identity", admin_identity),) if admin_identity else ()
        self.admin = AdminClient._on(self._transport.derive(admin_token, identity))

    def close(self) -> None:
        """Closes the channel, if this client opened it."""
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
