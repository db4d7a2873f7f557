"""One pipeline run at a time per workspace: two runs on one ML Metadata store and one pipeline root would race
for both. The lock is an flock on <workdir>/.mlops-run.lock, so it is released whenever its process ends, a
SIGKILL included; the file says who holds it."""
from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path
from typing import Optional


class WorkspaceBusy(RuntimeError):
    """Another process runs the pipeline on this workspace; the message names it."""


def lock_path(workdir: Path) -> Path:
    return Path(workdir) / ".mlops-run.lock"


class RunLock:
    def __init__(self, workdir: Path):
        self.path = lock_path(workdir)
        self._handle = None

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise WorkspaceBusy(f"the workspace {self.path.parent} is busy: {holder(self.path.parent) or 'a run'} "
                                "holds it; wait for it to end (or stop it) and run again") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "command": " ".join(sys.argv), "since": time.time()}))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()


def holder(workdir: Path) -> Optional[str]:
    """Who holds the workspace's lock ("pid 123: mlops run ... since 12:00:01"), or None when it is free."""
    path = lock_path(workdir)
    if not path.is_file():
        return None
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            try:
                held = json.loads(handle.read() or "{}")
            except ValueError:
                held = {}
            since = time.strftime("%H:%M:%S", time.localtime(held.get("since", time.time())))
            return f"pid {held.get('pid', '?')} ({held.get('command', 'mlops run')}) since {since}"
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None
