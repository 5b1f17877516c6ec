"""``python -m localk8s up|down|status|leftovers`` (``make cluster-up`` and friends)."""

from __future__ import annotations

import argparse
import json
import sys

from localk8s import cluster, host, procs, settings


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit 0 on success, 1 on failure, 2 on bad usage."""
    parser = argparse.ArgumentParser(prog="localk8s", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("up", help="start the cluster (or find it running)")
    p.add_argument("--image", help="project image to load from podman and run the operator from")
    p.add_argument("--no-operator", action="store_true", help="skip the Dask operator")
    p = sub.add_parser("down", help="stop everything and clean the host")
    p.add_argument("--purge-images", action="store_true", help="also drop containerd's images")
    sub.add_parser("status", help="which components run; node readiness")
    sub.add_parser("leftovers", help="what a cluster left on this host (JSON; empty: clean)")
    args = parser.parse_args(argv)
    try:
        s = settings.load()
    except (RuntimeError, ValueError, KeyError) as exc:
        sys.stderr.write(f"cluster: error: {exc}\n")
        return 2
    try:
        if args.command == "up":
            try:
                times = cluster.up(s, args.image, operator=not args.no_operator)
            except (cluster.ClusterError, procs.ComponentError, RuntimeError) as exc:
                sys.stderr.write(f"cluster-up: error: {exc}\n")
                sys.stderr.write("cluster-up: logs are in " + str(s.logs) + "; `make cluster-down` "
                                 "stops what was started\n")  # fmt: skip
                return 1
            cluster.say(f"up in {times['total']:.1f} s: " + ", ".join(
                f"{k} {v:.1f}" for k, v in times.items() if k != "total" and v >= 0.5))  # fmt: skip
            print(f"export KUBECONFIG={s.kubeconfig}")
            print(f"export PATH={s.state / 'bin'}:$PATH   # kubectl and crictl of this cluster")
            return 0
        if args.command == "down":
            left = cluster.down(s, keep_images=not args.purge_images)
            dirty = {k: v for k, v in left.items() if v}
            if dirty:
                sys.stderr.write(f"cluster-down: left behind: {json.dumps(dirty)}\n")
                return 1
            cluster.say(f"down; nothing left behind (logs kept in {s.logs})")
            return 0
        if args.command == "status":
            print(json.dumps(cluster.status(s), indent=2))
            return 0
        print(json.dumps(host.leftovers(s), indent=2))
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("cluster: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
