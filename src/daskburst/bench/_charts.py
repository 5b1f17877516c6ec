"""The charts of a report (PNG, needs matplotlib from the bench extra)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from daskburst.bench._measure import _log
from daskburst.bench._report import BURST_KEYS, TARGETS, _lookup


def charts(report: dict[str, Any], out: Path) -> list[Path]:
    """Draw the main comparisons as PNG files (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _log("matplotlib not installed (pip install 'daskburst[bench]'): no charts")
        return []
    res = report["results"]
    paths: list[Path] = []

    def save(fig: Any, name: str) -> None:
        # Atomic like every other output: draw to a temporary name, then rename.
        dest = out / name
        tmp = out / f".{name}.tmp.png"
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
        os.replace(tmp, dest)
        paths.append(dest)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    eff = res.get("efficiency", {})
    ax.bar(list(eff), list(eff.values()), color="#4c72b0", label="efficiency")
    ceiling = res.get("rng_parallel_scaling", {})
    shown = [b for b in eff if b in ceiling]
    ax.scatter(
        shown, [ceiling[b] for b in shown], color="black", marker="_", s=600,
        label="all cores drawing at once", zorder=3,
    )  # fmt: skip
    ax.axhline(0.85, color="red", linestyle="--", label="target 0.85")
    ax.set_ylabel("fraction of the machine's RNG limit")
    ax.set_title("calc-mean efficiency by backend")
    ax.set_ylim(0, 1.1)
    ax.legend()
    fig.tight_layout()
    save(fig, "efficiency.png")

    secs = res.get("dataframe_seconds", {})
    if secs:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        names = list(secs)
        ax.barh(names, [secs[n] for n in names], color="#55a868")
        ax.set_xlabel("seconds (lower is better)")
        ax.set_title("dataframe: same query, different paths")
        fig.tight_layout()
        save(fig, "dataframe.png")

    burst = [(b, c, v) for b, cols in BURST_KEYS.items() for c, k in cols.items()
             if (v := res.get(k)) is not None]  # fmt: skip
    if burst:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        columns = list(dict.fromkeys(c for _, c, _ in burst))
        backends = list(dict.fromkeys(b for b, _, _ in burst))
        width = 0.8 / len(backends)
        for i, backend in enumerate(backends):
            xs = [columns.index(c) + i * width for b, c, _ in burst if b == backend]
            ax.bar(xs, [v for b, _, v in burst if b == backend], width, label=backend)
        ax.set_xticks([j + width * (len(backends) - 1) / 2 for j in range(len(columns))])
        ax.set_xticklabels(columns)
        ax.set_ylabel("seconds (lower is better)")
        ax.set_title("bursting: first result (SLURM: a worker job; Kubernetes: apply -> "
                     "Successful), scaling", fontsize=9)  # fmt: skip
        ax.legend()
        fig.tight_layout()
        save(fig, "burst.png")

    speed = {k: v for k, v in TARGETS.items() if not k.startswith("efficiency")}
    got = [float(_lookup(res, k) or 0.0) for k in speed]
    ratio = [g / t for g, t in zip(got, speed.values(), strict=True)]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh(list(speed), ratio, color=["#55a868" if r >= 1 else "#c44e52" for r in ratio])
    ax.axvline(1.0, color="black", linestyle="--")
    ax.set_xscale("log")
    ax.set_xlabel("measured / target, log scale (>= 1 meets the target)")
    ax.set_title("figures against their targets")
    fig.tight_layout()
    save(fig, "targets.png")
    return paths
