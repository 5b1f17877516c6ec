"""``daskburst k8s``: install the operator, submit DaskJobs, follow them, clean up."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import dask.config

from daskburst.errors import UserError

_DEFAULTS = {"namespace": "daskburst", "install-timeout": 300, "job-timeout": 3600}


def _cfg(key: str, given: Any) -> Any:
    """``daskburst.kubernetes.<key>`` from dask config unless given on the command line."""
    return dask.config.get(
        f"daskburst.kubernetes.{key}", default=_DEFAULTS[key], override_with=given
    )


def _int_arg(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: expected an integer") from None


def _positive(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: expected seconds") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a positive number of seconds")
    return seconds


def _api(args: argparse.Namespace) -> Any:
    import kr8s

    kwargs: dict[str, Any] = {}
    if args.context:
        kwargs["context"] = args.context
    kubeconfig = os.environ.get("KUBECONFIG", "")
    if kubeconfig and os.pathsep not in kubeconfig:
        # Explicit, so kr8s' per-arguments client cache never mixes two clusters.
        kwargs["kubeconfig"] = kubeconfig
    try:
        return kr8s.api(**kwargs)
    except Exception as exc:  # noqa: BLE001 - kr8s raises many kinds when there is no cluster
        raise UserError(
            f"no Kubernetes cluster reachable ({type(exc).__name__}); expected KUBECONFIG or "
            "in-cluster credentials (e.g. `export KUBECONFIG=build/kind/daskburst.kubeconfig`)"
        ) from None


def _install(args: argparse.Namespace) -> int:
    from daskburst import k8s

    objs = k8s.platform_manifests(
        k8s.manifests_root(args.manifests),
        namespaced=args.namespaced,
        kubectl=args.kubectl,
        bundled=args.bundled_operator,
    )
    k8s.install(objs, timeout=float(_cfg("install-timeout", args.timeout)), api=_api(args))
    return 0


def _uninstall(args: argparse.Namespace) -> int:
    from daskburst import k8s

    objs = k8s.platform_manifests(
        k8s.manifests_root(args.manifests),
        namespaced=args.namespaced,
        kubectl=args.kubectl,
        bundled=args.bundled_operator,
    )
    k8s.uninstall(objs, str(_cfg("namespace", args.namespace)), api=_api(args))
    return 0


def _submit(args: argparse.Namespace) -> int:
    from daskburst import k8s

    namespace = str(_cfg("namespace", args.namespace))
    api = _api(args)
    if args.name:
        k8s.validate_name(args.name, k8s.CLUSTER_NAME_MAX, "--name")
    from daskburst.k8s._submission import parse_params

    name = k8s.submit(
        args.manifest,
        namespace,
        name=args.name,
        image=args.image,
        api=api,
        params=parse_params(args.param or []),
        seed=args.seed,
    )
    sys.stderr.write(f"daskjob/{name} submitted to namespace {namespace}\n")
    if not args.wait:
        print(name)
        return 0
    artifacts = Path(args.artifacts) / name if args.artifacts else None
    outcome = k8s.wait_job(
        k8s.Kr8sJobView(namespace, api),
        name,
        timeout=float(_cfg("job-timeout", args.timeout)),
        stream=sys.stderr if args.logs else None,
        artifacts=artifacts,
    )
    sys.stderr.write(
        f"daskjob/{name} {outcome.phase} (peak {outcome.peak_workers} workers)"
        + (f"; logs in {artifacts}" if artifacts else "")
        + "\n"
    )
    if outcome.result is not None:
        print(json.dumps(outcome.result, indent=2, sort_keys=True))
    return 0 if outcome.ok else 1


def _status(args: argparse.Namespace) -> int:
    from daskburst import k8s

    rows = k8s.status(str(_cfg("namespace", args.namespace)), api=_api(args))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("KIND", "NAME", "PHASE", "WORKERS", "STARTED", "ENDED")
    table = [header] + [
        (r["kind"], r["name"], r["phase"], str(r["workers"]), r["started"], r["ended"])
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _delete(args: argparse.Namespace) -> int:
    from daskburst import k8s

    if not args.names and not args.all:
        raise UserError("k8s delete: no job named; expected NAME... or --all")
    deleted = k8s.delete(args.names, str(_cfg("namespace", args.namespace)), api=_api(args))
    for name in deleted:
        sys.stderr.write(f"daskjob/{name} deleted\n")
    missing = sorted(set(args.names) - set(deleted))
    if missing:
        raise UserError(f"k8s delete: no DaskJob named {', '.join(missing)}")
    return 0


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
        "--namespace", "-n", help="namespace of the Dask resources (default: daskburst)"
    )
    common.add_argument("--context", help="kubeconfig context (default: the current one)")
    # SUPPRESS: without the flag here, `daskburst --debug k8s ...` keeps the global value.
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
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
    tree.add_argument("--kubectl", default="kubectl", help="kubectl used for `kubectl kustomize`")
    sub = k8s.add_subparsers(dest="k8s_command", metavar="COMMAND")

    p = sub.add_parser(
        "install",
        parents=[common, tree],
        help="apply charts/dask-operator and k8s/; wait for the CRDs and the operator",
    )
    p.add_argument("--timeout", type=_positive, help="seconds to wait (default: 300)")
    p.set_defaults(func=_install)

    p = sub.add_parser(
        "submit",
        parents=[common],
        help="submit a DaskJob manifest under a unique name",
        description="Submit jobs/X.yaml (and the DaskAutoscaler next to it) under a unique "
        "name; with --wait follow it to the end; the exit code follows the job.",
    )
    p.add_argument("manifest", help="a DaskJob manifest, e.g. jobs/calc-mean.yaml")
    p.add_argument("--wait", action="store_true", help="wait until Successful or Failed")
    p.add_argument(
        "--timeout", type=_positive, help="seconds before deleting the job (default: 3600)"
    )
    p.add_argument("--logs", action="store_true", help="stream the runner's log to stderr")
    p.add_argument("--artifacts", help="save runner/scheduler logs and result.json under DIR/<job>")
    p.add_argument("--name", help="exact job name instead of a unique one")
    p.add_argument("--image", help="use this image for runner, scheduler and workers")
    p.add_argument(
        "--param",
        "-p",
        action="append",
        metavar="NAME=VALUE",
        help="replace a workload parameter of the job file, e.g. -p n=1e6 (repeatable; "
        "names as in `daskburst workloads`)",
    )
    p.add_argument("--seed", type=_int_arg, help="master seed (default: the job file's)")
    p.set_defaults(func=_submit)

    p = sub.add_parser("status", parents=[common], help="list DaskJobs and DaskClusters")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_status)

    p = sub.add_parser("delete", parents=[common], help="delete DaskJobs and their clusters")
    p.add_argument("names", nargs="*", help="job names")
    p.add_argument("--all", action="store_true", help="every DaskJob in the namespace")
    p.set_defaults(func=_delete)

    p = sub.add_parser(
        "uninstall",
        parents=[common, tree],
        help="delete Dask resources, k8s/ and the operator (CRDs included)",
    )
    p.set_defaults(func=_uninstall)

    k8s.set_defaults(func=lambda a: k8s.print_help() or 2)
