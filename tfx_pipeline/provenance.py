"""What made a run, as facts a pushed model carries: the code version (the git commit and whether the checkout had
uncommitted changes, or the installed package's version outside a checkout), the config file's hash, the lock's
hash. The data spans' content hashes come from ingestion's manifests (data/spans.py) at run time."""
from __future__ import annotations

import hashlib
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Optional

REPOSITORY = Path(__file__).resolve().parent.parent
# What the Makefile hashes into the venv's install stamp (LOCKS), in its order.
LOCK_FILES = ("requirements.lock", "requirements-nodeps.txt", "setup.py")
PACKAGE = "tfx-text-mlops"


def lock_hash(root: Path = REPOSITORY) -> Optional[str]:
    """The Makefile's stamp hash of the lock files; None outside a checkout (an installed wheel has no lock)."""
    if not all((root / name).is_file() for name in LOCK_FILES):
        return None
    return hashlib.sha256(b"".join((root / name).read_bytes() for name in LOCK_FILES)).hexdigest()[:16]


def _git(*args: str) -> Optional[str]:
    try:
        done = subprocess.run(["git", *args], cwd=REPOSITORY, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_version() -> dict:
    """{"git_commit", "dirty"} in a git checkout, else {"package_version"}."""
    commit = _git("rev-parse", "HEAD")
    if commit:
        # Tracked files only: a run's own outputs (work/, untracked) do not make the code dirty.
        changed = _git("status", "--porcelain", "--untracked-files=no")
        return {"git_commit": commit, "dirty": bool(changed)}
    try:
        return {"package_version": metadata.version(PACKAGE)}
    except metadata.PackageNotFoundError:
        return {"package_version": "unknown"}


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_facts(config_file: Optional[Path], effective_config_json: str) -> dict:
    """The facts of a run that do not depend on its data."""
    return {"code": code_version(), "lock_sha256": lock_hash(),
            "config_file": str(config_file) if config_file else None,
            "config_sha256": file_hash(config_file) if config_file and Path(config_file).is_file() else None,
            # The config as the run used it (command-line overrides included).
            "effective_config_sha256": hashlib.sha256(effective_config_json.encode()).hexdigest()}
