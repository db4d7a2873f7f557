"""Scale benchmark: the whole pipeline on synthetic corpora of 10k, 100k and 1M rows made from the shipped data.

The corpus: the default corpus's cleaned rows, each given the split of its text's hash (80/10/10, as ingestion
splits), then new rows made by joining two texts of the same label *and the same split*, so no text, whole or in
part, is in two splits. Each size runs `mlops run` cold in a fresh workspace, with the split column and a fixed
number of epochs (early stopping would change the epochs with the size and hide how one epoch's cost grows).
Recorded per size: the run's wall seconds, each component's seconds (ML Metadata), and the peak RSS of the
process tree in each component's interval (sampled every 0.25 s). --beam-workers 1,2 repeats a size with Beam's
DirectRunner in multi_processing mode at each worker count.

    .venv/bin/python bench/scale.py [--rows 10000,100000,1000000] [--epochs 2] [--beam-workers 1,2 --beam-rows 100000]
        [--workdir work/bench/scale] [--json work/bench/scale.json]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pipeline import scratch_config  # noqa: E402


def base_rows():
    from tfx_pipeline.config import DEFAULT_CONFIG, load_config
    from tfx_pipeline.data.cleaning import clean_rows
    from tfx_pipeline.data.ingest import hash_split

    config = load_config(DEFAULT_CONFIG)
    rows, _ = clean_rows(config.source_path().read_bytes(), config.data.text_column, config.data.label_column, None)
    return [(r[config.data.text_column], r[config.data.label_column], hash_split(r[config.data.text_column]))
            for r in rows]


def synthetic_corpus(rows: int, path: Path, seed: int = 13) -> dict:
    """Writes `rows` distinct (text, label, split) rows; returns the split counts."""
    base = base_rows()
    random.Random(seed).shuffle(base)
    groups = {}
    for text, label, split in base:
        groups.setdefault((label, split), []).append(text)
    chosen, seen = [], set()
    for text, label, split in base[:rows]:
        chosen.append((text, label, split))
        seen.add(text)
    rng = random.Random(seed + 1)
    keys = [(label, split) for _, label, split in base]
    while len(chosen) < rows:
        label, split = keys[rng.randrange(len(keys))]
        texts = groups[(label, split)]
        text = f"{texts[rng.randrange(len(texts))]} {texts[rng.randrange(len(texts))]}"
        if text not in seen:
            seen.add(text)
            chosen.append((text, label, split))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("text", "sentiment", "split"))
        writer.writerows(chosen)
    counts = {}
    for _, _, split in chosen:
        counts[split] = counts.get(split, 0) + 1
    return counts


class RssSampler(threading.Thread):
    """(epoch seconds, RSS MiB of a process and all its children) every `interval` seconds."""

    def __init__(self, pid: int, interval: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.interval, self.samples, self.done = pid, interval, [], threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                process = psutil.Process(self.pid)
                tree = [process] + process.children(recursive=True)
                rss = 0
                for p in tree:
                    try:
                        rss += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.samples.append((time.time(), rss / 2**20))
            except psutil.Error:
                return
            self.done.wait(self.interval)


def run_size(rows: int, folder: Path, epochs: int, beam_args=None) -> dict:
    from tfx_pipeline.config import load_config
    from tfx_pipeline.metadata.runs import executions_by_component, find_run
    from tfx_pipeline.metadata.store import open_store

    source_dir = folder / "source"
    counts = synthetic_corpus(rows, source_dir / "corpus.csv")

    def edit(raw):
        raw["data"].update({"source": str(source_dir / "corpus.csv"), "split_column": "split"})
        raw["trainer"]["hyperparameters"].update({"epochs": epochs, "patience": epochs})
        if beam_args:
            raw["beam"] = {"args": beam_args}

    config_path = scratch_config("sentiment", folder / "run", edit)
    config = load_config(config_path)
    started = time.time()
    process = subprocess.Popen([str(BIN / "mlops"), "run", "--config", str(config_path)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    sampler = RssSampler(process.pid)
    sampler.start()
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.time() - started
    sampler.done.set()
    sampler.join()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        raise RuntimeError(f"mlops run on {rows} rows exited {code}:\n{output[-3000:]}")
    store = open_store(config)
    run = find_run(store, config.pipeline_name)
    components = {}
    first_start = None
    for component_id, execution in executions_by_component(store, run, config.pipeline_name).items():
        start, end = execution.create_time_since_epoch / 1000, execution.last_update_time_since_epoch / 1000
        first_start = start if first_start is None else min(first_start, start)
        peak = max((rss for t, rss in sampler.samples if start <= t <= end), default=None)
        components[component_id] = {"seconds": round(end - start, 1), "peak_mib": peak and round(peak)}
    before = [rss for t, rss in sampler.samples if first_start is None or t < first_start]
    shutil.rmtree(source_dir, ignore_errors=True)  # the span holds the rows now
    return {"rows": rows, "splits": counts, "beam_args": beam_args, "wall_seconds": round(wall, 1),
            "ingest_and_start_seconds": round((first_start or started) - started, 1),
            "ingest_peak_mib": round(max(before)) if before else None,
            "peak_mib": round(max(rss for _, rss in sampler.samples)), "ru_maxrss_mib": round(usage.ru_maxrss / 1024),
            "exit_code": code, "components": components}


def markdown(results: list) -> str:
    ids = list(results[0]["components"])
    head = "| component | " + " | ".join(f"{r['rows']:,} rows" + (f" ({r['beam_args'][0].split('=')[1]}, "
                                                                   f"{r['beam_args'][1].split('=')[1]} w)"
                                                                   if r["beam_args"] else "")
                                              for r in results) + " |"
    lines = [head, "|---" * (len(results) + 1) + "|"]
    lines.append("| run wall s (peak MiB) | " + " | ".join(f"{r['wall_seconds']} ({r['peak_mib']})" for r in results)
                 + " |")
    lines.append("| ingestion + start s (peak MiB) | " + " | ".join(
        f"{r['ingest_and_start_seconds']} ({r['ingest_peak_mib']})" for r in results) + " |")
    for component_id in ids:
        cells = []
        for r in results:
            c = r["components"].get(component_id)
            cells.append(f"{c['seconds']} ({c['peak_mib']})" if c else "-")
        lines.append(f"| {component_id} s (peak MiB) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10000,100000,1000000")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--beam-workers", default="", help="e.g. 1,2: multi_processing runs at --beam-rows")
    parser.add_argument("--beam-rows", type=int, default=100000)
    parser.add_argument("--workdir", type=Path, default=ROOT / "work" / "bench" / "scale")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    results = []
    for rows in [int(r) for r in args.rows.split(",") if r]:
        print(f"== {rows:,} rows", flush=True)
        results.append(run_size(rows, args.workdir / f"rows-{rows}", args.epochs))
        print(json.dumps(results[-1]), flush=True)
    for workers in [int(w) for w in args.beam_workers.split(",") if w]:
        print(f"== {args.beam_rows:,} rows, Beam multi_processing with {workers} worker(s)", flush=True)
        beam = ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
        results.append(run_size(args.beam_rows, args.workdir / f"beam-{workers}", args.epochs, beam))
        print(json.dumps(results[-1]), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    print(markdown(results))


if __name__ == "__main__":
    main()
