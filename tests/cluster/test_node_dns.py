"""The single-node cluster's CoreDNS answers the node and its pods, never the network.

CoreDNS runs as a host process on the node IP, which other machines can reach: without its
``acl`` it is an open resolver for the whole network. "Outside the node" is a network
namespace joined to the host by a veth pair, with an address of its own (192.0.2.2, from
TEST-NET-1): it reaches the API server on the node IP, so the path is open, and gets no DNS
answer there.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
from collections.abc import Iterator

import pytest

from localk8s import settings
from tests.cluster.conftest import Cluster
from tests.helpers import require

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

OUTSIDE = "dbt-outside"
HOST_SIDE, NS_SIDE = "dbt-out0", "dbt-out1"

#: Asks node_ip:53 for kubernetes.default.svc.cluster.local; prints "answer" or "silence".
QUERY = r"""
import socket, struct, sys
name = b"".join(bytes([len(p)]) + p for p in b"kubernetes.default.svc.cluster.local".split(b"."))
query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + name + b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(query, (sys.argv[1], 53))
try:
    reply = s.recv(512)
except socket.timeout:
    print("silence")
else:
    print("answer" if reply[:2] == b"\x12\x34" and struct.unpack(">H", reply[6:8])[0] else "empty")
"""


def _ip(*args: str, netns: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def outside() -> Iterator[str]:
    """A network namespace that reaches the node as another machine would; removed after."""
    require(os.geteuid() == 0, "network namespaces need root")
    subprocess.run(["ip", "netns", "delete", OUTSIDE], capture_output=True, check=False)
    try:
        _ip("netns", "add", OUTSIDE)
        _ip("link", "add", HOST_SIDE, "type", "veth", "peer", "name", NS_SIDE)
        _ip("link", "set", NS_SIDE, "netns", OUTSIDE)
        _ip("addr", "add", "192.0.2.1/30", "dev", HOST_SIDE)
        _ip("link", "set", HOST_SIDE, "up")
        _ip("link", "set", "lo", "up", netns=OUTSIDE)
        _ip("addr", "add", "192.0.2.2/30", "dev", NS_SIDE, netns=OUTSIDE)
        _ip("link", "set", NS_SIDE, "up", netns=OUTSIDE)
        _ip("route", "add", "default", "via", "192.0.2.1", netns=OUTSIDE)
        yield OUTSIDE
    finally:
        subprocess.run(["ip", "link", "delete", HOST_SIDE], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "delete", OUTSIDE], capture_output=True, check=False)


def _ask(node_ip: str, netns: str | None = None) -> str:
    import sys

    prefix = ["ip", "netns", "exec", netns] if netns else []
    proc = subprocess.run([*prefix, sys.executable, "-c", QUERY, node_ip], capture_output=True,
                          text=True, timeout=30, check=True)  # fmt: skip
    return proc.stdout.strip()


def test_coredns_answers_the_node_but_not_the_network(cluster: Cluster, outside: str) -> None:
    require(not os.environ.get("DASKBURST_TEST_KUBECONFIG"), "the single-node cluster's CoreDNS")
    s = settings.load()
    assert _ask(s.node_ip) == "answer", "the node itself must be answered"
    # The path from outside is open: the node answers a TCP connection (accepts or refuses
    # it; a dropped path would time out).
    probe = (
        "import socket\ntry:\n"
        f"    socket.create_connection(('{s.node_ip}', {s.api_port}), 3)\n"
        "except ConnectionRefusedError:\n    pass\nprint('reached')"
    )
    reach = subprocess.run(["ip", "netns", "exec", outside, "python3", "-c", probe],
                           capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert reach.stdout.strip() == "reached", reach.stderr
    assert _ask(s.node_ip, netns=outside) == "silence"


def test_the_query_helper_can_tell_an_answer_from_silence() -> None:
    """Against a socket that never answers, the helper says silence (so the test can fail)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:
        mute.bind(("127.0.0.1", 0))
        port = mute.getsockname()[1]
        code = QUERY.replace("(sys.argv[1], 53)", f"(sys.argv[1], {port})")
        import sys

        out = subprocess.run([sys.executable, "-c", code, "127.0.0.1"], capture_output=True,
                             text=True, timeout=30, check=True).stdout  # fmt: skip
    assert out.strip() == "silence"
    assert struct.calcsize(">HHHHHH") == 12
