"""Typed Python clients of the imaging services, sync and asyncio.

    from imaging.client import Client, Decoding, ImagingError

    with Client("127.0.0.1:50050", api_key="img_...") as client:
        result = client.captioner.caption("cat.png", decoding=Decoding.beam_search(3))
        print(result.text, result.usage.cost)
        stream = client.generator.stream_generate("a red circle", variant="flux.1-schnell", seed=7)
        for step in stream:
            print(f"{step.step}/{step.total_steps}")
        stream.result.images[0].save("circle.png")

``AsyncClient`` has the same services with awaitable methods and async
iterators. Each service also has its own client (``CaptionerClient``,
``GeneratorClient``, ``UsageClient``, ``AdminClient`` and their ``Async``
forms). Images go in as bytes, paths or PIL images; results are frozen
dataclasses (``imaging.client.types``) with numpy arrays and PIL images.

Failed calls raise ``ImagingError`` subclasses carrying the gRPC code and the
decoded ``google.rpc`` details. UNAVAILABLE, and RESOURCE_EXHAUSTED with
RetryInfo, are retried with backoff under one idempotency key per call (see
``imaging.client.retry``).
"""

from imaging.client.aio import (
    AsyncAdminClient,
    AsyncCaptionerClient,
    AsyncClient,
    AsyncGeneratorClient,
    AsyncUsageClient,
)
from imaging.client.connection import DEFAULT_ADDRESS, DEFAULT_TIMEOUT_S, TLS
from imaging.client.errors import (
    CancelledError,
    DeadlineExceededError,
    FailedPreconditionError,
    FieldViolation,
    ImagingError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    QuotaViolation,
    RateLimitError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
)
from imaging.client.retry import RetryEvent, RetryPolicy
from imaging.client.streams import AsyncStream, Stream
from imaging.client.sync import AdminClient, CaptionerClient, Client, GeneratorClient, UsageClient
from imaging.client.types import (
    Adapter,
    ApiKey,
    Attention,
    AttentionToken,
    AuditEvent,
    Caption,
    CaptionResult,
    CaptionToken,
    Cost,
    CreatedKey,
    Decoding,
    Embeddings,
    FinishReason,
    GeneratedImage,
    Generation,
    ImageFormat,
    ImageInput,
    MatchResult,
    ModelInfo,
    Pricing,
    Progress,
    Quota,
    Quote,
    ResizeMode,
    RotatedKey,
    TextMatch,
    Timings,
    Usage,
    UsageLine,
    UsageRecord,
    UsageReport,
    Variant,
)

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_TIMEOUT_S",
    "TLS",
    "Adapter",
    "AdminClient",
    "ApiKey",
    "AsyncAdminClient",
    "AsyncCaptionerClient",
    "AsyncClient",
    "AsyncGeneratorClient",
    "AsyncStream",
    "AsyncUsageClient",
    "Attention",
    "AttentionToken",
    "AuditEvent",
    "CancelledError",
    "Caption",
    "CaptionResult",
    "CaptionToken",
    "CaptionerClient",
    "Client",
    "Cost",
    "CreatedKey",
    "DeadlineExceededError",
    "Decoding",
    "Embeddings",
    "FailedPreconditionError",
    "FieldViolation",
    "FinishReason",
    "GeneratedImage",
    "Generation",
    "GeneratorClient",
    "ImageFormat",
    "ImageInput",
    "ImagingError",
    "InternalError",
    "InvalidArgumentError",
    "MatchResult",
    "ModelInfo",
    "NotFoundError",
    "PermissionDeniedError",
    "Pricing",
    "Progress",
    "Quota",
    "QuotaExceededError",
    "QuotaViolation",
    "Quote",
    "RateLimitError",
    "ResizeMode",
    "ResourceExhaustedError",
    "RetryEvent",
    "RetryPolicy",
    "RotatedKey",
    "Stream",
    "TextMatch",
    "Timings",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "Usage",
    "UsageClient",
    "UsageLine",
    "UsageRecord",
    "UsageReport",
    "Variant",
]
