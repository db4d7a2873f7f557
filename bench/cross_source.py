"""Quality on data from another source: bench/quality.py's pushed models scored on a labelled set the project does
not ship, against the TF-IDF floor trained on the task's own train split and scored the same way.

The label sets differ between sources, so each model answers among the labels both share: its top score among
them (and the floor's top probability among them).
- sentiment (negative / neutral / positive tweets) on SST-2's test split (negative / positive movie-review
  sentences);
- emotion (dair_emotion's six) on GoEmotions-Ekman's test rows with a single label among anger, fear, joy,
  sadness and surprise (Reddit comments; dair_emotion's "love" and GoEmotions' "disgust" and "neutral" left out).

The other sources are not in the repository; name their CSV files (header text,label,split):

    .venv/bin/python bench/cross_source.py --sentiment-data FILE --emotion-data FILE [--workdir work/bench-quality]
        [--workdir ...] [--json FILE]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench", ROOT / "tests" / "model"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

SHARED = {"sentiment": ["negative", "positive"], "emotion": ["anger", "fear", "joy", "sadness", "surprise"]}


def other_source(path: Path, labels: list) -> tuple:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["split"] == "test" and r["label"] in labels]
    return [r["text"] for r in rows], [r["label"] for r in rows]


def floor_scorer(span: Path):
    """bench/pipeline.py's floor, fitted on the span's train split."""
    from pipeline import tfidf_model

    with open(span / "train" / "data.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    vectorizer, classifier = tfidf_model([r["text"] for r in rows], [r["label"] for r in rows])

    def score(texts):
        return [dict(zip(classifier.classes_, map(float, p)))
                for p in classifier.predict_proba(vectorizer.transform(texts))]
    return score


def judged(score, texts: list, truth: list, shared: list) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    predicted = []
    for start in range(0, len(texts), 256):
        predicted += [max(shared, key=s.get) for s in score(texts[start:start + 256])]
    return {"accuracy": accuracy_score(truth, predicted),
            "macro_f1": f1_score(truth, predicted, average="macro", labels=shared)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentiment-data", type=Path, help="SST-2 as CSV (text,label,split)")
    parser.add_argument("--emotion-data", type=Path, help="GoEmotions-Ekman as CSV (text,label,split)")
    parser.add_argument("--workdir", type=Path, action="append", help="bench/quality.py's (default work/bench-quality)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import behaviour

    from tfx_pipeline.config import load_config

    data = {"sentiment": args.sentiment_data, "emotion": args.emotion_data}
    results = []
    for task, path in data.items():
        if path is None:
            continue
        texts, truth = other_source(path, SHARED[task])
        floor = None
        for workdir in args.workdir or [ROOT / "work" / "bench-quality"]:
            for config_path in sorted((workdir / task).glob("*/config.yaml")):
                config = load_config(config_path)
                versions = sorted((p for p in Path(config.push_root).glob("*") if p.name.isdigit()),
                                  key=lambda p: int(p.name))
                if not versions:
                    continue
                if floor is None:
                    floor = judged(floor_scorer(config.paths.data_root / "span-1"), texts, truth,
                                   SHARED[task])
                    results.append({"task": task, "variant": "TF-IDF floor", "rows": len(texts), **floor})
                    print(json.dumps(results[-1]), flush=True)
                scored = judged(behaviour.saved_model_scorer(str(versions[-1])), texts, truth, SHARED[task])
                results.append({"task": task, "variant": config_path.parent.name.replace("_", " "),
                                "rows": len(texts), **scored})
                print(json.dumps(results[-1]), flush=True)
    print("| task | model | rows | accuracy | macro-F1 |\n|---|---|---|---|---|")
    for r in results:
        print(f"| {r['task']} | {r['variant']} | {r['rows']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    os._exit(0)  # as bench/quality.py: TensorFlow's teardown with several SavedModels loaded can crash


if __name__ == "__main__":
    main()
