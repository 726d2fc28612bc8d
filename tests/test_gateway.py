"""The gateway end to end, as its users call it: every forwarded RPC through a
real gateway process to the real shipped model servers, what each bills, and
every error a client can meet (never INTERNAL or UNKNOWN, never a secret)."""

from __future__ import annotations

import functools
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import timestamp_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

import imaging.errors
from imaging.captioner.v1 import captioner_pb2 as cap
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from imaging.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from imaging.generator.v1 import generator_pb2 as gen
from imaging.generator.v1 import generator_pb2_grpc
from tests.gateway_support import (
    ADMIN,
    Process,
    bearer,
    create_key,
    error_of,
    free_port,
    gateway_env,
    scene_png,
    spawn,
    wait_serving,
)

CAPTION = "/imaging.captioner.v1.CaptionerService/Caption"
GENERATE = "/imaging.generator.v1.GeneratorService/Generate"
UNLIMITED = gateway_pb2.Quota(plan="unlimited")


@pytest.fixture(scope="module")
def gateway(backends: tuple[Process, Process], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    captioner, generator = backends
    data = tmp_path_factory.mktemp("gateway-data")
    process = spawn("gateway", "GATEWAY", data, gateway_env(captioner.address, generator.address, data))
    wait_serving(process, "imaging.generator.v1.GeneratorService")
    yield process
    process.stop()
    assert '"level": "ERROR"' not in process.log_text()


@pytest.fixture(scope="module")
def channel(gateway: Process) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(gateway.address) as channel:
        yield channel


def image(data: bytes) -> common_pb2.Image:
    return common_pb2.Image(data=data, media_type="image/png")


def export(channel: grpc.Channel, key_id: str) -> list[gateway_pb2.UsageRecord]:
    stub = gateway_pb2_grpc.AdminServiceStub(channel)
    request = gateway_pb2.ExportUsageRequest(key_id=key_id)
    return [m.record for m in stub.ExportUsage(request, metadata=ADMIN, timeout=10)]


def test_every_forwarded_rpc_answers_as_the_backend_and_bills_per_image(
    channel: grpc.Channel, backends: tuple[Process, Process]
) -> None:
    key_id, secret = create_key(channel)  # the free plan
    auth = bearer(secret)
    red, blue = scene_png("red", left=True), scene_png("blue", left=False)
    through = captioner_pb2_grpc.CaptionerServiceStub(channel)
    with grpc.insecure_channel(backends[0].address) as direct_channel:
        direct = captioner_pb2_grpc.CaptionerServiceStub(direct_channel)
        caption_request = cap.CaptionRequest(images=[image(red), image(blue)])
        captions = through.Caption(caption_request, metadata=auth, timeout=30)
        assert [c.text for c in captions.captions] == [
            c.text for c in direct.Caption(caption_request, timeout=30).captions
        ]
        assert captions.captions[0].text == "a big red circle on the left"

        stream = list(
            through.StreamCaption(cap.StreamCaptionRequest(image=image(red)), metadata=auth, timeout=30)
        )
        assert "".join(m.token.text for m in stream if m.HasField("token")) == stream[-1].caption.text

        embedded = through.EmbedImages(
            cap.EmbedImagesRequest(images=[image(red), image(blue)]), metadata=auth
        )
        direct_embedded = direct.EmbedImages(cap.EmbedImagesRequest(images=[image(red), image(blue)]))
        assert list(embedded.embeddings[1].values) == list(direct_embedded.embeddings[1].values)
        texts = through.EmbedTexts(cap.EmbedTextsRequest(texts=["a big red circle"]), metadata=auth)
        assert texts.dimension == embedded.dimension > 0
        match = through.MatchImageText(
            cap.MatchImageTextRequest(
                image=image(red), texts=["a big red circle on the left", "a blue square"]
            ),
            metadata=auth,
        )
        assert match.matches[0].match_probability > match.matches[1].match_probability
        attention = through.GetCrossAttention(cap.GetCrossAttentionRequest(image=image(red)), metadata=auth)
        assert attention.caption == "a big red circle on the left" and attention.tokens
        info = through.GetModelInfo(cap.GetModelInfoRequest(), metadata=auth)
        assert info == direct.GetModelInfo(cap.GetModelInfoRequest())

    generator = generator_pb2_grpc.GeneratorServiceStub(channel)
    variants = generator.ListVariants(gen.ListVariantsRequest(), metadata=auth)
    assert "flux.1-schnell" in [v.name for v in variants.variants]
    spec = gen.GenerationSpec(
        prompt="a big red circle on the left", variant="flux.1-schnell", seed=3, image_count=2
    )
    quoted = generator.Quote(gen.QuoteRequest(spec=spec), metadata=auth, timeout=30)
    generated = generator.Generate(gen.GenerateRequest(spec=spec), metadata=auth, timeout=60)
    assert len(generated.images) == 2 and generated.images[0].seed == 3
    assert quoted.usage == generated.usage  # the price quoted is the price billed; the quote is free
    events = list(generator.StreamGenerate(gen.StreamGenerateRequest(spec=spec), metadata=auth, timeout=60))
    assert [e.WhichOneof("event") for e in events][-1] == "result"
    assert [i.image.data for i in events[-1].result.images] == [i.image.data for i in generated.images]

    records = export(channel, key_id)
    by_method: dict[str, int] = {}
    for record in records:
        by_method[record.method.rsplit("/", 1)[1]] = by_method.get(record.method.rsplit("/", 1)[1], 0) + 1
    # Input images for the captioner, output images for the generator; discovery, quotes and texts are free.
    assert by_method == {
        "Caption": 2,
        "StreamCaption": 1,
        "EmbedImages": 2,
        "MatchImageText": 1,
        "GetCrossAttention": 1,
        "Generate": 2,
        "StreamGenerate": 2,
    }
    generated_cost = sum(i.cost.amount_micros for i in generated.images)
    assert generated_cost > 0
    assert sum(r.usage.cost.amount_micros for r in records if r.method == GENERATE) == generated_cost
    caption_tokens = sum(c.token_count for c in captions.captions)
    assert sum(r.usage.token_count for r in records if r.method == CAPTION) == caption_tokens
    assert sorted(r.image_index for r in records if r.method == CAPTION) == [0, 1]
    assert len({r.record_id for r in records}) == len(records) == 11

    usage = gateway_pb2_grpc.UsageServiceStub(channel).GetUsage(gateway_pb2.GetUsageRequest(), metadata=auth)
    assert usage.key.key_id == key_id
    assert usage.period_usage.image_count == 11
    assert usage.remaining_images == usage.key.quota.images_per_month - 11
    assert usage.period_usage.cost.amount_micros == 2 * generated_cost
    assert (
        usage.remaining_spend.amount_micros
        == usage.key.quota.spend_per_month.amount_micros - 2 * generated_cost
    )
    generate_rows = [b for b in usage.breakdown if b.method == GENERATE]
    assert [(b.model, b.usage.image_count) for b in generate_rows] == [("flux.1-schnell", 2)]


def test_streams_are_forwarded_message_by_message(channel: grpc.Channel) -> None:
    _, secret = create_key(channel, UNLIMITED)
    spec = gen.GenerationSpec(
        prompt="a small blue square on the right", variant="flux.1-schnell", seed=1, steps=12
    )
    arrivals: list[float] = []
    reported: list[float] = []
    stub = generator_pb2_grpc.GeneratorServiceStub(channel)
    for event in stub.StreamGenerate(
        gen.StreamGenerateRequest(spec=spec), metadata=bearer(secret), timeout=60
    ):
        arrivals.append(time.perf_counter())
        if event.HasField("progress"):
            reported.append(event.progress.elapsed_duration.ToNanoseconds() / 1e9)
    assert len(reported) == 12
    # Had the gateway buffered the stream, every event would arrive at once.
    compute_span = reported[-1] - reported[0]
    assert compute_span > 0.02
    assert arrivals[11] - arrivals[0] >= 0.5 * compute_span


def test_the_callers_request_id_comes_back_through_the_gateway(channel: grpc.Channel) -> None:
    _, secret = create_key(channel, UNLIMITED)
    stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
    _, call = stub.GetModelInfo.with_call(
        cap.GetModelInfoRequest(), metadata=(*bearer(secret), ("x-request-id", "trace-me-42"))
    )
    assert ("x-request-id", "trace-me-42") in call.initial_metadata()


def test_backend_errors_pass_through_with_details_and_bill_nothing(channel: grpc.Channel) -> None:
    key_id, secret = create_key(channel)
    stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
    request = cap.CaptionRequest(images=[image(scene_png()), common_pb2.Image(data=b"not an image")])
    info = error_of(lambda: stub.Caption(request, metadata=bearer(secret), timeout=10))
    assert info.code == grpc.StatusCode.INVALID_ARGUMENT
    assert info.field_violations[0].field == "images[1].data"
    generator = generator_pb2_grpc.GeneratorServiceStub(channel)
    bad = gen.GenerateRequest(
        spec=gen.GenerationSpec(prompt="x", variant="flux.1-schnell", width_px=65, height_px=64)
    )
    info = error_of(lambda: generator.Generate(bad, metadata=bearer(secret), timeout=10))
    assert info.code == grpc.StatusCode.INVALID_ARGUMENT and "spec.width_px" in info.field_violations[0].field
    assert export(channel, key_id) == []
    usage = gateway_pb2_grpc.UsageServiceStub(channel).GetUsage(
        gateway_pb2.GetUsageRequest(), metadata=bearer(secret)
    )
    assert usage.remaining_images == usage.key.quota.images_per_month  # reservations released


def test_credential_errors_say_which_and_never_echo_the_secret(channel: grpc.Channel) -> None:
    stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
    request = cap.GetModelInfoRequest()

    def refused(metadata: tuple[tuple[str, str], ...]) -> imaging.errors.ErrorDetails:
        return error_of(lambda: stub.GetModelInfo(request, metadata=metadata, timeout=5))

    assert refused(()).reason == "API_KEY_MISSING"
    assert refused(()).code == grpc.StatusCode.UNAUTHENTICATED
    assert refused((("authorization", "Basic dXNlcjpwdw=="),)).reason == "API_KEY_MALFORMED"
    assert refused((("authorization", "Bearer " + "x" * 5000),)).reason == "API_KEY_MALFORMED"
    assert refused((("x-api-key", "sk-someone-elses-key"),)).reason == "API_KEY_MALFORMED"
    forged = "img_" + "A" * 43
    unknown = refused(bearer(forged))
    assert unknown.reason == "API_KEY_UNKNOWN" and forged not in unknown.message

    key_id, secret = create_key(channel)
    assert stub.GetModelInfo(request, metadata=(("x-api-key", secret),)).max_images_per_request > 0
    admin = gateway_pb2_grpc.AdminServiceStub(channel)
    admin.RevokeApiKey(gateway_pb2.RevokeApiKeyRequest(key_id=key_id), metadata=ADMIN)
    revoked = refused(bearer(secret))
    assert (revoked.code, revoked.reason) == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_REVOKED")
    assert secret not in revoked.message and key_id in revoked.message

    soon = timestamp_pb2.Timestamp()
    soon.FromNanoseconds(time.time_ns() + 400_000_000)
    _, expiring = create_key(channel, expire_time=soon)
    assert stub.GetModelInfo(request, metadata=bearer(expiring)).max_images_per_request > 0
    time.sleep(0.5)
    assert refused(bearer(expiring)).reason == "API_KEY_EXPIRED"


def test_scopes_and_variants_are_permission_denied(channel: grpc.Channel) -> None:
    _, secret = create_key(channel, scopes=["imaging.captioner.v1.CaptionerService/GetModelInfo"])
    captioner = captioner_pb2_grpc.CaptionerServiceStub(channel)
    assert captioner.GetModelInfo(cap.GetModelInfoRequest(), metadata=bearer(secret)).max_images_per_request
    denied = error_of(lambda: captioner.Caption(cap.CaptionRequest(), metadata=bearer(secret)))
    assert (denied.code, denied.reason) == (grpc.StatusCode.PERMISSION_DENIED, "SCOPE_DENIED")

    _, free = create_key(channel)  # the free plan allows schnell and klein only
    spec = gen.GenerationSpec(prompt="a big red circle", variant="flux.1-dev")
    generator = generator_pb2_grpc.GeneratorServiceStub(channel)
    denied = error_of(lambda: generator.Generate(gen.GenerateRequest(spec=spec), metadata=bearer(free)))
    assert (denied.code, denied.reason) == (grpc.StatusCode.PERMISSION_DENIED, "VARIANT_NOT_ALLOWED")
    assert denied.metadata["variant"] == "flux.1-dev"
    stream = lambda: generator.StreamGenerate(gen.StreamGenerateRequest(spec=spec), metadata=bearer(free))  # noqa: E731
    assert error_of(stream).reason == "VARIANT_NOT_ALLOWED"


def test_rate_limit_answers_retry_info_and_quota_answers_quota_failure(channel: grpc.Channel) -> None:
    _, secret = create_key(channel, gateway_pb2.Quota(plan="tiny", requests_per_minute=3))
    stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
    for _ in range(3):
        stub.GetModelInfo(cap.GetModelInfoRequest(), metadata=bearer(secret))
    limited = error_of(lambda: stub.GetModelInfo(cap.GetModelInfoRequest(), metadata=bearer(secret)))
    assert (limited.code, limited.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
    assert limited.retry_after_s is not None and 5 < limited.retry_after_s <= 20  # one token per 20 s
    assert not limited.quota_violations

    key_id, secret = create_key(channel, gateway_pb2.Quota(plan="trial", images_per_month=3))
    request = cap.CaptionRequest(images=[image(scene_png())] * 2)
    stub.Caption(request, metadata=bearer(secret), timeout=30)
    spent = error_of(lambda: stub.Caption(request, metadata=bearer(secret), timeout=30))
    assert (spent.code, spent.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED")
    assert spent.retry_after_s is None  # no retry helps before the month ends
    assert spent.quota_violations[0].subject == f"api_key:{key_id}"
    assert "1 left" in spent.quota_violations[0].description
    one = cap.CaptionRequest(images=[image(scene_png())])
    stub.Caption(one, metadata=bearer(secret), timeout=30)  # exactly the last image fits
    assert len(export(channel, key_id)) == 3


def test_spend_quota_holds_the_generators_price(channel: grpc.Channel) -> None:
    quota = gateway_pb2.Quota(plan="spend", spend_per_month=common_pb2.Cost(amount_micros=7000))
    key_id, secret = create_key(channel, quota)
    generator = generator_pb2_grpc.GeneratorServiceStub(channel)
    spec = gen.GenerationSpec(prompt="a big red circle", variant="flux.1-schnell", seed=1, image_count=2)
    first = generator.Generate(gen.GenerateRequest(spec=spec), metadata=bearer(secret), timeout=60)
    price = first.images[0].cost.amount_micros
    assert 2 * price <= 7000 < 4 * price  # the shipped price list: 3000 micros per schnell image
    spent = error_of(
        lambda: generator.Generate(gen.GenerateRequest(spec=spec), metadata=bearer(secret), timeout=60)
    )
    assert spent.reason == "QUOTA_EXCEEDED" and "spend per month" in spent.quota_violations[0].description
    assert sum(r.usage.cost.amount_micros for r in export(channel, key_id)) == 2 * price


def test_malformed_bodies_and_metadata_are_client_errors(channel: grpc.Channel, gateway: Process) -> None:
    _, secret = create_key(channel, UNLIMITED)
    raw = channel.unary_unary(CAPTION)
    info = error_of(lambda: raw(b"\xff\xff\xff\xff", metadata=bearer(secret), timeout=5))
    assert (info.code, info.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED_REQUEST")
    stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
    idem = error_of(
        lambda: stub.GetModelInfo(
            cap.GetModelInfoRequest(), metadata=(*bearer(secret), ("x-idempotency-key", "k" * 200))
        )
    )
    assert idem.code == grpc.StatusCode.INVALID_ARGUMENT
    assert idem.field_violations[0].field == "metadata.x-idempotency-key"
    # And it keeps serving.
    assert stub.GetModelInfo(cap.GetModelInfoRequest(), metadata=bearer(secret)).max_images_per_request > 0


def test_admin_service_needs_the_admin_token(channel: grpc.Channel) -> None:
    admin = gateway_pb2_grpc.AdminServiceStub(channel)
    _, secret = create_key(channel)
    credentials: list[tuple[tuple[str, str], ...]] = [
        (),
        bearer(secret),
        (("authorization", "Bearer wrong"),),
    ]
    for metadata in credentials:
        info = error_of(
            functools.partial(admin.ListApiKeys, gateway_pb2.ListApiKeysRequest(), metadata=metadata)
        )
        assert (info.code, info.reason) == (grpc.StatusCode.UNAUTHENTICATED, "ADMIN_TOKEN_INVALID")
    info = error_of(lambda: admin.CreateApiKey(gateway_pb2.CreateApiKeyRequest(), metadata=ADMIN))
    assert info.field_violations[0].field == "display_name"
    info = error_of(
        lambda: admin.CreateApiKey(
            gateway_pb2.CreateApiKeyRequest(display_name="x", scopes=["everything"]), metadata=ADMIN
        )
    )
    assert info.field_violations[0].field == "scopes"
    info = error_of(
        lambda: admin.RevokeApiKey(gateway_pb2.RevokeApiKeyRequest(key_id="key_nope"), metadata=ADMIN)
    )
    assert info.code == grpc.StatusCode.NOT_FOUND and info.field_violations[0].field == "key_id"
    info = error_of(lambda: admin.ListApiKeys(gateway_pb2.ListApiKeysRequest(page_size=5000), metadata=ADMIN))
    assert info.field_violations[0].field == "page_size"


def test_backend_down_is_unavailable_with_retry_info_and_health_follows_it(
    backends: tuple[Process, Process], tmp_path: Path
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    gateway = spawn("gateway", "GATEWAY", tmp_path, gateway_env(dead, backends[1].address, tmp_path))
    try:
        with grpc.insecure_channel(gateway.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)

            def status(service: str) -> int:
                return health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status

            assert (
                status("imaging.captioner.v1.CaptionerService") == health_pb2.HealthCheckResponse.NOT_SERVING
            )
            wait_serving(gateway, "imaging.generator.v1.GeneratorService", timeout_s=10)
            assert status("") == health_pb2.HealthCheckResponse.SERVING
            key_id, secret = create_key(channel)
            stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
            request = cap.CaptionRequest(images=[image(scene_png())])
            info = error_of(lambda: stub.Caption(request, metadata=bearer(secret), timeout=10))
            assert (info.code, info.reason) == (grpc.StatusCode.UNAVAILABLE, "BACKEND_UNAVAILABLE")
            assert info.retry_after_s is not None and info.retry_after_s > 0
            assert export(channel, key_id) == []
    finally:
        gateway.stop()


def test_metrics_count_billing_and_refusals_without_key_labels(
    channel: grpc.Channel, gateway: Process
) -> None:
    key_id, secret = create_key(channel)
    stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
    stub.Caption(cap.CaptionRequest(images=[image(scene_png())]), metadata=bearer(secret), timeout=30)
    error_of(lambda: stub.GetModelInfo(cap.GetModelInfoRequest(), metadata=bearer("img_" + "B" * 43)))
    body = (
        urllib.request.urlopen(f"http://127.0.0.1:{gateway.metrics_port}/metrics", timeout=5).read().decode()
    )
    assert f'imaging_gateway_billed_images_total{{grpc_method="{CAPTION}",model=""}}' in body
    assert 'imaging_gateway_auth_failures_total{reason="unknown"}' in body
    assert 'imaging_gateway_backend_up{backend="captioner"} 1.0' in body
    assert "imaging_gateway_ledger_write_seconds_bucket" in body
    assert 'grpc_server_handled_total{grpc_code="OK",grpc_method="Caption"' in body
    assert key_id not in body and secret not in body


def _backend_handled(process: Process, method: str) -> dict[str, float]:
    """grpc_server_handled_total of one method on a backend, by code."""
    body = (
        urllib.request.urlopen(f"http://127.0.0.1:{process.metrics_port}/metrics", timeout=5).read().decode()
    )
    counts: dict[str, float] = {}
    for line in body.splitlines():
        if line.startswith("grpc_server_handled_total{") and f'grpc_method="{method}"' in line:
            code = line.split('grpc_code="', 1)[1].split('"', 1)[0]
            counts[code] = float(line.rsplit(" ", 1)[1])
    return counts


def test_cancellation_and_deadlines_reach_the_backend_and_bill_nothing(
    channel: grpc.Channel, backends: tuple[Process, Process]
) -> None:
    generator_process = backends[1]
    key_id, secret = create_key(channel, UNLIMITED)
    spec = gen.GenerationSpec(prompt="a big red circle on the left", variant="flux.1-dev", seed=2, steps=50)
    stub = generator_pb2_grpc.GeneratorServiceStub(channel)
    before = _backend_handled(generator_process, "StreamGenerate")
    stream = stub.StreamGenerate(gen.StreamGenerateRequest(spec=spec), metadata=bearer(secret), timeout=60)
    assert next(stream).HasField("progress")
    stream.cancel()
    deadline = time.monotonic() + 5
    while _backend_handled(generator_process, "StreamGenerate").get("CANCELLED", 0) <= before.get(
        "CANCELLED", 0
    ):
        assert time.monotonic() < deadline, "the backend never saw the client's cancel"
        time.sleep(0.05)

    before = _backend_handled(generator_process, "Generate")
    # 50 steps take several times this deadline, which still leaves room to reach the backend.
    with pytest.raises(grpc.RpcError) as caught:
        stub.Generate(gen.GenerateRequest(spec=spec), metadata=bearer(secret), timeout=0.1)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    deadline = time.monotonic() + 5
    while sum(_backend_handled(generator_process, "Generate").values()) <= sum(before.values()):
        assert time.monotonic() < deadline, "the backend call outlived the client's deadline"
        time.sleep(0.05)
    assert _backend_handled(generator_process, "Generate").get("OK", 0) == before.get("OK", 0)
    assert export(channel, key_id) == []
