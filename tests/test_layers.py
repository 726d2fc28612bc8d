"""The import rules of ARCHITECTURE.md, checked on the source: imports run one
way. ``serving`` and ``imaging`` know nothing of the services, the services
know nothing of each other, and no package has an import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SERVERS = ("captioner_svc", "generator_svc", "gateway")
PACKAGES = (*SERVERS, "serving")


def imports_of(path: Path, package: str) -> set[str]:
    """Modules of the repository that ``path`` imports (any depth, absolute or relative)."""
    module = ".".join(path.relative_to(REPO).with_suffix("").parts)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.rsplit(".", node.level)[0]
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def modules(package: str) -> dict[str, Path]:
    root = REPO / package
    return {
        ".".join(p.relative_to(REPO).with_suffix("").parts): p
        for p in root.rglob("*.py")
        if "migrations" not in p.parts
        and not p.name.endswith("_pb2.py")
        and not p.name.endswith("_pb2_grpc.py")
    }


def graph(package: str) -> dict[str, set[str]]:
    own = modules(package)
    return {
        name: {m for m in imports_of(path, package) if m in own and m != name and not m.endswith("__init__")}
        for name, path in own.items()
        if not name.endswith("__main__")
    }


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_inside_a_package(package: str) -> None:
    edges = graph(package)
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(node) :], node]))
        if node in done:
            return
        for nxt in sorted(edges.get(node, ())):
            visit(nxt, [*path, node])
        done.add(node)

    for start in sorted(edges):
        visit(start, [])


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_run_one_way(package: str) -> None:
    forbidden = {s for s in SERVERS if s != package} | (
        {"stack", "toyworld"} if package != "toyworld" else set()
    )
    if package == "serving":
        forbidden |= set(SERVERS)
    for name, path in modules(package).items():
        bad = {m for m in imports_of(path, package) if m.split(".")[0] in forbidden}
        assert not bad, f"{name} imports {sorted(bad)}"


def test_the_public_package_knows_nothing_of_the_servers() -> None:
    for name, path in modules("imaging").items():
        bad = {m for m in imports_of(path, "imaging") if m.split(".")[0] in (*SERVERS, "serving", "stack")}
        assert not bad, f"{name} imports {sorted(bad)}"


# The gRPC edge of each model server; everything else is typed Python.
EDGE = {"server", "servicer", "convert", "__main__", "__init__"}


@pytest.mark.parametrize("package", ("captioner_svc", "generator_svc"))
def test_only_the_edge_of_a_model_server_speaks_grpc(package: str) -> None:
    for name, path in modules(package).items():
        if name.rsplit(".", 1)[1] in EDGE:
            continue
        wire = {m for m in imports_of(path, package) if m.split(".")[0] == "grpc" or m.endswith("_pb2")}
        wire |= {m for m in imports_of(path, package) if m.startswith("imaging.") and "_pb2" in m}
        assert not wire, f"{name} is not the gRPC edge but imports {sorted(wire)}"


@pytest.mark.parametrize("package", ("captioner_svc", "generator_svc"))
def test_the_layers_of_a_model_server_run_one_way(package: str) -> None:
    edges = graph(package)
    order = {"server": 0, "servicer": 1, "convert": 2}
    for name, targets in edges.items():
        short = name.rsplit(".", 1)[1]
        for target in targets:
            target_short = target.rsplit(".", 1)[1]
            # Nothing imports the wiring or the servicer; only the edge imports convert.
            assert target_short != "server", f"{name} imports the wiring module"
            if target_short == "servicer":
                assert short == "server", f"{name} imports the servicer"
            if target_short == "convert":
                assert short in order, f"{name} imports the edge's convert"
