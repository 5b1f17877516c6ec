"""Each setting is resolved in one place: one function reads it from config.

`workers` used to be read at 9 places in 6 files, each with its own idea of what "not set"
means. This test walks every ``config.get*("key", ...)`` call in ``src/`` and requires
that all reads of one key sit in one function, which the rest call; a key built as
``f"kubernetes.{key}"`` counts as a read of every key under that prefix. What "not set"
means is written next to the key in ``daskburst.yaml`` (checked for the keys below).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "daskburst"

#: The config readers that resolve a value (``shown`` and ``label`` only describe one).
READERS = frozenset({
    "get", "get_int", "get_optional_int", "get_seconds", "get_bytes", "get_choice",
    "get_optional_text",
})  # fmt: skip


def _reads() -> dict[str, set[str]]:
    """Map each key read from config to the functions (``path:qualname``) that read it."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "config.py" and path.parent == SRC:
            continue
        tree = ast.parse(path.read_text(), str(path))
        rel = path.relative_to(ROOT)

        def visit(node: ast.AST, where: str, rel: Path = rel) -> None:
            for child in ast.iter_child_nodes(node):
                name = where
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    name = f"{where}.{child.name}" if where else child.name
                if (
                    isinstance(child, ast.Call)
                    and isinstance(child.func, ast.Attribute)
                    and isinstance(child.func.value, ast.Name)
                    and child.func.value.id == "config"
                    and child.func.attr in READERS
                    and child.args
                ):
                    key = child.args[0]
                    if isinstance(key, ast.Constant) and isinstance(key.value, str):
                        found[key.value].add(f"{rel}:{where or '<module>'}")
                    elif isinstance(key, ast.JoinedStr) and isinstance(key.values[0], ast.Constant):
                        # f"kubernetes.{key}": every key under that prefix, one reader
                        found[f"{key.values[0].value}*"].add(f"{rel}:{where or '<module>'}")
                visit(child, name, rel)

        visit(tree, "")
    return found


def test_each_setting_is_read_in_one_function() -> None:
    many = {key: sorted(where) for key, where in _reads().items() if len(where) > 1}
    assert not many, "settings read in more than one function:\n" + "\n".join(
        f"  {key}: {', '.join(where)}" for key, where in sorted(many.items())
    )


def test_the_reads_are_seen() -> None:
    """The walk finds the readers (a test that finds nothing proves nothing)."""
    reads = _reads()
    assert {"workers", "worker-timeout", "kubernetes.job-timeout", "kubernetes.*"} <= set(reads)


def test_not_set_is_explained() -> None:
    """A setting whose default is null says in daskburst.yaml what null means."""
    text = (SRC / "daskburst.yaml").read_text()
    tree = yaml.safe_load(text)["daskburst"]
    for key in ("workers", "threads-per-worker", "adapt", "address"):
        assert tree[key] is None
        block = text.split(f"\n  {key}: null", 1)[0].rsplit("\n\n", 1)[-1]
        assert "null" in block, (
            f"daskburst.{key}: the comment above it does not say what null means"
        )
