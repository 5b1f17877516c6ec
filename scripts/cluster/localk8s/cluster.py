"""``up``, ``down`` and ``status`` of the single-node cluster."""

from __future__ import annotations

import functools
import json
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localk8s import configs, host, images, netfilter, pki, procs
from localk8s.settings import REPO, Settings

#: Start order; ``down`` stops in reverse (the node first, the control plane last).
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
NODE = ("containerd", "kubelet", "kube-proxy", "coredns")
#: The NetworkPolicy enforcer, started once the node is Ready (where the host allows it).
ENFORCER = "kube-router"


class ClusterError(RuntimeError):
    """The cluster could not be brought up or down."""


def say(msg: str) -> None:
    """Print a progress line on stderr."""
    sys.stderr.write(f"cluster: {msg}\n")
    sys.stderr.flush()


class _Steps:
    """Times each step, so a slow start says where the time went."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.times: dict[str, float] = {}

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        t = time.monotonic()
        result = fn()
        self.times[name] = round(time.monotonic() - t, 1)
        return result

    @property
    def total(self) -> float:
        return round(time.monotonic() - self.started, 1)


def kubectl(s: Settings, *args: str, stdin: str | None = None, check: bool = True) -> str:
    """Run the cluster's own kubectl with the admin kubeconfig.

    Raises:
        ClusterError: When it fails and ``check`` is set.
    """
    proc = subprocess.run(
        [str(s.bin("kubectl")), f"--kubeconfig={s.kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args[:3])}: {proc.stderr.strip()[-800:]}")
    return proc.stdout


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)


def _health(s: Settings) -> dict[str, Callable[[], bool]]:
    admin = procs.tls_context(s, "admin")
    loose = procs.insecure_context()
    return {
        "etcd": lambda: procs.http_ok(
            f"http://127.0.0.1:{s.etcd_metrics_port}/health", expect='"health":"true"'
        ),
        "kube-apiserver": lambda: procs.http_ok(f"{s.api_url}/readyz", admin),
        "kube-controller-manager": lambda: procs.http_ok(
            f"https://127.0.0.1:{s.controller_manager_port}/healthz", loose
        ),
        "kube-scheduler": lambda: procs.http_ok(
            f"https://127.0.0.1:{s.scheduler_port}/healthz", loose
        ),
        "containerd": lambda: (
            subprocess.run(
                ["ctr", "--address", str(s.containerd_socket), "version"],
                capture_output=True,
                check=False,
            ).returncode
            == 0
        ),
        "kubelet": lambda: procs.http_ok(f"http://127.0.0.1:{s.kubelet_healthz_port}/healthz"),
        "kube-proxy": lambda: procs.http_ok(f"http://127.0.0.1:{s.proxy_healthz_port}/livez"),
        "coredns": lambda: procs.http_ok(f"http://127.0.0.1:{s.coredns_ready_port}/ready"),
        "kube-router": lambda: procs.http_ok(
            f"http://127.0.0.1:{s.kube_router_health_port}/healthz"
        ),
    }


def _argv(s: Settings, name: str) -> list[str]:
    if name == "containerd":
        return [
            shutil.which("containerd") or "containerd",
            "--config",
            str(s.conf / "containerd.toml"),
        ]
    builders = {
        "etcd": configs.etcd_args,
        "kube-apiserver": configs.apiserver_args,
        "kube-controller-manager": configs.controller_manager_args,
        "kube-scheduler": configs.scheduler_args,
        "kubelet": configs.kubelet_args,
        "kube-proxy": configs.kube_proxy_args,
        "coredns": configs.coredns_args,
        "kube-router": configs.kube_router_args,
    }
    return builders[name](s)


def _start(s: Settings, name: str, timeout: float = 90) -> None:
    was = procs.running(s, name)
    procs.start(s, name, _argv(s, name))
    waited = procs.wait_healthy(s, name, _health(s)[name], timeout=timeout)
    say(f"{name} {'running' if was else 'started'} ({waited:.1f} s to healthy)")


def _node_ready(s: Settings) -> bool:
    out = kubectl(s, "get", "node", s.node_name, "-o", "json", check=False)
    if not out:
        return False
    conditions = json.loads(out).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def enforce_network_policy(s: Settings) -> str:
    """Run kube-router's NetworkPolicy controller when the host allows it; record the outcome.

    kube-router (``--run-firewall`` alone) programs iptables chains and ipsets for every pod
    that a NetworkPolicy selects. The outcome goes to the ConfigMap
    ``kube-system/localk8s-features`` (key ``networkpolicy``): ``enforced``, or
    ``not enforced: <the host's refusal>``.

    Returns:
        The recorded outcome.
    """
    refusal = netfilter.ipset_unsupported()
    if not refusal and (theirs := host.before(s).get("ipsets")):
        # kube-router takes every KUBE-SRC-*/KUBE-DST-* set on the host for its own.
        refusal = (f"the host already has {len(theirs)} kube-router ipset(s) ({theirs[0]}, ...): "
                   "another kube-router runs here")  # fmt: skip
    if refusal:
        outcome = (
            "not enforced: kube-router's firewall needs iptables with ipset (CONFIG_IP_SET, "
            f"CONFIG_NETFILTER_XT_SET) and a host to itself: {refusal}"
        )
        procs.stop(s, "kube-router")
        say(f"NetworkPolicy {outcome}")
    else:
        if not s.bin("kube-router").exists():
            say("building kube-router (about 2 minutes on 2 cores)")
            proc = subprocess.run(
                [str(REPO / "scripts" / "cluster" / "build"), "netpol"],
                env={**_env(), "CLUSTER_BIN_ROOT": str(s.bin_root)},
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise ClusterError(f"building kube-router failed: {proc.stderr[-1500:]}")
        _start(s, "kube-router")
        synced = functools.partial(netfilter.has_chain, "filter", "KUBE-ROUTER-FORWARD")
        waited = _wait("kube-router's first sync (chain KUBE-ROUTER-FORWARD)", synced, 60)
        outcome = "enforced"
        say(f"NetworkPolicy enforced by kube-router's firewall ({waited:.1f} s to its first sync)")
    kubectl(s, "apply", "--server-side", "--force-conflicts", "-f", "-",
            stdin=json.dumps(configs.features_configmap(outcome)))  # fmt: skip
    return outcome


def _wait(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.5) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise ClusterError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - started


def prepare(s: Settings) -> None:
    """Check the host, record it, and write certificates, configs and kubeconfigs."""
    problems = host.preflight(s)
    if problems:
        raise ClusterError("; ".join(problems))
    fresh = not host.read_record(s)
    if fresh and (ports := host.bridge_ports(s)):
        # Pods of another cluster still sit on the bridge: this cluster's address pool starts
        # afresh and would hand their addresses out again, and connections would go astray.
        raise ClusterError(
            f"bridge {s.bridge} already has {len(ports)} pod interface(s) ({', '.join(ports[:4])}"
            f"{', ...' if len(ports) > 4 else ''}) of a cluster this one did not make (another "
            "checkout's, or one killed there): run `make cluster-down` in that checkout, or "
            f"remove it with `ip link delete {s.bridge}` and its /run/netns/cni-* namespaces"
        )
    if not any(procs.running(s, n) for n in (*CONTROL_PLANE, *NODE, ENFORCER)):
        taken = host.ports_in_use(host.cluster_ports(s))
        if taken:
            raise ClusterError(
                f"ports {', '.join(map(str, taken))} are in use: another Kubernetes or etcd "
                "runs here (stop it, or `make cluster-down` if it is this one)"
            )
    s.state.mkdir(parents=True, exist_ok=True)
    rec = host.record(s)
    if fresh and (note := host.foreign_note(rec["before"])):
        say(note)
    made = pki.ensure(s)
    if made:
        say(f"certificates: made {len(made)} in {s.pki}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = hard if hard != resource.RLIM_INFINITY else 1_048_576
    for path, text in configs.files(s, max_open_files=limit).items():
        _write(path, text)
    admin = configs.kubeconfig(s, "daskburst-admin", "admin", embed=True)
    import yaml

    _write(s.kubeconfig, yaml.safe_dump(admin), mode=0o600)
    for d in (s.run, s.pod_logs, s.kubelet_root, s.cni_ipam_dir, s.containerd_root):
        d.mkdir(parents=True, exist_ok=True)
    tools = s.state / "bin"
    tools.mkdir(exist_ok=True)
    link = tools / "kubectl"
    if not link.is_symlink() or link.resolve() != s.bin("kubectl"):
        link.unlink(missing_ok=True)
        link.symlink_to(s.bin("kubectl"))
    crictl = " ".join(f"'{a}'" for a in s.crictl())
    _write(tools / "crictl", f'#!/bin/sh\nexec {crictl} "$@"\n', mode=0o755)
    _write(
        s.state / "crictl.yaml",
        f"runtime-endpoint: {s.containerd_endpoint}\nimage-endpoint: {s.containerd_endpoint}\n",
    )


def up(s: Settings, image: str | None, operator: bool = True) -> dict[str, float]:
    """Bring the cluster up (or find it running) and make it ready for ``kubectl apply -f jobs/``.

    Args:
        s: The settings.
        image: The project image to load from podman (None: skip images and operator).
        operator: Install the Dask operator and ``k8s/`` from the project image.

    Returns:
        Seconds per step.
    """
    steps = _Steps()
    steps.run("prepare", lambda: prepare(s))
    for name in ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables"):
        if host.read_sysctl(name) != "1":
            host.write_sysctl(name, "1")
    for name in CONTROL_PLANE:
        steps.run(name, functools.partial(_start, s, name))
        if name == "kube-apiserver":
            kubectl(s, "apply", "--server-side", "--force-conflicts",
                    "-f", str(s.conf / "bootstrap.yaml"))  # fmt: skip
    host.share_netns_dir(s)
    steps.run("containerd", lambda: _start(s, "containerd"))
    if steps.run("pause image", lambda: images.ensure_pause(s)):
        say(f"pause image {s.pause_image} imported")
    for name in NODE[1:]:
        steps.run(name, functools.partial(_start, s, name))
    waited = steps.run(
        "node Ready", lambda: _wait(f"node {s.node_name} Ready", lambda: _node_ready(s), 120)
    )
    say(f"node {s.node_name} Ready ({waited:.1f} s)")
    steps.run("networkpolicy", lambda: enforce_network_policy(s))
    if image:
        steps.run("project image", lambda: load_project_image(s, image))
        if operator:
            steps.run("operator", lambda: install_operator(s))
    steps.times["total"] = steps.total
    _write(s.state / "up-times.json", json.dumps(steps.times, indent=2) + "\n")
    return steps.times


def load_project_image(s: Settings, image: str) -> None:
    """Build the project image if podman lacks it or it is stale, then load it into the node.

    The image goes in under its own name and as ``localhost/daskburst:dev`` (the dask-burst
    kind overlay's name).
    """
    t = time.monotonic()
    if images.podman_image_is_fresh(image, images.build_inputs(REPO)):
        say(f"image {image} is newer than its sources")
    else:
        say(f"building {image} with `make image` (missing or older than its sources)")
        proc = subprocess.run(
            ["make", "--no-print-directory", "image", f"IMG={image}", "CONTAINER_TOOL=podman"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ClusterError(f"`make image` failed:\n{(proc.stdout + proc.stderr)[-2000:]}")
        say(f"image {image} built ({time.monotonic() - t:.1f} s)")
    repo = image.rsplit(":", 1)[0]
    t = time.monotonic()
    if images.load_from_podman(s, image, aliases=(f"{repo}:dev",)):
        say(f"image {image} (and :dev) loaded into containerd ({time.monotonic() - t:.1f} s)")


def install_operator(s: Settings) -> None:
    """Install the Dask operator (from the project image) and ``k8s/`` with ``daskburst k8s``."""
    daskburst = REPO / ".venv" / "bin" / "daskburst"
    if not daskburst.exists():
        daskburst = Path(shutil.which("daskburst") or "daskburst")
    proc = subprocess.run(
        [str(daskburst), "k8s", "install", "--bundled-operator", "--manifests", str(REPO),
         "--kubectl", str(s.bin("kubectl")), "--timeout", "300"],
        env={**_env(), "KUBECONFIG": str(s.kubeconfig)},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise ClusterError(f"daskburst k8s install failed: {proc.stderr.strip()[-1500:]}")
    say("Dask operator (bundled image) and k8s/ installed; CRDs established, operator ready")


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def _crictl(s: Settings, *args: str) -> str:
    proc = subprocess.run(
        [*s.crictl(), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return proc.stdout


def _sandboxes(s: Settings) -> list[str]:
    return _crictl(s, "pods", "-q").split()


def down(s: Settings, keep_images: bool = True) -> dict[str, list[str]]:
    """Stop everything ``up`` started and remove what it left on the host.

    Pods are deleted first, while the kubelet runs (so it runs CNI DEL and unmounts their
    volumes); then the node, then the control plane; then mounts, network namespaces, the
    bridge, iptables chains (the kubelet's too), cgroups and sysctls. Logs stay under
    ``logs/``; the cluster's data (etcd, kubelet, containerd state) is deleted, containerd's
    image store is kept unless ``keep_images`` is False.

    Returns:
        What is still left on the host (empty lists: clean).
    """
    if procs.running(s, "kube-apiserver") and procs.running(s, "kubelet"):
        for name in ("kube-controller-manager", "kube-scheduler"):
            procs.stop(s, name)
        kubectl(s, "delete", "pods", "--all", "--all-namespaces", "--grace-period=5",
                "--wait=false", check=False)  # fmt: skip
        try:
            _wait("the kubelet to remove every pod", lambda: not _sandboxes(s), 60, interval=1)
        except ClusterError as exc:
            say(f"{exc}; removing the remaining sandboxes directly")
    for name in (ENFORCER, "coredns", "kube-proxy", "kubelet"):
        procs.stop(s, name)
    if procs.running(s, "containerd"):
        for pod in _sandboxes(s):
            _crictl(s, "stopp", pod)
            _crictl(s, "rmp", "--force", pod)
    procs.stop(s, "containerd", timeout=30)
    for name in reversed(CONTROL_PLANE):
        procs.stop(s, name)
    stray = host.our_processes(s)
    if stray:
        # Shims whose containerd is gone, or a component whose PID file was lost.
        say(f"killing {len(stray)} stray process(es) of the cluster: "
            + ", ".join(f"{pid} {cmd.split()[0]}" for pid, cmd in stray))  # fmt: skip
        for pid, _cmd in stray:
            subprocess.run(["kill", "-9", str(pid)], capture_output=True, check=False)
        try:
            _wait("the stray processes to exit", lambda: not host.our_processes(s), 15)
        except ClusterError as exc:
            say(str(exc))
    # Only what this cluster made: mounts, namespaces, chains and tables that existed before
    # it (podman's, Docker's, another kubelet's) stay (see host.before).
    host.unmount_ours(s)
    host.remove_netns(s)
    host.unshare_netns_dir(s)
    host.remove_nft_tables(s)
    netfilter.sweep_iptables(theirs=host.before(s).get("iptables", []))
    host.remove_ipsets(s)
    host.remove_cgroups(s)
    host.restore(s)
    for path in (s.etcd_data, s.kubelet_root, s.containerd_state, s.run, s.cni_ipam_dir, s.pids,
                 s.state / "containerd" / "opt"):  # fmt: skip
        host.safe_rmtree(path)
    if not keep_images:
        host.safe_rmtree(s.containerd_root)
    left = host.leftovers(s)
    if not any(left.values()):
        host.retire_record(s)
    return left


def status(s: Settings) -> dict[str, Any]:
    """Return which components run and whether the node is Ready."""
    running = {n: procs.running(s, n) for n in (*CONTROL_PLANE, *NODE, ENFORCER)}
    ready = bool(running["kube-apiserver"]) and _node_ready(s)
    return {"components": running, "node_ready": ready, "kubeconfig": str(s.kubeconfig)}
