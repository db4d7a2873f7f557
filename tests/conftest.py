"""Shared fixtures: configs written into a temporary workspace from the project's own config files."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pytest
from pipeline_configs import write_config

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[..., Path]:
    def make(base: str = "sentiment", name: str = "config.yaml", **updates: Any) -> Path:
        return write_config(tmp_path / name, base, **updates)
    return make


# `make test` runs the suite on two xdist workers (--dist loadgroup). A group runs whole on one worker, so a module's
# expensive fixture (a pipeline run, an Airflow deployment) is built once; tests/operations/ is one group because
# its files share a session-wide served model and run in order (monitoring retrains, then management manages both).
_ONE_GROUP_FOLDERS = ("operations",)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the marks into the test ids
def pytest_collection_modifyitems(items):
    tests = Path(__file__).resolve().parent
    for item in items:
        relative = Path(str(item.fspath)).resolve().relative_to(tests)
        group = relative.parts[0] if relative.parts[0] in _ONE_GROUP_FOLDERS else relative.as_posix()
        item.add_marker(pytest.mark.xdist_group(group))
