"""The Kubernetes manifests (k8s/) proved against the code: each container's
environment and its image's build its server's settings class, and the ports,
probes, shutdown timing, Services, NetworkPolicies and autoscalers agree with
those settings. No cluster is needed: the overlays are rendered with
tests/kustomize_render.py, which renders what ``kubectl kustomize`` does (the
first test compares the two where kubectl is installed)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from captioner_svc.server import SERVICE_NAME as CAPTIONER_SERVICE
from captioner_svc.settings import CaptionerSettings
from gateway.server import ADMIN_SERVICE, USAGE_SERVICE
from gateway.settings import GatewaySettings
from generator_svc.server import SERVICE_NAME as GENERATOR_SERVICE
from generator_svc.settings import GeneratorSettings
from generator_svc.variants import load_registry
from serving.server import LIVENESS_SERVICE
from serving.settings import ServerSettings
from tests.kustomize_render import Object, by_kind, render

REPO = Path(__file__).resolve().parent.parent
K8S = REPO / "k8s"
OVERLAYS = ["local", "gpu"]
NAMESPACE = "imaging"
SERVERS: dict[str, tuple[type[ServerSettings], Path, set[str]]] = {
    "captioner": (CaptionerSettings, REPO / "captioner_svc" / "Dockerfile", {CAPTIONER_SERVICE}),
    "generator": (GeneratorSettings, REPO / "generator_svc" / "Dockerfile", {GENERATOR_SERVICE}),
    "gateway": (
        GatewaySettings,
        REPO / "gateway" / "Dockerfile",
        {CAPTIONER_SERVICE, GENERATOR_SERVICE, USAGE_SERVICE, ADMIN_SERVICE},
    ),
}
MODEL_SERVERS = ["captioner", "generator"]
# How long after a pod starts terminating Kubernetes may still send it calls:
# endpoint removal reaching kube-proxy (a few seconds) plus the 5 s TTL CoreDNS
# gives the headless Services' records. The drain delay must cover it.
ENDPOINT_REMOVAL_S = 10.0
# What a pod needs beyond drain delay + grace period: cut calls' statuses (2 s)
# and releasing the models.
SHUTDOWN_MARGIN_S = 5.0
SECRET_FIELDS = {"admin_token", "key_pepper", "database_url", "redis_url"}


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Object]]:
    return request.param, render(K8S / "overlays" / request.param)


def _deployments(objects: list[Object]) -> dict[str, Object]:
    return by_kind(objects, "Deployment")


def _pod(deployment: Object) -> Object:
    return deployment["spec"]["template"]["spec"]


def _container(deployment: Object) -> Object:
    containers = _pod(deployment)["containers"]
    assert len(containers) == 1, "one container per server pod"
    return containers[0]


def image_env(dockerfile: Path) -> dict[str, str]:
    """The ENV of an image's final stage (the only stage that sets any)."""
    env = {}
    for line in dockerfile.read_text().replace("\\\n", " ").splitlines():
        if line.startswith("ENV "):
            for token in line.removeprefix("ENV ").split():
                key, _, value = token.partition("=")
                env[key] = value
    return env


def manifest_env(container: Object) -> dict[str, str]:
    """The container's environment, Secrets standing in as a placeholder."""
    env = {}
    for entry in container.get("env", []):
        assert ("value" in entry) != ("valueFrom" in entry), f"{entry['name']}: value or valueFrom"
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        else:
            assert set(entry["valueFrom"]) == {"secretKeyRef"}, entry
            env[entry["name"]] = "from-a-secret"
    return env


@contextlib.contextmanager
def _only_environment(env: dict[str, str]) -> Iterator[None]:
    with mock.patch.dict(os.environ, env, clear=True):
        yield


def container_settings(name: str, deployment: Object) -> ServerSettings:
    """The settings the server builds in its container: the image's ENV, then the manifest's."""
    cls, dockerfile, _ = SERVERS[name]
    with _only_environment({**image_env(dockerfile), **manifest_env(_container(deployment))}):
        return cls()


def _ports(container: Object) -> dict[str, int]:
    return {port["name"]: port["containerPort"] for port in container["ports"]}


# -- rendering ---------------------------------------------------------------------------


@pytest.mark.parametrize("directory", ["base", *(f"overlays/{name}" for name in OVERLAYS)])
def test_the_python_renderer_renders_what_kubectl_kustomize_renders(directory: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        if os.environ.get("CI"):
            pytest.fail("kubectl is missing in CI: install it (kubectl kustomize renders k8s/)")
        pytest.skip("kubectl is not installed: the overlays are rendered by tests/kustomize_render.py only")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / directory)], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    theirs = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(out) if o}
    ours = {(o["kind"], o["metadata"]["name"]): o for o in render(K8S / directory)}
    assert ours == theirs


def test_each_overlay_has_every_server_in_its_namespace(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    assert set(_deployments(objects)) == set(SERVERS)
    assert {o["metadata"].get("namespace") for o in objects} == {NAMESPACE}


# -- environment and settings --------------------------------------------------------------


def test_every_env_var_is_a_setting_of_its_server(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    for name, deployment in _deployments(objects).items():
        cls, dockerfile, _ = SERVERS[name]
        prefix = str(cls.model_config.get("env_prefix", ""))
        for variable in [*manifest_env(_container(deployment)), *image_env(dockerfile)]:
            if variable.startswith(("CAPTIONER_", "GENERATOR_", "GATEWAY_")):
                assert variable.startswith(prefix), f"{name} sets {variable}, another server's setting"
                field = variable.removeprefix(prefix).lower()
                assert field in cls.model_fields, f"{name}: {variable} is not a {cls.__name__} field"
        # Builds and validates, as the server does at start.
        container_settings(name, deployment)


def test_credentials_come_from_secrets(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    gateway = _container(_deployments(objects)["gateway"])
    by_name = {entry["name"]: entry for entry in gateway["env"]}
    for field in SECRET_FIELDS:
        entry = by_name.get(f"GATEWAY_{field.upper()}")
        if entry is not None:
            assert entry["valueFrom"]["secretKeyRef"]["name"] == "imaging-gateway", entry
    assert "GATEWAY_ADMIN_TOKEN" in by_name
    assert "GATEWAY_KEY_PEPPER" in by_name
    for deployment in _deployments(objects).values():
        pod = _pod(deployment)
        # A Service named "gateway" would otherwise set GATEWAY_PORT=tcp://... and break the settings.
        assert pod["enableServiceLinks"] is False
        assert pod["automountServiceAccountToken"] is False


# -- ports, probes, Services -----------------------------------------------------------------


def test_container_ports_are_the_ports_the_servers_bind(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    for name, deployment in _deployments(objects).items():
        settings = container_settings(name, deployment)
        assert (settings.host, settings.metrics_host) == ("0.0.0.0", "0.0.0.0"), name
        assert _ports(_container(deployment)) == {"grpc": settings.port, "metrics": settings.metrics_port}


def test_probes_are_grpc_on_the_serving_port_with_liveness_apart_from_readiness(
    overlay: tuple[str, list[Object]],
) -> None:
    _, objects = overlay
    for name, deployment in _deployments(objects).items():
        settings = container_settings(name, deployment)
        container = _container(deployment)
        probes = {kind: container[f"{kind}Probe"] for kind in ("startup", "liveness", "readiness")}
        for kind, probe in probes.items():
            assert set(probe) - {"grpc"} <= {"periodSeconds", "timeoutSeconds", "failureThreshold"}, kind
            assert probe["grpc"]["port"] == settings.port, f"{name} {kind}Probe"
        # The startupProbe waits for the models, then liveness asks only whether the server answers.
        assert probes["startup"]["grpc"]["service"] == LIVENESS_SERVICE
        assert probes["liveness"]["grpc"]["service"] == LIVENESS_SERVICE
        readiness = probes["readiness"]["grpc"]["service"]
        assert readiness in {"", *SERVERS[name][2]}, f"{name} readiness asks {readiness!r}"
        startup = probes["startup"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 120, f"{name}: time to load"
        liveness = probes["liveness"]
        assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 30, f"{name}: liveness too eager"


def test_real_weights_get_a_longer_startup() -> None:
    gpu, local = (_deployments(render(K8S / "overlays" / name)) for name in ("gpu", "local"))
    for server in MODEL_SERVERS:
        budgets = [
            probe["periodSeconds"] * probe["failureThreshold"]
            for probe in (_container(d[server])["startupProbe"] for d in (gpu, local))
        ]
        assert budgets[0] >= 600 and budgets[0] > budgets[1], f"{server}: {budgets}"


def test_services_select_their_pods_on_the_servers_ports(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    services = by_kind(objects, "Service")
    for name, deployment in _deployments(objects).items():
        settings = container_settings(name, deployment)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        service = services[name]
        assert service["spec"]["selector"].items() <= labels.items()
        ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
        assert ports == {
            "grpc": (settings.port, settings.port),
            "metrics": (settings.metrics_port, settings.metrics_port),
        }
        # Model servers are headless: the gateway sees every pod and balances per call.
        headless = service["spec"].get("clusterIP") == "None"
        assert headless == (name in MODEL_SERVERS), name


def test_the_gateway_balances_per_call_over_the_headless_services(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    deployments = _deployments(objects)
    gateway = container_settings("gateway", deployments["gateway"])
    assert isinstance(gateway, GatewaySettings)
    targets = {"captioner": gateway.captioner_address, "generator": gateway.generator_address}
    for server, target in targets.items():
        port = container_settings(server, deployments[server]).port
        assert target == f"dns:///{server}:{port}", target
        assert by_kind(objects, "Service")[server]["spec"]["clusterIP"] == "None"


def test_connections_age_out_without_cutting_calls(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    for name, deployment in _deployments(objects).items():
        settings = container_settings(name, deployment)
        # Clients re-resolve when a connection closes for age, so new pods get calls.
        assert settings.max_connection_age_s > 0, name
        assert settings.max_connection_age_grace_s >= settings.grace_period_s, name


# -- shutdown ------------------------------------------------------------------------------


def test_pods_get_time_to_drain_and_the_drain_covers_endpoint_removal(
    overlay: tuple[str, list[Object]],
) -> None:
    _, objects = overlay
    for name, deployment in _deployments(objects).items():
        settings = container_settings(name, deployment)
        assert settings.drain_delay_s >= ENDPOINT_REMOVAL_S, name
        needed = settings.drain_delay_s + settings.grace_period_s + SHUTDOWN_MARGIN_S
        assert _pod(deployment)["terminationGracePeriodSeconds"] >= needed, name


def test_disruption_budgets_let_one_pod_go_at_a_time(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    budgets = by_kind(objects, "PodDisruptionBudget")
    for name, deployment in _deployments(objects).items():
        budget = budgets[name]["spec"]
        assert budget == {"maxUnavailable": 1, "selector": deployment["spec"]["selector"]}


# -- security and resources ------------------------------------------------------------------


def test_pods_run_locked_down(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    for name, deployment in _deployments(objects).items():
        pod = _pod(deployment)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        context = _container(deployment)["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["capabilities"] == {"drop": ["ALL"]}, name
        # The image's user is the pod's: the image runs the same outside Kubernetes.
        user = next(line for line in SERVERS[name][1].read_text().splitlines() if line.startswith("USER "))
        assert user == f"USER {pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}"


def test_everything_a_server_writes_is_a_mounted_volume(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    for name, deployment in _deployments(objects).items():
        settings = container_settings(name, deployment)
        container = _container(deployment)
        volumes = {v["name"]: v for v in _pod(deployment)["volumes"]}
        writable = {
            m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"] if not m.get("readOnly")
        }
        needed = ["/tmp"]
        cache = image_env(SERVERS[name][1]).get("XDG_CACHE_HOME")
        if cache:
            needed.append(cache)
        if isinstance(settings, GatewaySettings):
            needed.append(str(settings.data_dir))
        for path in needed:
            assert path in writable, f"{name} writes {path}, which is not a writable volume"
        assert volumes["tmp"] == {"name": "tmp", "emptyDir": volumes["tmp"]["emptyDir"]}


def test_every_container_has_resources(overlay: tuple[str, list[Object]]) -> None:
    name, objects = overlay
    for server, deployment in _deployments(objects).items():
        resources = _container(deployment)["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), server
        assert "memory" in resources["limits"], server
        gpus = resources["limits"].get("nvidia.com/gpu")
        assert gpus == ("1" if name == "gpu" and server in MODEL_SERVERS else None), server


# -- overlays ------------------------------------------------------------------------------


def test_local_runs_one_of_each_on_the_shipped_models_and_sqlite() -> None:
    objects = render(K8S / "overlays" / "local")
    deployments = _deployments(objects)
    assert {name: d["spec"]["replicas"] for name, d in deployments.items()} == dict.fromkeys(SERVERS, 1)
    captioner = container_settings("captioner", deployments["captioner"])
    assert isinstance(captioner, CaptionerSettings)
    assert captioner.device == "cpu"
    assert captioner.caption_model == CaptionerSettings().caption_model  # baked into the image
    gateway = container_settings("gateway", deployments["gateway"])
    assert isinstance(gateway, GatewaySettings)
    assert gateway.database_url == "" and gateway.redis_url == ""
    volumes = {v["name"]: v for v in _pod(deployments["gateway"])["volumes"]}
    claim = volumes["data"]["persistentVolumeClaim"]["claimName"]
    assert claim in by_kind(objects, "PersistentVolumeClaim")
    # One SQLite writer: never two pods on the volume, not even during a rollout.
    assert deployments["gateway"]["spec"]["strategy"] == {"type": "Recreate"}
    assert not by_kind(objects, "HorizontalPodAutoscaler")


def test_gpu_serves_real_weights_from_a_volume_with_shared_stores() -> None:
    objects = render(K8S / "overlays" / "gpu")
    deployments = _deployments(objects)
    assert deployments["gateway"]["spec"]["replicas"] == 2
    gateway = _container(deployments["gateway"])
    secrets = {e["name"] for e in gateway["env"] if "valueFrom" in e}
    assert {"GATEWAY_DATABASE_URL", "GATEWAY_REDIS_URL"} <= secrets
    captioner = container_settings("captioner", deployments["captioner"])
    assert isinstance(captioner, CaptionerSettings)
    generator = container_settings("generator", deployments["generator"])
    assert isinstance(generator, GeneratorSettings)
    assert captioner.device == generator.device == "cuda"
    for server in MODEL_SERVERS:
        deployment = deployments[server]
        # The autoscaler owns the replicas.
        assert "replicas" not in deployment["spec"], server
        mounts = {m["mountPath"]: m for m in _container(deployment)["volumeMounts"]}
        assert mounts["/weights"]["readOnly"] is True
        volume = next(v for v in _pod(deployment)["volumes"] if v["name"] == mounts["/weights"]["name"])
        assert volume["persistentVolumeClaim"]["claimName"] in by_kind(objects, "PersistentVolumeClaim")
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in _pod(deployment)[
            "tolerations"
        ]
        image = _container(deployment)["image"]
        assert image.endswith("-cuda"), image
    for path in (captioner.caption_model, captioner.retrieval_model):
        assert path.startswith("/weights/"), path


def _variants_configmap(objects: list[Object], deployment: Object, settings: GeneratorSettings) -> str:
    """The variants file's text as the generator's container sees it."""
    mounts = [
        m
        for m in _container(deployment)["volumeMounts"]
        if settings.variants_file.startswith(m["mountPath"].rstrip("/") + "/")
    ]
    assert len(mounts) == 1, f"GENERATOR_VARIANTS_FILE={settings.variants_file} is on no mounted volume"
    volume = next(v for v in _pod(deployment)["volumes"] if v["name"] == mounts[0]["name"])
    configmap = by_kind(objects, "ConfigMap")[volume["configMap"]["name"]]
    key = settings.variants_file.removeprefix(mounts[0]["mountPath"].rstrip("/") + "/")
    return str(configmap["data"][key])


def test_local_variants_are_the_shipped_registry() -> None:
    objects = render(K8S / "overlays" / "local")
    deployment = _deployments(objects)["generator"]
    settings = container_settings("generator", deployment)
    assert isinstance(settings, GeneratorSettings)
    shipped = (REPO / "generator_svc" / "variants.yaml").read_text()
    assert _variants_configmap(objects, deployment, settings) == shipped, (
        "k8s/base/variants.yaml must equal generator_svc/variants.yaml: "
        "cp generator_svc/variants.yaml k8s/base/variants.yaml"
    )


def test_gpu_variants_load_and_serve_every_variant_from_the_weights_volume(tmp_path: Path) -> None:
    objects = render(K8S / "overlays" / "gpu")
    deployment = _deployments(objects)["generator"]
    settings = container_settings("generator", deployment)
    assert isinstance(settings, GeneratorSettings)
    text = _variants_configmap(objects, deployment, settings)
    raw = yaml.safe_load(text)["variants"]
    for entry in raw.values():
        assert entry["checkpoint"].startswith("/weights/"), entry["checkpoint"]
        (tmp_path / entry["checkpoint"].removeprefix("/")).mkdir(parents=True, exist_ok=True)
    local = tmp_path / "variants.yaml"
    local.write_text(text.replace("/weights/", f"{tmp_path}/weights/"))
    registry = load_registry(local)
    assert registry.names == sorted(raw)


# -- network policies ----------------------------------------------------------------------


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector
    return selector.get("matchLabels", {}).items() <= labels.items()


def _allowed_peers(policies: list[Object], labels: dict[str, str], port: int) -> list[Any]:
    """The peers the policies let reach a pod's port (None: any peer)."""
    peers: list[Any] = []
    for policy in policies:
        if not _selects(policy["spec"]["podSelector"], labels):
            continue
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        for rule in policy["spec"].get("ingress", []):
            if any(p["port"] == port and p.get("protocol", "TCP") == "TCP" for p in rule.get("ports", [])):
                peers += rule.get("from", [None])
    return peers


def test_network_policies_deny_all_but_gateway_to_models_and_prometheus_to_metrics(
    overlay: tuple[str, list[Object]],
) -> None:
    _, objects = overlay
    policies = list(by_kind(objects, "NetworkPolicy").values())
    default_deny = [p for p in policies if p["spec"]["podSelector"] == {}]
    assert len(default_deny) == 1 and "ingress" not in default_deny[0]["spec"]
    gateway_pods = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}}
    prometheus = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
    }
    for name, deployment in _deployments(objects).items():
        settings = container_settings(name, deployment)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        grpc_peers = _allowed_peers(policies, labels, settings.port)
        assert grpc_peers == ([None] if name == "gateway" else [gateway_pods]), name
        assert _allowed_peers(policies, labels, settings.metrics_port) == [prometheus], name
        # Nothing else is open on any pod.
        for rule_port in {
            p["port"]
            for policy in policies
            if _selects(policy["spec"]["podSelector"], labels)
            for rule in policy["spec"].get("ingress", [])
            for p in rule.get("ports", [])
        }:
            assert rule_port in (settings.port, settings.metrics_port), f"{name}: port {rule_port} open"


# -- autoscaling ---------------------------------------------------------------------------


def _max_rate_per_s(rules: dict[str, Any], replicas: int) -> float:
    """The most pods per second a scaling direction's policies allow from ``replicas`` pods."""
    rates = []
    for policy in rules["policies"]:
        pods = policy["value"] if policy["type"] == "Pods" else replicas * policy["value"] / 100
        rates.append(pods / policy["periodSeconds"])
    return max(rates) if rules.get("selectPolicy", "Max") == "Max" else min(rates)


def _check_behaviour(behavior: dict[str, Any], what: str) -> None:
    up, down = behavior["scaleUp"], behavior["scaleDown"]
    assert down["stabilizationWindowSeconds"] > up["stabilizationWindowSeconds"], what
    for replicas in (1, 2, 4, 8):
        assert _max_rate_per_s(down, replicas) < _max_rate_per_s(up, replicas), f"{what} at {replicas}"


def test_hpa_scales_model_servers_on_queue_depth_down_slower_than_up() -> None:
    objects = render(K8S / "overlays" / "gpu")
    hpas = by_kind(objects, "HorizontalPodAutoscaler")
    assert set(hpas) == set(MODEL_SERVERS)
    adapter = yaml.safe_load(
        (K8S / "components" / "autoscaling-hpa" / "prometheus-adapter-values.yaml").read_text()
    )
    served = {rule["name"]["as"] for rule in adapter["rules"]["custom"]}
    deployments = _deployments(objects)
    for name, hpa in hpas.items():
        spec = hpa["spec"]
        assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert name in deployments
        assert 1 <= spec["minReplicas"] < spec["maxReplicas"]
        (metric,) = spec["metrics"]
        assert metric["type"] == "Pods" and metric["pods"]["metric"]["name"] in served
        _check_behaviour(spec["behavior"], f"HPA {name}")


def test_keda_alternative_matches_the_hpa() -> None:
    scaled = [
        d
        for d in yaml.safe_load_all(
            (K8S / "components" / "autoscaling-keda" / "scaledobjects.yaml").read_text()
        )
        if d
    ]
    hpas = by_kind(render(K8S / "overlays" / "gpu"), "HorizontalPodAutoscaler")
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scaled} == set(MODEL_SERVERS)
    for s in scaled:
        name = s["spec"]["scaleTargetRef"]["name"]
        behaviour = s["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        _check_behaviour(behaviour, f"ScaledObject {name}")
        assert behaviour == hpas[name]["spec"]["behavior"]
        (trigger,) = s["spec"]["triggers"]
        target = hpas[name]["spec"]["metrics"][0]["pods"]["target"]["averageValue"]
        assert trigger["metricType"] == "AverageValue" and trigger["metadata"]["threshold"] == target
        assert f'namespace="{NAMESPACE}",job="{name}"' in trigger["metadata"]["query"]
