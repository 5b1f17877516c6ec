"""``daskburst k8s``: install the operator, submit DaskJobs, follow them, clean up.

The commands; their flags are in :mod:`daskburst.cli._k8s_args`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from daskburst import config
from daskburst.errors import UserError


def _cfg(key: str, given: Any) -> Any:
    """``daskburst.kubernetes.<key>`` from dask config unless given on the command line."""
    from daskburst import k8s

    return k8s.setting(key, given)


def _api(args: argparse.Namespace) -> Any:
    from daskburst import k8s

    return k8s.connect(args.context)


def _platform_objects(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The operator and k8s/ objects that ``install`` applies and ``uninstall`` deletes."""
    from daskburst import k8s

    return k8s.platform_manifests(
        k8s.manifests_root(args.manifests),
        namespaced=args.namespaced,
        kubectl=args.kubectl,
        bundled=args.bundled_operator,
        platform=args.platform,
    )


def _install(args: argparse.Namespace) -> int:
    from daskburst import k8s

    objs = _platform_objects(args)
    k8s.install(objs, timeout=args.timeout, api=_api(args))
    return 0


def _uninstall(args: argparse.Namespace) -> int:
    from daskburst import k8s

    objs = _platform_objects(args)
    k8s.uninstall(objs, str(_cfg("namespace", args.namespace)), api=_api(args),
                  namespaced=args.namespaced, delete_crds=args.delete_crds)  # fmt: skip
    return 0


def _configured_duration(key: str, given: int | None) -> int | None:
    """A duration flag, else ``daskburst.kubernetes.<key>`` (validated like the flag)."""
    from daskburst.durations import parse_duration

    if given is not None:
        return given
    value = _cfg(key, None)
    return None if value is None else parse_duration(str(value), config.label(f"kubernetes.{key}"))


def _outputs_back(outputs: dict[str, Any], artifacts: Path | None) -> dict[str, Any]:
    """Unpack the files the script wrote under $DASKBURST_OUTPUT into ``artifacts/outputs``.

    Returns:
        What the printed record says of them (never the packed bytes).
    """
    from daskburst.usercode import unpack_outputs

    summary = {k: v for k, v in outputs.items() if k != "zip_base64"}
    if artifacts is not None and outputs.get("zip_base64"):
        written = unpack_outputs(outputs, artifacts / "outputs")
        summary["saved_in"] = str(artifacts / "outputs")
        sys.stderr.write(f"{len(written)} output files of the script in {artifacts / 'outputs'}\n")
    elif outputs.get("zip_base64"):
        summary["note"] = "--artifacts DIR saves them"
    return summary


def _submit(args: argparse.Namespace) -> int:
    from daskburst import k8s
    from daskburst.k8s import fmt_duration, parse_params, parse_retries

    namespace = str(_cfg("namespace", args.namespace))
    if args.name:
        k8s.validate_name(args.name, k8s.CLUSTER_NAME_MAX, "--name")
    options: dict[str, Any] = {
        "name": args.name,
        "image": args.image or _cfg("image", None),
        "params": parse_params(args.param or []),
        "seed": args.seed,
        "time_limit": _configured_duration("time-limit", args.time_limit),
        "ttl": _configured_duration("ttl-after-finished", args.ttl_after_finished),
        "queue": args.queue,
        "queue_timeout": args.timeout,  # None: daskburst.kubernetes.job-timeout
    }
    retries = parse_retries(_cfg("retries", args.retries), "--retries")
    job_path: Any = args.manifest
    if _is_user_code(args):
        if options["params"]:
            raise UserError("--param: only for built-in jobs; give a script its arguments after --")
        job_path = _user_objects(args, namespace)
        options["seed"] = None  # in the runner's command already
        options["image"] = None
    elif args.script_args or args.workdir or args.adapt:
        raise UserError(
            f"{args.manifest!r}: a DaskJob manifest takes no --workdir, --adapt or script "
            "arguments; expected a .py script or module:function for those"
        )
    api = _api(args)
    if not args.wait:
        if retries:
            raise UserError(f"--retries {retries}: retries need --wait (the CLI resubmits)")
        name = k8s.submit(job_path, namespace, api=api, **options)
        sys.stderr.write(f"daskjob/{name} submitted to namespace {namespace}\n")
        print(name)
        return 0
    root = Path(args.artifacts) if args.artifacts else None
    artifacts = None
    if root is not None:
        # The first attempt's name is only known once submitted: logs are staged in a
        # directory of this submit's own (two submits to one DIR never share it), then
        # renamed DIR/<that name>.
        artifacts = _staging(root)
    try:
        outcome, attempts = k8s.submit_and_wait(
            job_path,
            namespace,
            retries=retries,
            retry_on_timeout=args.retry_on_timeout,
            timeout=args.timeout,
            api=api,
            # A script's own output is what its user waits for: --wait streams it.
            stream=sys.stderr if args.logs or not isinstance(job_path, str) else None,
            artifacts=artifacts,
            **options,
        )
    except BaseException:
        if artifacts is not None:
            _drop_staging(artifacts)
        raise
    if artifacts is not None and root is not None and artifacts.exists():
        final = root / attempts[0].name
        if final.exists():
            import shutil

            shutil.rmtree(final)
        artifacts.rename(final)
        artifacts = final
    record = dict(outcome.result or {})
    if not record and not isinstance(job_path, str):
        # A script's runner prints the script's output, not the record: read the record the
        # runner kept in the job's result ConfigMap.
        from daskburst.k8s import job_uid, read_result

        uid = job_uid(outcome.name, namespace, api)
        record = dict(read_result(outcome.name, namespace, api, uid=uid) or {})
    outputs = record.pop("outputs", None)
    if outputs:
        record["outputs"] = _outputs_back(outputs, artifacts)
    if record or len(attempts) > 1:
        record["attempts"] = [a.as_dict() for a in attempts]
    if artifacts is not None and record:
        (artifacts / "result.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    name = outcome.name
    tries = f" after {len(attempts)} attempts" if len(attempts) > 1 else ""
    if outcome.ok:
        sys.stderr.write(
            f"daskjob/{name} Successful{tries} (peak {outcome.peak_workers} workers)"
            + (f"; logs in {artifacts}" if artifacts else "")
            + "\n"
        )
        print(json.dumps(record, indent=2, sort_keys=True))
        return 0
    if outcome.timed_out:
        from daskburst.k8s import time_limit_of

        docs = job_path if not isinstance(job_path, str) else k8s.load_file(job_path)
        limit = options["time_limit"] or next(
            (time_limit_of(d) for d in docs if d["kind"] == "DaskJob"), None
        )
        why = f"time limit {fmt_duration(limit) if limit else '(activeDeadlineSeconds)'} reached"
    elif outcome.reason == "Deleted":
        why = "its runner pod was deleted"
    elif outcome.exit_code is not None:
        why = f"its runner exited with code {outcome.exit_code} ({outcome.reason})"
    else:
        why = outcome.reason or "failed"
    sys.stderr.write(
        f"daskjob/{name} Failed{tries}: {why}"
        + (f"; logs in {artifacts}" if artifacts else "")
        + "\n"
    )
    if record:
        print(json.dumps(record, indent=2, sort_keys=True))
    return 1


def _is_user_code(args: argparse.Namespace) -> bool:
    from daskburst.usercode import looks_like_target

    text = str(args.manifest)
    return not text.endswith((".yaml", ".yml", ".json")) and looks_like_target(text)


def _adapt(value: str | None) -> tuple[int, int]:
    text = value or "1:3"
    lo, sep, hi = text.partition(":")
    try:
        lo_n, hi_n = int(lo), int(hi if sep else lo)
    except ValueError:
        lo_n, hi_n = -1, -1
    if lo_n < 1 or hi_n < lo_n:
        raise UserError(f"--adapt {text!r}: expected MIN:MAX workers, 1 <= MIN <= MAX (e.g. 1:3)")
    return lo_n, hi_n


def _user_objects(args: argparse.Namespace, namespace: str | None) -> list[dict[str, Any]]:
    """The DaskJob and working-directory ConfigMap of a user's script (checked first)."""
    from daskburst.k8s import specs, user_job
    from daskburst.usercode import collect, resolve
    from daskburst.workloads import WORKLOADS

    target = resolve(str(args.manifest), tuple(WORKLOADS))
    adapt = _adapt(args.adapt)
    workdir = None
    script = target.text
    if target.path is not None:
        root = Path(args.workdir) if args.workdir else target.path.resolve().parent
        workdir = collect(root)
        try:
            script = target.path.resolve().relative_to(workdir.root).as_posix()
        except ValueError:
            raise UserError(
                f"--workdir {str(root)!r}: does not hold {str(args.manifest)!r}; expected the "
                "script's directory or one above it"
            ) from None
    elif args.workdir:
        workdir = collect(args.workdir)
    stem = target.path.stem if target.path is not None else str(target.function)
    base = "".join(c if c.isalnum() else "-" for c in stem.lower()).strip("-")[:30] or "job"
    image = args.image or _cfg("image", None) or specs.DEFAULT_IMAGE
    return user_job(
        base,
        script,
        workdir,
        args.script_args,
        namespace=namespace,
        adapt=adapt,
        seed=args.seed,
        image=str(image),
    )


def _manifest(args: argparse.Namespace) -> int:
    import yaml

    from daskburst.k8s import TTL, with_time_limit

    if str(args.manifest).endswith((".yaml", ".yml", ".json")):
        raise UserError(
            f"{args.manifest!r}: expected your script (.py) or package.module:function; a "
            "DaskJob manifest is already one: `kubectl apply -f` it or `daskburst k8s submit` it"
        )
    namespace = str(_cfg("namespace", args.namespace))
    objs = _user_objects(args, namespace)
    job = objs[0]
    limit = _configured_duration("time-limit", args.time_limit)
    if limit is not None:
        with_time_limit(job, limit)
    ttl = _configured_duration("ttl-after-finished", args.ttl_after_finished)
    if ttl is not None:
        job["metadata"]["annotations"][TTL] = str(int(ttl))
    if args.name:
        from daskburst.k8s import prepare_submission, rename_user_job

        new = prepare_submission(job, [], args.name, namespace)[0]
        objs = rename_user_job([new, *objs[1:]], args.name)
    sys.stdout.write(yaml.safe_dump_all(objs, sort_keys=False, width=1000))
    return 0


def _status(args: argparse.Namespace) -> int:
    from daskburst import k8s

    rows = k8s.status(str(_cfg("namespace", args.namespace)), api=_api(args))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("KIND", "NAME", "PHASE", "ATTEMPT", "AGE", "WORKERS", "PEAK", "DIGEST")
    table = [header] + [
        (
            r["kind"], r["name"], r["phase"], str(r["attempt"]), r["age"],
            str(r["workers_now"]), "" if r["workers_peak"] is None else str(r["workers_peak"]),
            (r["digest"] or "")[:12],
        )
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _staging(root: Path) -> Path:
    """A new directory in ``root`` for one submit's artifacts until its job has a name."""
    import tempfile

    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".pending-", dir=root))
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp's 0700 would stay with the renamed directory
        return staging
    except OSError as exc:
        raise UserError(
            f"--artifacts {str(root)!r}: {exc.strerror or exc}; expected a directory it can write"
        ) from None


def _drop_staging(staging: Path) -> None:
    """After a failed submit: remove an empty staging directory, name a non-empty one."""
    with contextlib.suppress(OSError):
        staging.rmdir()
    if staging.exists():
        sys.stderr.write(f"kubernetes: what was collected is in {staging}\n")


def _results(args: argparse.Namespace) -> int:
    from daskburst import k8s

    namespace = str(_cfg("namespace", args.namespace))
    found = k8s.results(args.name, namespace, api=_api(args))
    if args.json:
        print(json.dumps(found, indent=2, sort_keys=True))
        return 0 if found.get("record") else 1
    record = found.get("record")
    print(f"daskjob/{args.name}: {found['phase']}")
    if record:
        result = record.get("result", {})
        print(f"  digest   {result.get('digest')}")
        params = json.dumps(record.get("params"), sort_keys=True)
        print(f"  workload {record.get('workload')} {params}")
        print(f"  seed     {record.get('seed')}")
        print(f"  seconds  {record.get('seconds')} on {record.get('workers')} workers (peak)")
        versions = record.get("versions") or {}
        print("  versions " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
    if found.get("earlier"):
        print(
            "  no result of this job yet; the one kept is of an earlier DaskJob of this name "
            f"(uid {found['earlier'].get('job_uid')}, digest "
            f"{(found['earlier'].get('result') or {}).get('digest')})"
        )
    print(f"  logs     {found['logs']}")
    return 0 if record else 1


def _gc(args: argparse.Namespace) -> int:
    from daskburst import k8s

    namespace = str(_cfg("namespace", args.namespace))
    default = _configured_duration("ttl-after-finished", args.ttl)
    done = k8s.gc(namespace, default_ttl=default, dry_run=args.dry_run, api=_api(args))
    verb = "would delete" if args.dry_run else "deleted"
    for line in done:
        print(f"{verb} {line}")
    if not done:
        print(f"nothing to delete in {namespace}")
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
