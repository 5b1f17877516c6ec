"""The flags of ``daskburst k8s ...`` (the commands are in :mod:`daskburst.cli.k8s`)."""

from __future__ import annotations

import argparse
from typing import Any

from daskburst import config
from daskburst.cli import _args
from daskburst.cli import k8s as commands
from daskburst.cli._args import script_parser, seed_flag, workdir_flag
from daskburst.errors import UserError

_KEY = "daskburst.kubernetes."


def _duration(flag: str) -> Any:
    def parse(value: str) -> int:
        from daskburst.durations import parse_duration

        try:
            return parse_duration(value, flag)
        except UserError as exc:
            # argparse names the flag itself: keep "'VALUE': expected ...".
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{flag} ")) from None

    parse.__name__ = flag
    return parse


def _retries(value: str) -> int:
    from daskburst.k8s import parse_retries

    try:
        return parse_retries(value)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--retries ")) from None


def _positive(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: expected seconds") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a positive number of seconds")
    return seconds


def _user_code_flags(p: argparse.ArgumentParser) -> None:
    workdir_flag(p)
    p.add_argument("--adapt", metavar="MIN:MAX", help="workers of the job's cluster (default: 1:3)")
    p.add_argument("script_args", nargs="*", metavar="-- ARGS", help="the script's arguments")


def register(subparsers: Any) -> None:
    """Add ``daskburst k8s ...`` to the CLI.

    Args:
        subparsers: The ``add_subparsers()`` object of the main parser.
    """
    k8s = subparsers.add_parser(
        "k8s",
        help="run on Kubernetes: install the Dask operator, submit and follow DaskJobs",
        description="Kubernetes control through kr8s (uses KUBECONFIG or in-cluster credentials).",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--namespace",
        "-n",
        help=f"namespace of the Dask resources (default: {config.shown(_KEY + 'namespace')})",
    )
    common.add_argument("--context", help="kubeconfig context (default: the current one)")
    _args.common(common)
    tree = argparse.ArgumentParser(add_help=False)
    tree.add_argument(
        "--manifests", help="daskburst checkout holding charts/ and k8s/ (default: .)"
    )
    tree.add_argument(
        "--namespaced", action="store_true", help="operator watching only its own namespace"
    )
    tree.add_argument(
        "--bundled-operator",
        action="store_true",
        help="run the operator from the daskburst image (charts/dask-operator/components/"
        "bundled-image): for clusters that cannot pull ghcr.io",
    )
    tree.add_argument(
        "--platform",
        metavar="DIR",
        help="the platform kustomization, relative to --manifests (default: k8s; "
        "k8s/overlays/cloud has a quota for a 50-worker burst)",
    )
    tree.add_argument("--kubectl", default="kubectl", help="kubectl used for `kubectl kustomize`")
    sub = k8s.add_subparsers(dest="k8s_command", metavar="COMMAND")

    p = sub.add_parser(
        "install",
        parents=[common, tree],
        help="apply charts/dask-operator and k8s/; wait for the CRDs and the operator",
    )
    p.add_argument(
        "--timeout",
        type=_positive,
        help=f"seconds to wait (default: {config.shown(_KEY + 'install-timeout')})",
    )
    p.set_defaults(func=commands._install)

    p = script_parser(
        sub,
        "submit",
        parents=[common],
        help="submit a DaskJob manifest under a unique name",
        description="Submit jobs/X.yaml (and the DaskAutoscaler next to it) under a unique "
        "name; with --wait follow it to the end; the exit code follows the job.",
    )
    p.add_argument(
        "manifest",
        help="a DaskJob manifest, e.g. jobs/calc-mean.yaml; or your script (my_analysis.py) "
        "or package.module:function: its directory (--workdir) goes in a ConfigMap owned by "
        "the job, mounted read-only by the runner and every worker",
    )
    _user_code_flags(p)
    p.add_argument("--wait", action="store_true", help="wait until Successful or Failed")
    p.add_argument(
        "--timeout",
        type=_positive,
        help="seconds to wait (queued or running) before deleting the job "
        f"(default: {config.shown(_KEY + 'job-timeout')})",
    )
    p.add_argument("--logs", action="store_true", help="stream the runner's log to stderr")
    p.add_argument("--artifacts", help="save runner/scheduler logs and result.json under DIR/<job>")
    p.add_argument("--name", help="exact job name instead of a unique one")
    p.add_argument(
        "--image",
        help="use this image for runner, scheduler and workers; null: the job file's "
        f"(default: {config.shown(_KEY + 'image')})",
    )
    p.add_argument(
        "--param",
        "-p",
        action="append",
        metavar="NAME=VALUE",
        help="replace a workload parameter of the job file, e.g. -p n=1e6 (repeatable; "
        "names as in `daskburst workloads`)",
    )
    seed_flag(p, default="the job file's")
    p.add_argument(
        "--time-limit",
        type=_duration("--time-limit"),
        metavar="TIME",
        help="end the job when its runner has run this long (the runner pod's "
        "activeDeadlineSeconds): seconds, 30m, 2h, or sbatch's 30:00, 1-00:00:00 "
        f"(default: {config.shown(_KEY + 'time-limit')})",
    )
    p.add_argument(
        "--retries",
        type=_retries,
        metavar="N",
        help="with --wait: submit a failed attempt again up to N times, under <name>-r2, -r3... "
        f"(default: {config.shown(_KEY + 'retries')})",
    )
    p.add_argument(
        "--retry-on-timeout",
        action="store_true",
        help="also retry attempts that hit the time limit",
    )
    p.add_argument(
        "--ttl-after-finished",
        type=_duration("--ttl-after-finished"),
        metavar="TIME",
        help="let `daskburst k8s gc` delete the job this long after it ended (annotation "
        "daskburst.io/ttl-seconds-after-finished); null: keep it "
        f"(default: {config.shown(_KEY + 'ttl-after-finished')})",
    )
    p.add_argument(
        "--queue",
        action="store_true",
        help="when the namespace's quota is full, wait in line (first come, first served) "
        "instead of failing",
    )
    p.set_defaults(func=commands._submit)

    p = script_parser(
        sub,
        "manifest",
        parents=[common],
        help="print the DaskJob and ConfigMap of your script, for kubectl apply -f",
        description="Write the objects `k8s submit SCRIPT` creates (a DaskJob and the "
        "ConfigMap holding the working directory) as YAML, for `kubectl apply -f` and GitOps. "
        "kubectl knows no job uid, so the ConfigMap has no owner: it carries the labels "
        "daskburst.io/workdir-of=<job> and app.kubernetes.io/instance=<job>; `daskburst k8s "
        "delete <job>` and `daskburst k8s gc` (the daskburst-gc CronJob) delete it with its "
        "job, or `kubectl delete -f job.yaml` deletes both.",
    )
    p.add_argument(
        "manifest", metavar="SCRIPT", help="your script (my_analysis.py) or package.module:function"
    )
    _user_code_flags(p)
    p.add_argument("--name", help="the job's name (default: the script's)")
    p.add_argument("--image", help="image of runner, scheduler and workers")
    seed_flag(p, "master seed, daskburst.seed() in the script")
    p.add_argument(
        "--time-limit",
        type=_duration("--time-limit"),
        metavar="TIME",
        help=f"runner's activeDeadlineSeconds (default: {config.shown(_KEY + 'time-limit')})",
    )
    p.add_argument(
        "--ttl-after-finished",
        type=_duration("--ttl-after-finished"),
        metavar="TIME",
        help="let `daskburst k8s gc` delete the job (and its ConfigMap) this long after it "
        f"ended (default: {config.shown(_KEY + 'ttl-after-finished')})",
    )
    p.set_defaults(func=commands._manifest)

    p = sub.add_parser(
        "results",
        parents=[common],
        help="a finished job's result record and where its logs are",
    )
    p.add_argument("name", help="the DaskJob")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=commands._results)

    p = sub.add_parser(
        "gc",
        parents=[common],
        help="delete finished DaskJobs (and runner pods) whose time-to-live has passed",
        description="Delete finished DaskJobs whose daskburst.io/ttl-seconds-after-finished "
        "(or --ttl for jobs without it) has passed; their result records are kept. "
        "k8s/'s CronJob daskburst-gc runs this every 5 minutes in the cluster.",
    )
    p.add_argument("--dry-run", action="store_true", help="only show what would be deleted")
    p.add_argument(
        "--ttl",
        type=_duration("--ttl"),
        metavar="TIME",
        help="time-to-live of jobs without the annotation; null: keep them "
        f"(default: {config.shown(_KEY + 'ttl-after-finished')})",
    )
    p.set_defaults(func=commands._gc)

    p = sub.add_parser("status", parents=[common], help="list DaskJobs and DaskClusters")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=commands._status)

    p = sub.add_parser("delete", parents=[common], help="delete DaskJobs and their clusters")
    p.add_argument("names", nargs="*", help="job names")
    p.add_argument("--all", action="store_true", help="every DaskJob in the namespace")
    p.set_defaults(func=commands._delete)

    p = sub.add_parser(
        "uninstall",
        parents=[common, tree],
        help="delete Dask resources, k8s/ and the operator (the CRDs only when no other "
        "namespace uses them)",
    )
    p.add_argument(
        "--delete-crds",
        action="store_true",
        help="delete the Dask CRDs even when another namespace has Dask resources (they go "
        "with them) or the operator is namespaced",
    )
    p.set_defaults(func=commands._uninstall)

    k8s.set_defaults(func=lambda a: k8s.print_help() or 2)
