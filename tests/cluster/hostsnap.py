"""The host's Kubernetes state, listed without the cluster scripts' own code.

`tests/cluster/test_lifecycle.py` checks `make cluster-down` against it. CI takes one listing
before `make cluster-up` (``python -m tests.cluster.hostsnap FILE``, named by
``DASKBURST_HOST_BEFORE_UP``): what was on the machine before is not the cluster's to remove,
and a leftover of another checkout's killed cluster must not fail this one's test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*cmd: str) -> str:
    try:
        return subprocess.run(list(cmd), capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:  # a fresh machine has no iptables before cluster-up installs it
        return ""


def independent_leftovers(state: Path) -> dict[str, list[str]]:
    """Processes, mounts, iptables lines, links, cgroups, sysctls and nftables of a cluster."""
    bins = str(ROOT / "build" / "bin")
    procs = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if cmd.startswith(bins) or str(state) in cmd:
                procs.append(f"{entry.name} {cmd[:150]}")
    mounts = [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(
            (str(state), "/var/lib/kubelet", "/run/containerd", "/run/netns/cni-")
        )
    ]
    chains = []
    for tool in ("iptables-save", "ip6tables-save"):
        dump = _run(tool)
        chains += [line for line in dump.splitlines() if re.search(r"\b(KUBE|CNI)-", line)]
    links = _run("ip", "-o", "link")
    cgroups = [str(p) for p in Path("/sys/fs/cgroup").glob("*/kubepods*")]
    localnet = Path("/proc/sys/net/ipv4/conf/all/route_localnet").read_text().strip()
    tables = _run("nft", "list", "tables")
    nft = [t for t in tables.splitlines() if "kube-proxy" in t]
    ipsets = [n for n in _run("ipset", "list", "-n").split() if re.match(r"KUBE-(SRC|DST)-", n)]
    return {
        "processes": procs,
        "mounts": mounts,
        "iptables": chains,
        "links": ["daskburst0"] if re.search(r"^\d+: daskburst0[:@]", links, re.M) else [],
        "cgroups": cgroups,
        "route_localnet": [] if localnet == "0" else [f"route_localnet={localnet}"],
        "nftables": nft,
        "ipsets": ipsets,
    }


def new_since_ci_start(now: dict[str, list[str]]) -> dict[str, list[str]]:
    """``now`` less what the listing taken before cluster-up held (all of it without one)."""
    path = os.environ.get("DASKBURST_HOST_BEFORE_UP")
    before: dict[str, list[str]] = json.loads(Path(path).read_text()) if path else {}
    # Processes are never excused: none of the cluster's may outlive it.
    return {
        key: [line for line in lines if key == "processes" or line not in before.get(key, [])]
        for key, lines in now.items()
    }


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    snap = independent_leftovers(ROOT / "build" / "cluster")
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(snap, indent=1) + "\n")
    tmp.replace(out)
    held = {key: len(lines) for key, lines in snap.items() if lines}
    print(f"host before cluster-up: {held or 'no Kubernetes state'}")
