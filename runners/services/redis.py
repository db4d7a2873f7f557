"""A project-local Redis for Celery's broker: its folder under AIRFLOW_HOME, no TCP port (`port 0`), one unix
socket there that only its owner may open, nothing persisted (a broker holds task messages in flight only; Airflow's
database holds the state). Started with Debian's `redis-server`, stopped through its pid."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional

from runners.services.common import ServiceError, install_hint

INSTALL_HINT = install_hint("redis-server")


def _server() -> str:
    for candidate in (shutil.which("redis-server"), "/usr/bin/redis-server"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ServiceError(f"redis-server is not installed (looked on PATH and in /usr/bin): {INSTALL_HINT}")


class Redis:
    def __init__(self, home: Path):
        self.root = Path(home).resolve() / "redis"
        self.socket = self.root / "redis.sock"
        self.pid_file = self.root / "redis.pid"
        self.log = self.root / "redis.log"
        if len(str(self.socket)) > 107:
            raise ServiceError(f"AIRFLOW_HOME {home} is too deep for Redis's unix socket path (at most 107 bytes): "
                               "use a shorter --home")

    @property
    def url(self) -> str:
        """Celery's broker_url (kombu's redis+socket transport)."""
        return f"redis+socket://{self.socket}"

    def pid(self) -> Optional[int]:
        try:
            pid = int(self.pid_file.read_text().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return None

    def running(self) -> bool:
        return self.pid() is not None and self.socket.exists()

    def start(self, timeout: float = 30.0) -> bool:
        """Starts the server when it is not running; True when this call started it."""
        server = _server()
        if self.running():
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self.socket.unlink(missing_ok=True)
        args = [server, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
                "--dir", str(self.root), "--pidfile", str(self.pid_file), "--logfile", str(self.log),
                "--daemonize", "no", "--save", "", "--appendonly", "no"]
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, cwd="/", start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self.running():
            if process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:] if self.log.is_file() else ""
                raise ServiceError(f"redis-server exited ({process.returncode}) while starting:\n{tail}\n"
                                   f"server log: {self.log}")
            if time.monotonic() > deadline:
                process.kill()
                raise ServiceError(f"redis-server did not open {self.socket} within {timeout:.0f} s; log: {self.log}")
            time.sleep(0.1)
        return True

    def stop(self, timeout: float = 30.0) -> Optional[int]:
        pid = self.pid()
        if pid is None:
            return None
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.pid() is not None:
            if time.monotonic() > deadline:
                raise ServiceError(f"redis-server (pid {pid}) did not stop within {timeout:.0f} s; log: {self.log}")
            time.sleep(0.1)
        return pid
