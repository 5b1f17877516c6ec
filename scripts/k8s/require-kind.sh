#!/usr/bin/env bash
# Exit 0 when kind can create clusters here (kind + a running Docker engine, or podman with
# KIND_EXPERIMENTAL_PROVIDER=podman); otherwise print why on stderr and exit 1.
set -euo pipefail
KIND=${KIND:-kind}
if ! command -v "$KIND" >/dev/null 2>&1; then
  echo "kind is not installed (https://kind.sigs.k8s.io/docs/user/quick-start/#installation; the project pins kind v0.27.0)" >&2
  exit 1
fi
if [[ "${KIND_EXPERIMENTAL_PROVIDER:-}" == podman ]]; then
  command -v podman >/dev/null 2>&1 && exit 0
  echo "KIND_EXPERIMENTAL_PROVIDER=podman but podman is not installed" >&2
  exit 1
fi
if ! command -v docker >/dev/null 2>&1; then
  echo "docker is not installed (kind runs its nodes as Docker containers)" >&2
  exit 1
fi
if ! docker info >/dev/null 2>&1; then
  echo "docker is installed but its daemon does not answer (is Docker running? can this user reach /var/run/docker.sock?)" >&2
  exit 1
fi
