"""``daskburst slurm ...``: look at the worker job script, run inside one allocation.

- ``daskburst slurm job-script [flags]`` prints the sbatch script ``--backend slurm``
  would submit for each worker job (``SLURMCluster.job_script()``), so it can be
  checked before it uses any allocation. ``--check`` also asks SLURM
  (``sbatch --test-only``) whether it would accept it.
- ``srun daskburst slurm runner -- run WORKLOAD ...`` turns the tasks of one SLURM
  job into a Dask cluster with ``dask_jobqueue.SLURMRunner`` (rank 0 scheduler,
  rank 1 runs the daskburst command, the others are workers).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from daskburst import config
from daskburst.cli._args import PROG, common, int_arg, script_parser, seed_flag, workdir_flag
from daskburst.errors import UserError

# (flag, SLURMCluster keyword / BackendOptions.extra key, jobqueue.slurm config key, help)
_FLAGS: tuple[tuple[str, str, str, str], ...] = (
    ("--queue", "queue", "queue", "partition (#SBATCH -p)"),
    ("--account", "account", "account", "account to charge (#SBATCH -A)"),
    ("--cores", "cores", "cores", "cores per job (threads = cores / processes)"),
    ("--processes", "processes", "processes", "worker processes per job"),
    ("--memory", "memory", "memory", "memory per job, e.g. 1GB (#SBATCH --mem)"),
    ("--walltime", "walltime", "walltime", "time limit per job, e.g. 00:30:00"),
    ("--job-name", "job_name", "name", "job name (#SBATCH -J)"),
    ("--log-directory", "log_directory", "log-directory", "directory for job stdout/stderr"),
    ("--local-directory", "local_directory", "local-directory", "worker scratch directory"),
    ("--python", "python", "python", "python executable on the compute nodes"),
)
_INT_FLAGS = {"cores", "processes"}


def _shown(key: str) -> str:
    """``jobqueue.slurm.KEY = VALUE``: the user's setting, else daskburst's default (help texts).

    Without importing dask_jobqueue (slow) for ``--help``; null then means "dask-jobqueue's
    default".
    """
    return config.shown(f"jobqueue.slurm.{key}", config.jobqueue_defaults().get(key))


_GROUP_TITLE = (
    "SLURM worker jobs (override dask config jobqueue.slurm.*; see `daskburst slurm job-script`)"
)


def asks_for_slurm(argv: Sequence[str]) -> bool:
    """Whether this command line (or ``daskburst.backend``) picks the slurm backend."""
    for i, arg in enumerate(argv):
        if arg == "--backend=slurm" or (arg == "--backend" and argv[i + 1 : i + 2] == ["slurm"]):
            return True
    if "--backend" in " ".join(argv):
        return False
    from daskburst.backends import configured_backend

    try:
        return configured_backend() == "slurm"
    except UserError:  # a bad daskburst.backend is reported when the command runs
        return False


def hide_slurm_flags(parser: argparse.ArgumentParser) -> None:
    """Leave the SLURM flags out of each ``run`` help but for one line on where they are.

    They still parse (and are refused without ``--backend slurm``); 15 flags in every
    workload's help buried its own parameters.
    """
    for action in parser._actions:  # noqa: SLF001 - argparse keeps its subparsers only here
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub in dict.fromkeys(action.choices.values()):
                hide_slurm_flags(sub)
    command = parser.prog
    if command == f"{PROG} run":
        command += " SCRIPT.py"  # the parser of `run SCRIPT.py`
    elif not command.startswith(f"{PROG} run "):
        return  # `slurm job-script` is about these flags
    for group in parser._action_groups:  # noqa: SLF001
        if group.title != _GROUP_TITLE:
            continue
        flags = ", ".join(a.option_strings[0] for a in group._group_actions[:4])  # noqa: SLF001
        for flag_action in group._group_actions:  # noqa: SLF001
            flag_action.help = argparse.SUPPRESS
        group.title = "SLURM worker jobs"
        group.description = (
            f"{flags}, ... are shown with --backend slurm: `{command} --backend slurm --help`"
        )


def add_slurm_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the SLURM flags (each overrides one ``jobqueue.slurm.*`` config key).

    Args:
        parser: The parser of a command that opens the slurm backend.
    """
    g = parser.add_argument_group(_GROUP_TITLE)
    for flag, dest, key, text in _FLAGS:
        g.add_argument(
            flag,
            dest=f"slurmopt_{dest}",
            type=int_arg(flag) if dest in _INT_FLAGS else str,
            metavar="N" if dest in _INT_FLAGS else "VALUE",
            help=f"{text} [{_shown(key)}]",
        )
    g.add_argument(
        "--job-extra-directive",
        dest="slurmopt_job_extra_directives",
        action="append",
        metavar="OPT",
        help="extra #SBATCH option, repeatable, e.g. --job-extra-directive=--qos=debug "
        f"[{_shown('job-extra-directives')}]",
    )
    g.add_argument(
        "--job-directive-skip",
        dest="slurmopt_job_directives_skip",
        action="append",
        metavar="TEXT",
        help="drop #SBATCH lines containing TEXT, repeatable, e.g. --mem "
        f"[{_shown('job-directives-skip')}]",
    )
    g.add_argument(
        "--lifetime",
        dest="slurmopt_lifetime",
        metavar="DURATION",
        help="worker --lifetime: auto (from walltime), off, or e.g. 55m "
        f"[{config.shown('daskburst.slurm.lifetime')}]",
    )
    g.add_argument(
        "--lifetime-stagger",
        dest="slurmopt_lifetime_stagger",
        metavar="DURATION",
        help="worker --lifetime-stagger, e.g. 4m "
        f"[{config.shown('daskburst.slurm.lifetime-stagger')}]",
    )


#: The flag of each SLURM option whose flag is not its key with dashes.
_FLAG_OF = {"job_extra_directives": "--job-extra-directive",
            "job_directives_skip": "--job-directive-skip"}  # fmt: skip


def slurm_extra(args: argparse.Namespace) -> dict[str, Any]:
    """Collect the SLURM flags that were given into ``BackendOptions.extra``.

    Args:
        args: Parsed arguments of a parser set up with :func:`add_slurm_arguments`.

    Returns:
        ``{SLURMCluster keyword: value}`` for the flags given (others stay with dask config).

    Raises:
        UserError: For a bad value, or SLURM flags with a backend that would ignore them.
    """
    extra: dict[str, Any] = {}
    for name, value in vars(args).items():
        if name.startswith("slurmopt_") and value is not None:
            key = name.removeprefix("slurmopt_")
            if key in _INT_FLAGS and value < 1:
                raise UserError(f"--{key} {value}: expected a positive integer")
            extra[key] = value
    if extra and hasattr(args, "backend"):
        from daskburst.backends import resolve_backend_name

        backend = resolve_backend_name(args.backend, getattr(args, "address", None))
        if backend != "slurm":
            flags = ", ".join(_FLAG_OF.get(k, "--" + k.replace("_", "-")) for k in extra)
            raise UserError(
                f"{flags}: options of SLURM worker jobs, which the {backend} backend does not "
                "start; expected --backend slurm"
            )
    return extra


def _cmd_job_script(args: argparse.Namespace) -> int:
    from daskburst.backends import BackendOptions
    from daskburst.slurm import job_script, preflight

    script = job_script(
        BackendOptions(threads_per_worker=args.threads_per_worker, extra=slurm_extra(args))
    )
    print(script)
    if args.check:
        preflight(script)
        print("# sbatch --test-only: SLURM accepts this job")
    return 0


def _cmd_runner(args: argparse.Namespace) -> int:
    from daskburst.backends import run_in_allocation

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise UserError("slurm runner: no command; expected e.g. `-- run calc-mean --workers 2`")
    return run_in_allocation(command, args.scheduler_file)


def _cmd_submit(args: argparse.Namespace) -> int:
    import datetime
    import re
    import sys
    from pathlib import Path

    from daskburst.slurm import preflight
    from daskburst.slurm import submit as _submit
    from daskburst.usercode import resolve
    from daskburst.workloads import WORKLOADS

    if args.mode not in _submit.MODES:
        raise UserError(f"--mode {args.mode!r}: expected one of {', '.join(_submit.MODES)}")
    target = resolve(args.target, list(WORKLOADS))
    if target.path is None:
        raise UserError(
            f"slurm submit {args.target!r}: expected a script file (installed functions run "
            "with `daskburst run MODULE:FUNCTION` inside a job)"
        )
    workdir = Path(args.workdir).resolve() if args.workdir else target.path.parent
    if not workdir.is_dir():
        raise UserError(f"--workdir {args.workdir!r}: not a directory")
    ntasks = config.get_int("slurm.submit.ntasks", args.ntasks, flag="--ntasks")
    if ntasks < 3 and args.mode == "runner":
        raise UserError(f"--ntasks {ntasks}: runner mode needs at least 3 (scheduler, "
                        "script, one worker)")  # fmt: skip
    max_workers = config.get_int("slurm.submit.max-workers", args.max_workers,
                                 flag="--max-workers")  # fmt: skip
    time_limit = str(config.get("slurm.submit.time", override_with=args.time))
    seed = args.seed  # None: the script reads daskburst.seed where it runs
    from daskburst.durations import slurm_time

    if slurm_time(time_limit) is None:
        raise UserError(
            f"{config.label('slurm.submit.time', '--time', args.time)} {time_limit!r}: "
            "expected a SLURM time such as 30, 1:00:00 or 1-0"
        )
    stem = re.sub(r"[^A-Za-z0-9_.-]", "-", target.path.stem)
    exe = Path(sys.executable).with_name("daskburst")
    sub = _submit.Submission(
        script=target.path,
        args=tuple(args.script_args or ()),
        workdir=workdir,
        chdir=Path.cwd().resolve(),
        mode=args.mode,
        job_name=args.job_name or f"daskburst-{stem}",
        ntasks=ntasks,
        max_workers=max_workers,
        time=time_limit,
        partition=args.partition,
        mem=args.mem,
        overcommit=args.overcommit,
        seed=seed,
        daskburst=str(exe) if exe.exists() else "daskburst",
    )
    text = _submit.batch_script(sub)
    if args.print:
        print(text, end="")
        return 0
    _submit.check_reachable(target.path, workdir, sub.chdir)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = sub.chdir / ".daskburst" / f"{sub.job_name}-{stamp}.sbatch"
    preflight(text, "the batch job")  # before anything is written
    _submit.write_atomic(path, text)
    output = str(sub.chdir / f"{sub.job_name}-%j.out")
    if not args.wait:
        job_id = _submit.submit(path)
        sys.stderr.write(
            f"slurm: submitted batch job {job_id} ({path}); output in "
            f"{output.replace('%j', job_id)}\n"
        )
        print(job_id)
        return 0
    job_id, code = _submit.submit_and_follow(path, output)
    sys.stderr.write(f"slurm: batch job {job_id} ended with exit code {code}\n")
    return code


def register(subparsers: Any) -> None:
    """Add ``daskburst slurm job-script`` and ``daskburst slurm runner``.

    Args:
        subparsers: The ``add_subparsers()`` object of the main parser.
    """
    slurm = subparsers.add_parser("slurm", help="SLURM: submit a script, job-script, runner")
    common(slurm)
    sub = slurm.add_subparsers(dest="slurm_command", metavar="COMMAND", parser_class=type(slurm))

    js = sub.add_parser(
        "job-script",
        help="print the sbatch script --backend slurm would submit per worker job",
        description="Print the sbatch script that `--backend slurm` submits for each worker "
        "job, from dask config jobqueue.slurm.* and these flags. The scheduler address is "
        "a placeholder.",
    )
    common(js)
    js.add_argument(
        "--threads-per-worker",
        type=int_arg("--threads-per-worker"),
        metavar="T",
        help="threads per worker (sets --cores to T x processes when --cores is not given)",
    )
    js.add_argument(
        "--check",
        action="store_true",
        help="also ask SLURM whether it would accept the job (sbatch --test-only)",
    )
    add_slurm_arguments(js)
    js.set_defaults(func=_cmd_job_script)

    rn = sub.add_parser(
        "runner",
        help="inside one sbatch allocation: srun daskburst slurm runner -- run WORKLOAD ...",
        description="Run under `srun` in every task of one SLURM job: rank 0 becomes the "
        "Dask scheduler, rank 1 runs `daskburst COMMAND...` with DASK_SCHEDULER_ADDRESS "
        "set (use --backend address), all other ranks become workers (dask_jobqueue "
        "SLURMRunner). Needs at least 3 tasks.",
    )
    common(rn)
    rn.add_argument(
        "--scheduler-file",
        default="scheduler-{job_id}.json",
        metavar="PATH",
        help="scheduler file on a filesystem all nodes share; {job_id} is replaced "
        "(default: %(default)s in the working directory; removed at the end)",
    )
    rn.add_argument("command", nargs=argparse.REMAINDER, help="daskburst arguments after --")
    rn.set_defaults(func=_cmd_runner)

    sb = script_parser(
        sub,
        "submit",
        help="run your own script as one sbatch job: submit SCRIPT.py [-- ARGS]",
        usage="daskburst slurm submit SCRIPT.py [options] [-- SCRIPT ARGS]",
        description="Write an sbatch script that runs SCRIPT.py on a Dask cluster "
        "(runner: the cluster lives in the allocation; adapt: the job submits worker jobs) "
        "and submit it. Nothing is copied: the script's directory must be on a filesystem "
        "the compute nodes share (paths under /tmp, /var/tmp, /dev/shm, /run are refused unless "
        "SLURM's only node is this machine), and `sbatch --test-only` checks the job first. "
        "The script is kept in ./.daskburst/, the job's output in ./JOB_NAME-JOBID.out.",
    )
    common(sb)
    sb.add_argument("target", metavar="SCRIPT", help="the Python script to run")
    sb.add_argument(
        "script_args", nargs="*", metavar="ARGS", help="the script's arguments, after --"
    )
    sb.add_argument("--mode", default="runner", help="runner (default) or adapt")
    workdir_flag(sb)
    sb.add_argument(
        "--ntasks",
        type=int_arg("--ntasks"),
        metavar="N",
        help="runner: tasks in the allocation, workers = N - 2 "
        f"(default: {config.shown('daskburst.slurm.submit.ntasks')})",
    )
    sb.add_argument(
        "--max-workers",
        type=int_arg("--max-workers"),
        metavar="N",
        help="adapt: most worker jobs at once "
        f"(default: {config.shown('daskburst.slurm.submit.max-workers')})",
    )
    sb.add_argument(
        "--time", help=f"time limit (default: {config.shown('daskburst.slurm.submit.time')})"
    )
    sb.add_argument("--partition", help="SLURM partition (default: SLURM's)")
    sb.add_argument("--mem", help="memory of the job, e.g. 4G (default: SLURM's)")
    sb.add_argument("--job-name", metavar="NAME", help="default: daskburst-SCRIPT")
    sb.add_argument(
        "--overcommit",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="runner: let the ranks share CPUs, as on a small test node "
        "(default: on; --no-overcommit on a real cluster)",
    )
    seed_flag(sb, "master seed, daskburst.seed() in the script")
    sb.add_argument("--print", action="store_true", help="print the batch script; submit nothing")
    sb.add_argument(
        "--wait",
        action="store_true",
        help="follow the job's output until it ends; exit with its exit code",
    )
    sb.set_defaults(func=_cmd_submit)

    slurm.set_defaults(
        func=lambda a: slurm.error("missing COMMAND; expected job-script, runner or submit")
    )
