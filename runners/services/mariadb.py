"""A project-local MariaDB for ML Metadata: its data folder in the workspace (metadata.local_server), no TCP port
(`skip-networking`), one unix socket in that folder, started with Debian's `mariadbd` and stopped through its pid.

MariaDB drops itself to the `mysql` system user that Debian's package creates when started as root. Its one
account for ML Metadata has no password: only the socket reaches the server, in a folder of the server's user.
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import List, Optional

from runners.services.common import (ServiceError, install_hint, pid_in, reachable_by, terminate,
                                     wait_until_up)

INSTALL_HINT = install_hint("mariadb-server")
SOCKET_NAME = "mysqld.sock"


def _tool(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ServiceError(f"MariaDB's {name} is not installed (looked on PATH, /usr/sbin and /usr/bin): {INSTALL_HINT}")


class MariaDB:
    def __init__(self, root: Path, user: str = "mlmd"):
        self.root = Path(root).resolve()
        self.data = self.root / "data"
        self.socket = self.root / "run" / SOCKET_NAME  # config.MetadataConfig.server_socket: the same place
        self.pid_file = self.root / "run" / "mariadbd.pid"
        self.log = self.root / "mariadb.log"
        self.user = user
        if len(str(self.socket)) > 107:
            raise ServiceError(f"metadata.local_server {root} is too deep for MariaDB's unix socket path (at most "
                               "107 bytes): choose a shorter folder")

    def _system_user(self) -> Optional[pwd.struct_passwd]:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("mysql")
        except KeyError:
            raise ServiceError("running as root, MariaDB needs the `mysql` system user, which Debian's "
                               f"mariadb-server package creates: {INSTALL_HINT}") from None

    def _server_args(self) -> List[str]:
        owner = self._system_user()
        # --no-defaults: nothing of the machine's /etc/mysql applies; this server is the workspace's alone.
        return ["--no-defaults", f"--datadir={self.data}", f"--socket={self.socket}", f"--pid-file={self.pid_file}",
                "--skip-networking", f"--log-error={self.log}", "--innodb-buffer-pool-size=128M",
                "--max-connections=200"] + ([f"--user={owner.pw_name}"] if owner else [])

    def _initialise(self) -> None:
        owner = self._system_user()
        (self.root / "run").mkdir(parents=True, exist_ok=True)
        self.log.touch()
        if owner:
            reachable_by("mysql", self.root, "metadata.local_server")
            for path in (self.root, self.root / "run", self.log):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        os.chmod(self.root / "run", 0o700)
        if (self.data / "mysql").is_dir():
            return
        done = subprocess.run([_tool("mariadb-install-db"), "--no-defaults", f"--datadir={self.data}",
                               "--auth-root-authentication-method=socket", "--skip-test-db"]
                              + ([f"--user={owner.pw_name}"] if owner else []),
                              capture_output=True, text=True, cwd="/")
        if done.returncode != 0:
            raise ServiceError(f"mariadb-install-db failed ({done.returncode}):\n"
                               f"{(done.stderr or done.stdout)[-2000:]}")

    def pid(self) -> Optional[int]:
        return pid_in(self.pid_file)

    def running(self) -> bool:
        return self.pid() is not None and self.socket.exists()

    def _sql(self, statement: str) -> None:
        # The server's administrator is the OS user that created it (unix_socket authentication).
        done = subprocess.run([_tool("mariadb"), "--no-defaults", "-S", str(self.socket), "-u",
                               "root" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name,
                               "-e", statement], capture_output=True, text=True)
        if done.returncode != 0:
            raise ServiceError(f"MariaDB refused {statement!r}: {done.stderr.strip()}\nserver log: {self.log}")

    def start(self, timeout: float = 60.0) -> bool:
        """Creates the data folder on first use and starts the server; True when this call started it."""
        _tool("mariadbd"), _tool("mariadb-install-db"), _tool("mariadb")  # a missing server is named first
        if self.running():
            return False
        self._initialise()
        self.socket.unlink(missing_ok=True)
        with open(self.log, "ab") as log:
            process = subprocess.Popen([_tool("mariadbd")] + self._server_args(), stdout=log, stderr=log,
                                       stdin=subprocess.DEVNULL, cwd="/", start_new_session=True)
        wait_until_up(process, self.running, "mariadbd", self.socket, self.log, timeout, poll=0.2)
        # ML Metadata creates each pipeline's database itself (one per --sample too).
        self._sql(f"CREATE USER IF NOT EXISTS '{self.user}'@'localhost'; "
                  f"GRANT ALL PRIVILEGES ON *.* TO '{self.user}'@'localhost'")
        return True

    def stop(self, timeout: float = 60.0) -> Optional[int]:
        """Stops the server if it runs (SIGTERM: a clean InnoDB shutdown); its pid when it was running."""
        return terminate(self.pid_file, "mariadbd", self.log, timeout, poll=0.2)


def for_config(config) -> Optional[MariaDB]:
    """The config's project-local MariaDB; None when ML Metadata is SQLite or a server the project does not run."""
    store = config.metadata
    return MariaDB(store.local_server, store.user) if store.kind == "mysql" and store.local_server else None
