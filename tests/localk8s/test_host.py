"""localk8s.host: what the host must have before `up`, and what is ours to clean after."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from localk8s import host
from localk8s.settings import Settings


def test_preflight_names_what_is_missing_in_one_line(
    s: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(host.platform, "system", lambda: "Darwin")
    assert host.preflight(s) == ["this is Darwin: the single-node cluster needs Linux"]
    monkeypatch.setattr(host.platform, "system", lambda: "Linux")
    monkeypatch.setattr(host.os, "geteuid", lambda: 1000)
    [line] = host.preflight(s)
    assert line.startswith("must run as root")


def test_a_killed_clusters_husk_is_ours_to_remove_with_or_without_a_record(tmp_path: Path) -> None:
    """A kubelet killed before cluster-down finished leaves empty directories and a dead
    socket in the hard-coded paths; the next cluster's record must not adopt them as the
    host's own (that left /var/lib/kubelet behind after a clean down). Anything with data,
    or a socket something listens on, stays the host's."""
    husk = tmp_path / "kubelet"
    (husk / "device-plugins").mkdir(parents=True)
    (husk / "pods").mkdir()
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(husk / "device-plugins" / "kubelet.sock"))
    assert host.is_husk(husk)
    assert host._ours(husk, {}, set())
    assert host._ours(husk, {"preexisting": [str(husk)]}, {str(husk)})

    with socket.socket(socket.AF_UNIX) as live:
        live.bind(str(husk / "pods" / "live.sock"))
        live.listen(1)
        assert not host.is_husk(husk)
    (husk / "pods" / "live.sock").unlink()
    (husk / "pods" / "state.json").write_text("{}")
    assert not host.is_husk(husk)
    assert not host._ours(husk, {}, set())
    assert not host._ours(husk, {"preexisting": [str(husk)]}, {str(husk)})
    assert host._ours(husk, {"preexisting": []}, set())
    assert not host._ours(tmp_path / "absent", {"preexisting": []}, set())


def test_up_names_kubernetes_state_it_did_not_make() -> None:
    """A killed cluster of another checkout, or another kubelet: named once, left alone."""
    assert host.foreign_note({"iptables": [], "netns": ["podman-1"], "cgroups": []}) is None
    note = host.foreign_note({
        "iptables": ["iptables nat KUBE-SERVICES", "iptables nat CNI-0e3d"],
        "netns": ["cni-43c9", "cni-166f", "podman-1"],
        "cgroups": ["/sys/fs/cgroup/memory/kubepods"],
    })  # fmt: skip
    assert note is not None and "\n" not in note
    assert "2 KUBE-*/CNI-* iptables chain(s), 2 cni-* netns, 1 kubepods cgroup(s)" in note
    assert "left alone" in note and "make cluster-down" in note
