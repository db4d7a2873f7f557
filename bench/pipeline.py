"""Pipeline benchmark: cold and cached `mlops run` on the full corpora, against two references.

For each task config: a fresh workspace; `mlops run` cold (per-component wall seconds from MLMD, total wall,
peak RSS) and again unchanged (cached); test accuracy and macro-F1 from the Evaluator; scikit-learn TF-IDF +
logistic regression on the same split (the quality floor); the same Keras model trained by a plain script
(bench/plain_keras.py) for the TFX overhead ratio = cold `mlops run` wall / plain script wall.
Everything runs one process at a time (2 cores).

    .venv/bin/python bench/pipeline.py [--task sentiment --task emotion] [--workdir work/bench]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def timed(cmd: list) -> dict:
    """Runs cmd; returns wall seconds, peak RSS (MiB) of the process tree, and stdout."""
    started = time.time()
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {process.returncode}:\n{stdout[-3000:]}")
    return {"seconds": time.time() - started, "peak_mib": usage.ru_maxrss / 1024, "stdout": stdout}


def tfidf_model(texts: list, labels: list):
    """The quality floor, fitted: TF-IDF (1-2 grams, sublinear tf) + logistic regression (C=4).
    (vectorizer, classifier)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    return vectorizer, LogisticRegression(max_iter=2000, C=4.0).fit(vectorizer.fit_transform(texts), labels)


def tfidf_baseline(span: Path, labels: list) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    def read(split):
        with open(span / split / "data.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        return [r["text"] for r in rows], [labels.index(r["label"]) for r in rows]

    (x_train, y_train), (x_test, y_test) = read("train"), read("test")
    started = time.time()
    vectorizer, classifier = tfidf_model(x_train, y_train)
    predicted = classifier.predict(vectorizer.transform(x_test))
    return {"accuracy": accuracy_score(y_test, predicted), "macro_f1": f1_score(y_test, predicted, average="macro"),
            "seconds": time.time() - started}


def phases(logs_dir: Path, wall: float, component_seconds: float) -> dict:
    """Where a `mlops run`'s wall time went: its newest run log's "phase seconds:" lines, LocalDagRunner split
    into the components' own seconds (ML Metadata) and the launcher's work between them, and the rest (the
    interpreter's exit, and what no phase covers)."""
    log = max(logs_dir.glob("run-*.log"), key=lambda path: path.stat().st_mtime)
    found = {}
    for line in log.read_text(errors="replace").splitlines():
        if "phase seconds: " in line:
            name, seconds = line.split("phase seconds: ", 1)[1].rsplit(" ", 1)
            found[name] = float(seconds)
    runner = found.pop("LocalDagRunner", 0.0)
    found["components"] = component_seconds
    found["launcher between components"] = max(runner - component_seconds, 0.0)
    found["rest"] = max(wall - sum(found.values()), 0.0)
    return {name: round(seconds, 1) for name, seconds in found.items()}


def scratch_config(task: str, task_dir: Path, edit=None) -> Path:
    """configs/<task>.yaml rewritten into an emptied task_dir, its workspace and serving root inside it, its
    relative paths made absolute; edit(raw) may change the YAML's values first."""
    import yaml

    from tfx_pipeline.config import resolve_paths

    source_config = ROOT / "configs" / f"{task}.yaml"
    raw = resolve_paths(yaml.safe_load(source_config.read_text()), source_config.parent)
    shutil.rmtree(task_dir, ignore_errors=True)
    task_dir.mkdir(parents=True)
    raw["paths"] = {"workdir": str(task_dir / "work"), "serving_root": str(task_dir / "serving")}
    if edit is not None:
        edit(raw)
    config_path = task_dir / "config.yaml"
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return config_path


def bench_task(task: str, workdir: Path) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfx_pipeline.config import load_config
    from tfx_pipeline.pipeline import create_pipeline
    from tfx_pipeline.metadata.run_report import build_report

    task_dir = workdir / task
    config_path = scratch_config(task, task_dir)
    config = load_config(config_path)
    ids = [c.id for c in create_pipeline(config).components]

    cold = timed([str(BIN / "mlops"), "run", "--config", str(config_path)])
    cold_report = build_report(config, ids)
    cold_phases = phases(config.logs_dir, cold["seconds"], sum(c.seconds for c in cold_report.components))
    cached = timed([str(BIN / "mlops"), "run", "--config", str(config_path)])
    cached_report = build_report(config, ids)
    cached_phases = phases(config.logs_dir, cached["seconds"], sum(c.seconds for c in cached_report.components))
    span = config.paths.data_root / "span-1"
    plain = timed([sys.executable, str(ROOT / "bench" / "plain_keras.py"), "--config", str(config_path),
                   "--span", str(span)])
    plain_result = json.loads(plain["stdout"].strip().splitlines()[-1])
    metrics = {c.name: c.value for c in cold_report.checks}
    return {
        "task": task,
        "components": {c.component_id: round(c.seconds, 1) for c in cold_report.components},
        "cold_seconds": cold["seconds"], "cold_peak_mib": cold["peak_mib"],
        "cached_seconds": cached["seconds"],
        "phases": {"cold": cold_phases, "cached": cached_phases},
        "cached_states": sorted({c.state for c in cached_report.components}),
        "blessed": cold_report.blessed, "pushed": cold_report.pushed_path,
        "accuracy": metrics.get("accuracy"), "macro_f1": metrics.get("macro_f1"),
        "tfidf": tfidf_baseline(span, list(config.labels)),
        "plain": {**plain_result, "seconds": plain["seconds"], "peak_mib": plain["peak_mib"]},
        "overhead_ratio": cold["seconds"] / plain["seconds"],
    }


def markdown(results: list) -> str:
    lines = ["| task | cold run s | peak MiB | cached re-run s | test accuracy | test macro-F1 "
             "| TF-IDF+LR acc / macro-F1 "
             "| plain Keras s (acc / macro-F1) | TFX overhead ratio |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['task']} | {r['cold_seconds']:.1f} | {r['cold_peak_mib']:.0f} | {r['cached_seconds']:.1f} "
            f"| {r['accuracy']:.4f} | {r['macro_f1']:.4f} "
            f"| {r['tfidf']['accuracy']:.4f} / {r['tfidf']['macro_f1']:.4f} "
            f"| {r['plain']['seconds']:.1f} ({r['plain']['accuracy']:.4f} / {r['plain']['macro_f1']:.4f}) "
            f"| {r['overhead_ratio']:.2f} |")
    lines += ["", "Per-component wall seconds (cold run, from ML Metadata):", ""]
    ids = list(results[0]["components"])
    lines.append("| component | " + " | ".join(r["task"] for r in results) + " |")
    lines.append("|---|" + "---|" * len(results))
    for component in ids:
        lines.append(f"| {component} | " + " | ".join(str(r["components"].get(component, "")) for r in results) + " |")
    lines += ["", "Where the wall time of `mlops run` went (seconds; from the run log's phase lines):", ""]
    runs = [(r["task"], kind) for r in results for kind in ("cold", "cached")]
    by_run = {(r["task"], kind): r["phases"][kind] for r in results for kind in ("cold", "cached")}
    names = list(dict.fromkeys(name for phase in by_run.values() for name in phase))
    lines.append("| phase | " + " | ".join(f"{task} {kind}" for task, kind in runs) + " |")
    lines.append("|---|" + "---|" * len(runs))
    for name in names:
        lines.append(f"| {name} | " + " | ".join(str(by_run[run].get(name, "")) for run in runs) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", action="append", help="config name under configs/ (default: sentiment, emotion)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "work" / "bench")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    results = [bench_task(task, args.workdir.resolve()) for task in (args.task or ["sentiment", "emotion"])]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()
