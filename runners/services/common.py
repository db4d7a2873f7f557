"""What the project-local servers share: the error that names the fix, and the checks a server run as a system
user needs."""
from __future__ import annotations

from pathlib import Path


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
