"""``daskburst slurm submit SCRIPT``: a user's script as one sbatch job (builder and control).

Two ways, as for the built-in workloads' scripts in ``jobs/slurm/``:

- ``runner``: the whole Dask cluster lives in the allocation (``srun daskburst slurm runner``:
  rank 0 the scheduler, rank 1 the script, the other ranks workers);
- ``adapt``: the job runs the script with ``--backend slurm --adapt 0:MAX``, which submits
  worker jobs as ``jobqueue.slurm.*`` says and lets them go when the work is done.

Nothing is copied: SLURM's nodes share the filesystem, so the script's directory goes on the
workers' ``sys.path`` where it is (``--ship shared``). The builder is pure; the control part
checks the paths, asks ``sbatch --test-only``, writes the script atomically and submits it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from daskburst.errors import BackendError, UserError
from daskburst.slurm._control import _run

MODES = ("runner", "adapt")
#: Directories each node has its own of: a path there is not on the compute nodes.
NODE_LOCAL = ("/tmp", "/var/tmp", "/dev/shm", "/run")


@dataclass(frozen=True)
class Submission:
    """What the batch job runs and asks SLURM for (sizes from ``daskburst.slurm.submit.*``)."""

    script: Path
    args: tuple[str, ...]
    workdir: Path
    chdir: Path
    mode: str
    job_name: str
    ntasks: int
    max_workers: int
    time: str
    daskburst: str
    partition: str | None = None
    mem: str | None = None
    overcommit: bool = True
    seed: int | None = None


def batch_script(sub: Submission) -> str:
    """Return the sbatch script of a submission (pure)."""
    q = shlex.quote
    run = ["run", str(sub.script), "--workdir", str(sub.workdir), "--ship", "shared",
           "--no-progress"]  # fmt: skip
    if sub.seed is not None:
        run += ["--seed", str(sub.seed)]
    tail = " ".join(q(a) for a in ["--", *sub.args]) if sub.args else ""
    header = [
        f"#SBATCH --job-name={sub.job_name}",
        f"#SBATCH --ntasks={sub.ntasks if sub.mode == 'runner' else 1}",
        "#SBATCH --cpus-per-task=1",
        f"#SBATCH --time={sub.time}",
        f"#SBATCH --chdir={sub.chdir}",
        f"#SBATCH --output={sub.chdir / (sub.job_name + '-%j.out')}",
    ]
    if sub.overcommit and sub.mode == "runner":
        header.append("#SBATCH --overcommit")
    if sub.partition:
        header.append(f"#SBATCH --partition={sub.partition}")
    if sub.mem:
        header.append(f"#SBATCH --mem={sub.mem}")
    if sub.mode == "runner":
        scheduler_file = sub.chdir / ".daskburst-scheduler-{job_id}.json"
        body = (
            f'srun --kill-on-bad-exit=1 "$daskburst" slurm runner --scheduler-file '
            f"{q(str(scheduler_file))} \\\n  -- "
            + " ".join(q(a) for a in run)
            + ' --backend address --workers "$((SLURM_NTASKS - 2))"'
            + (f" \\\n  {tail}" if tail else "")
        )
    else:
        body = (
            '"$daskburst" '
            + " ".join(q(a) for a in run)
            + f" --backend slurm --adapt 0:{sub.max_workers}"
            + (f" \\\n  {tail}" if tail else "")
        )
    lines = [
        "#!/usr/bin/env bash",
        f"# {sub.script.name} on SLURM ({sub.mode} mode), written by `daskburst slurm submit`.",
        "# runner: the Dask cluster lives in this allocation (scheduler, script, workers =",
        "#   --ntasks - 2); adapt: the script submits worker jobs (jobqueue.slurm.*).",
        "# The script's directory is on a shared filesystem: the workers import it in place.",
        *header,
        "set -euo pipefail",
        f"daskburst=${{DASKBURST:-{q(sub.daskburst)}}}",
        "# Every rank (the scheduler unpickles the task graph too) imports the script's modules.",
        f"export PYTHONPATH={q(str(sub.workdir))}${{PYTHONPATH:+:$PYTHONPATH}}",
        body,
        "",
    ]
    return "\n".join(lines)


# ---- checks --------------------------------------------------------------------------------


def _one_node_here() -> bool:
    """Whether SLURM's only node is this machine (then node-local paths are fine)."""
    nodes = set(_run(["sinfo", "-h", "-o", "%n"]).stdout.split())
    return len(nodes) == 1 and nodes <= {socket.gethostname(), "localhost"}


def check_reachable(*paths: Path) -> None:
    """Refuse paths the compute nodes cannot see: those under a node-local directory.

    On a cluster whose only node is this machine, every path is reachable.

    Raises:
        UserError: Naming the path and where to put it instead.
    """
    local = [
        (path, d) for path in paths for d in NODE_LOCAL if path == Path(d) or path.is_relative_to(d)
    ]
    if local and not _one_node_here():
        path, where = local[0]
        raise UserError(
            f"{path}: under {where}, which each node has its own of, so the compute nodes "
            "cannot read it; expected the script on a shared filesystem (e.g. $HOME or /scratch)"
        )


def write_atomic(path: Path, text: str) -> None:
    """Write the batch script via a temporary file and rename (executable)."""
    from daskburst.data import write_bytes_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, text.encode())
    os.chmod(path, 0o755)


# ---- submit and follow ---------------------------------------------------------------------


def submit(path: Path) -> str:
    """Submit the batch script; return the job id."""
    proc = _run(["sbatch", "--parsable", str(path)])
    if proc.returncode != 0:
        raise BackendError(f"sbatch {path}: {' '.join((proc.stderr or proc.stdout).split())}")
    return proc.stdout.strip().split(";")[0]


def submit_and_follow(path: Path, output: str, poll: float = 0.5) -> tuple[str, int]:
    """Submit, print the job's output as it grows, and return (job id, its exit code).

    ``sbatch --wait`` blocks until the job ends and exits with its exit code. Ctrl-C or
    SIGTERM cancels the job (``scancel``) before the interrupt goes on.

    Args:
        path: The batch script.
        output: Its ``--output`` pattern (``%j`` is the job id).
        poll: Seconds between two looks at the output file.
    """
    proc = subprocess.Popen(
        ["sbatch", "--parsable", "--wait", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    job_id = ""
    try:
        assert proc.stdout is not None
        job_id = proc.stdout.readline().strip().split(";")[0]
        if not job_id:
            _, err = proc.communicate(timeout=30)
            raise BackendError(f"sbatch {path}: {' '.join(err.split()) or 'no job id'}")
        sys.stderr.write(f"slurm: submitted batch job {job_id}; waiting for it to end\n")
        out = Path(output.replace("%j", job_id))
        offset = 0
        while True:
            done = proc.poll() is not None
            with contextlib.suppress(FileNotFoundError), out.open("rb") as f:
                f.seek(offset)
                chunk = f.read()
                offset += len(chunk)
                if chunk:
                    sys.stdout.write(chunk.decode(errors="replace"))
                    sys.stdout.flush()
            if done:
                return job_id, int(proc.returncode or 0)
            time.sleep(poll)
    except BaseException:
        if job_id:
            _run(["scancel", job_id])
        with contextlib.suppress(Exception):
            proc.kill()
            proc.wait(timeout=10)
        raise
