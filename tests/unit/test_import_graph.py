"""The package's structure: no import cycle (imports inside functions included), no import
of another package's private modules or names, and no module over 600 lines.

A cycle hides behind imports placed inside functions until one of them runs first in a new
order; then it is an ImportError in a user's process. Importing ``daskburst.a.b`` also runs
``daskburst/a/__init__.py``, so that edge counts too (but for a module's own packages, which
run before it). The top-level ``daskburst/__init__.py``
is left out: it only re-exports the tutorial's helpers, lazily, for users.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import runtime_nodes

SRC = Path(__file__).resolve().parents[2] / "src"


def _modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "daskburst").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports anywhere in it, with the packages they run."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets.add(base)
            targets |= {f"{base}.{alias.name}" for alias in node.names}
    out = set()
    for target in targets:
        parts = target.split(".")
        for i in range(2, len(parts) + 1):  # daskburst.a, daskburst.a.b, ... (not daskburst)
            prefix = ".".join(parts[:i])
            # Its own packages run before it anyway (their __init__ imports it).
            if prefix in modules and prefix != name and not name.startswith(prefix + "."):
                out.add(prefix)
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_package_has_no_import_cycle() -> None:
    modules = _modules()
    graph = {name: _imports(path, name, modules) for name, path in modules.items()}
    assert len(graph) > 50, "the walk found the package"
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_checker_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def _private_imports(path: Path, name: str, modules: dict[str, Path]) -> list[str]:
    """What ``name`` imports from another package's private modules (``_x``), or private names.

    Imports for annotations only count too: they are still a reach through another package's
    wall.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            pairs = [(base, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            pairs = [(alias.name, "") for alias in node.names]
        else:
            continue
        for base, item in pairs:
            if not base.startswith("daskburst"):
                continue
            target = f"{base}.{item}" if item and f"{base}.{item}" in modules else base
            parts = target.split(".")
            owner = next(
                (".".join(parts[:i]) for i, p in enumerate(parts) if p.startswith("_")
                 and not p.startswith("__")), None,
            )  # fmt: skip
            if target == base and item.startswith("_") and not item.startswith("__"):
                # A private name belongs to the package of the module that defines it.
                home = base if base in _packages(modules) else base.rpartition(".")[0]
                owner = owner or home
                target = f"{base}:{item}"
            if owner is not None and not (package == owner or package.startswith(owner + ".")):
                found.append(target)
    return found


def _packages(modules: dict[str, Path]) -> set[str]:
    return {n for n, p in modules.items() if p.name == "__init__.py"}


def test_no_private_module_or_name_is_imported_from_another_package() -> None:
    modules = _modules()
    reaches = {
        name: found
        for name, path in modules.items()
        if (found := _private_imports(path, name, modules))
    }
    assert reaches == {}, "imports through another package's wall: " + repr(reaches)


def test_the_wall_check_finds_a_private_import(tmp_path: Path) -> None:
    modules = {"daskburst.a._x": tmp_path / "x.py", "daskburst.b.m": tmp_path / "m.py",
               "daskburst.a": tmp_path / "__init__.py"}  # fmt: skip
    (tmp_path / "m.py").write_text(
        "from daskburst.a._x import f\nfrom daskburst.a import _g\nfrom daskburst.a import h\n"
    )
    found = _private_imports(tmp_path / "m.py", "daskburst.b.m", modules)
    assert found == ["daskburst.a._x", "daskburst.a:_g"]


def test_no_module_is_over_600_lines() -> None:
    root = SRC.parent
    sizes = {
        str(path.relative_to(root)): len(path.read_text().splitlines())
        for tree in (SRC, root / "scripts")
        for path in tree.rglob("*.py")
    }
    assert len(sizes) > 60, "the walk found the code"
    assert {p: n for p, n in sizes.items() if n > 600} == {}
