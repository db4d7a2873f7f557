"""A project-local Redis for Celery's broker: its folder under AIRFLOW_HOME, no TCP port (`port 0`), one unix
socket there that only its owner may open, nothing persisted (a broker holds task messages in flight only; Airflow's
database holds the state). Started with Debian's `redis-server`, stopped through its pid."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

from runners.services.common import ServiceError, install_hint, pid_in, terminate, wait_until_up

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
        return pid_in(self.pid_file)

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
        wait_until_up(process, self.running, "redis-server", self.socket, self.log, timeout, poll=0.1)
        return True

    def stop(self, timeout: float = 30.0) -> Optional[int]:
        """Stops the server if it runs; its pid when it was running."""
        return terminate(self.pid_file, "redis-server", self.log, timeout, poll=0.1)
