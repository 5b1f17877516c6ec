"""Dask clusters made of podman (or docker) containers, started the way the Dask operator starts pods.

The pods come from dask-kubernetes' own builders (``make_scheduler_spec``,
``make_worker_spec``, ``build_worker_deployment_spec``, ``build_job_pod_spec``), so the
arguments and environment are exactly the operator's; this module only translates a
Kubernetes container dict into ``podman run`` (``command`` -> entrypoint, ``args`` -> arguments,
``$(VAR)`` expanded from the container's env like the kubelet does) on a private network where
the scheduler answers to its Service name ``<cluster>-scheduler.<namespace>.svc.cluster.local``.

Every container runs non-root (uid 1000) with a read-only root filesystem, a tmpfs ``/tmp``,
no capabilities and no privilege escalation. Every container and the network carry the label
``daskburst.test=<run id>``; leaving the context manager removes them all, also on failure.

Typical use::

    with ContainerCluster(image, workers=2) as cluster:
        cluster.http_get("/health")
        job = cluster.run_job(["daskburst", "run", "calc-mean", "--replicates", "4"])
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LABEL = "daskburst.test"
SCHEDULER_PORT = 8786
DASHBOARD_PORT = 8787
UID = "1000:1000"
# Flags every container gets: what a restricted Kubernetes pod security context enforces.
HARDENING = (
    "--user",
    UID,
    "--read-only",
    "--tmpfs",
    "/tmp:rw,size=1g,mode=1777",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
)
_ROOT = Path(__file__).resolve().parents[2]
# Run ids of every cluster made by this process, so tests can check none leaked anything.
RUNS: list[str] = []
_K8S_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def hardening(tool: str) -> tuple[str, ...]:
    """Return :data:`HARDENING` for ``tool``.

    podman's ``--read-only`` also mounts tmpfs on /var/tmp and /run unless told not to;
    Kubernetes' ``readOnlyRootFilesystem`` does not, so neither does the harness.
    """
    return (*HARDENING, "--read-only-tmpfs=false") if tool == "podman" else HARDENING


def _rm_now(tool: str) -> tuple[str, ...]:
    """``rm`` arguments that kill and remove at once (docker's ``rm -f`` has no ``-t``)."""
    return ("rm", "-f", "-t", "0") if tool == "podman" else ("rm", "-f")


def container_tool() -> str | None:
    """Return the container engine to use: ``$CONTAINER_TOOL``, else podman, else docker."""
    wanted = os.environ.get("CONTAINER_TOOL")
    candidates = [wanted] if wanted else ["podman", "docker"]
    for tool in candidates:
        if tool and shutil.which(tool):
            probe = subprocess.run([tool, "info"], capture_output=True, check=False)
            if probe.returncode == 0:
                return tool
    return None


def project_version() -> str:
    """Return the daskburst version of this checkout (the image tag ``make image`` uses)."""
    text = (_ROOT / "src" / "daskburst" / "_version.py").read_text(encoding="utf-8")
    match = re.search(r'__version__ = "([^"]+)"', text)
    if not match:
        raise RuntimeError("no __version__ in src/daskburst/_version.py")
    return match.group(1)


def default_image() -> str:
    """Return ``$IMG`` or the tag ``make image`` builds, ``localhost/daskburst:<version>``."""
    return os.environ.get("IMG") or f"localhost/daskburst:{project_version()}"


def image_exists(image: str, tool: str) -> bool:
    """Return True if ``image`` is in the local image store of ``tool``."""
    probe = subprocess.run([tool, "image", "inspect", image], capture_output=True, check=False)
    return probe.returncode == 0


def source_fingerprint(files: dict[str, bytes]) -> str:
    """Return one sha256 over relative paths and contents (``__pycache__`` excluded)."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    return digest.hexdigest()


def checkout_fingerprint() -> str:
    """Return :func:`source_fingerprint` of ``src/daskburst`` in this checkout."""
    pkg = _ROOT / "src" / "daskburst"
    files = {
        p.relative_to(pkg).as_posix(): p.read_bytes()
        for p in pkg.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    return source_fingerprint(files)


_IMAGE_FINGERPRINT = """
import hashlib, pathlib, daskburst
pkg = pathlib.Path(daskburst.__file__).parent
h = hashlib.sha256()
for p in sorted(
    (p for p in pkg.rglob("*") if p.is_file() and "__pycache__" not in p.parts),
    key=lambda p: p.relative_to(pkg).as_posix(),
):
    rel = p.relative_to(pkg).as_posix()
    h.update(rel.encode() + b"\\0" + hashlib.sha256(p.read_bytes()).digest())
print(h.hexdigest())
"""


def image_fingerprint(tool: str, image: str) -> str:
    """Return the same fingerprint of the daskburst package installed in ``image``."""
    proc = subprocess.run(
        [tool, "run", "--rm", *hardening(tool), image, "python", "-c", _IMAGE_FINGERPRINT],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return proc.stdout.strip()


def ensure_image(tool: str, image: str | None = None, timeout: float = 1800) -> str | None:
    """Build ``image`` with ``make image`` if it is missing or older than the checkout.

    A stale image would run yesterday's code in the containers, so the daskburst package
    inside it is compared with ``src/daskburst`` file by file.

    Args:
        tool: Container engine.
        image: Tag to check and build (default: :func:`default_image`).
        timeout: Seconds allowed for the build.

    Returns:
        None when the image is ready, else what went wrong (the end of the build log).
    """
    image = image or default_image()
    if image_exists(image, tool) and image_fingerprint(tool, image) == checkout_fingerprint():
        return None
    build = subprocess.run(
        ["make", "image", f"IMG={image}", f"CONTAINER_TOOL={tool}"],
        cwd=_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if build.returncode != 0:
        return f"`make image` failed:\n{build.stdout[-3000:]}{build.stderr[-3000:]}"
    return None


def expand_k8s_vars(text: str, env: Mapping[str, str]) -> str:
    """Expand ``$(VAR)`` references like the kubelet does for ``command`` and ``args``.

    ``$(VAR)`` becomes the value of VAR when the container defines it and stays as written
    otherwise; ``$$`` becomes ``$`` (so ``$$(VAR)`` is a literal ``$(VAR)``).
    """

    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _K8S_VAR.sub(repl, text)


@dataclass
class ContainerSpec:
    """One container to run: the Kubernetes container fields the harness understands.

    Attributes:
        name: Container name (unique on the host; the harness adds its run suffix).
        image: Image reference.
        command: Replaces the image's entrypoint (Kubernetes ``command``); None keeps tini.
        args: Replaces the image's CMD (Kubernetes ``args``).
        env: Environment variables, in order.
        aliases: DNS names on the cluster network (a Kubernetes Service name, say).
        publish: Container ports published on a random 127.0.0.1 port.
        volumes: ``(host_path, container_path)`` read-write bind mounts.
        labels: Extra container labels.
    """

    name: str
    image: str
    command: list[str] | None = None
    args: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    publish: list[int] = field(default_factory=list)
    volumes: list[tuple[str, str]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_k8s(
        cls,
        container: Mapping[str, Any],
        *,
        name: str | None = None,
        image: str | None = None,
        aliases: Sequence[str] = (),
        publish: Sequence[int] = (),
    ) -> ContainerSpec:
        """Translate a Kubernetes container dict (from a pod template) into a spec.

        Args:
            container: ``spec.containers[i]`` of a Pod or pod template.
            name: Container name; defaults to the dict's ``name``.
            image: Overrides the dict's ``image`` (to run a locally built tag).
            aliases: Network aliases (Service DNS names) for this container.
            publish: Container ports to publish on 127.0.0.1.

        Returns:
            The spec, with ``$(VAR)`` references in command and args expanded.

        Raises:
            ValueError: For env entries this harness cannot resolve (``valueFrom``).
        """
        env: dict[str, str] = {}
        for item in container.get("env") or []:
            if "value" not in item:
                raise ValueError(f"env {item.get('name')!r}: only literal values are supported")
            env[item["name"]] = expand_k8s_vars(str(item["value"]), env)
        command = container.get("command")
        args = container.get("args")
        return cls(
            name=name or container["name"],
            image=image or container["image"],
            command=[expand_k8s_vars(str(c), env) for c in command] if command else None,
            args=[expand_k8s_vars(str(a), env) for a in args] if args is not None else None,
            env=env,
            aliases=list(aliases),
            publish=list(publish),
        )


def _run(tool: str, *argv: str, check: bool = True, timeout: float = 120) -> str:
    proc = subprocess.run(
        [tool, *argv], capture_output=True, text=True, check=False, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{tool} {' '.join(argv[:3])} ... failed ({proc.returncode}): {proc.stderr.strip()}"
        )
    return proc.stdout


def leftovers(tool: str, run_id: str | None = None) -> dict[str, list[str]]:
    """Return the containers, networks and volumes still labelled by the harness.

    Args:
        tool: Container engine.
        run_id: Restrict to one run; None means any run.
    """
    selector = f"label={LABEL}" + (f"={run_id}" if run_id else "")
    found = {
        "containers": _run(tool, "ps", "-a", "--filter", selector, "--format", "{{.Names}}"),
        "networks": _run(tool, "network", "ls", "--filter", selector, "--format", "{{.Name}}"),
        "volumes": _run(tool, "volume", "ls", "--filter", selector, "--format", "{{.Name}}"),
    }
    return {kind: out.split() for kind, out in found.items()}


def remove_all(tool: str, run_id: str) -> None:
    """Remove every container, network and volume labelled with ``run_id`` (best effort)."""
    selector = f"label={LABEL}={run_id}"
    names = _run(tool, "ps", "-a", "-q", "--filter", selector, check=False).split()
    if names:
        _run(tool, *_rm_now(tool), *names, check=False)
    for kind in ("network", "volume"):
        fmt = "{{.Name}}"
        for name in _run(
            tool, kind, "ls", "--filter", selector, "--format", fmt, check=False
        ).split():
            _run(tool, kind, "rm", name, check=False)


def _drop_nulls(pod_spec: dict[str, Any]) -> None:
    """Drop the ``None`` fields ``make_*_spec`` leaves, as the API server would."""
    for container in pod_spec["containers"]:
        for key in [k for k, v in container.items() if v is None]:
            del container[key]


@dataclass
class JobResult:
    """What a finished runner container left: exit code, logs and the ``--output`` JSON."""

    returncode: int
    logs: str
    output: dict[str, Any] | None


class ContainerCluster(contextlib.AbstractContextManager["ContainerCluster"]):
    """A Dask cluster of containers on a fresh network, removed when the context exits.

    Args:
        image: Image for scheduler, workers and runners (default: :func:`default_image`).
        workers: Worker containers to start (and wait for) on entry.
        cluster: DaskCluster name (the scheduler Service is ``<cluster>-scheduler``).
        namespace: Namespace in the Service DNS name.
        tool: Container engine (default: :func:`container_tool`).
        timeout: Seconds to wait for the scheduler and the workers to come up.
        start_scheduler: Start the operator's scheduler on entry (False: bring your own pods
            with :meth:`start`, e.g. rendered from a DaskJob).
    """

    def __init__(
        self,
        image: str | None = None,
        *,
        workers: int = 2,
        cluster: str = "daskburst",
        namespace: str = "default",
        tool: str | None = None,
        timeout: float = 120,
        start_scheduler: bool = True,
    ) -> None:
        found = tool or container_tool()
        if found is None:
            raise RuntimeError("no working podman or docker (run `make podman-setup`)")
        self.tool = found
        self.image = image or default_image()
        self.n_workers = workers
        self.cluster = cluster
        self.namespace = namespace
        self.timeout = timeout
        self.start_scheduler = start_scheduler
        self.run_id = secrets.token_hex(4)
        RUNS.append(self.run_id)
        self.network = f"daskburst-test-{self.run_id}"
        self.containers: list[str] = []
        self.scheduler: str | None = None
        self.workers: list[str] = []
        self._dashboard: str | None = None

    # -- naming -----------------------------------------------------------------------------
    @property
    def scheduler_host(self) -> str:
        """DNS name of the scheduler Service, as the operator's pods see it."""
        return f"{self.cluster}-scheduler.{self.namespace}.svc.cluster.local"

    @property
    def scheduler_address(self) -> str:
        """``DASK_SCHEDULER_ADDRESS`` the operator injects into workers and runners."""
        return f"tcp://{self.scheduler_host}:{SCHEDULER_PORT}"

    @property
    def dashboard_url(self) -> str:
        """Base URL of the scheduler's HTTP server published on 127.0.0.1."""
        if self._dashboard is None:
            raise RuntimeError("the scheduler is not running")
        return self._dashboard

    # -- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> ContainerCluster:
        try:
            _run(self.tool, "network", "create", "--label", f"{LABEL}={self.run_id}", self.network)
            if self.start_scheduler:
                self.start_operator_scheduler()
                self.wait_for_http("/health")
                for _ in range(self.n_workers):
                    self.add_worker()
                self.wait_for_workers(self.n_workers)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove every container and the network of this run (idempotent)."""
        remove_all(self.tool, self.run_id)
        self.containers.clear()

    # -- generic containers -----------------------------------------------------------------
    def unique(self, name: str) -> str:
        """Return ``name`` with this run's suffix (container names are host-global)."""
        return f"{name}-{self.run_id}"

    def podman_args(self, spec: ContainerSpec, *, detach: bool = True) -> list[str]:
        """Return the ``run`` arguments for ``spec`` (hardened, labelled, on the network)."""
        argv = ["run", "--name", spec.name, "--network", self.network, *hardening(self.tool)]
        argv += ["--label", f"{LABEL}={self.run_id}"]
        for key, value in spec.labels.items():
            argv += ["--label", f"{key}={value}"]
        if detach:
            argv.append("--detach")
        for alias in spec.aliases:
            argv += ["--network-alias", alias]
        for port in spec.publish:
            argv += ["--publish", f"127.0.0.1::{port}"]
        for host, target in spec.volumes:
            argv += ["--volume", f"{host}:{target}:rw"]
        for key, value in spec.env.items():
            argv += ["--env", f"{key}={value}"]
        rest = list(spec.args or [])
        if spec.command:
            # Works for podman and docker alike: docker's --entrypoint takes one executable.
            argv += ["--entrypoint", spec.command[0]]
            rest = spec.command[1:] + rest
        argv.append(spec.image)
        argv += rest
        return argv

    def start(self, spec: ContainerSpec) -> str:
        """Start ``spec`` detached on the cluster network and return its container name."""
        self.containers.append(spec.name)
        _run(self.tool, *self.podman_args(spec, detach=True))
        return spec.name

    def start_k8s(
        self,
        container: Mapping[str, Any],
        *,
        name: str,
        aliases: Sequence[str] = (),
        publish: Sequence[int] = (),
    ) -> str:
        """Start a container from a Kubernetes container dict with this cluster's image.

        Args:
            container: ``spec.containers[i]`` of a pod the operator would create.
            name: Base name (made unique for this run).
            aliases: Network aliases, e.g. ``[cluster.scheduler_host]`` for a scheduler.
            publish: Ports to publish on 127.0.0.1.

        Returns:
            The container name.
        """
        spec = ContainerSpec.from_k8s(
            container, name=self.unique(name), image=self.image, aliases=aliases, publish=publish
        )
        return self.start(spec)

    def use_scheduler(self, name: str) -> None:
        """Mark container ``name`` as the scheduler (publishes nothing; reads its 8787 port)."""
        self.scheduler = name
        port = _run(self.tool, "port", name, str(DASHBOARD_PORT)).strip().splitlines()[0]
        self._dashboard = "http://" + port.replace("0.0.0.0", "127.0.0.1")

    # -- the operator's pods ----------------------------------------------------------------
    def scheduler_container(self) -> dict[str, Any]:
        """Return the scheduler container the operator's default cluster spec renders."""
        from dask_kubernetes.operator.controller import controller as ctl
        from dask_kubernetes.operator.kubecluster.kubecluster import make_scheduler_spec

        spec = make_scheduler_spec(cluster_name=self.cluster, image=self.image)
        _drop_nulls(spec["spec"])
        spec["spec"]["containers"][0]["args"] = ["dask", "scheduler", "--host", "0.0.0.0"]
        deployment = ctl.build_scheduler_deployment_spec(self.cluster, spec["spec"], {}, {})
        container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
        return container

    def worker_container(self, uuid: str) -> tuple[str, dict[str, Any]]:
        """Return ``(worker name, container)`` as the operator's worker Deployment renders it."""
        from dask_kubernetes.operator.controller import controller as ctl
        from dask_kubernetes.operator.kubecluster.kubecluster import make_worker_spec

        spec = make_worker_spec(image=self.image, n_workers=1, worker_command="dask worker")
        _drop_nulls(spec["spec"])
        deployment = ctl.build_worker_deployment_spec(
            worker_group_name=f"{self.cluster}-default",
            namespace=self.namespace,
            cluster_name=self.cluster,
            uuid=uuid,
            pod_spec=spec["spec"],
            annotations={},
            labels={},
        )
        container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
        return deployment["metadata"]["name"], container

    def runner_container(self, args: Sequence[str], job: str = "job") -> dict[str, Any]:
        """Return the job runner container the operator renders for a DaskJob running ``args``."""
        from dask_kubernetes.operator.controller import controller as ctl

        pod = ctl.build_job_pod_spec(
            job_name=job,
            cluster_name=self.cluster,
            namespace=self.namespace,
            spec={"containers": [{"name": "job", "image": self.image, "args": list(args)}]},
            annotations={},
            labels={},
        )
        container: dict[str, Any] = pod["spec"]["containers"][0]
        return container

    def start_operator_scheduler(self) -> str:
        """Start the scheduler under its Service DNS name, dashboard published on 127.0.0.1."""
        name = self.start_k8s(
            self.scheduler_container(),
            name=f"{self.cluster}-scheduler",
            aliases=[self.scheduler_host],
            publish=[DASHBOARD_PORT],
        )
        self.use_scheduler(name)
        return name

    def add_worker(self) -> str:
        """Start one more worker exactly as the operator does; return its Dask worker name."""
        worker_name, container = self.worker_container(secrets.token_hex(5))
        self.workers.append(self.start_k8s(container, name=worker_name))
        return worker_name

    def kill(self, name: str) -> None:
        """SIGKILL container ``name`` (the fault a node or OOM kill causes)."""
        _run(self.tool, "kill", "--signal", "KILL", name)

    def logs(self, name: str) -> str:
        """Return stdout and stderr of container ``name``."""
        proc = subprocess.run(
            [self.tool, "logs", name], capture_output=True, text=True, check=False, timeout=60
        )
        return proc.stdout + proc.stderr

    # -- scheduler HTTP ---------------------------------------------------------------------
    def http_get(self, path: str, timeout: float = 5) -> tuple[int, str]:
        """GET ``path`` from the scheduler's HTTP server; return ``(status, body)``."""
        try:
            with urllib.request.urlopen(self.dashboard_url + path, timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def wait_for_http(self, path: str, timeout: float | None = None) -> str:
        """Poll ``path`` until it answers 200; return the body."""
        deadline = time.monotonic() + (timeout or self.timeout)
        last: object = None
        while time.monotonic() < deadline:
            try:
                status, body = self.http_get(path)
                if status == 200:
                    return body
                last = status
            except OSError as exc:
                last = exc
            time.sleep(0.2)
        raise TimeoutError(
            f"scheduler GET {path}: no 200 within the timeout (last: {last})\n"
            + (self.logs(self.scheduler) if self.scheduler else "")
        )

    def counts(self) -> dict[str, Any]:
        """Return the scheduler's ``/json/counts.json`` (workers, processing, tasks, ...)."""
        result: dict[str, Any] = json.loads(self.wait_for_http("/json/counts.json"))
        return result

    def wait_for_workers(self, n: int, timeout: float | None = None) -> None:
        """Poll until at least ``n`` workers are connected to the scheduler."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            if self.counts()["workers"] >= n:
                return
            time.sleep(0.2)
        logs = "\n".join(f"--- {w}\n{self.logs(w)[-2000:]}" for w in self.workers)
        raise TimeoutError(f"fewer than {n} workers connected within the timeout\n{logs}")

    # -- job runners ------------------------------------------------------------------------
    def start_job(
        self, args: Sequence[str], *, output_dir: Path | None = None, name: str = "job"
    ) -> Job:
        """Start a runner container with only the env the operator injects; do not wait.

        Args:
            args: The container's args, e.g. ``["daskburst", "run", "array", ...]``.
            output_dir: Host directory mounted read-write at ``/out`` (made writable for
                uid 1000); a ``--output /out/result.json`` written there is read back.
            name: Base name of the DaskJob (the pod is ``<name>-runner``).

        Returns:
            The running job; call :meth:`Job.wait`.
        """
        spec = ContainerSpec.from_k8s(
            self.runner_container(args, job=name),
            name=self.unique(f"{name}-runner"),
            image=self.image,
        )
        if output_dir is not None:
            output_dir.mkdir(parents=True, exist_ok=True)
            output_dir.chmod(0o777)
            spec.volumes.append((str(output_dir), "/out"))
        self.containers.append(spec.name)
        proc = subprocess.Popen(
            [self.tool, *self.podman_args(spec, detach=False)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return Job(self, spec.name, proc, output_dir)

    def run_job(
        self,
        args: Sequence[str],
        *,
        output_dir: Path | None = None,
        timeout: float = 300,
        name: str = "job",
    ) -> JobResult:
        """Run a runner container to completion (see :meth:`start_job`).

        Raises:
            TimeoutError: When it is still running after ``timeout`` seconds (it is removed).
        """
        return self.start_job(args, output_dir=output_dir, name=name).wait(timeout)

    def time_worker_connect(self) -> float:
        """Start one more operator-style worker; return seconds from ``run`` to connected."""
        worker_name, container = self.worker_container(secrets.token_hex(5))
        start = time.monotonic()
        self.workers.append(self.start_k8s(container, name=worker_name))
        deadline = start + self.timeout
        while time.monotonic() < deadline:
            body = json.loads(self.wait_for_http("/api/v1/get_workers"))
            if any(w["name"] == worker_name for w in body["workers"]):
                return time.monotonic() - start
            time.sleep(0.05)
        raise TimeoutError(f"worker {worker_name} did not connect within {self.timeout}s")


class Job:
    """A runner container started by :meth:`ContainerCluster.start_job`."""

    def __init__(
        self,
        cluster: ContainerCluster,
        name: str,
        proc: subprocess.Popen[str],
        output_dir: Path | None,
    ) -> None:
        self.cluster = cluster
        self.name = name
        self.proc = proc
        self.output_dir = output_dir

    def wait(self, timeout: float = 300) -> JobResult:
        """Wait for the runner to exit, remove it, and return what it left.

        Raises:
            TimeoutError: When it is still running after ``timeout`` seconds (it is removed).
        """
        tool = self.cluster.tool
        try:
            logs, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            partial = self.cluster.logs(self.name)
            _run(tool, *_rm_now(tool), self.name, check=False)
            self.proc.kill()
            self.proc.communicate()
            msg = f"runner {self.name} still running after {timeout}s\n{partial}"
            raise TimeoutError(msg) from None
        _run(tool, "rm", "-f", self.name, check=False)
        output = None
        if self.output_dir is not None and (self.output_dir / "result.json").exists():
            output = json.loads((self.output_dir / "result.json").read_text(encoding="utf-8"))
        return JobResult(self.proc.returncode, logs, output)


@contextlib.contextmanager
def container_cluster(image: str | None = None, **kwargs: Any) -> Iterator[ContainerCluster]:
    """Context-manager function form of :class:`ContainerCluster` (same arguments)."""
    with ContainerCluster(image, **kwargs) as cluster:
        yield cluster
