"""The import graph of poseforge: no cycle, and imports run one way, from higher rooms to lower ones.

Every `import` and `from ... import` in every module counts, those inside functions included
(a lazy import is still a dependency; it only defers the cost). The rooms, lowest first, are
the README's module map.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "poseforge"

# Lowest first: a module may import from its own room and the rooms before it, never after.
ROOMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("keypoint schema", ("poseforge.keypoints",)),
    ("decoder", ("poseforge.decode",)),
    ("shared", ("poseforge.limits", "poseforge.errors", "poseforge.artifacts", "poseforge.documents",
                "poseforge.fileio", "poseforge.images", "poseforge.image_headers", "poseforge.preprocess",
                "poseforge.metadata", "poseforge.draw", "poseforge.background", "poseforge.ui", "poseforge.fetch",
                "poseforge.ir_files", "poseforge.onnx_files", "poseforge.machine", "poseforge.text",
                "poseforge.reference_decoder", "poseforge.bundle", "poseforge.bundle.archive",
                "poseforge.bundle.manifest", "poseforge.bundle.signature")),
    ("models", ("poseforge.models",)),
    ("runtime", ("poseforge.runtime",)),
    ("convert", ("poseforge.convert",)),
    ("validate", ("poseforge.validate",)),
    ("quantize", ("poseforge.quantize",)),
    ("cluster", ("poseforge.cluster",)),
    ("bundle writing", ("poseforge.bundle.build", "poseforge.bundle.camera")),
    ("deployment and analysis", ("poseforge.deploy", "poseforge.analysis")),
    ("cli and the package's face", ("poseforge.cli", "poseforge")),
)  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The poseforge modules `name` imports: `from M import n` is M.n where that is a module, else M."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import poseforge.x.y` names module poseforge.x.y
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports(name, path, known) for name, path in found.items()}


def room(name: str) -> int:
    best, rank = -1, None
    for index, (_, prefixes) in enumerate(ROOMS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    if rank is None:
        pytest.fail(f"{name} is in no room of the module map: add it to ROOMS and the README")
    return rank


def test_every_module_has_a_room() -> None:
    for name in modules():
        room(name)


def upward(edges: dict[str, set[str]]) -> list[str]:
    return [
        f"{a} ({ROOMS[room(a)][0]}) imports {b} ({ROOMS[room(b)][0]})"
        for a, targets in sorted(edges.items())
        for b in sorted(targets)
        if room(b) > room(a)
    ]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_imports_never_go_up_a_room() -> None:
    assert upward(graph()) == []


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_the_checks_can_fail() -> None:
    """A runtime module importing the CLI, which imports it back, is both an upward import and a cycle."""
    fake = {"poseforge.runtime.x": {"poseforge.cli"}, "poseforge.cli": {"poseforge.runtime.x"}}
    assert upward(fake) == ["poseforge.runtime.x (runtime) imports poseforge.cli (cli and the package's face)"]
    assert cycles(fake) == [["poseforge.cli", "poseforge.runtime.x", "poseforge.cli"]]
    assert "poseforge.runtime.openvino_runner" in graph()["poseforge.runtime.bundle_runner"]  # edges are seen
