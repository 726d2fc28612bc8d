"""The typed clients, sync and asyncio, against a real gateway in front of the
shipped model servers: every call's typed result, errors with their decoded
details, and retries that honour RetryInfo and are billed once."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from PIL import Image

from imaging.captioner.v1 import captioner_pb2 as cap
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.client import (
    AdminClient,
    AsyncAdminClient,
    AsyncClient,
    CaptionerClient,
    CaptionResult,
    Client,
    Decoding,
    FinishReason,
    ImagingError,
    InvalidArgumentError,
    PermissionDeniedError,
    Progress,
    Quota,
    QuotaExceededError,
    QuotaViolation,
    RateLimitError,
    RetryEvent,
    RetryPolicy,
    UnauthenticatedError,
    UnavailableError,
)
from imaging.client.errors import from_rpc_error
from tests.gateway_support import ADMIN_TOKEN, REPO, Process, bearer, free_port, gateway_env, scene_png, spawn

RED = "a big red circle on the left"
BLUE = "a big blue circle on the right"
UNLIMITED = Quota(plan="unlimited")
NO_RETRY = RetryPolicy.never()


@pytest.fixture(scope="module")
def gateway(backends: tuple[Process, Process], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    captioner, generator = backends
    data = tmp_path_factory.mktemp("client-gateway")
    process = spawn("gateway", "GATEWAY", data, gateway_env(captioner.address, generator.address, data))
    yield process
    process.stop()


def new_key(gateway: Process, quota: Quota = UNLIMITED) -> tuple[str, str]:
    with AdminClient(gateway.address, admin_token=ADMIN_TOKEN) as admin:
        created = admin.create_key("client test", quota=quota)
    return created.key.key_id, created.secret


def billed(gateway: Process, key_id: str) -> dict[str, int]:
    """Ledger records of a key, counted by method name."""
    counts: dict[str, int] = {}
    with AdminClient(gateway.address, admin_token=ADMIN_TOKEN) as admin:
        for record in admin.export_usage(key_id=key_id):
            method = record.method.rsplit("/", 1)[1]
            counts[method] = counts.get(method, 0) + 1
    return counts


def red_image() -> Image.Image:
    return Image.open(io.BytesIO(scene_png("red")))


def test_sync_client_every_call_returns_typed_results(gateway: Process, tmp_path: Path) -> None:
    key_id, secret = new_key(gateway)
    red_path = tmp_path / "red.png"
    red_path.write_bytes(scene_png("red"))
    with Client(gateway.address, api_key=secret, retry=NO_RETRY) as client:
        info = client.captioner.model_info()
        assert info.grid_height > 0 and "caption" in info.capabilities

        # Inputs: a path, raw bytes and a PIL image.
        result = client.captioner.caption(red_path, scene_png("blue", left=False), red_image())
        assert [c.text for c in result.captions] == [RED, BLUE, RED]
        assert result.captions[0].finish_reason is FinishReason.END_OF_SEQUENCE
        assert result.usage.image_count == 3 and result.text == RED
        beams = client.captioner.caption(str(red_path), decoding=Decoding.beam_search(3))
        assert beams.text == RED

        stream = client.captioner.stream_caption(red_path)
        tokens = list(stream)
        assert len(tokens) > 1 and [t.index for t in tokens] == list(range(len(tokens)))
        assert "".join(t.text for t in tokens) == stream.result.text == RED
        assert stream.result.usage.token_count == len(tokens)

        images = client.captioner.embed_images(red_path, scene_png("blue"))
        texts = client.captioner.embed_texts("a big red circle", "a big blue circle")
        assert images.vectors.shape == (2, info.embedding_dimension) == texts.vectors.shape
        assert images.vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(images.vectors, axis=1), 1.0, atol=1e-4)
        similarity = images.vectors @ texts.vectors.T
        assert similarity[0, 0] > similarity[0, 1] and similarity[1, 1] > similarity[1, 0]

        ranked = client.captioner.match(red_image(), "a small blue square on the right", RED).ranked()
        assert ranked[0].text == RED

        attention = client.captioner.attention(red_path, heatmaps=True)
        assert attention.caption == RED
        assert attention.maps.shape == (
            len(attention.tokens),
            attention.layer_count,
            attention.grid_height,
            attention.grid_width,
        )
        assert attention.heads == (None,) * attention.layer_count
        assert attention.mean().shape == (len(attention.tokens), attention.grid_height, attention.grid_width)
        assert all(t.heatmap_png for t in attention.tokens)
        assert [t.text for t in attention.tokens][:3] == ["a", "big", "red"]

        variants = {v.name: v for v in client.generator.variants()}
        schnell = variants["flux.1-schnell"]
        assert schnell.pricing.model == "flat" and schnell.pricing.per_image.amount_micros > 0

        quote = client.generator.quote(RED, variant="flux.1-schnell", seed=11, count=2)
        generation = client.generator.generate(RED, variant="flux.1-schnell", seed=11, count=2)
        assert (quote.width_px, quote.height_px, quote.image_count) == (64, 64, 2)
        assert quote.usage == generation.usage and quote.steps == generation.steps
        assert [i.seed for i in generation.images] == [11, 12]
        first = generation.images[0]
        assert first.image.size == (first.width_px, first.height_px) == (64, 64)
        assert first.cost == schnell.pricing.per_image
        assert generation.usage.cost.amount_micros == 2 * first.cost.amount_micros
        assert first.save(tmp_path / "out.png").read_bytes() == first.data

        progress = client.generator.stream_generate(
            RED, variant="flux.1-schnell", seed=11, steps=4, preview_every=2
        )
        events = list(progress)
        assert [e.step for e in events] == [1, 2, 3, 4] and all(isinstance(e, Progress) for e in events)
        assert events[1].preview is not None and events[0].preview is None
        assert progress.result.images[0].data == first.data  # same seed, same image

        report = client.usage.get()
    assert report.key.key_id == key_id and report.remaining_images is None  # unlimited
    assert report.usage.image_count == 3 + 1 + 1 + 2 + 1 + 1 + 2 + 1
    assert billed(gateway, key_id) == {
        "Caption": 4,
        "StreamCaption": 1,
        "EmbedImages": 2,
        "MatchImageText": 1,
        "GetCrossAttention": 1,
        "Generate": 2,
        "StreamGenerate": 1,
    }


async def test_async_client_every_call_returns_typed_results(gateway: Process) -> None:
    key_id, secret = new_key(gateway)
    async with AsyncClient(gateway.address, api_key=secret, retry=NO_RETRY) as client:
        info = await client.captioner.model_info()
        result = await client.captioner.caption(scene_png("red"), red_image())
        assert [c.text for c in result.captions] == [RED, RED]

        stream = client.captioner.stream_caption(scene_png("blue", left=False))
        pieces = [token.text async for token in stream]
        assert "".join(pieces) == stream.result.text == BLUE

        images = await client.captioner.embed_images(red_image())
        texts = await client.captioner.embed_texts("a big red circle")
        assert images.vectors.shape == texts.vectors.shape == (1, info.embedding_dimension)
        match = await client.captioner.match(scene_png("red"), "a small blue square on the right", RED)
        assert match.ranked()[0].text == RED
        attention = await client.captioner.attention(scene_png("red"), caption=RED, layers=[0], per_head=True)
        assert attention.layers == (0,) * attention.head_count
        assert attention.heads == tuple(range(attention.head_count))

        variants = await client.generator.variants()
        assert "flux.1-schnell" in [v.name for v in variants]
        generation = await client.generator.generate(
            RED, variant="flux.1-schnell", seed=5, width_px=64, height_px=64
        )
        quote = await client.generator.quote(RED, variant="flux.1-schnell", width_px=64, height_px=64)
        assert quote.cost_per_image == generation.images[0].cost
        async with client.generator.stream_generate(RED, variant="flux.1-schnell", seed=5) as progress:
            steps = [event.step async for event in progress]
            streamed = await progress.final()
        assert steps == list(range(1, streamed.steps + 1))
        assert streamed.images[0].data == generation.images[0].data

        report = await client.usage.get()
    assert report.usage.image_count == 2 + 1 + 1 + 1 + 1 + 1 + 1
    assert billed(gateway, key_id)["StreamGenerate"] == 1


def test_admin_keys_sync(gateway: Process) -> None:
    with AdminClient(gateway.address, admin_token=ADMIN_TOKEN, identity="alice") as admin:
        created = admin.create_key(
            "sync admin", quota=Quota(plan="trial", requests_per_minute=30, images_per_month=5)
        )
        assert created.key.state == "active" and created.secret.startswith("img_")
        assert created.key.quota.images_per_month == 5 and created.key.quota.spend_per_month is None
        assert created.key.key_id in [k.key_id for k in admin.list_keys(page_size=1)]
        with CaptionerClient(gateway.address, api_key=created.secret, retry=NO_RETRY) as captioner:
            assert captioner.caption(scene_png()).text == RED
        rotated = admin.rotate_key(created.key.key_id, grace_period_s=0)
        assert rotated.old_secret_expires is None and rotated.secret != created.secret
        changed = admin.set_quota(created.key.key_id, Quota(plan="pro", images_per_month=100))
        assert changed.quota.plan == "pro" and changed.quota.images_per_month == 100
        assert admin.revoke_key(created.key.key_id).state == "revoked"
        events = [e.action for e in admin.audit_events(key_id=created.key.key_id)]
        assert events == ["revoke", "set_quota", "rotate", "create"]
        assert all("alice" in e.actor for e in admin.audit_events(key_id=created.key.key_id))
        records = list(admin.export_usage(key_id=created.key.key_id))
        assert [r.usage.image_count for r in records] == [1] and records[0].request_id
    with CaptionerClient(gateway.address, api_key=rotated.secret, retry=NO_RETRY) as captioner:
        with pytest.raises(UnauthenticatedError) as caught:
            captioner.model_info()
        assert caught.value.reason == "API_KEY_REVOKED"


async def test_admin_keys_async(gateway: Process) -> None:
    async with AsyncAdminClient(gateway.address, admin_token=ADMIN_TOKEN) as admin:
        created = await admin.create_key("async admin")
        assert created.key.quota.plan == "free"  # the gateway's default plan
        listed = [k.key_id async for k in admin.list_keys()]
        assert created.key.key_id in listed
        rotated = await admin.rotate_key(created.key.key_id, grace_period_s=60)
        assert rotated.old_secret_expires is not None
        revoked = await admin.revoke_key(created.key.key_id)
        assert revoked.state == "revoked" and revoked.revoked is not None
        assert [r async for r in admin.export_usage(key_id=created.key.key_id)] == []
        actions = [e.action async for e in admin.audit_events(key_id=created.key.key_id)]
        assert actions == ["revoke", "rotate", "create"]
    async with AsyncAdminClient(gateway.address, admin_token="wrong", retry=NO_RETRY) as admin:
        with pytest.raises(UnauthenticatedError) as caught:
            await admin.create_key("never")
        assert caught.value.reason == "ADMIN_TOKEN_INVALID"


def test_errors_carry_code_details_and_request_id(gateway: Process) -> None:
    key_id, secret = new_key(
        gateway, Quota(plan="trial", images_per_month=2, allowed_variants=("flux.1-schnell",))
    )
    with Client(gateway.address, api_key=secret, retry=NO_RETRY) as client:
        with pytest.raises(InvalidArgumentError) as bad_image:
            client.captioner.caption(scene_png(), b"not an image")
        error = bad_image.value
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT and error.code_name == "INVALID_ARGUMENT"
        assert [v.field for v in error.field_violations] == ["images[1].data"]
        assert len(error.request_id) > 0 and error.attempts == 1
        assert "images[1].data" in str(error)

        with pytest.raises(InvalidArgumentError) as bad_size:
            client.generator.generate("x", variant="flux.1-schnell", width_px=65, height_px=64)
        assert bad_size.value.field_violations[0].field == "spec.width_px"
        with pytest.raises(InvalidArgumentError) as bad_stream:
            list(client.captioner.stream_caption(b"not an image"))
        assert bad_stream.value.field_violations[0].field == "image.data"

        with pytest.raises(PermissionDeniedError) as denied:
            client.generator.generate("x", variant="flux.1-dev")
        assert (
            denied.value.reason == "VARIANT_NOT_ALLOWED" and denied.value.metadata["variant"] == "flux.1-dev"
        )

        client.captioner.caption(scene_png(), scene_png())  # the whole quota
        with pytest.raises(QuotaExceededError) as spent:
            client.captioner.caption(scene_png())
        assert spent.value.retry_delay_s is None and spent.value.attempts == 1
        assert spent.value.quota_violations[0].subject == f"api_key:{key_id}"
    with CaptionerClient(gateway.address, retry=NO_RETRY) as anonymous:
        with pytest.raises(UnauthenticatedError) as missing:
            anonymous.model_info()
        assert missing.value.reason == "API_KEY_MISSING" and missing.value.request_id
    assert billed(gateway, key_id) == {"Caption": 2}


async def test_async_errors_and_unreachable_servers(gateway: Process) -> None:
    _, secret = new_key(gateway)
    async with AsyncClient(gateway.address, api_key=secret, retry=NO_RETRY) as client:
        with pytest.raises(InvalidArgumentError) as caught:
            await client.captioner.match(scene_png())  # no texts
        assert caught.value.field_violations[0].field == "texts"
        with pytest.raises(InvalidArgumentError):
            await client.generator.stream_generate("", variant="flux.1-schnell").final()
    retries: list[RetryEvent] = []
    policy = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.02)
    dead = f"127.0.0.1:{free_port()}"
    async with AsyncClient(dead, api_key=secret, retry=policy, on_retry=retries.append) as client:
        with pytest.raises(UnavailableError) as unreachable:
            await client.usage.get()
    assert unreachable.value.attempts == 3 and [e.attempt for e in retries] == [1, 2]
    assert unreachable.value.request_id == ""  # no server answered


def _drain_rate_limit(gateway: Process, secret: str) -> None:
    """Spends the key's bucket until the gateway answers RATE_LIMITED."""
    with grpc.insecure_channel(gateway.address) as channel:
        stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
        for _ in range(1000):
            try:
                stub.GetModelInfo(cap.GetModelInfoRequest(), metadata=bearer(secret), timeout=5)
            except grpc.RpcError as exc:
                error = from_rpc_error(exc)
                assert isinstance(error, RateLimitError) and error.reason == "RATE_LIMITED", error
                return
    raise AssertionError("never rate limited")


def test_a_rate_limited_call_waits_for_retry_info_and_is_billed_once(gateway: Process) -> None:
    # 120 calls a minute: a burst of 120, then one call every 0.5 s.
    key_id, secret = new_key(gateway, Quota(plan="limited", requests_per_minute=120))
    retries: list[RetryEvent] = []
    results: list[CaptionResult] = []
    with Client(gateway.address, api_key=secret, on_retry=retries.append) as client:
        for _ in range(5):  # the bucket may refill between the drain and the call; then go again
            _drain_rate_limit(gateway, secret)
            stream = client.captioner.stream_caption(scene_png())  # retried before its first message
            assert "".join(t.text for t in stream) == RED
            results.append(stream.result)
            _drain_rate_limit(gateway, secret)
            results.append(client.captioner.caption(scene_png()))
            if len(retries) >= 2:
                break
    assert len(retries) >= 2, "the calls were never rate limited"
    for event in retries:
        assert isinstance(event.error, RateLimitError) and event.error.retry_delay_s is not None
        assert event.error.retry_delay_s <= event.delay_s <= 1.2 * event.error.retry_delay_s + 1e-9
    assert {e.method for e in retries} <= {"Caption", "StreamCaption"}
    counts = billed(gateway, key_id)
    assert counts.get("Caption", 0) + counts.get("StreamCaption", 0) == len(results)


class _LoseFirstAnswer(grpc.UnaryUnaryClientInterceptor):
    """Lets the first call reach the gateway (which bills it), then tells the
    caller UNAVAILABLE, as a connection lost on the way back would."""

    def __init__(self) -> None:
        self.idempotency_keys: list[str] = []

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        self.idempotency_keys.append(dict(details.metadata or ()).get("x-idempotency-key", ""))
        outcome = continuation(details, request)
        if len(self.idempotency_keys) == 1:
            outcome.result()  # the gateway answered and billed
            return _LostAnswer()
        return outcome


class _LostAnswer(grpc.RpcError, grpc.Call):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "connection reset by peer"

    def initial_metadata(self) -> tuple[()]:
        return ()

    def trailing_metadata(self) -> tuple[()]:
        return ()

    def result(self, timeout: float | None = None) -> None:
        raise self

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Any) -> bool:
        return False


def test_a_retry_after_a_lost_answer_reuses_the_idempotency_key_and_is_billed_once(gateway: Process) -> None:
    key_id, secret = new_key(gateway)
    interceptor = _LoseFirstAnswer()
    retries: list[RetryEvent] = []
    policy = RetryPolicy(initial_backoff_s=0.01)
    with grpc.insecure_channel(gateway.address) as channel:
        lossy = grpc.intercept_channel(channel, interceptor)
        with CaptionerClient(
            api_key=secret, channel=lossy, retry=policy, on_retry=retries.append
        ) as captioner:
            result = captioner.caption(scene_png("red"), scene_png("blue", left=False))
            assert [c.text for c in result.captions] == [RED, BLUE]
            captioner.caption(scene_png())  # a new logical call: a new key
    first, again, other = interceptor.idempotency_keys
    assert first == again and len(first) == 32 and other != first
    assert [e.error.code_name for e in retries] == ["UNAVAILABLE"]
    assert billed(gateway, key_id) == {"Caption": 3}  # 2 + 1, not 2 + 2 + 1


class _AsyncLoseFirstAnswer(grpc.aio.UnaryUnaryClientInterceptor):
    """The asyncio form of ``_LoseFirstAnswer``."""

    def __init__(self) -> None:
        self.idempotency_keys: list[str] = []

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        self.idempotency_keys.append(dict(details.metadata or ()).get("x-idempotency-key", ""))
        call = await continuation(details, request)
        if len(self.idempotency_keys) == 1:
            await call  # the gateway answered and billed
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.UNAVAILABLE,
                grpc.aio.Metadata(),
                grpc.aio.Metadata(),
                "connection reset by peer",
            )
        return call


async def test_an_async_retry_after_a_lost_answer_is_billed_once(gateway: Process) -> None:
    key_id, secret = new_key(gateway)
    interceptor = _AsyncLoseFirstAnswer()
    policy = RetryPolicy(initial_backoff_s=0.01)
    channel = grpc.aio.insecure_channel(gateway.address, interceptors=[interceptor])
    async with channel, AsyncClient(api_key=secret, channel=channel, retry=policy) as client:
        generation = await client.generator.generate(RED, variant="flux.1-schnell", seed=1, count=2)
    assert [i.seed for i in generation.images] == [1, 2]
    first, again = interceptor.idempotency_keys
    assert first == again
    assert billed(gateway, key_id) == {"Generate": 2}


def test_retry_policy_retries_only_where_safe() -> None:
    policy = RetryPolicy(max_attempts=4, initial_backoff_s=1.0, multiplier=2.0, max_backoff_s=3.0, jitter=0.0)

    def error(code: grpc.StatusCode, **fields: Any) -> ImagingError:
        return ImagingError(code, "m", **fields)

    unavailable = error(grpc.StatusCode.UNAVAILABLE)
    assert [policy.delay_s(unavailable, n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, None]
    limited = error(grpc.StatusCode.RESOURCE_EXHAUSTED, retry_delay_s=2.5)
    assert policy.delay_s(limited, 1) == 2.5
    assert policy.delay_s(error(grpc.StatusCode.RESOURCE_EXHAUSTED), 1) is None  # no RetryInfo
    quota = error(grpc.StatusCode.RESOURCE_EXHAUSTED, quota_violations=(QuotaViolation("k", "d"),))
    assert policy.delay_s(quota, 1) is None
    for code in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    ):
        assert policy.delay_s(error(code), 1) is None
    assert (
        policy.delay_s(error(grpc.StatusCode.RESOURCE_EXHAUSTED, retry_delay_s=60.0), 1) is None
    )  # too long
    jittered = RetryPolicy(jitter=0.5)
    delays = {jittered.delay_s(limited, 1) for _ in range(50)}
    assert all(d is not None and 2.5 <= d <= 3.75 for d in delays) and len(delays) > 1
    backoffs = {jittered.delay_s(unavailable, 3) for _ in range(50)}
    assert all(b is not None and 0.5 <= b <= 1.0 for b in backoffs)
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_a_strict_caller_type_checks(tmp_path: Path) -> None:
    config = tmp_path / "mypy.ini"
    config.write_text(
        "[mypy]\nstrict = True\nignore_missing_imports = True\nfollow_imports = silent\n"
        "[mypy-imaging.*.v1.*]\nignore_errors = True\n"
    )
    checked = ["tests/client_strict_check.py", "imaging/client", "imaging/cli", "imaging/colormap.py"]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(config),
            "--cache-dir",
            str(tmp_path / "cache"),
            *checked,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_streams_cancel_when_left_early(gateway: Process) -> None:
    _, secret = new_key(gateway)
    with Client(gateway.address, api_key=secret) as client:
        with client.generator.stream_generate(RED, variant="flux.1-dev", steps=50) as progress:
            first = next(iter(progress))
            assert first.step == 1
        with pytest.raises(RuntimeError, match="not finished"):
            _ = progress.result


def test_async_client_calls_run_concurrently(gateway: Process) -> None:
    _, secret = new_key(gateway)

    async def many() -> list[str]:
        async with AsyncClient(gateway.address, api_key=secret) as client:
            results = await asyncio.gather(*(client.captioner.caption(scene_png()) for _ in range(4)))
        return [r.text for r in results]

    assert asyncio.run(many()) == [RED] * 4
