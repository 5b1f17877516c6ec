"""The host's netfilter state a cluster makes: iptables chains, kube-router's ipsets, nftables.

Pure of the cluster's settings: what exists, what to delete, given what was someone else's.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Sequence

#: nftables tables of kube-proxy's nftables mode (this cluster runs iptables mode; a restart
#: in the other mode would leave them).
NFT_TABLES = (
    ("ip", "kube-proxy"),
    ("ip6", "kube-proxy"),
)


#: ipsets of kube-router's NetworkPolicy controller (pods a policy selects, per policy).
IPSET = re.compile(r"^KUBE-(SRC|DST)-")


#: Chains created by kube-proxy, the kubelet and the CNI plugins.
CHAIN = re.compile(r"^(KUBE-|CNI-)")


TABLES = ("filter", "nat", "mangle", "raw")


def _table_rules() -> Iterator[tuple[str, str, list[str]]]:
    """Yield ``(binary, table, rules)``: each table's rules as ``-S`` prints them, IPv4 and IPv6.

    A binary that is not installed is skipped. Lazy: each table is listed only once the caller
    is done with the one before.
    """
    for tool in ("iptables", "ip6tables"):
        if shutil.which(tool) is None:
            continue
        for table in TABLES:
            proc = subprocess.run(
                [tool, "-w", "-t", table, "-S"], capture_output=True, text=True, check=False
            )
            yield tool, table, proc.stdout.splitlines()


def iptables_leftovers(chain: re.Pattern[str] = CHAIN) -> list[str]:
    """Return ``<binary> <table> <chain>`` for every KUBE-*/CNI-* chain, IPv4 and IPv6."""
    found = []
    for tool, table, rules in _table_rules():
        for line in rules:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "-N" and chain.match(parts[1]):
                found.append(f"{tool} {table} {parts[1]}")
    return found


def has_chain(table: str, chain: str) -> bool:
    """Whether the IPv4 iptables ``table`` has ``chain``."""
    proc = subprocess.run(["iptables", "-w", "-t", table, "-S", chain], capture_output=True,
                          check=False)  # fmt: skip
    return proc.returncode == 0


_PROBE_SET = "localk8s-probe"


_PROBE_CHAIN = "LOCALK8S-PROBE"


def ipset_unsupported() -> str | None:
    """Return why iptables cannot match ipsets here (what kube-router's firewall needs), else None.

    Creates a throw-away set and a chain with an ``-m set`` rule, then removes both.
    """
    if shutil.which("ipset") is None:
        return "ipset not installed (apt-get install ipset)"

    def first_error(proc: subprocess.CompletedProcess[str]) -> str:
        lines = proc.stderr.strip().splitlines()
        return lines[0] if lines else f"exit code {proc.returncode}"

    made = subprocess.run(["ipset", "create", _PROBE_SET, "hash:ip", "-exist"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if made.returncode != 0:
        return f"ipset create: {first_error(made)}"
    try:
        subprocess.run(["iptables", "-w", "-N", _PROBE_CHAIN], capture_output=True, check=False)
        rule = subprocess.run(
            ["iptables", "-w", "-A", _PROBE_CHAIN, "-m", "set", "--match-set", _PROBE_SET,
             "src", "-j", "RETURN"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        return None if rule.returncode == 0 else f"iptables -m set: {first_error(rule)}"
    finally:
        subprocess.run(["iptables", "-w", "-F", _PROBE_CHAIN], capture_output=True, check=False)
        subprocess.run(["iptables", "-w", "-X", _PROBE_CHAIN], capture_output=True, check=False)
        subprocess.run(["ipset", "destroy", _PROBE_SET], capture_output=True, check=False)


def ipset_leftovers() -> list[str]:
    """Return the names of kube-router's ipsets (``KUBE-SRC-*``, ``KUBE-DST-*``) present."""
    if shutil.which("ipset") is None:
        return []
    proc = subprocess.run(["ipset", "list", "-n"], capture_output=True, text=True, check=False)
    return sorted(n for n in proc.stdout.split() if IPSET.match(n))


def nft_leftovers() -> list[str]:
    """Return ``<family> <table>`` for each enforcer/kube-proxy nftables table present."""
    if shutil.which("nft") is None:
        return []
    proc = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False)
    present = {
        tuple(line.split()[1:3]) for line in proc.stdout.splitlines() if line.startswith("table ")
    }
    return [f"{fam} {name}" for fam, name in NFT_TABLES if (fam, name) in present]


def sweep_iptables(chain: re.Pattern[str] = CHAIN, theirs: Sequence[str] = ()) -> list[str]:
    """Delete the KUBE-*/CNI-* chains the cluster made and the rules that jump to them.

    kube-proxy's, the kubelet's (KUBE-FIREWALL, KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT) and
    the CNI plugins' alike; not ``kube-proxy --cleanup``, which deletes every kube-proxy
    chain on the host, another cluster's too.

    Args:
        chain: Which chain names a cluster makes.
        theirs: ``<binary> <table> <chain>`` that existed before the cluster: kept, with
            every rule that jumps to them.

    Returns:
        Chains of the cluster that remain (should be none).
    """
    for tool, table, rules in _table_rules():
        kept = {c.split()[2] for c in theirs if c.split()[:2] == [tool, table]}

        def mine(name: str, kept: set[str] = kept) -> bool:
            return bool(chain.match(name)) and name not in kept

        ours = []
        for line in rules:
            # shlex, not str.split: the CNI plugins' rules carry quoted comments
            # (--comment "name: \"daskburst\" id: ...") that -D must be given verbatim.
            parts = shlex.split(line)
            if len(parts) >= 2 and parts[0] == "-N" and mine(parts[1]):
                ours.append(parts[1])
            elif len(parts) >= 2 and parts[0] == "-A" and not mine(parts[1]):
                target = parts[parts.index("-j") + 1] if "-j" in parts else ""
                if mine(target):
                    subprocess.run(
                        [tool, "-w", "-t", table, "-D", *parts[1:]],
                        capture_output=True,
                        check=False,
                    )
        for name in ours:
            subprocess.run([tool, "-w", "-t", table, "-F", name], capture_output=True, check=False)
        for name in ours:
            subprocess.run([tool, "-w", "-t", table, "-X", name], capture_output=True, check=False)
    return [c for c in iptables_leftovers(chain) if c not in theirs]
