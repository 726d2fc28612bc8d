"""The Grafana dashboard, the alert rules and the autoscalers' queries name only
metrics and labels the servers export: each server's registry is built as the
server builds it (no model loads, no port opens) and every PromQL expression
under k8s/ is checked against it."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from captioner_svc.server import build_app as build_captioner
from captioner_svc.settings import CaptionerSettings
from gateway.metrics import GatewayMetrics
from gateway.server import GatewayServices
from gateway.settings import GatewaySettings
from generator_svc.server import build_app as build_generator
from generator_svc.settings import GeneratorSettings
from serving.server import ServingApp

REPO = Path(__file__).resolve().parent.parent
MONITORING = REPO / "k8s" / "components" / "monitoring"
DASHBOARD = MONITORING / "imaging-dashboard.json"
RULES = MONITORING / "prometheus-rules.yaml"
ADAPTER = REPO / "k8s" / "components" / "autoscaling-hpa" / "prometheus-adapter-values.yaml"
SCALED_OBJECTS = REPO / "k8s" / "components" / "autoscaling-keda" / "scaledobjects.yaml"
# Labels Prometheus adds to every scraped series (ServiceMonitor targets), and the
# series it makes itself.
TARGET_LABELS = {"namespace", "pod", "job", "instance", "service", "endpoint", "container"}
SYNTHETIC = {"up"}
_KEYWORDS = {
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "rate",
    "irate",
    "increase",
    "histogram_quantile",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
}


@dataclass
class Exported:
    """Sample names a server exports, each with the labels it carries."""

    samples: dict[str, set[str]] = field(default_factory=dict)

    def add(self, registry: CollectorRegistry) -> None:
        # Label names of metrics that have no child yet are only on the collectors.
        collectors = list(registry._collector_to_names)
        labels = {name: set(getattr(c, "_labelnames", ())) for c in collectors for name in _names(c)}
        for family in registry.collect():
            names = {
                "counter": [f"{family.name}_total"],
                "histogram": [f"{family.name}_bucket", f"{family.name}_count", f"{family.name}_sum"],
                "summary": [family.name, f"{family.name}_count", f"{family.name}_sum"],
            }.get(family.type, [family.name])
            for name in names:
                own = labels.get(name, set()) | {k for s in family.samples for k in s.labels}
                self.samples[name] = own | ({"le"} if name.endswith("_bucket") else set())


def _names(collector: Any) -> list[str]:
    describe = getattr(collector, "describe", None)
    if describe is None:
        return []
    names = []
    for family in describe():
        names += {
            "counter": [f"{family.name}_total"],
            "histogram": [f"{family.name}_bucket", f"{family.name}_count", f"{family.name}_sum"],
        }.get(family.type, [family.name])
    return names


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Exported]]:
    """Each server's metrics, by job (the Service name the ServiceMonitors give)."""
    servers: dict[str, Exported] = {}
    for job, app in (
        ("captioner", build_captioner(CaptionerSettings(port=0, metrics_port=0))),
        ("generator", build_generator(GeneratorSettings(port=0, metrics_port=0))),
    ):
        servers[job] = Exported()
        servers[job].add(app.registry)
    # The gateway's build_app, keeping hold of what it opens (the store, the ledger's writer thread).
    settings = GatewaySettings(port=0, metrics_port=0, data_dir=tmp_path_factory.mktemp("gateway"))
    gateway = ServingApp("gateway", settings)
    services = GatewayServices(settings, GatewayMetrics(gateway.registry), gateway.health)
    try:
        servers["gateway"] = Exported()
        servers["gateway"].add(gateway.registry)
        yield servers
    finally:
        asyncio.run(services.close())


@dataclass(frozen=True)
class Expression:
    where: str
    promql: str


def _dashboard() -> Iterator[Expression]:
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield Expression(f"dashboard panel {panel['title']!r}", target["expr"])
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            (metric,) = re.fullmatch(r"label_values\((\w+), *\w+\)", variable["definition"]).groups()  # type: ignore[union-attr]
            yield Expression(f"dashboard variable {variable['name']}", metric)


def _rules() -> Iterator[Expression]:
    rule_file = yaml.safe_load(RULES.read_text())
    for group in rule_file["spec"]["groups"]:
        for rule in group["rules"]:
            yield Expression(f"alert {rule['alert']}", rule["expr"])


def _autoscalers() -> Iterator[Expression]:
    adapter = yaml.safe_load(ADAPTER.read_text())
    for rule in adapter["rules"]["custom"]:
        yield Expression("prometheus-adapter seriesQuery", rule["seriesQuery"])
        metric = rule["name"]["matches"].strip("^$")
        yield Expression("prometheus-adapter name", metric)
    for scaled in yaml.safe_load_all(SCALED_OBJECTS.read_text()):
        for trigger in scaled["spec"]["triggers"]:
            yield Expression(f"ScaledObject {scaled['metadata']['name']}", trigger["metadata"]["query"])


EXPRESSIONS = [*_dashboard(), *_rules(), *_autoscalers()]


def _strip_strings(promql: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', promql)


def metric_names(promql: str) -> set[str]:
    """The metric names an expression reads (everything left once strings,
    matchers, ranges, grouping clauses, numbers and keywords are gone)."""
    text = _strip_strings(promql)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b", " ", text)
    return {token for token in re.findall(r"[A-Za-z_:][\w:]*", text) if token not in _KEYWORDS}


def selectors(promql: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Each ``metric{matchers}`` of an expression: the metric and its label matchers."""
    for metric, body in re.findall(r"([A-Za-z_:][\w:]*)\s*\{([^}]*)\}", promql):
        matchers = re.findall(r'(\w+)\s*(?:=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"', body)
        yield metric, dict(matchers)


def grouping_labels(promql: str) -> set[str]:
    labels: set[str] = set()
    for group in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", _strip_strings(promql)):
        labels |= {label.strip() for label in group.split(",") if label.strip()}
    return labels


def test_the_parser_finds_metrics_and_labels() -> None:
    promql = (
        'histogram_quantile(0.99, sum by (job, le) (rate(a_seconds_bucket{job="x",code=~"A|B"}[5m])))'
        ' / on (job) group_left sum(b_total{namespace="$namespace"}) * 1e6 > 0.25'
    )
    assert metric_names(promql) == {"a_seconds_bucket", "b_total"}
    assert dict(selectors(promql)) == {
        "a_seconds_bucket": {"job": "x", "code": "A|B"},
        "b_total": {"namespace": "$namespace"},
    }
    assert grouping_labels(promql) == {"job", "le"}


def test_there_are_expressions_for_every_part() -> None:
    wheres = " ".join(e.where for e in EXPRESSIONS)
    for needed in ("dashboard panel", "alert", "prometheus-adapter", "ScaledObject"):
        assert needed in wheres


@pytest.mark.parametrize("expression", EXPRESSIONS, ids=lambda e: e.where)
def test_every_metric_and_label_is_exported(expression: Expression, exported: dict[str, Exported]) -> None:
    promql = expression.promql
    jobs = {job for _, matchers in selectors(promql) if (job := matchers.get("job"))}
    # A job matcher names the servers whose /metrics the expression reads.
    servers = [s for job, s in exported.items() if not jobs or any(re.fullmatch(j, job) for j in jobs)]
    assert servers, f"{expression.where}: no server has job {jobs}"
    available: dict[str, set[str]] = {}
    for server in servers:
        for name, labels in server.samples.items():
            available.setdefault(name, set()).update(labels)
    names = metric_names(promql)
    assert names, f"{expression.where}: no metric in {promql}"
    for name in names - SYNTHETIC:
        assert name in available, (
            f"{expression.where}: {name} is not exported by {sorted(jobs) or 'any server'}"
        )
    for name, matchers in selectors(promql):
        if name in SYNTHETIC:
            continue
        unknown = set(matchers) - available[name] - TARGET_LABELS
        assert not unknown, f"{expression.where}: {name} has no labels {unknown}"
    known = set().union(*(available[n] for n in names - SYNTHETIC)) | TARGET_LABELS
    assert grouping_labels(promql) <= known, (
        f"{expression.where}: grouping by {grouping_labels(promql) - known}"
    )


def test_the_dashboard_covers_the_issue_panels() -> None:
    everything = DASHBOARD.read_text()
    for metric in (
        "grpc_server_handled_total",
        "grpc_server_handling_seconds_bucket",
        "grpc_server_started_total",
        "imaging_queue_depth",
        "imaging_batch_size_bucket",
        "imaging_captioner_time_to_first_token_seconds_bucket",
        "imaging_generator_time_to_first_step_seconds_bucket",
        "imaging_generator_images_total",
        "imaging_gateway_billed_images_total",
        "imaging_gateway_billed_cost_micros_total",
        "imaging_gateway_auth_failures_total",
        "imaging_gateway_quota_refused_total",
        "imaging_gateway_ledger_write_seconds_bucket",
        "imaging_gateway_backend_errors_total",
    ):
        assert metric in everything, metric
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}" in everything
