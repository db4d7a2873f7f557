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
