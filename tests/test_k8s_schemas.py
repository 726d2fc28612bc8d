"""The manifests as ``kubectl kustomize`` renders them, against real schemas:
every Kubernetes object passes ``kubernetes-validate --strict`` (unknown fields
refused; an object whose kind has no schema fails, where the tool only warns),
and every custom resource (ServiceMonitor, PrometheusRule, ScaledObject) passes
``check-jsonschema`` against its schema in k8s/schemas/. Each renders every
overlay and every component, so the KEDA alternative, which no overlay uses,
is checked too."""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kustomize_render import Object

REPO = Path(__file__).resolve().parent.parent
K8S = REPO / "k8s"
SCHEMAS = K8S / "schemas"
RENDERED = sorted(
    str(path.parent.relative_to(K8S))
    for path in [*K8S.glob("overlays/*/kustomization.yaml"), *K8S.glob("components/*/kustomization.yaml")]
)
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject"}
BIN = Path(sys.executable).parent


def _kubectl() -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        if os.environ.get("CI"):
            pytest.fail("kubectl is missing in CI: install it (kubectl kustomize renders k8s/)")
        pytest.skip("kubectl is not installed: the rendered manifests cannot be validated")
    return kubectl


def kustomize(directory: str) -> list[Object]:
    """The objects ``kubectl kustomize k8s/<directory>`` renders (a fresh copy each call)."""
    return copy.deepcopy(_rendered(directory))


@functools.cache
def _rendered(directory: str) -> list[Object]:
    out = subprocess.run(
        [_kubectl(), "kustomize", str(K8S / directory)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return [o for o in yaml.safe_load_all(out) if o]


def custom_schema(o: Object) -> Path | None:
    """The vendored schema of a custom resource's kind, if it has one."""
    group, _, version = str(o["apiVersion"]).rpartition("/")
    if not group:
        return None
    path = SCHEMAS / group / f"{str(o['kind']).lower()}_{version}.json"
    return path if path.exists() else None


def kubernetes_validate(objects: list[Object], directory: Path) -> tuple[int, str]:
    """``kubernetes-validate --strict`` on the objects as one YAML stream."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest = directory / "manifest.yaml"
    manifest.write_text(yaml.safe_dump_all(objects))
    done = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--quiet", str(manifest)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def check_jsonschema(schema: Path, objects: list[Object], directory: Path) -> tuple[int, str]:
    """``check-jsonschema`` on each object (one JSON file each) against ``schema``."""
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for index, o in enumerate(objects):
        path = directory / f"{index}-{o['kind']}-{o['metadata']['name']}.json"
        path.write_text(json.dumps(o))
        files.append(str(path))
    done = subprocess.run(
        [str(BIN / "check-jsonschema"), "--schemafile", str(schema), *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def _problems(returncode: int, output: str) -> list[str]:
    """What kubernetes-validate found: errors, and warnings such as "Couldn't find
    schema", which it reports with exit status 0 and which fail here."""
    lines = [line for line in output.splitlines() if line.strip()]
    if returncode != 0 and not lines:
        lines = [f"exit status {returncode}"]
    return lines


@pytest.mark.parametrize("directory", RENDERED)
def test_rendered_objects_pass_kubernetes_validate_strict_and_the_crd_schemas(
    directory: str, tmp_path: Path
) -> None:
    rendered = kustomize(directory)
    assert rendered, f"{directory} renders nothing"
    core = [o for o in rendered if custom_schema(o) is None]
    if core:
        problems = _problems(*kubernetes_validate(core, tmp_path / "core"))
        assert not problems, "\n".join(problems)
    by_schema: dict[Path, list[Object]] = defaultdict(list)
    for o in rendered:
        schema = custom_schema(o)
        if schema is not None:
            by_schema[schema].append(o)
    for schema, objects in by_schema.items():
        returncode, output = check_jsonschema(schema, objects, tmp_path / schema.stem)
        assert returncode == 0, f"{directory}, {schema.relative_to(REPO)}:\n{output}"


def test_every_custom_kind_rendered_has_a_schema_and_every_schema_is_used() -> None:
    rendered = {(o["apiVersion"], o["kind"]) for d in RENDERED for o in kustomize(d)}
    custom = {(api, kind) for api, kind in rendered if "/" in api and kind in CUSTOM_KINDS}
    assert {kind for _, kind in custom} == CUSTOM_KINDS
    used = {custom_schema({"apiVersion": api, "kind": kind}) for api, kind in custom}
    assert None not in used
    assert used == set(SCHEMAS.glob("*/*.json")), "a schema in k8s/schemas/ that no manifest uses"


def test_the_schemas_are_valid_json_schemas() -> None:
    schemas = sorted(str(p) for p in SCHEMAS.glob("*/*.json"))
    done = subprocess.run(
        [str(BIN / "check-jsonschema"), "--check-metaschema", *schemas],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- the checks can fail -------------------------------------------------------------------


def test_kubernetes_validate_refuses_unknown_fields_and_kinds_without_a_schema(tmp_path: Path) -> None:
    objects = kustomize("overlays/local")
    deployment = copy.deepcopy(next(o for o in objects if o["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPortt"] = 50051
    problems = _problems(*kubernetes_validate([deployment], tmp_path))
    assert any("containerPortt" in line for line in problems), problems
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    problems = _problems(*kubernetes_validate([unknown], tmp_path))
    assert any("Couldn't find schema" in line for line in problems), problems


def _scale_up_policy(o: Object) -> dict[str, Any]:
    behavior = o["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    policy: dict[str, Any] = behavior["scaleUp"]["policies"][0]
    return policy


def _mutated(kind: str) -> list[tuple[str, Object]]:
    """Broken copies of a rendered object of ``kind``, each with what the error must name."""
    o = next(x for d in RENDERED for x in kustomize(d) if x["kind"] == kind)
    changes: dict[str, Callable[[Object], object]]
    if kind == "ServiceMonitor":
        changes = {
            "intervall": lambda b: b["spec"]["endpoints"][0].update(intervall="15s"),
            "15 s": lambda b: b["spec"]["endpoints"][0].update(interval="15 s"),
            "selector": lambda b: b["spec"].pop("selector"),
        }
    elif kind == "PrometheusRule":
        changes = {
            "expr": lambda b: b["spec"]["groups"][0]["rules"][0].pop("expr"),
            "10 minutes": lambda b: b["spec"]["groups"][0]["rules"][0].update({"for": "10 minutes"}),
            "annotation": lambda b: b["spec"]["groups"][0]["rules"][0].update(annotation={}),
        }
    else:
        changes = {
            "-1": lambda b: b["spec"].update(minReplicaCount=-1),
            "threshold": lambda b: b["spec"]["triggers"][0]["metadata"].pop("threshold"),
            "Percentage": lambda b: _scale_up_policy(b).update(type="Percentage"),
        }
    cases = []
    for needle, change in changes.items():
        broken = copy.deepcopy(o)
        change(broken)
        cases.append((needle, broken))
    return cases


@pytest.mark.parametrize("kind", sorted(CUSTOM_KINDS))
def test_the_schemas_refuse_what_the_operators_refuse(kind: str, tmp_path: Path) -> None:
    for needle, broken in _mutated(kind):
        schema = custom_schema(broken)
        assert schema is not None
        returncode, output = check_jsonschema(schema, [broken], tmp_path)
        assert returncode != 0 and needle in output, f"{kind} ({needle}) passed:\n{output}"
