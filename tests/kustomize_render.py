"""A small kustomize in Python for the policy tests: renders k8s/ overlays with
PyYAML alone, so that the manifests are checked against the code on every
machine; tests/test_k8s.py proves it renders what ``kubectl kustomize`` renders.

It knows only what k8s/ uses, and refuses anything else rather than render it
differently: resources (files and directories), components, strategic-merge
patches by file (merge keys of the core API lists; ``null`` deletes a field),
configMapGenerator from files without name hashes (create or replace),
images (newName, newTag) and namespace.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

Object = dict[str, Any]

_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "components",
    "patches",
    "configMapGenerator",
    "generatorOptions",
    "images",
    "namespace",
}
# Merge keys of the strategic-merge lists the patches touch (from the core API's
# patchMergeKey); other lists are replaced, as strategic merge does.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
}
_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


class UnsupportedKustomization(ValueError):
    """A kustomization uses a feature this renderer does not implement."""


def render(directory: Path) -> list[Object]:
    """Every object the kustomization in ``directory`` renders."""
    return _build(directory, [])


def by_kind(objects: list[Object], kind: str) -> dict[str, Object]:
    """The objects of one kind by name."""
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _build(directory: Path, accumulated: list[Object]) -> list[Object]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - _KEYS
    if unknown:
        raise UnsupportedKustomization(f"{directory}: {sorted(unknown)}")
    objects = list(accumulated)
    for entry in kustomization.get("resources", []):
        path = directory / entry
        objects += _build(path, []) if path.is_dir() else list(_documents(path))
    for entry in kustomization.get("components", []):
        objects = _build(directory / entry, objects)
    options = kustomization.get("generatorOptions", {})
    for generator in kustomization.get("configMapGenerator", []):
        objects = _generate(directory, generator, options, objects)
    for patch in kustomization.get("patches", []):
        if set(patch) != {"path"}:
            raise UnsupportedKustomization(f"{directory}: only patches by path, not {sorted(patch)}")
        for document in _documents(directory / patch["path"]):
            _patch(objects, document)
    for image in kustomization.get("images", []):
        _set_image(objects, image)
    if "namespace" in kustomization:
        for o in objects:
            if o["kind"] not in _CLUSTER_SCOPED:
                o["metadata"]["namespace"] = kustomization["namespace"]
    return objects


def _documents(path: Path) -> Iterator[Object]:
    for document in yaml.safe_load_all(path.read_text()):
        if document:
            yield document


def _generate(directory: Path, generator: Object, options: Object, objects: list[Object]) -> list[Object]:
    merged = {**options, **generator.get("options", {})}
    unknown = (set(generator) - {"name", "files", "behavior", "options"}) | (
        set(merged) - {"disableNameSuffixHash", "labels"}
    )
    if unknown or not merged.get("disableNameSuffixHash"):
        raise UnsupportedKustomization(f"{directory}: a generator needs disableNameSuffixHash, not {unknown}")
    data = {}
    for entry in generator["files"]:
        key, _, path = entry.rpartition("=") if "=" in entry else (Path(entry).name, "", entry)
        data[key] = (directory / path).read_text()
    metadata: Object = {"name": generator["name"]}
    if merged.get("labels"):
        metadata["labels"] = dict(merged["labels"])
    generated = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}
    behavior = generator.get("behavior", "create")
    if behavior == "create":
        return [*objects, generated]
    if behavior != "replace":
        raise UnsupportedKustomization(f"{directory}: generator behavior {behavior}")
    index = _find(objects, "ConfigMap", generator["name"])
    existing = objects[index]["metadata"]
    generated["metadata"] = {**existing, **metadata}
    return [*objects[:index], generated, *objects[index + 1 :]]


def _find(objects: list[Object], kind: str, name: str) -> int:
    for index, o in enumerate(objects):
        if o["kind"] == kind and o["metadata"]["name"] == name:
            return index
    raise UnsupportedKustomization(f"no {kind} {name} to patch")


def _patch(objects: list[Object], patch: Object) -> None:
    index = _find(objects, patch["kind"], patch["metadata"]["name"])
    objects[index] = _merge(copy.deepcopy(objects[index]), patch)


def _merge(base: Object, patch: Object) -> Object:
    for key, value in patch.items():
        if key.startswith("$"):
            raise UnsupportedKustomization(f"patch directive {key}")
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _merge(base[key], value)
        elif isinstance(value, list) and key in _MERGE_KEYS and isinstance(base.get(key), list):
            base[key] = _merge_list(base[key], value, _MERGE_KEYS[key])
        else:
            base[key] = _without_nulls(copy.deepcopy(value))
    return base


def _merge_list(base: list[Object], patch: list[Object], merge_key: str) -> list[Object]:
    """The patch's items first, in its order (merged into the base's item of the
    same key), then the base's other items: the order kustomize renders."""
    existing = {item[merge_key]: item for item in base}
    merged = [
        _merge(existing[item[merge_key]], item)
        if item[merge_key] in existing
        else _without_nulls(copy.deepcopy(item))
        for item in patch
    ]
    patched = {item[merge_key] for item in patch}
    return merged + [item for item in base if item[merge_key] not in patched]


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _set_image(objects: list[Object], image: Object) -> None:
    if set(image) - {"name", "newName", "newTag"}:
        raise UnsupportedKustomization(f"images entry {image}")
    for o in objects:
        spec = o.get("spec", {}).get("template", {}).get("spec", {})
        for container in [*spec.get("containers", []), *spec.get("initContainers", [])]:
            reference = container["image"]
            tagged = ":" in reference.rsplit("/", 1)[-1]
            name, tag = reference.rsplit(":", 1) if tagged else (reference, "")
            if name == image["name"]:
                tag = image.get("newTag", tag)
                container["image"] = image.get("newName", name) + (f":{tag}" if tag else "")
