"""OpenTelemetry traces: one trace from a client through the gateway to both
model servers (the real three, in-process, each with its own tracer provider
and service name, all exporting to one in-memory exporter), nothing installed
without an endpoint, and a real OTLP/gRPC export when one is set."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from captioner_svc.server import build_app as build_captioner
from captioner_svc.settings import CaptionerSettings
from gateway.server import build_app as build_gateway
from gateway.settings import GatewaySettings
from generator_svc.server import build_app as build_generator
from generator_svc.settings import GeneratorSettings
from imaging.captioner.v1 import captioner_pb2 as cap
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from imaging.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from imaging.generator.v1 import generator_pb2 as gen
from imaging.generator.v1 import generator_pb2_grpc
from serving import tracing
from serving.server import ServingApp
from serving.settings import ServerSettings
from tests.conftest import running
from tests.gateway_support import ADMIN, ADMIN_TOKEN, REPO, bearer, scene_png, spawn

CAPTION = "/imaging.captioner.v1.CaptionerService/Caption"
GENERATE = "/imaging.generator.v1.GeneratorService/Generate"
SERVER, CLIENT = trace.SpanKind.SERVER, trace.SpanKind.CLIENT
# Span times taken from the monotonic clock are placed on the wall clock: allow for drift.
SLACK_NS = 1_000_000
ENDPOINT_ENVS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def provider(exporter: InMemorySpanExporter, name: str) -> TracerProvider:
    """A tracer provider named ``name`` that exports each span as it ends."""
    result = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    result.add_span_processor(SimpleSpanProcessor(exporter))
    return result


@dataclass
class Stack:
    address: str
    exporter: InMemorySpanExporter
    client_provider: TracerProvider


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """The shipped captioner and generator and a gateway in front of them, traced."""
    exporter = InMemorySpanExporter()
    captioner = build_captioner(CaptionerSettings(port=0, metrics_port=0), provider(exporter, "captioner"))
    generator = build_generator(
        GeneratorSettings(port=0, metrics_port=0, cpu_threads=1), provider(exporter, "generator")
    )
    async with running(captioner), running(generator):
        gateway = build_gateway(
            GatewaySettings(
                port=0,
                metrics_port=0,
                captioner_address=f"127.0.0.1:{captioner.port}",
                generator_address=f"127.0.0.1:{generator.port}",
                data_dir=tmp_path,
                admin_token=ADMIN_TOKEN,
                health_poll_s=0.2,
            ),
            provider(exporter, "gateway"),
        )
        async with running(gateway):
            yield Stack(f"127.0.0.1:{gateway.port}", exporter, provider(exporter, "client"))


def by_id(spans: list[ReadableSpan]) -> dict[int, ReadableSpan]:
    return {span.context.span_id: span for span in spans if span.context is not None}


def service(span: ReadableSpan) -> str:
    return str(span.resource.attributes[SERVICE_NAME])


def one(spans: list[ReadableSpan], name: str, kind: trace.SpanKind, of: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name and s.kind == kind and service(s) == of]
    assert len(found) == 1, [(s.name, s.kind, service(s)) for s in spans]
    return found[0]


def parent_of(span: ReadableSpan, spans: list[ReadableSpan]) -> ReadableSpan:
    assert span.parent is not None, span.name
    return by_id(spans)[span.parent.span_id]


def children(parent: ReadableSpan, spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in spans if s.name == name and s.parent and s.parent.span_id == parent.context.span_id]


def assert_model_call(
    spans: list[ReadableSpan], method: str, backend: str, stages: tuple[str, ...]
) -> ReadableSpan:
    """The gateway's server and client spans of ``method``, the backend's server
    span under the client span, its queue wait and batch, and the batch's stages
    in order; returns the gateway's server span."""
    gateway_server = one(spans, method, SERVER, "gateway")
    gateway_client = one(spans, method, CLIENT, "gateway")
    backend_server = one(spans, method, SERVER, backend)
    assert parent_of(gateway_client, spans) is gateway_server
    assert backend_server.parent is not None and backend_server.parent.is_remote  # over the wire
    assert parent_of(backend_server, spans) is gateway_client
    for span in (gateway_server, gateway_client, backend_server):
        assert span.attributes is not None and span.attributes["rpc.grpc.status_code"] == 0

    (wait,) = children(backend_server, spans, "queue_wait")
    (batch,) = children(backend_server, spans, "batch")
    assert service(wait) == service(batch) == backend
    assert batch.attributes is not None and batch.attributes["imaging.batch.size"] == 1
    assert backend_server.context is not None and batch.context is not None
    assert [link.context.span_id for link in batch.links] == [backend_server.context.span_id]
    assert [link.context.span_id for link in wait.links] == [batch.context.span_id]
    assert wait.start_time is not None and wait.end_time is not None and batch.start_time is not None
    assert backend_server.start_time is not None and backend_server.end_time is not None
    assert backend_server.start_time - SLACK_NS <= wait.start_time <= wait.end_time == batch.start_time
    # A row may be answered before its batch ends (continuous batching): no bound on the batch's end.
    assert batch.end_time is not None and batch.end_time >= batch.start_time

    timed = sorted((s for s in spans if parent_of_id(s) == batch.context.span_id), key=start)
    assert tuple(s.name for s in timed) == stages
    assert all(service(s) == backend for s in timed)
    for earlier, later in itertools.pairwise(timed):
        assert earlier.end_time == later.start_time  # back to back
    assert start(timed[0]) >= batch.start_time - SLACK_NS
    assert (timed[-1].end_time or 0) <= batch.end_time + SLACK_NS
    return gateway_server


def parent_of_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent else None


def start(span: ReadableSpan) -> int:
    return span.start_time or 0


async def wait_for_spans(
    exporter: InMemorySpanExporter, wanted: set[tuple[str, trace.SpanKind, str]], timeout_s: float = 10
) -> list[ReadableSpan]:
    """The finished spans, once those ``wanted`` (name, kind, service) are among them:
    a server span ends as its status goes out, so its client may see the reply first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        spans = list(exporter.get_finished_spans())
        missing = wanted - {(s.name, s.kind, service(s)) for s in spans}
        if not missing:
            return spans
        assert loop.time() < deadline, missing
        await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_one_trace_spans_the_client_the_gateway_and_both_model_servers(stack: Stack) -> None:
    client_tracer = stack.client_provider.get_tracer("test")
    async with grpc.aio.insecure_channel(
        stack.address, interceptors=tracing.client_interceptors(stack.client_provider)
    ) as channel:
        admin = gateway_pb2_grpc.AdminServiceStub(channel)
        created = await admin.CreateApiKey(
            gateway_pb2.CreateApiKeyRequest(display_name="traced", quota=gateway_pb2.Quota(plan="unlimited")),
            metadata=ADMIN,
            timeout=10,
        )
        auth = bearer(created.secret)
        image = common_pb2.Image(data=scene_png("red", left=True), media_type="image/png")
        with client_tracer.start_as_current_span("user request") as root:
            caption = await captioner_pb2_grpc.CaptionerServiceStub(channel).Caption(
                cap.CaptionRequest(images=[image]), metadata=auth, timeout=60
            )
            spec = gen.GenerationSpec(prompt="a big red circle on the left", variant="flux.1-schnell", seed=3)
            generated = await generator_pb2_grpc.GeneratorServiceStub(channel).Generate(
                gen.GenerateRequest(spec=spec), metadata=auth, timeout=60
            )
    assert caption.captions[0].text and len(generated.images) == 1
    finished = await wait_for_spans(
        stack.exporter,
        {
            (name, kind, of)
            for name in (CAPTION, GENERATE)
            for kind, of in ((CLIENT, "client"), (SERVER, "gateway"), (CLIENT, "gateway"))
        }
        | {(CAPTION, SERVER, "captioner"), (GENERATE, SERVER, "generator")},
    )
    trace_id = root.get_span_context().trace_id
    spans = [s for s in finished if s.context is not None and s.context.trace_id == trace_id]
    assert {service(s) for s in spans} == {"client", "gateway", "captioner", "generator"}
    client_root = one(spans, "user request", trace.SpanKind.INTERNAL, "client")
    for method, backend, stages in (
        (CAPTION, "captioner", ("encode_image", "decode")),
        (GENERATE, "generator", ("encode", "denoise", "decode")),
    ):
        gateway_server = assert_model_call(spans, method, backend, stages)
        # The gateway continued the client's trace: its server span's parent is the client's call.
        client_call = one(spans, method, CLIENT, "client")
        assert parent_of(gateway_server, spans) is client_call
        assert parent_of(client_call, spans) is client_root
    # Every model span of the run belongs to the one trace; probes are never traced.
    assert all(
        s.context is not None and s.context.trace_id == trace_id
        for s in finished
        if s.name in {"queue_wait", "batch", "encode_image", "denoise"}
    )
    assert not [s for s in finished if s.name.startswith("/grpc.health.v1.")]


@pytest.mark.slow
async def test_a_failed_call_carries_its_status_code_on_every_server_span(stack: Stack) -> None:
    async with grpc.aio.insecure_channel(stack.address) as channel:
        admin = gateway_pb2_grpc.AdminServiceStub(channel)
        created = await admin.CreateApiKey(
            gateway_pb2.CreateApiKeyRequest(display_name="traced"), metadata=ADMIN, timeout=10
        )
        bad = cap.CaptionRequest(images=[common_pb2.Image(data=b"not an image", media_type="image/png")])
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await captioner_pb2_grpc.CaptionerServiceStub(channel).Caption(
                bad, metadata=bearer(created.secret), timeout=30
            )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    spans = await wait_for_spans(
        stack.exporter, {(CAPTION, SERVER, "gateway"), (CAPTION, SERVER, "captioner")}
    )
    for span in (one(spans, CAPTION, SERVER, "gateway"), one(spans, CAPTION, SERVER, "captioner")):
        assert span.attributes is not None
        assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert span.status.status_code == trace.StatusCode.UNSET  # the caller's error, not the server's
    # Refused before the queue: no batch ran.
    assert not [s for s in spans if s.name in {"queue_wait", "batch"}]


def test_without_an_endpoint_nothing_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENDPOINT_ENVS:
        monkeypatch.delenv(name, raising=False)
    assert tracing.setup("captioner") is None
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert tracing.installed_provider() is None
    app = ServingApp("captioner", ServerSettings(port=0, metrics_port=0))
    assert app.tracer_provider is None
    assert tracing.server_interceptors(app.tracer_provider) == []
    assert tracing.client_interceptors(app.tracer_provider) == []
    assert tracing.get_tracer(app.tracer_provider, "serving.batcher") is None
    # Compute outside a traced batch records nothing, and no span is current.
    tracing.record_stages([("decode", 0.1)])
    assert not trace.get_current_span().is_recording()


class _Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace receiver that keeps what it is sent."""

    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


def exported(receiver: _Collector) -> list[tuple[str, str]]:
    """(service name, span name) of every span the collector received."""
    return [
        (attribute.value.string_value, span.name)
        for request in list(receiver.requests)
        for resource_spans in request.resource_spans
        for attribute in resource_spans.resource.attributes
        if attribute.key == SERVICE_NAME
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]


@pytest.fixture
def collector() -> Iterator[tuple[_Collector, int]]:
    receiver = _Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield receiver, port
    server.stop(0)


# In a process of its own: the global tracer provider can be installed only once.
_EXPORTING = """
from opentelemetry import trace
from serving import tracing

provider = tracing.setup("generator")
assert provider is not None and trace.get_tracer_provider() is provider
assert tracing.installed_provider() is provider
with trace.get_tracer("test").start_as_current_span("exported"):
    pass
assert provider.force_flush(10_000)
"""


@pytest.mark.parametrize("service_name", ["", "generator-eu"])
def test_an_endpoint_turns_on_otlp_export(collector: tuple[_Collector, int], service_name: str) -> None:
    receiver, port = collector
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_EXPORTER_OTLP_INSECURE": "true"}
    if service_name:
        env["OTEL_SERVICE_NAME"] = service_name
    done = subprocess.run(
        [sys.executable, "-c", _EXPORTING], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "ERROR" not in done.stderr, done.stderr
    assert exported(receiver) == [(service_name or "generator", "exported")]


@pytest.mark.slow
def test_a_server_started_with_an_endpoint_exports_its_spans(
    collector: tuple[_Collector, int], tmp_path: Path
) -> None:
    receiver, port = collector
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }
    process = spawn("captioner_svc", "CAPTIONER", tmp_path, env)
    try:
        with grpc.insecure_channel(process.address) as channel:
            image = common_pb2.Image(data=scene_png("blue", left=False), media_type="image/png")
            reply = captioner_pb2_grpc.CaptionerServiceStub(channel).Caption(
                cap.CaptionRequest(images=[image]), timeout=60
            )
        assert reply.captions[0].text
        deadline = time.monotonic() + 20
        wanted = {CAPTION, "queue_wait", "batch", "encode_image", "decode"}
        while not wanted <= {name for _, name in exported(receiver)}:
            assert time.monotonic() < deadline, exported(receiver)
            time.sleep(0.05)
    finally:
        process.stop()
    assert {service for service, _ in exported(receiver)} == {"captioner"}  # probes are not traced
    assert '"level": "ERROR"' not in process.log_text()
