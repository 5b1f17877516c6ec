"""A real single-node Kubernetes of host processes, built from upstream sources.

``make cluster-up`` / ``make cluster-down`` drive it (``python -m localk8s up|down|status``).
It is a distribution of its own, ``daskburst-localk8s`` (``scripts/cluster/pyproject.toml``),
that ``make venv`` installs editable; its tests are in ``tests/localk8s``. The parts:

- :mod:`localk8s.settings`: every path, version, address and port, from one state directory
  and the environment (pure);
- :mod:`localk8s.pki`: which certificates the cluster needs (pure) and openssl to make them;
- :mod:`localk8s.configs`: config files, kubeconfigs, command lines and bootstrap objects of
  every component (pure, testable without root);
- :mod:`localk8s.host`: what the host must have and what a cluster leaves on it (links,
  mounts, cgroups), to check before and to clean after;
- :mod:`localk8s.netfilter`: the iptables chains, ipsets and nftables tables a cluster makes;
- :mod:`localk8s.images`: the pause image and loading the project image into containerd;
- :mod:`localk8s.procs`: starting, health-waiting and stopping processes by PID;
- :mod:`localk8s.cluster`: ``up``, ``down`` and ``status`` built from the above.
"""
