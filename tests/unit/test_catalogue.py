"""The job catalogue: the one place for named sizes and presets (demo, jobs/, bench).

It names only workloads and parameters that exist, the places that show presets read it,
and no size preset stands anywhere else in ``src/`` or ``scripts/``: a table entry
``"rows": 20_000``, an argument list ``"--rows", "30000"``, or a call naming a workload
with a sized parameter ``prepare("array", rows=2000)``. Defaults are daskburst.yaml's
(tests/unit/test_defaults_once.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from daskburst import bench, catalogue
from daskburst.slurm import BATCH_SCRIPTS
from daskburst.workloads import WORKLOADS

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = "src/daskburst/catalogue.py"

#: Lines that match by coincidence: (path or folder, text in the line, why it is no preset).
ALLOWED = (
    ("src/daskburst/__init__.py", 'daskburst.run("array", backend="local", rows=4000', "a doc"),
    ("src/daskburst/execute.py", 'daskburst.run("array", backend="local", rows=4000', "a doc"),
    ("src/daskburst/k8s/_submit.py", '(``{"n": "1e6"}``)', "a doc"),
    ("scripts/k8s/e2e_check.py", '"--replicates", "6", "--n", "3e6"', "the e2e check's input"),
    ("scripts/k8s/e2e_check.py", '"--rows", "4000", "--cols", "4000"', "the e2e check's input"),
    ("scripts/k8s/e2e_check.py", '"--replicates", "40", "--n", "5e7"', "the e2e check's load"),
)


def _names() -> list[str]:
    """Every workload parameter, as written in Python (``stream_chunk``) and on the CLI."""
    names = {p.name for w in WORKLOADS.values() for p in w.params}
    return sorted(names | {n.replace("_", "-") for n in names}, key=len, reverse=True)


def _patterns() -> list[re.Pattern[str]]:
    names = "|".join(re.escape(n) for n in _names())
    workloads = "|".join(re.escape(w) for w in sorted(WORKLOADS, key=len, reverse=True))
    return [
        re.compile(rf"[\"']({names})[\"']\s*:\s*[\"']?\d"),  # {"rows": 20_000}
        re.compile(rf"[\"']--({names})[\"']\s*,\s*[\"']?\d"),  # ["--rows", "30000"]
        re.compile(rf"[\"']({workloads})[\"'].*\b({names})\s*=\s*[\"']?\d"),  # f("array", rows=2)
    ]


def find_presets() -> list[str]:
    """Return ``path:line: text`` for every size preset outside the catalogue."""
    patterns = _patterns()
    paths = sorted(ROOT.glob("src/**/*.py")) + sorted(ROOT.glob("scripts/**/*.py"))
    hits = []
    for path in paths:
        rel = str(path.relative_to(ROOT))
        if rel == CATALOGUE:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if any(p.search(line) for p in patterns) and not any(
                rel.startswith(where) and text in line for where, text, _ in ALLOWED
            ):
                hits.append(f"{rel}:{number}: {line.strip()}")
    return hits


def test_no_size_preset_outside_the_catalogue() -> None:
    assert find_presets() == []


def test_the_grep_finds_a_preset(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "src" / "daskburst").mkdir(parents=True)
    (tmp_path / "src" / "daskburst" / "catalogue.py").write_text('X = {"rows": 20_000}\n')
    (tmp_path / "src" / "daskburst" / "m.py").write_text(
        'DEMO = (("array", {"rows": 20_000, "cols": 20_000}),)\n'
        'x = prepare("calc-mean", seed=2, replicates=cores(), n=1000)\n'
        'ok = {"rows": rows, "n": n}\n'
    )
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "r.py").write_text(
        'JOBS = {"array": ["array", "--rows", "30000", "--chunks", "3000,3000"]}\n'
    )
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    hits = find_presets()
    assert sorted(h.split(": ", 1)[0] for h in hits) == [
        "scripts/r.py:1",
        "src/daskburst/m.py:1",
        "src/daskburst/m.py:2",
    ]


def _used(preset: catalogue.Preset) -> list[str]:
    """Every parameter name the preset gives or names."""
    names = [*(preset.demo or {})]
    if preset.job is not None:
        names += [*preset.job.params, *preset.job.spelled]
    if preset.batch is not None:
        names += [p.name for p in preset.batch.params]
    return names


@pytest.mark.parametrize("preset", catalogue.CATALOGUE, ids=lambda p: p.workload)
def test_a_preset_names_a_workload_and_its_parameters(preset: catalogue.Preset) -> None:
    assert preset.workload in WORKLOADS
    workload = WORKLOADS[preset.workload]
    accepted = {p.name for p in workload.params}
    assert set(_used(preset)) <= accepted
    for given in (preset.demo, preset.job and preset.job.params):
        if given:  # the values parse too (the CLI passes text)
            workload.resolve({name: str(value) for name, value in given.items()})
    if preset.job is not None:
        lo, hi = preset.job.workers
        assert 0 < lo <= hi and preset.job.time_limit > 0


def test_the_bench_presets_name_workloads_and_their_parameters() -> None:
    used = {**catalogue.BENCH_WARM_UP, "calc-mean": {**catalogue.BENCH_SLURM_FIRST}}
    for name, params in [*used.items(), ("calc-mean", catalogue.BENCH_K8S_TINY)]:
        WORKLOADS[name].resolve({k: str(v) for k, v in params.items()})


def test_the_places_read_the_catalogue() -> None:
    from daskburst.cli.run import DEMO

    assert [name for name, _ in DEMO] == [
        p.workload for p in catalogue.CATALOGUE if p.demo is not None
    ]
    assert [s.workload for s in BATCH_SCRIPTS] == [
        p.workload for p in catalogue.CATALOGUE if p.batch is not None
    ]
    assert bench.QUICK is catalogue.BENCH_QUICK and bench.FULL is catalogue.BENCH_FULL
    assert bench.Sizes is catalogue.BenchSizes
