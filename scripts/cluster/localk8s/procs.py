"""Start host processes in the background, wait until they are healthy, stop them by PID."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from localk8s.settings import Settings


class ComponentError(RuntimeError):
    """A component did not start or did not become healthy."""


def _pidfile(s: Settings, name: str) -> Path:
    return s.pids / f"{name}.json"


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def running(s: Settings, name: str) -> int | None:
    """Return the PID of component ``name`` if the process recorded for it still runs.

    The recorded executable is compared with the live process, so a PID reused by another
    program is never mistaken for (or signalled as) the component.
    """
    try:
        record = json.loads(_pidfile(s, name).read_text())
    except (OSError, ValueError):
        return None
    pid = int(record["pid"])
    argv = _cmdline(pid)
    if not argv or argv[0] != record["argv0"]:
        return None
    try:
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return None
    except OSError:
        return None
    return pid


def start(s: Settings, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> int:
    """Start ``argv`` detached (own session), logging to ``logs/<name>.log``; idempotent.

    Args:
        s: The settings.
        name: Component name (PID file and log file).
        argv: The command line.
        env: Extra environment variables.

    Returns:
        The PID (of the already running process when there is one).
    """
    pid = running(s, name)
    if pid:
        return pid
    s.logs.mkdir(parents=True, exist_ok=True)
    s.pids.mkdir(parents=True, exist_ok=True)
    log = (s.logs / f"{name}.log").open("ab")
    log.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(argv)}\n".encode())
    log.flush()
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=s.state,
        env={**os.environ, **(env or {})},
    )
    log.close()
    _pidfile(s, name).write_text(json.dumps({"pid": proc.pid, "argv0": argv[0]}))
    return proc.pid


def stop(s: Settings, name: str, timeout: float = 20) -> bool:
    """Stop component ``name``: SIGTERM, then SIGKILL after ``timeout`` seconds.

    Returns:
        Whether a running process was stopped.
    """
    pid = running(s, name)
    _pidfile_path = _pidfile(s, name)
    if not pid:
        _pidfile_path.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    # Until the process is gone, not only until its command line reads empty: an exiting
    # process loses its cmdline (so `running` says no) while pgrep still finds it.
    if not _wait_gone(pid, timeout):
        sys.stderr.write(f"cluster: {name} ({pid}) still runs {timeout:g} s after SIGTERM; "
                         "sending SIGKILL\n")  # fmt: skip
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not _wait_gone(pid, 15):
            sys.stderr.write(f"cluster: {name} ({pid}) did not exit after SIGKILL\n")
    _pidfile_path.unlink(missing_ok=True)
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait until process ``pid`` has exited (gone, or a zombie its parent has yet to reap)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X"):
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)  # reap it when it is ours
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def log_tail(s: Settings, name: str, lines: int = 15) -> str:
    """Return the last ``lines`` lines of a component's log."""
    path = s.logs / f"{name}.log"
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_healthy(
    s: Settings, name: str, check: Callable[[], bool], timeout: float = 60, interval: float = 0.2
) -> float:
    """Poll ``check`` until it holds; fail at once if the process exits.

    Returns:
        Seconds waited.

    Raises:
        ComponentError: With the end of the component's log, on exit or timeout.
    """
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except Exception:  # noqa: BLE001, S110 - not answering yet is the normal case
            pass
        if not running(s, name):
            raise ComponentError(
                f"{name} exited; the end of {s.logs / (name + '.log')}:\n{log_tail(s, name)}"
            )
        if time.monotonic() - started > timeout:
            raise ComponentError(
                f"{name} not healthy after {timeout:g} s; the end of its log:\n{log_tail(s, name)}"
            )
        time.sleep(interval)


def tls_context(s: Settings, client: str | None = None) -> ssl.SSLContext:
    """Return an SSL context trusting the cluster CA, optionally with a client certificate."""
    ctx = ssl.create_default_context(cafile=str(s.pki / "ca.crt"))
    if client:
        ctx.load_cert_chain(str(s.pki / f"{client}.crt"), str(s.pki / f"{client}.key"))
    return ctx


def insecure_context() -> ssl.SSLContext:
    """Return an SSL context for the self-signed health endpoints of the control plane."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def http_ok(url: str, context: ssl.SSLContext | None = None, expect: str | None = None) -> bool:
    """Return whether ``url`` answers 200 (and contains ``expect`` when given)."""
    try:
        with urllib.request.urlopen(url, timeout=3, context=context) as resp:  # noqa: S310
            body = resp.read().decode(errors="replace")
            return resp.status == 200 and (expect is None or expect in body)
    except (urllib.error.URLError, OSError, ValueError):
        return False
