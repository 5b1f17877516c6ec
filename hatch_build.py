"""Build the bag's compiled scanner (src/daskburst/workloads/_scan.c) into the wheel.

Without a C compiler (or Python's headers) the wheel is pure Python and the bag uses its
numpy scan: the same answers, more slowly. DASKBURST_REQUIRE_SCANNER=1 makes a failed
compile fail the build instead (the image and CI set it, so they never ship the slow path).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("src/daskburst/workloads/_scan.c")


class ScannerBuildHook(BuildHookInterface):
    """Hatchling's build hook (``[tool.hatch.build.targets.wheel.hooks.custom]``)."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Compile the scanner next to its source and put it in the wheel."""
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        target = root / SOURCE.with_name(f"_scan{sysconfig.get_config_var('EXT_SUFFIX')}")
        partial = target.with_name(f".{target.name}.tmp")
        # Python's own link command for extensions ("gcc -shared ..." here, "clang -bundle
        # -undefined dynamic_lookup ..." on macOS); $CC replaces its compiler, as setuptools
        # does.
        link = shlex.split(sysconfig.get_config_var("LDSHARED") or "cc -shared")
        if os.environ.get("CC"):
            link = [*shlex.split(os.environ["CC"]), *link[1:]]
        include = sysconfig.get_paths()["include"]
        command = [*link, "-O3", "-fPIC", "-Wall", "-I", include,
                   str(root / SOURCE), "-o", str(partial)]  # fmt: skip
        try:
            if not (Path(include) / "Python.h").exists():
                raise OSError(f"no Python.h in {include} (install python3-dev)")
            subprocess.run(command, check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            partial.unlink(missing_ok=True)
            why = (getattr(exc, "stderr", None) or "").strip() or str(exc)
            if os.environ.get("DASKBURST_REQUIRE_SCANNER") == "1":
                raise RuntimeError(f"the bag's scanner did not compile: {why}") from None
            self.app.display_warning(
                f"daskburst: the bag's compiled scanner was not built ({why}); "
                "the bag uses its numpy scan (same answers, slower)"
            )
            return
        os.replace(partial, target)  # whole or not at all
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version != "editable":  # an editable install imports it from src/
            build_data["force_include"][str(target)] = f"daskburst/workloads/{target.name}"
