"""A project-local PostgreSQL for Airflow's metadata database: its data folder under AIRFLOW_HOME, reachable only
through a unix socket in that home (no TCP port), started and stopped with Debian's `pg_ctl`.

PostgreSQL refuses to run as root; run as root, the cluster belongs to the `postgres` system user that Debian's
package creates, and each server command runs as that user (`runuser`).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import List, Optional

from runners.services.common import ServiceError, install_hint, reachable_by

DATABASE = "airflow"
ROLE = "airflow"
INSTALL_HINT = install_hint("postgresql")


def _server_bin(tool: str) -> str:
    """Debian keeps the server tools out of PATH, in /usr/lib/postgresql/<major>/bin."""
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), key=lambda p: int(p.split("/")[4]))
    found = candidates[-1] if candidates else shutil.which(tool)
    if not found:
        raise ServiceError(f"PostgreSQL's {tool} is not installed (looked in /usr/lib/postgresql/*/bin and on "
                           f"PATH): {INSTALL_HINT}")
    return found


class Postgres:
    def __init__(self, home: Path):
        self.root = Path(home).resolve() / "postgres"
        self.data = self.root / "data"
        self.socket_dir = self.root / "run"
        self.log = self.root / "postgres.log"
        # A unix socket path must fit in 107 bytes ("<dir>/.s.PGSQL.5432").
        if len(str(self.socket_dir / ".s.PGSQL.5432")) > 107:
            raise ServiceError(f"AIRFLOW_HOME {home} is too deep for PostgreSQL's unix socket path (at most 107 "
                               "bytes): use a shorter --home")

    @property
    def url(self) -> str:
        """Airflow's sql_alchemy_conn: psycopg2 over the unix socket, no password (trust on the socket only)."""
        return f"postgresql+psycopg2://{ROLE}@/{DATABASE}?host={self.socket_dir}"

    def _owner(self) -> Optional[pwd.struct_passwd]:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            raise ServiceError("running as root, PostgreSQL needs the `postgres` system user, which Debian's "
                               f"postgresql package creates: {INSTALL_HINT}") from None

    def _run(self, args: List[str], check: bool = True) -> subprocess.CompletedProcess:
        owner = self._owner()
        command = (["runuser", "-u", owner.pw_name, "--"] if owner else []) + args
        done = subprocess.run(command, capture_output=True, text=True, cwd="/")
        if check and done.returncode != 0:
            raise ServiceError(f"{' '.join(args[:2])} failed ({done.returncode}):\n"
                               f"{(done.stderr or done.stdout)[-2000:]}"
                               f"\nserver log: {self.log}")
        return done

    def _initialise(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        owner = self._owner()
        if owner:
            reachable_by("postgres", self.root, "AIRFLOW_HOME")
            for path in (self.root, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        if (self.data / "PG_VERSION").is_file():
            return
        # trust: only the socket exists, in a folder of the cluster's owner (mode 0700 below).
        self._run([_server_bin("initdb"), "-D", str(self.data), "-U", ROLE, "--auth=trust", "--encoding=UTF8",
                   "--locale=C.UTF-8"])

    def running(self) -> bool:
        if not (self.data / "PG_VERSION").is_file():
            return False
        return self._run([_server_bin("pg_ctl"), "-D", str(self.data), "status"], check=False).returncode == 0

    def start(self) -> None:
        """Creates the cluster on first use, starts it, and creates Airflow's database in it."""
        for tool in ("initdb", "pg_ctl", "psql", "createdb"):
            _server_bin(tool)  # a missing server is named before anything is created
        self._initialise()
        os.chmod(self.socket_dir, 0o700)
        if not self.running():
            options = f"-c listen_addresses='' -k {self.socket_dir}"
            self._run([_server_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                       "-t", "60", "start"])
        exists = self._run([_server_bin("psql"), "-h", str(self.socket_dir), "-U", ROLE, "-d", "postgres", "-tAc",
                            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"]).stdout.strip()
        if exists != "1":
            self._run([_server_bin("createdb"), "-h", str(self.socket_dir), "-U", ROLE, DATABASE])

    def pid(self) -> Optional[int]:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> Optional[int]:
        """Stops the cluster if it runs; the server's pid when it was running, else None."""
        if not self.running():
            return None
        pid = self.pid()
        self._run([_server_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop"])
        return pid
