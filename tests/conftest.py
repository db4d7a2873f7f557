"""Shared fixtures: configs written into a temporary workspace from the project's own config files."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict

import pytest
import yaml

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"

# Small, fast training for tests: what is checked is the machinery, not the accuracy.
FAST_HYPERPARAMETERS = {"embedding_dim": 16, "conv_filters": 32, "epochs": 3, "patience": 1, "batch_size": 32}


def _merge(base: Dict[str, Any], updates: Dict[str, Any]) -> Dict[str, Any]:
    merged = dict(base)
    for key, value in updates.items():
        # An empty mapping replaces (it is how a test says "none"); a non-empty one merges.
        nested = value and isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if nested else value
    return merged


def write_config(path: Path, base: str = "sentiment", **updates: Any) -> Path:
    """Writes configs/<base>.yaml with `updates` merged in and every path made absolute into path's folder."""
    from tfx_pipeline.config import PACKAGE_PREFIX

    base_file = ROOT / "configs" / f"{base}.yaml"
    raw = yaml.safe_load(base_file.read_text())
    raw["schema_file"] = str((base_file.parent / raw["schema_file"]).resolve())
    if not raw["data"]["source"].startswith(PACKAGE_PREFIX):
        raw["data"]["source"] = str((base_file.parent / raw["data"]["source"]).resolve())
    raw["paths"] = {"workdir": str(path.parent / "work"), "serving_root": str(path.parent / "serving")}
    raw = _merge(raw, updates)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[..., Path]:
    def make(base: str = "sentiment", name: str = "config.yaml", **updates: Any) -> Path:
        return write_config(tmp_path / name, base, **updates)
    return make
