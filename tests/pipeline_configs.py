"""Test configs: the project's own config files, rewritten with every path in a temporary workspace.

A module of its own (not conftest.py) because several conftest modules exist and `import conftest`
would name whichever pytest imported last."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _merge(base: Dict[str, Any], updates: Dict[str, Any]) -> Dict[str, Any]:
    merged = dict(base)
    for key, value in updates.items():
        # An empty mapping replaces (it is how a test says "none"); a non-empty one merges.
        nested = value and isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if nested else value
    return merged


def write_config(path: Path, base: str = "sentiment", **updates: Any) -> Path:
    """Writes configs/<base>.yaml with `updates` merged in and every path made absolute into path's folder."""
    from tfx_pipeline.config import resolve_paths

    base_file = ROOT / "configs" / f"{base}.yaml"
    raw = resolve_paths(yaml.safe_load(base_file.read_text()), base_file.parent)
    raw["paths"] = {"workdir": str(path.parent / "work"), "serving_root": str(path.parent / "serving")}
    raw = _merge(raw, updates)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
