"""What the project-local servers share: the error that names the fix, and the checks a server run as a system
user needs."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional


class ServiceError(RuntimeError):
    """A service could not be found, started or stopped; the message names what is missing and the fix."""


def install_hint(package: str) -> str:
    return f"run `make services` (it installs Debian's {package} package when it is missing)"


def reachable_by(user: str, folder: Path, where: str) -> None:
    """A server dropped to a system user must be able to walk down to its data folder."""
    for parent in Path(folder).parents:
        if not parent.stat().st_mode & 0o001:
            raise ServiceError(f"the {user} user cannot reach {folder}: {parent} is not searchable by other users "
                               f"(chmod o+x {parent}, or choose a {where} elsewhere)")


def pid_in(pid_file: Path) -> Optional[int]:
    """The pid a server wrote to its pid file, when that process is alive."""
    try:
        pid = int(Path(pid_file).read_text().split()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, IndexError):
        return None


def wait_until_up(process: subprocess.Popen, running: Callable[[], bool], name: str, socket: Path, log: Path,
                  timeout: float, poll: float) -> None:
    """Waits for a server just started to open its socket; a server that exits or hangs is named with its log."""
    deadline = time.monotonic() + timeout
    while not running():
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
            raise ServiceError(f"{name} exited ({process.returncode}) while starting:\n{tail}\nserver log: {log}")
        if time.monotonic() > deadline:
            process.kill()
            raise ServiceError(f"{name} did not open {socket} within {timeout:.0f} s; server log: {log}")
        time.sleep(poll)


def terminate(pid_file: Path, name: str, log: Path, timeout: float, poll: float) -> Optional[int]:
    """SIGTERM (a server's clean shutdown) to the server of the pid file, and wait until it is gone; its pid when
    it was running, else None."""
    pid = pid_in(pid_file)
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_in(pid_file) is not None:
        if time.monotonic() > deadline:
            raise ServiceError(f"{name} (pid {pid}) did not stop within {timeout:.0f} s; server log: {log}")
        time.sleep(poll)
    return pid
