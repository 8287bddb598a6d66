"""Imports go one way (STYLE §1, DESIGN §2): each layer may import only the layers below it, and no module
imports itself back through others. The layer order is stated once, here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROJECT = ("pipelines", "detectors", "reports", "console", "data_samples")

# Lowest first. A group imports only groups in lower layers (and itself).
LAYERS: list[tuple[str, ...]] = [
    ("pipelines.vocabulary",),  # the words people read; imports nothing, so the detectors' reasons use it too
    ("detectors",),
    ("pipelines.errors",),
    (
        "pipelines.settings",
        "pipelines.idcodes",
        "pipelines.masking",
        "pipelines.formatting",
        "pipelines.hashing",
        "pipelines.crashpoints",
    ),
    ("pipelines.warehouse",),
    ("pipelines.ingest", "pipelines.cases"),
    ("pipelines.detection", "pipelines.evaluation"),
    ("reports", "data_samples"),
    ("console",),
    ("pipelines.flows",),
    ("pipelines.cli",),
]
STAGES = ("ingest", "warehouse", "detection", "cases", "evaluation", "cli")


def group_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "pipelines":
        return parts[0]
    if len(parts) > 1 and parts[1] in STAGES:
        return ".".join(parts[:2])
    return ".".join(parts[:2]) if len(parts) > 1 else "pipelines"


def layer_of(group: str) -> int:
    for number, groups in enumerate(LAYERS):
        if group in groups:
            return number
    raise AssertionError(f"{group} has no layer: add it to LAYERS in tests/test_layers.py")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str) -> set[str]:
    """Project modules a source imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name.split(".")[0] in PROJECT)
    return found


def project_sources() -> dict[str, str]:
    return {
        module_name(path): path.read_text(encoding="utf-8")
        for top in PROJECT
        for path in sorted((REPO / top).rglob("*.py"))
        if "node_modules" not in path.parts
    }


def upward_imports(sources: dict[str, str]) -> list[str]:
    problems = []
    for module, source in sources.items():
        here = group_of(module)
        for target in sorted(imports_of(source)):
            there = group_of(target)
            if there != here and layer_of(there) >= layer_of(here):
                problems.append(f"{module} imports {target}: {here} may not import {there}")
    return problems


def import_cycles(sources: dict[str, str]) -> list[list[str]]:
    """Cycles among modules (a module importing a name of a package counts as importing the package)."""
    graph = {
        module: {t for t in imports_of(source) if t in sources and t != module} for module, source in sources.items()
    }
    cycles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def test_every_import_goes_down_the_layers():
    assert upward_imports(project_sources()) == []


def test_there_are_no_import_cycles():
    assert import_cycles(project_sources()) == []


def test_detectors_never_import_prefect():
    for path in (REPO / "detectors").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                assert not any(alias.name.startswith("prefect") for alias in node.names), path
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("prefect"), path


@pytest.mark.parametrize(
    "module, added",
    [
        ("detectors.fan_in", "from pipelines.settings import Settings"),
        ("pipelines.cases.store", "from reports.tables import write_table"),
        ("pipelines.warehouse.db", "from pipelines.ingest.load import ingest_file"),
        ("reports.dossier", "from pipelines.cli import main"),
        ("pipelines.ingest.load", "from pipelines.cases.store import CaseStore"),
    ],
)
def test_an_added_upward_or_sideways_import_is_caught(module, added):
    sources = project_sources()
    sources[module] = sources[module] + "\n" + added + "\n"
    assert any(problem.startswith(f"{module} imports ") for problem in upward_imports(sources))


def test_an_added_cycle_is_caught():
    sources = project_sources()
    sources["pipelines.errors"] += "\ndef later():\n    from pipelines.settings import Settings\n"
    assert any("pipelines.errors" in cycle for cycle in import_cycles(sources))
