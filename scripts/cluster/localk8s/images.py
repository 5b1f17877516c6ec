"""Images for the node's containerd: the pause image made here, the project image from podman."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import IO

from localk8s.settings import Settings


def _tar_bytes(members: dict[str, tuple[bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, (data, mode) in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def single_binary_archive(
    binary: bytes, path: str, ref: str, arch: str = "amd64", user: str = "65535:65535"
) -> bytes:
    """Return a ``docker save`` archive of an image holding one static binary as entrypoint.

    Deterministic: the same binary gives the same image ID.

    Args:
        binary: The executable's content.
        path: Where it goes in the image, e.g. ``/pause``.
        ref: The image reference recorded in the archive.
        arch: The image architecture.
        user: The user it runs as.

    Returns:
        The archive, for ``ctr images import``.
    """
    layer = _tar_bytes({path.lstrip("/"): (binary, 0o755)})
    layer_id = hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "config": {"Entrypoint": [path], "User": user},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_id}"]},
            "history": [{"created_by": "daskburst scripts/cluster (localk8s.images)"}],
        },
        sort_keys=True,
    ).encode()
    config_id = hashlib.sha256(config).hexdigest()
    manifest = json.dumps(
        [{"Config": f"{config_id}.json", "RepoTags": [ref], "Layers": [f"{layer_id}/layer.tar"]}]
    ).encode()
    return _tar_bytes(
        {
            "manifest.json": (manifest, 0o644),
            f"{config_id}.json": (config, 0o644),
            f"{layer_id}/layer.tar": (layer, 0o644),
        }
    )


def _ctr(s: Settings, *args: str, stdin: bytes | IO[bytes] | None = None) -> str:
    """Run ``ctr`` on the node's containerd (namespace ``k8s.io``, where the CRI looks)."""
    argv = ["ctr", "--address", str(s.containerd_socket), "--namespace", "k8s.io", *args]
    if isinstance(stdin, bytes):
        proc = subprocess.run(argv, input=stdin, capture_output=True, check=False)
    else:
        proc = subprocess.run(argv, stdin=stdin, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ctr {' '.join(args[:2])} failed: {proc.stderr.decode()[-500:]}")
    return proc.stdout.decode()


def containerd_image_id(s: Settings, ref: str) -> str | None:
    """Return the config digest (``sha256:...``) of ``ref`` in the node's containerd, or None."""
    proc = subprocess.run(
        [*s.crictl(), "inspecti", "-o", "json", ref],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        return None
    return str(json.loads(proc.stdout)["status"]["id"])


def ensure_binary_image(s: Settings, binary: Path, path: str, ref: str, user: str) -> bool:
    """Import an image holding just ``binary`` into containerd unless the same one is there.

    Returns:
        Whether it was imported.
    """
    archive = single_binary_archive(binary.read_bytes(), path, ref, user=user)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    want = "sha256:" + manifest[0]["Config"].removesuffix(".json")
    if containerd_image_id(s, ref) == want:
        return False
    _ctr(s, "images", "import", "-", stdin=archive)
    return True


def ensure_pause(s: Settings) -> bool:
    """Import the pod sandbox (pause) image; see :func:`ensure_binary_image`."""
    return ensure_binary_image(s, s.bin("pause"), "/pause", s.pause_image, "65535:65535")


def build_inputs(repo: Path) -> list[Path]:
    """Return the files ``make image`` builds the project image from."""
    files = [repo / "pyproject.toml", repo / "README.md", repo / "requirements" / "constraints.txt"]
    for tree in (repo / "src", repo / "images"):
        files += [p for p in tree.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return files


def podman_image_is_fresh(image: str, inputs: list[Path]) -> bool:
    """Return whether podman has ``image`` and built it after the last change to ``inputs``."""
    proc = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Created.Unix}}", image],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout.strip().isdigit():
        return False
    newest = max((p.stat().st_mtime for p in inputs if p.exists()), default=0.0)
    return int(proc.stdout.strip()) > newest


def podman_image_id(image: str) -> str | None:
    """Return podman's ID of ``image`` as ``sha256:...``, or None when it has no such image."""
    proc = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Id}}", image],
        capture_output=True,
        text=True,
        check=False,
    )
    return f"sha256:{proc.stdout.strip()}" if proc.returncode == 0 else None


def load_from_podman(s: Settings, image: str, aliases: tuple[str, ...] = ()) -> bool:
    """Copy ``image`` from podman into the node's containerd (and tag ``aliases``) if it differs.

    Args:
        s: The settings.
        image: A podman image reference.
        aliases: More names for the same image in containerd (e.g. ``localhost/daskburst:dev``).

    Returns:
        Whether anything was imported or tagged.

    Raises:
        RuntimeError: When podman has no such image or the import fails.
    """
    want = podman_image_id(image)
    if want is None:
        raise RuntimeError(f"podman has no image {image!r} (build it with `make image`)")
    changed = False
    if containerd_image_id(s, image) != want:
        save = subprocess.Popen(
            ["podman", "save", "--format", "docker-archive", image],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            _ctr(s, "images", "import", "-", stdin=save.stdout)
        finally:
            assert save.stdout is not None
            save.stdout.close()
            err = save.stderr.read().decode() if save.stderr else ""
            if save.wait() != 0:
                raise RuntimeError(f"podman save {image} failed: {err[-500:]}")
        changed = True
    for alias in aliases:
        if containerd_image_id(s, alias) != want:
            _ctr(s, "images", "tag", "--force", image, alias)
            changed = True
    return changed


def image_ref_in_archive(path: Path) -> list[str]:
    """Return the RepoTags of a docker archive (for messages and tests)."""
    with tarfile.open(path) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    return [tag for entry in manifest for tag in entry.get("RepoTags") or []]
