"""localk8s.images: the pause image the node's pods start from, built here, not pulled."""

from __future__ import annotations

import io
import json
import tarfile

from localk8s import images


def test_pause_image_archive_is_deterministic_and_loadable() -> None:
    one = images.single_binary_archive(b"\x7fELF", "/pause", "localhost/daskburst-pause:1.0")
    two = images.single_binary_archive(b"\x7fELF", "/pause", "localhost/daskburst-pause:1.0")
    assert one == two
    with tarfile.open(fileobj=io.BytesIO(one)) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = json.loads(tar.extractfile(manifest[0]["Config"]).read())  # type: ignore[union-attr]
        layer = tar.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] == ["localhost/daskburst-pause:1.0"]
    assert config["config"]["Entrypoint"] == ["/pause"]
    with tarfile.open(fileobj=io.BytesIO(layer)) as inner:
        member = inner.getmember("pause")
        assert member.mode == 0o755
