"""The three places a workload runs have one shape (STYLE.md, "Shape across places").

Each place is a package: ``daskburst.local``, ``daskburst.slurm``, ``daskburst.k8s``. It holds
pure builders (arguments, scripts, manifests: nothing in them starts a process, opens a
socket or asks an API server, also through what they import) and the code that talks to its
system. ``backends/`` holds one thin adapter per place, which turns ``BackendOptions`` into
calls of that package and opens a Dask client: it starts nothing itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import runtime_nodes

SRC = Path(__file__).resolve().parents[2] / "src"
PKG = SRC / "daskburst"

#: Each place's package, its builders modules and its adapter in backends/.
PLACES = {
    "local": (("_specs",), "_local"),
    "slurm": (("_scripts", "_jobs"), "_slurm"),
    "k8s": (("specs", "_specs", "_gc_specs", "_cluster_specs"), "_kubernetes"),
}
#: Modules through which code talks to a system: processes, sockets, an API server, a
#: batch system, or starts a cluster (dask-jobqueue's job classes only render a script, so
#: the SLURM builders may use dask_jobqueue; its cluster classes are in STARTERS).
SYSTEM = ("subprocess", "socket", "kr8s", "httpx", "multiprocessing", "dask.multiprocessing",
          "dask_kubernetes")  # fmt: skip
#: What starts Dask's schedulers, workers or pools (a Client only connects).
STARTERS = frozenset(
    {"LocalCluster", "SLURMCluster", "SLURMRunner", "KubeCluster", "ProcessPoolExecutor"}
)
#: An adapter may connect (socket: ``backends/_reach.py`` waits for a scheduler to answer).
ADAPTER_SYSTEM = (*(m for m in SYSTEM if m != "socket"), "dask_jobqueue")
#: Modules outside k8s/ that still call kr8s, and why (none should be added).
KR8S_ELSEWHERE: dict[str, str] = {}


def _module(name: str) -> Path:
    path = SRC.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _uses(name: str) -> tuple[set[str], set[str], set[str]]:
    """What module ``name`` imports at run time (anywhere in it), the daskburst modules among
    them, and the names it uses."""
    path = _module(name)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    imported, ours, names = set(), set(), set()
    for node in runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
            ours |= {a.name for a in node.names if a.name.startswith("daskburst.")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            imported.add(base)
            imported |= {f"{base}.{a.name}" for a in node.names}
            names |= {a.name for a in node.names}
            if base.split(".")[0] == "daskburst":
                # ``from daskburst import config`` runs daskburst.config, not the package's all.
                subs = {f"{base}.{a.name}" for a in node.names}
                modules = {m for m in subs if _module(m).exists()}
                ours |= modules | ({base} if len(modules) < len(subs) else set())
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Name):
            names.add(node.id)
    return imported, {o for o in ours if o != "daskburst" and _module(o).exists()}, names


def _talks(imported: set[str], modules: tuple[str, ...]) -> list[str]:
    return sorted(i for i in imported if any(i == m or i.startswith(m + ".") for m in modules))


def _reached(name: str) -> set[str]:
    """``name`` and the daskburst modules it imports at run time, transitively (a package's
    ``__init__`` only when it is imported by name, not for the modules below it)."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(_uses(current)[1])
    return seen


@pytest.mark.parametrize("place", sorted(PLACES))
def test_each_place_is_a_package_with_builders_and_an_adapter(place: str) -> None:
    builders, adapter = PLACES[place]
    assert (PKG / place / "__init__.py").is_file(), f"daskburst.{place} is no package"
    for module in builders:
        assert (PKG / place / f"{module}.py").is_file(), f"daskburst.{place}.{module} is missing"
    assert (PKG / "backends" / f"{adapter}.py").is_file()
    _, ours, _ = _uses(f"daskburst.backends.{adapter}")
    assert any(m == f"daskburst.{place}" or m.startswith(f"daskburst.{place}.") for m in ours), (
        f"backends/{adapter}.py does not call daskburst.{place}"
    )


@pytest.mark.parametrize("place", sorted(PLACES))
def test_builders_talk_to_no_system(place: str) -> None:
    """Also through what they import: a builder can run in a unit test, anywhere."""
    found = {}
    for module in PLACES[place][0]:
        for reached in sorted(_reached(f"daskburst.{place}.{module}")):
            imported, _, names = _uses(reached)
            bad = _talks(imported, SYSTEM) + sorted(names & STARTERS)
            if bad:
                found[f"{module} -> {reached}"] = bad
    assert found == {}, f"builders of daskburst.{place} that talk to a system: {found}"


def test_adapters_start_nothing_themselves() -> None:
    """backends/ calls the places; kr8s, subprocess, dask-jobqueue and cluster classes are theirs."""
    found = {}
    for path in sorted((PKG / "backends").glob("*.py")):
        imported, _, names = _uses(f"daskburst.backends.{path.stem}".replace(".__init__", ""))
        bad = _talks(imported, ADAPTER_SYSTEM) + sorted(names & STARTERS)
        if bad:
            found[path.name] = bad
    assert found == {}, f"backends/ modules that talk to a system themselves: {found}"


def test_a_place_imports_no_other_place_and_no_backend() -> None:
    """Each place imports the session types for annotations only, and no other place."""
    found = {}
    for place in PLACES:
        for path in sorted((PKG / place).glob("*.py")):
            name = f"daskburst.{place}" + ("" if path.stem == "__init__" else f".{path.stem}")
            _, ours, _ = _uses(name)
            others = [o for o in ours if o.split(".")[1] in {*PLACES, "backends"} - {place}]
            if others:
                found[name] = sorted(others)
    assert found == {}, f"places that import another place or backends/: {found}"


def test_kr8s_is_called_in_k8s_only() -> None:
    found = {}
    for path in sorted(PKG.rglob("*.py")):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts).replace(".__init__", "")
        if name.startswith("daskburst.k8s") or name in KR8S_ELSEWHERE:
            continue
        if bad := _talks(_uses(name)[0], ("kr8s", "httpx")):
            found[name] = bad
    assert found == {}, f"kr8s or httpx outside daskburst.k8s: {found}"


def test_the_checks_see_what_they_look_for() -> None:
    """The walks find the system calls that exist (a check that finds nothing proves nothing)."""
    imported, _, names = _uses("daskburst.k8s._clusters")
    assert "kr8s" in _talks(imported, SYSTEM) and "KubeCluster" in names
    assert "LocalCluster" in _uses("daskburst.local._start")[2]
    assert {"daskburst.k8s._specs", "daskburst.config"} <= _reached("daskburst.k8s._cluster_specs")
