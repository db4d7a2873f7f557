"""Where a raw-text request's time goes in the exported model (docs/benchmarks.md, "Accelerators").

The Transform graph's string work (lower-casing, regex rewrites, splitting, vocabulary lookup, hashing) has no
TPU or GPU kernel and stays on the host; an accelerator can take only the Keras model. This times, in-process
on this CPU, the whole `serving_default` signature and the Transform graph alone on the same texts, lists the
signature's host-only ops, and counts the bytes that would cross to a device and back.

    .venv/bin/python bench/device_split.py [--config configs/sentiment.yaml]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HOST_ONLY = ("String", "Regex", "Lookup", "HashTable", "Ngram", "Unicode")
TEXT = "Two hours on the tarmac and no information. Worst airline ever."


def _median_ms(fn, calls: int = 400, warm: int = 50) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times[warm:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "sentiment.yaml")
    args = parser.parse_args()
    import tensorflow as tf
    import tensorflow_transform as tft

    from tfx_pipeline import features
    from tfx_pipeline.config import load_config

    config = load_config(args.config)
    versions = sorted((p for p in Path(config.push_root).iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    graphs = sorted(Path(config.pipeline_root).glob("transform/transform_graph/*"), key=lambda p: p.stat().st_mtime)
    if not versions or not graphs:
        raise SystemExit(f"no pushed version under {config.push_root} or no transform graph: `make run` first")
    signature = tf.saved_model.load(str(versions[-1])).signatures[features.SERVING_DEFAULT]
    ops = {node.op for function in signature.graph.as_graph_def().library.function for node in function.node_def}
    layer = tft.TFTransformOutput(str(graphs[-1])).transform_features_layer()
    transform = tf.function(lambda text: layer({features.TEXT: tf.reshape(text, [-1, 1])}))
    rows = []
    for batch in (1, 32):
        texts = tf.constant([TEXT] * batch)
        whole = _median_ms(lambda: signature(text=texts))
        host = _median_ms(lambda: transform(texts))
        sent = sum(int(v.numpy().nbytes) for v in transform(texts).values())
        rows.append({"batch": batch, "signature_ms": round(whole, 3), "transform_ms": round(host, 3),
                     "model_ms": round(whole - host, 3), "bytes_to_device": sent,
                     "bytes_back": batch * len(config.labels) * 4})
    print(json.dumps({"version": versions[-1].name, "transform_graph": graphs[-1].name,
                      "host_only_ops": sorted(o for o in ops if any(k in o for k in HOST_ONLY)), "rows": rows},
                     indent=1))


if __name__ == "__main__":
    main()
