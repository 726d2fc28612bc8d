"""The local overlay's pods, run for real: each server starts with its
container's command, args and environment as the rendered manifests give them
(the image's ENTRYPOINT and ENV, then the container's own; Secrets filled
with fresh values; each volume a directory, a ConfigMap's files written into
it, and paths under a mount moved there), all three in one network namespace
of their own (tests/pod_namespace.py, under ``unshare``), where the Services'
names resolve to them. There the ports each server really listens on must be
exactly its containerPorts, its Service's targetPorts and the ports its
NetworkPolicy opens; every probe must answer SERVING on its port; the
ServiceMonitor's endpoint must serve /metrics; and the gateway must see both
model servers SERVING at the addresses its manifest gives it."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from captioner_svc.server import SERVICE_NAME as CAPTIONER_SERVICE
from generator_svc.server import SERVICE_NAME as GENERATOR_SERVICE
from tests.kustomize_render import Object, by_kind, render
from tests.test_k8s import K8S, REPO, SERVERS, image_env

STARTUP_TIMEOUT_S = 240
# Network, mount and PID namespaces: the pods see only each other, and every
# process in them dies with the namespace's first process, whatever happens.
NAMESPACE_FLAGS = ["--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--map-root-user"]
# The image's PATH and PYTHONPATH point into the image (/opt/venv, /app); here
# the test's interpreter runs the working tree, which stands in for /app.
IMAGE_ONLY = {"PATH", "PYTHONPATH"}
# The rendered objects, and what the pods did (tests/pod_namespace.py's report).
Pods = tuple[list[Object], dict[str, Any]]


def _unshare() -> str:
    unshare = shutil.which("unshare")
    namespace = [str(unshare), *NAMESPACE_FLAGS, "--", "true"]
    works = unshare is not None and subprocess.run(namespace, capture_output=True, timeout=30).returncode == 0
    if unshare is None or not works:
        message = f"cannot make a network namespace here (unshare {' '.join(NAMESPACE_FLAGS)})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return unshare


def _container(deployment: Object) -> Object:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _final_stage(dockerfile: Path, instruction: str) -> str:
    """The last ``instruction`` of a Dockerfile: the final stage's."""
    lines = [line for line in dockerfile.read_text().splitlines() if line.startswith(f"{instruction} ")]
    return lines[-1].removeprefix(f"{instruction} ")


def pod_command(name: str, container: Object) -> list[str]:
    """The container's process: its command (else the image's ENTRYPOINT) and its args."""
    dockerfile = SERVERS[name][1]
    command = list(container.get("command") or json.loads(_final_stage(dockerfile, "ENTRYPOINT")))
    command += container.get("args", [])
    assert command[0] == "python", f"{name} runs {command}"
    assert _final_stage(dockerfile, "WORKDIR") == "/app", "the working tree stands in for /app"
    return [sys.executable, *command[1:]]


def pod_volumes(deployment: Object, objects: list[Object], root: Path) -> dict[str, Path]:
    """Each mountPath of the container and the directory that stands in for its volume."""
    configmaps = by_kind(objects, "ConfigMap")
    claims = by_kind(objects, "PersistentVolumeClaim")
    directories = {}
    for volume in deployment["spec"]["template"]["spec"]["volumes"]:
        directory = root / volume["name"]
        directory.mkdir(parents=True)
        if "configMap" in volume:
            for key, text in configmaps[volume["configMap"]["name"]]["data"].items():
                (directory / key).write_text(text)
        elif "persistentVolumeClaim" in volume:
            assert volume["persistentVolumeClaim"]["claimName"] in claims
        else:
            assert "emptyDir" in volume, f"volume {volume['name']}: unsupported kind"
        directories[volume["name"]] = directory
    return {m["mountPath"]: directories[m["name"]] for m in _container(deployment)["volumeMounts"]}


def _moved(value: str, mounts: dict[str, Path]) -> str:
    for mount_path in sorted(mounts, key=len, reverse=True):
        if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
            return str(mounts[mount_path]) + value[len(mount_path.rstrip("/")) :]
    return value


def pod_env(name: str, container: Object, mounts: dict[str, Path]) -> dict[str, str]:
    env = {k: v for k, v in image_env(SERVERS[name][1]).items() if k not in IMAGE_ONLY}
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        else:
            assert set(entry["valueFrom"]) == {"secretKeyRef"}, entry
            env[entry["name"]] = secrets.token_hex(24)
    env = {key: _moved(value, mounts) for key, value in env.items()}
    return {"PATH": os.environ["PATH"], **env}


def _port(service: Object, name: str) -> int:
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == name]
    return int(port["targetPort"])


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector
    return selector.get("matchLabels", {}).items() <= labels.items()


@pytest.fixture(scope="module")
def pods(tmp_path_factory: pytest.TempPathFactory) -> Pods:
    """The local overlay's objects, and what its pods did in their namespace."""
    unshare = _unshare()
    objects = render(K8S / "overlays" / "local")
    root = tmp_path_factory.mktemp("pods")
    monitors = render(K8S / "components" / "monitoring")
    services = by_kind(objects, "Service")
    spec: dict[str, Any] = {"pods": {}, "timeout_s": STARTUP_TIMEOUT_S}
    for name, deployment in by_kind(objects, "Deployment").items():
        container = _container(deployment)
        mounts = pod_volumes(deployment, objects, root / name)
        probes = [container[f"{kind}Probe"]["grpc"] for kind in ("startup", "liveness", "readiness")]
        checks = [[probe["port"], probe.get("service", "")] for probe in probes]
        if name == "gateway":
            checks += [[probes[0]["port"], service] for service in (CAPTIONER_SERVICE, GENERATOR_SERVICE)]
        labels = services[name]["metadata"]["labels"]
        endpoints = [
            (endpoint["port"], endpoint.get("path", "/metrics"))
            for monitor in monitors
            if monitor["kind"] == "ServiceMonitor" and _selects(monitor["spec"]["selector"], labels)
            for endpoint in monitor["spec"]["endpoints"]
        ]
        assert endpoints, f"no ServiceMonitor scrapes the {name} Service"
        spec["pods"][name] = {
            "command": pod_command(name, container),
            "env": pod_env(name, container, mounts),
            "cwd": str(REPO),
            "log": str(root / f"{name}.log"),
            "grpc": checks,
            "http": [[_port(services[name], port), path] for port, path in endpoints],
        }
    hosts = root / "hosts"
    hosts.write_text("127.0.0.1 localhost " + " ".join(sorted(services)) + "\n")
    spec["hosts"] = str(hosts)
    spec_file, report_file = root / "spec.json", root / "report.json"
    spec_file.write_text(json.dumps(spec))
    namespace = [unshare, *NAMESPACE_FLAGS, "--"]
    done = subprocess.run(
        [*namespace, sys.executable, "-m", "tests.pod_namespace", str(spec_file), str(report_file)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT_S + 120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_file.read_text())
    for name, pod in spec["pods"].items():
        failed = {check: status for check, status in report[name]["grpc"].items() if status != "SERVING"}
        assert not failed, f"{name}: {failed}\n{Path(pod['log']).read_text()[-3000:]}"
    return objects, report


@pytest.mark.slow
def test_each_pod_listens_on_exactly_its_container_ports(pods: Pods) -> None:
    objects, report = pods
    for name, deployment in by_kind(objects, "Deployment").items():
        declared = sorted(p["containerPort"] for p in _container(deployment)["ports"])
        assert report[name]["listening"] == declared, name
    assert report["unowned_listening_ports"] == []


@pytest.mark.slow
def test_probes_answer_serving_on_a_port_the_pod_listens_on(
    pods: Pods,
) -> None:
    objects, report = pods
    for name, deployment in by_kind(objects, "Deployment").items():
        container = _container(deployment)
        for kind in ("startup", "liveness", "readiness"):
            probe = container[f"{kind}Probe"]["grpc"]
            assert probe["port"] in report[name]["listening"], f"{name} {kind}Probe"
            assert report[name]["grpc"][f"{probe['port']}/{probe.get('service', '')}"] == "SERVING"


@pytest.mark.slow
def test_services_target_exactly_the_listening_ports(pods: Pods) -> None:
    objects, report = pods
    services = by_kind(objects, "Service")
    for name in by_kind(objects, "Deployment"):
        targets = sorted(int(p["targetPort"]) for p in services[name]["spec"]["ports"])
        assert targets == report[name]["listening"], name


@pytest.mark.slow
def test_network_policies_open_exactly_the_listening_ports(pods: Pods) -> None:
    objects, report = pods
    policies = by_kind(objects, "NetworkPolicy").values()
    for name, deployment in by_kind(objects, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        opened = sorted(
            {
                port["port"]
                for policy in policies
                if _selects(policy["spec"]["podSelector"], labels)
                for rule in policy["spec"].get("ingress", [])
                for port in rule.get("ports", [])
            }
        )
        assert opened == report[name]["listening"], name


@pytest.mark.slow
def test_the_service_monitors_endpoints_serve_metrics(pods: Pods) -> None:
    objects, report = pods
    for name in by_kind(objects, "Deployment"):
        assert report[name]["http"], name
        for where, (status, body) in report[name]["http"].items():
            assert status == 200 and re.match(r"# (HELP|TYPE) ", body), f"{name} {where}: {status} {body}"


@pytest.mark.slow
def test_the_gateway_reaches_the_model_servers_at_its_manifests_addresses(
    pods: Pods,
) -> None:
    objects, report = pods
    gateway = _container(by_kind(objects, "Deployment")["gateway"])
    services = by_kind(objects, "Service")
    addresses = [e["value"] for e in gateway["env"] if e["name"].endswith("_ADDRESS")]
    backends = set()
    for address in addresses:
        host, port = re.fullmatch(r"dns:///([a-z0-9-]+):(\d+)", address).groups()  # type: ignore[union-attr]
        # The Service's port (headless: the pod's port, which it listens on).
        assert int(port) == _port(services[host], "grpc") and int(port) in report[host]["listening"]
        backends.add(host)
    assert backends == {"captioner", "generator"}
    port = gateway["readinessProbe"]["grpc"]["port"]
    for service in (CAPTIONER_SERVICE, GENERATOR_SERVICE):
        assert report["gateway"]["grpc"][f"{port}/{service}"] == "SERVING", service
