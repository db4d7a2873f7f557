"""Predictions from a pushed version loaded in this process: the floor that served predictions are
compared with, and a check that what Pusher wrote is a working model."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

from tfx_pipeline import features
from tfx_pipeline.components.atomic_pusher import pushed_versions


def latest_version_dir(push_root: Path) -> Path:
    versions = pushed_versions(str(push_root))
    if not versions:
        raise FileNotFoundError(f"no pushed version under {push_root}: run `mlops run` first")
    return push_root / str(versions[-1])


def predict(model_dir: Path, texts: List[str]) -> List[Tuple[str, dict]]:
    """Returns (label, {class: score}) per text, through the raw-text serving signature."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(model_dir)).signatures[features.SERVING_DEFAULT]
    outputs = signature(text=tf.constant(texts))
    results = []
    for label, classes, scores in zip(outputs["label"].numpy(), outputs["classes"].numpy(),
                                      outputs["scores"].numpy()):
        results.append((label.decode(), {c.decode(): float(s) for c, s in zip(classes, scores)}))
    return results


def format_predictions(texts: List[str], results: List[Tuple[str, dict]], version: Optional[str] = None) -> str:
    lines = []
    for text, (label, scores) in zip(texts, results):
        ranked = ", ".join(f"{c} {s:.3f}" for c, s in sorted(scores.items(), key=lambda kv: -kv[1]))
        lines.append(f"{label:<10} {ranked}  <- {text!r}" + (f" (version {version})" if version else ""))
    return "\n".join(lines)
