"""The monitoring proved against live servers with Prometheus' own tools:
``promtool check metrics`` on every server's /metrics, ``promtool check rules``
on the alert rules, and a real Prometheus (Debian's ``/usr/bin/prometheus``,
which ``scripts/system_packages.sh`` installs) that scrapes the captioner, the
generator and two gateway pods every second, labelled as the ServiceMonitors
label them. Real calls go through the gateways, including the ones the
error panels count: a bad key, a rate limit, a spent quota, a full queue, a
deadline that passes in the queue, and a gateway whose captioner is down.
Then every query of the Grafana dashboard, the autoscalers and the alert
rules runs against Prometheus' HTTP API and must return data."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from imaging.captioner.v1 import captioner_pb2 as cap
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from imaging.gateway.v1 import gateway_pb2
from imaging.generator.v1 import generator_pb2 as gen
from imaging.generator.v1 import generator_pb2_grpc
from tests.gateway_support import (
    Process,
    bearer,
    create_key,
    free_port,
    gateway_env,
    scene_png,
    spawn,
    wait_serving,
)
from tests.test_monitoring import (
    ADAPTER,
    DASHBOARD,
    EXPRESSIONS,
    RULES,
    SCALED_OBJECTS,
    SYNTHETIC,
    metric_names,
    selectors,
)

PROMETHEUS = "/usr/bin/prometheus"
NAMESPACE = "imaging"  # the overlays' namespace: the dashboard's $namespace
CAPTIONER_SERVICE = "imaging.captioner.v1.CaptionerService"
GENERATOR_SERVICE = "imaging.generator.v1.GeneratorService"
VARIANT = "flux.1-schnell"
# The captioner refuses a call of more images than its queue holds (a full
# queue); the generator runs one call at a time, so a call with a short
# deadline behind a long generation expires in the queue.
CAPTIONER_ENV = {"CAPTIONER_MAX_BATCH_SIZE": "2", "CAPTIONER_MAX_QUEUE_SIZE": "2"}
GENERATOR_ENV = {"GENERATOR_MAX_BATCH_SIZE": "1"}
SHORT_DEADLINE_S = 0.5
EVALUATION_INTERVAL_S = 1.0


def _tool(path: str | None, name: str) -> str:
    if path is None or not os.access(path, os.X_OK):
        message = f"{name} is not installed: run `make setup` (scripts/system_packages.sh) as root"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def promtool() -> str:
    return _tool(shutil.which("promtool"), "promtool (Debian's prometheus package)")


def _get(url: str, timeout_s: float = 10) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return json.loads(response.read())


def metrics_text(process: Process) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{process.metrics_port}/metrics", timeout=10) as response:
        return str(response.read().decode())


# -- promtool without servers ----------------------------------------------------------------


def _rule_file(tmp_path: Path, groups: list[Any]) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    return path


def _rule_groups() -> list[Any]:
    """The PrometheusRule's groups: what the operator writes into Prometheus' rule files."""
    groups: list[Any] = yaml.safe_load(RULES.read_text())["spec"]["groups"]
    return groups


def test_promtool_check_rules_passes_on_the_alert_rules(tmp_path: Path) -> None:
    groups = _rule_groups()
    done = subprocess.run(
        [promtool(), "check", "rules", str(_rule_file(tmp_path, groups))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rules = sum(len(group["rules"]) for group in groups)
    assert f"SUCCESS: {rules} rules found" in done.stdout


def test_promtool_refuses_a_broken_rule_and_a_badly_named_metric(tmp_path: Path) -> None:
    groups = _rule_groups()
    groups[0]["rules"][0]["expr"] = "sum by (job) (rate(grpc_server_handled_total[5m]) > "
    done = subprocess.run(
        [promtool(), "check", "rules", str(_rule_file(tmp_path, groups))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "parse error" in done.stdout + done.stderr
    exposition = "# HELP imaging_calls Calls.\n# TYPE imaging_calls counter\nimaging_calls 1\n"
    done = subprocess.run(
        [promtool(), "check", "metrics"], input=exposition, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "_total" in done.stdout + done.stderr


# -- the live stack and Prometheus --------------------------------------------------------------


@dataclass
class Stack:
    captioner: Process
    generator: Process
    # gateway-0 reaches both backends; gateway-1's captioner address has no server.
    gateways: list[Process]
    prometheus: str
    started: float

    @property
    def pods(self) -> dict[str, Process]:
        return {
            "captioner-0": self.captioner,
            "generator-0": self.generator,
            **{f"gateway-{i}": g for i, g in enumerate(self.gateways)},
        }

    def query(self, promql: str) -> list[Any]:
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        try:
            answer = _get(url)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{promql}: {exc.read().decode()}") from exc
        assert answer["status"] == "success", answer
        result: list[Any] = answer["data"]["result"]
        return result

    def rate_interval(self) -> str:
        """$__rate_interval: a window over everything since Prometheus started."""
        return f"{math.ceil(time.monotonic() - self.started) + 5}s"


def _job(pod: str) -> str:
    return pod.rsplit("-", 1)[0]


def _prometheus_config(stack_pods: dict[str, Process], rule_file: Path) -> dict[str, Any]:
    """Scrapes each pod every second with the labels a ServiceMonitor gives its
    targets (job: the Service's name; namespace, pod, service, endpoint, container)."""
    jobs: dict[str, list[Any]] = {}
    for pod, process in stack_pods.items():
        job = _job(pod)
        jobs.setdefault(job, []).append(
            {
                "targets": [f"127.0.0.1:{process.metrics_port}"],
                "labels": {
                    "namespace": NAMESPACE,
                    "pod": pod,
                    "service": job,
                    "endpoint": "metrics",
                    "container": job,
                },
            }
        )
    return {
        "global": {
            "scrape_interval": "1s",
            "scrape_timeout": "1s",
            "evaluation_interval": f"{EVALUATION_INTERVAL_S:g}s",
        },
        "rule_files": [str(rule_file)],
        "scrape_configs": [
            {"job_name": job, "metrics_path": "/metrics", "static_configs": targets}
            for job, targets in jobs.items()
        ],
    }


def _wait(condition: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout_s} s")
        time.sleep(0.1)


def _stamp(text: str) -> float:
    """Unix time of an RFC 3339 time with nanoseconds (microseconds kept for fromisoformat)."""
    trimmed = re.sub(r"(\.\d{6})\d*", r"\1", text.replace("Z", "+00:00"))
    return datetime.fromisoformat(trimmed).timestamp()


def _scraped_since(prometheus: str, since: float) -> bool:
    """Every target up and scraped after ``since`` (a target's lastScrape is
    reported once that scrape's samples are stored)."""
    targets = _get(f"{prometheus}/api/v1/targets")["data"]["activeTargets"]
    return bool(targets) and all(t["health"] == "up" and _stamp(t["lastScrape"]) > since for t in targets)


def _evaluated_since(prometheus: str, since: float) -> bool:
    groups = _get(f"{prometheus}/api/v1/rules")["data"]["groups"]
    return bool(groups) and all(_stamp(g["lastEvaluation"]) > since for g in groups)


def _wait_scraped(prometheus: str) -> None:
    """Until every target was scraped after now and every rule group evaluated
    on those samples (a group evaluates at the start of its interval, so an
    evaluation that begins an interval after they were stored sees them)."""
    since = time.time()
    _wait(lambda: _scraped_since(prometheus, since), "no scrape of every target")
    stored = time.time()
    _wait(lambda: _evaluated_since(prometheus, stored + EVALUATION_INTERVAL_S), "no rule evaluation")


def _code(call: Callable[[], object]) -> grpc.StatusCode:
    """The status a call fails with (a stream is read to its end)."""
    with pytest.raises(grpc.RpcError) as caught:
        result = call()
        if isinstance(result, Iterator):
            list(result)
    return caught.value.code()


@dataclass
class Keys:
    unlimited: str
    one_per_minute: str
    one_image: str
    # gateway-1 keeps its own key store.
    second_gateway: str


def _traffic(stack: Stack, keys: Keys) -> None:
    """One round of calls: successes on every path the dashboard shows, and each refusal."""
    image = common_pb2.Image(data=scene_png(), media_type="image/png")
    spec = gen.GenerationSpec(prompt="a big red circle on the left", variant=VARIANT, seed=7)
    key = bearer(keys.unlimited)
    with grpc.insecure_channel(stack.gateways[0].address) as channel:
        captioner = captioner_pb2_grpc.CaptionerServiceStub(channel)
        generator = generator_pb2_grpc.GeneratorServiceStub(channel)
        assert captioner.Caption(cap.CaptionRequest(images=[image]), metadata=key, timeout=60).captions
        tokens = list(
            captioner.StreamCaption(cap.StreamCaptionRequest(image=image), metadata=key, timeout=60)
        )
        assert tokens
        assert generator.Generate(gen.GenerateRequest(spec=spec), metadata=key, timeout=60).images
        assert list(generator.StreamGenerate(gen.StreamGenerateRequest(spec=spec), metadata=key, timeout=60))
        # More images than the captioner's queue holds: RESOURCE_EXHAUSTED from the backend.
        request = cap.CaptionRequest(images=[image] * 3)
        full = _code(lambda: captioner.Caption(request, metadata=key, timeout=60))
        assert full == grpc.StatusCode.RESOURCE_EXHAUSTED
        bad_image = cap.CaptionRequest(images=[common_pb2.Image(data=b"not an image")])
        invalid = _code(lambda: captioner.Caption(bad_image, metadata=key, timeout=60))
        assert invalid == grpc.StatusCode.INVALID_ARGUMENT
        one = cap.CaptionRequest(images=[image])
        unknown = bearer("img_" + "B" * 43)
        assert _code(lambda: captioner.Caption(one, metadata=unknown, timeout=60)) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
        # A key of one call per minute (its first call passes once), and one of one image a month.
        with contextlib.suppress(grpc.RpcError):
            captioner.Caption(one, metadata=bearer(keys.one_per_minute), timeout=60)
        limited = _code(lambda: captioner.Caption(one, metadata=bearer(keys.one_per_minute), timeout=60))
        assert limited == grpc.StatusCode.RESOURCE_EXHAUSTED
        with contextlib.suppress(grpc.RpcError):
            captioner.Caption(one, metadata=bearer(keys.one_image), timeout=60)
        spent = _code(lambda: captioner.Caption(one, metadata=bearer(keys.one_image), timeout=60))
        assert spent == grpc.StatusCode.RESOURCE_EXHAUSTED
    # A call queued behind a long generation (16 steps at the largest size, about
    # half a second a step here) expires before its turn: dropped while queued.
    long = gen.GenerationSpec(prompt="a blue square", variant=VARIANT, width_px=256, height_px=256, steps=16)
    with grpc.insecure_channel(stack.generator.address) as channel:
        direct = generator_pb2_grpc.GeneratorServiceStub(channel)
        busy = direct.StreamGenerate(gen.StreamGenerateRequest(spec=long), timeout=120)
        try:
            assert next(busy).progress.step >= 1  # the pipeline runs it
            late = _code(lambda: direct.Generate(gen.GenerateRequest(spec=spec), timeout=SHORT_DEADLINE_S))
            assert late == grpc.StatusCode.DEADLINE_EXCEEDED
        finally:
            busy.cancel()
    # The second gateway cannot reach its captioner: UNAVAILABLE, a server-side
    # failure; enough of them that the gateways' Caption calls fail well over
    # ImagingServerErrors' 5%.
    with grpc.insecure_channel(stack.gateways[1].address) as channel:
        captioner = captioner_pb2_grpc.CaptionerServiceStub(channel)
        for _ in range(3):
            down = _code(lambda: captioner.Caption(one, metadata=bearer(keys.second_gateway), timeout=60))
            assert down == grpc.StatusCode.UNAVAILABLE


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus_binary = _tool(PROMETHEUS, "prometheus (Debian's prometheus package)")
    root = tmp_path_factory.mktemp("prometheus-stack")
    captioner_port, generator_port, dead_port = free_port(), free_port(), free_port()
    captioner_address, generator_address = f"127.0.0.1:{captioner_port}", f"127.0.0.1:{generator_port}"
    gateway_dirs = [root / "gateway-0", root / "gateway-1"]
    for directory in gateway_dirs:
        directory.mkdir()
    started: list[Process] = []
    prometheus: subprocess.Popen[bytes] | None = None
    try:
        # All four start at once; each spawn waits until its server says SERVING.
        with ThreadPoolExecutor(4) as pool:
            futures = [
                pool.submit(spawn, "captioner_svc", "CAPTIONER", root, CAPTIONER_ENV, captioner_port),
                pool.submit(spawn, "generator_svc", "GENERATOR", root, GENERATOR_ENV, generator_port),
                pool.submit(
                    spawn,
                    "gateway",
                    "GATEWAY",
                    root,
                    gateway_env(captioner_address, generator_address, gateway_dirs[0]),
                ),
                pool.submit(
                    spawn,
                    "gateway",
                    "GATEWAY",
                    root,
                    gateway_env(f"127.0.0.1:{dead_port}", generator_address, gateway_dirs[1]),
                ),
            ]
            errors = []
            for future in futures:
                try:
                    started.append(future.result())
                except Exception as exc:
                    errors.append(exc)
            if errors:
                raise errors[0]
        captioner, generator, *gateways = started
        for service in (CAPTIONER_SERVICE, GENERATOR_SERVICE):
            wait_serving(gateways[0], service, timeout_s=30)
        port = free_port()
        stack = Stack(captioner, generator, gateways, f"http://127.0.0.1:{port}", time.monotonic())
        rule_file = _rule_file(root, _rule_groups())
        config = root / "prometheus.yml"
        config.write_text(yaml.safe_dump(_prometheus_config(stack.pods, rule_file)))
        log = (root / "prometheus.log").open("wb")
        prometheus = subprocess.Popen(
            [
                prometheus_binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={root / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=log,
        )

        def ready() -> bool:
            assert prometheus is not None and prometheus.poll() is None, (root / "prometheus.log").read_text()
            with contextlib.suppress(OSError):
                return _get(f"{stack.prometheus}/api/v1/status/buildinfo", timeout_s=2)["status"] == "success"
            return False

        _wait(ready, "Prometheus did not answer")
        _wait_scraped(stack.prometheus)
        unlimited = gateway_pb2.Quota(plan="unlimited")
        with grpc.insecure_channel(gateways[1].address) as channel:
            second_gateway = create_key(channel, unlimited)[1]
        with grpc.insecure_channel(gateways[0].address) as channel:
            keys = Keys(
                unlimited=create_key(channel, unlimited)[1],
                one_per_minute=create_key(channel, gateway_pb2.Quota(plan="trial", requests_per_minute=1))[1],
                one_image=create_key(channel, gateway_pb2.Quota(plan="trial", images_per_month=1))[1],
                second_gateway=second_gateway,
            )
        # Two rounds, each seen by a scrape: a series born in the first round has
        # samples before the second round's calls, so its rates are not zero.
        for _ in range(2):
            _traffic(stack, keys)
            _wait_scraped(stack.prometheus)
        yield stack
    finally:
        if prometheus is not None:
            prometheus.terminate()
            try:
                prometheus.wait(10)
            except subprocess.TimeoutExpired:
                prometheus.kill()
                prometheus.wait(10)
        for process in started:
            process.stop()


# -- promtool on live servers ----------------------------------------------------------------------


@pytest.mark.slow
def test_promtool_check_metrics_passes_on_every_live_server(stack: Stack) -> None:
    for pod, process in stack.pods.items():
        done = subprocess.run(
            [promtool(), "check", "metrics"],
            input=metrics_text(process),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), (
            f"{pod}: {done.stdout}{done.stderr}"
        )


# -- every query against the real Prometheus ------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    title: str
    ref: str
    expr: str


def _panels() -> list[Panel]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        Panel(panel["title"], target.get("refId", str(i)), target["expr"])
        for panel in dashboard["panels"]
        for i, target in enumerate(panel.get("targets", []))
    ]


def substitute(expr: str, stack: Stack) -> str:
    """The query Grafana sends: the namespace variable and the rate window filled in."""
    variables = {
        "__rate_interval": stack.rate_interval(),
        "__interval": "1s",
        "namespace": NAMESPACE,
    }

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in variables, f"the dashboard uses ${name}, which this test does not fill in"
        return variables[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def _finite(result: list[Any]) -> list[Any]:
    return [r for r in result if math.isfinite(float(r["value"][1]))]


@pytest.mark.slow
@pytest.mark.parametrize("panel", _panels(), ids=lambda p: f"{p.title}/{p.ref}")
def test_every_dashboard_query_returns_data(panel: Panel, stack: Stack) -> None:
    promql = substitute(panel.expr, stack)
    result = stack.query(promql)
    assert result, f"{panel.title!r} shows nothing: {promql}"
    assert _finite(result), f"{panel.title!r} shows only NaN or Inf: {result}"


@pytest.mark.slow
def test_the_namespace_variable_lists_the_namespace(stack: Stack) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "namespace"]
    metric, label = re.fullmatch(r"label_values\((\w+), *(\w+)\)", variable["definition"]).groups()  # type: ignore[union-attr]
    url = f"{stack.prometheus}/api/v1/label/{label}/values?" + urllib.parse.urlencode({"match[]": metric})
    assert _get(url)["data"] == [NAMESPACE]


@pytest.mark.slow
def test_the_autoscalers_get_each_model_server_pods_queue_depth(stack: Stack) -> None:
    adapter = yaml.safe_load(ADAPTER.read_text())
    model_pods = {pod for pod in stack.pods if _job(pod) in ("captioner", "generator")}
    for rule in adapter["rules"]["custom"]:
        url = f"{stack.prometheus}/api/v1/series?" + urllib.parse.urlencode({"match[]": rule["seriesQuery"]})
        series = _get(url)["data"]
        assert {s["pod"] for s in series} >= model_pods, rule["seriesQuery"]
        metric = rule["name"]["matches"].strip("^$")
        # What prometheus-adapter asks for the HPA's pods (its Go template filled in).
        query = (
            rule["metricsQuery"]
            .replace("<<.GroupBy>>", "pod")
            .replace("<<.Series>>", metric)
            .replace("<<.LabelMatchers>>", f'namespace="{NAMESPACE}",pod=~"{"|".join(sorted(model_pods))}"')
        )
        assert "<<" not in query, query
        assert {r["metric"]["pod"] for r in _finite(stack.query(query))} == model_pods, query
    for scaled in yaml.safe_load_all(SCALED_OBJECTS.read_text()):
        for trigger in scaled["spec"]["triggers"]:
            result = _finite(stack.query(trigger["metadata"]["query"]))
            assert len(result) == 1, f"ScaledObject {scaled['metadata']['name']}: {result}"


@pytest.mark.slow
def test_every_metric_the_manifests_name_is_exported_by_a_live_server(stack: Stack) -> None:
    exported: dict[str, set[str]] = {}
    for pod, process in stack.pods.items():
        names = exported.setdefault(_job(pod), set())
        for family in text_string_to_metric_families(metrics_text(process)):
            names |= {sample.name for sample in family.samples}
    assert EXPRESSIONS
    for expression in EXPRESSIONS:
        jobs = {job for _, matchers in selectors(expression.promql) if (job := matchers.get("job"))}
        servers = [j for j in exported if not jobs or any(re.fullmatch(pattern, j) for pattern in jobs)]
        available = set().union(*(exported[j] for j in servers))
        missing = metric_names(expression.promql) - SYNTHETIC - available
        assert not missing, f"{expression.where}: {sorted(missing)} not on the /metrics of {servers}"


@pytest.mark.slow
def test_the_alert_rules_evaluate_and_fire_on_the_failures(stack: Stack) -> None:
    groups = _get(f"{stack.prometheus}/api/v1/rules")["data"]["groups"]
    rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert set(rules) == {rule["alert"] for group in _rule_groups() for rule in group["rules"]}
    for name, rule in rules.items():
        assert rule["health"] == "ok", f"{name}: {rule.get('lastError')}"
    # The failures made for real above: calls failing UNAVAILABLE on the gateway
    # whose captioner is down, and a full captioner queue.
    for name, labels in (
        ("ImagingServerErrors", {"job": "gateway", "grpc_method": "Caption"}),
        ("ImagingQueueFull", {"job": "captioner", "model": "captioner"}),
    ):
        alerts = rules[name]["alerts"]
        value = stack.query(re.sub(r"\s*>\s*[0-9.e+-]+\s*$", "", rules[name]["query"]))
        assert any(labels.items() <= a["labels"].items() for a in alerts), f"{name}: {alerts}, value {value}"
        assert all(a["state"] in ("pending", "firing") for a in alerts), alerts
    # One gateway sees the captioner down, the other SERVING: "no gateway sees
    # the captioner" is false, so ImagingBackendDown stays quiet.
    seen = {
        r["metric"]["pod"]: float(r["value"][1])
        for r in stack.query('imaging_gateway_backend_up{backend="captioner"}')
    }
    assert seen == {"gateway-0": 1.0, "gateway-1": 0.0}
    assert rules["ImagingBackendDown"]["alerts"] == []
