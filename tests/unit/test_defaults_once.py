"""Every default lives in daskburst.yaml: no code keeps a literal copy of one as a fallback.

Also the sbatch scripts of jobs/slurm/: `${REPLICATES:-10}` would be a copy.

The packaged defaults file is always loaded (``daskburst.config`` merges it into dask config
at import), so a fallback such as ``timeout: float = 3600`` or ``or "local"`` can only drift
from it. This test greps ``src/`` and ``scripts/`` for the values of the settings below in
the places a fallback hides: ``or VALUE``, ``default=VALUE``, a typed parameter default
``name: T = VALUE``, ``.get(..., VALUE)``, a table entry ``"key": VALUE``, a shell
``${VAR:-VALUE}``; and for list settings, any copy of an item.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from daskburst import config

ROOT = Path(__file__).resolve().parents[2]

#: Settings checked (prefixes of dotted keys of daskburst.yaml).
KEYS = (
    "daskburst.backend",
    "daskburst.worker-timeout",
    "daskburst.connect-timeout",
    "daskburst.progress",
    "daskburst.stream-chunk",
    "daskburst.seed",
    "daskburst.slurm.",
    "daskburst.kubernetes.namespace",
    "daskburst.kubernetes.name-prefix",
    "daskburst.kubernetes.resource-timeout",
    "daskburst.kubernetes.install-timeout",
    "daskburst.kubernetes.job-timeout",
    "daskburst.kubernetes.retry-backoff",
    "daskburst.kubernetes.retries",
    "jobqueue.slurm.",
    # workload parameters (the sbatch scripts once repeated them)
    "daskburst.calc-mean.",
    "daskburst.calc-mean-sweep.",
    "daskburst.array.",
    "daskburst.bag.",
    "daskburst.dataframe.",
)

#: Lines that match by coincidence: (path or folder, text in the line, why it is not a copy).
ALLOWED = (
    ("src/daskburst/slurm/_cluster.py", 'shutil.which("daskburst")', "the program's name"),
    ("scripts/cluster/localk8s/cluster.py", 'shutil.which("daskburst")', "the program's name"),
    ("scripts/cluster/localk8s/settings.py", 'cni_network: str = "daskburst"', "a CNI network"),
    ("src/daskburst/slurm/_control.py", "timeout: float = 30.0", "sbatch/squeue call timeout"),
    ("jobs/slurm/", "${DASKBURST:-daskburst}", "the program's name"),
    ("scripts/cluster/localk8s/procs.py", "timeout: float = 20", "a process stop timeout"),
    ("scripts/k8s/e2e.sh", "${KIND_PROVIDER:-auto}", "kind-test's provider, not a setting"),
    (
        "src/daskburst/workloads/bag.py",
        'def find(line: str, regex: str = "Obama"',
        "the tutorial's",
    ),
    ("src/daskburst/bench/_sections.py", 'regex: str = "Obama"', "the tutorial's find, measured"),
)

_CONTEXTS = (
    r"\bor\s+{lit}",
    r"\bdefault\s*=\s*{lit}",
    r"\w\s*:\s*[\w\[\]|. ]+\s*=\s*{lit}",
    r"\.get\([^()]*,\s*{lit}\s*\)",
    r"[\"']{leaf}[\"']\s*:\s*{lit}",
)


def _leaves(tree: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _literals(value: Any) -> list[str]:
    """Regexes for how ``value`` is written in Python (numbers below 10 are too common)."""
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int | float):
        if abs(value) < 10:
            return []
        texts = {repr(value)}
        if float(value).is_integer():
            texts |= {str(int(value)), repr(float(value))}
        return [re.escape(t) + r"(?![\w.])" for t in sorted(texts)]
    if isinstance(value, str):
        return [r"[\"']" + re.escape(value) + r"[\"']"]
    return []


def _sources() -> list[tuple[str, list[str]]]:
    paths = sorted(ROOT.glob("src/**/*.py")) + sorted(ROOT.glob("scripts/**/*.py"))
    paths += sorted(ROOT.glob("scripts/**/*.sh")) + sorted(ROOT.glob("jobs/slurm/*.sbatch"))
    return [(str(p.relative_to(ROOT)), p.read_text().splitlines()) for p in paths]


def _allowed(path: str, line: str) -> bool:
    return any(path.startswith(p) and text in line for p, text, _ in ALLOWED)


def find_copies() -> list[str]:
    """Return ``path:line: key = value: text`` for every literal copy of a checked default."""
    hits = []
    sources = _sources()
    for key, value in _leaves(config._packaged()):
        if not key.startswith(KEYS):
            continue
        leaf = re.escape(key.rsplit(".", 1)[-1])
        if isinstance(value, list):
            patterns = [lit for item in value for lit in _literals(item)]
        else:
            patterns = [
                ctx.format(lit=lit, leaf=leaf) for lit in _literals(value) for ctx in _CONTEXTS
            ]
            if _literals(value):
                patterns.append(r"\$\{\w+:-" + re.escape(str(value)) + r"\}")
        regexes = [re.compile(p) for p in patterns]
        for path, lines in sources:
            for number, line in enumerate(lines, 1):
                if any(r.search(line) for r in regexes) and not _allowed(path, line):
                    hits.append(f"{path}:{number}: {key} = {value!r}: {line.strip()}")
    return hits


def test_no_literal_copy_of_a_packaged_default() -> None:
    assert find_copies() == []


def test_the_grep_finds_a_copy(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "m.py").write_text(
        "def f(timeout: float = 3600, backend=None):\n"
        '    return backend or "auto"\n'
        '_T = {"preflight": False, "fatal-reasons": ["PartitionDown"]}\n'
    )
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "s.sh").write_text("NS=${NS:-daskburst}\n")
    (tmp_path / "jobs" / "slurm").mkdir(parents=True)
    (tmp_path / "jobs" / "slurm" / "a.sbatch").write_text('args=(--n "${N:-1000000}")\n')
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    hits = "\n".join(find_copies())
    assert "job-timeout = 3600" in hits
    assert "daskburst.backend = 'auto'" in hits
    assert "fatal-reasons" in hits
    assert "kubernetes.namespace = 'daskburst'" in hits
    assert "a.sbatch:1: daskburst.calc-mean.n = 1000000" in hits
