"""When to retrain, decided by the config's monitoring.retrain policy, and the retrain started.

Reasons to retrain: a drift verdict (on_drift) and a live metric below its bound (min_live_accuracy,
min_live_macro_f1; counted once min_labelled logged requests have a label). A reason is not enough: at least
min_new_rows labelled rows must have arrived since the last retrain (retraining on the data that made the served
model changes nothing), the last retrain must be older than the cooldown, and no retrain may be in flight. Every
decision, to retrain or not, is appended to decisions.jsonl with why; `mlops monitor --history` shows them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional

from tfx_pipeline.config import PipelineConfig, duration_seconds
from tfx_pipeline.monitoring.record import model_dir


@dataclass
class Decision:
    time: float
    model: str
    version: Optional[int]
    retrain: bool
    reasons: List[str]  # what calls for a retrain
    blocked_by: List[str]  # what stops it
    command: str = ""  # what `mlops monitor` ran for it
    started: Optional[str] = None  # the run it started (a pid or an Airflow DAG run id)
    report: str = ""

    def summary(self) -> str:
        if self.retrain:
            return "retrain: " + "; ".join(self.reasons)
        if not self.reasons:
            return "no retrain: no reason (" + "; ".join(self.blocked_by or ["nothing moved"]) + ")"
        return "no retrain: " + "; ".join(self.blocked_by) + " (reasons: " + "; ".join(self.reasons) + ")"


def _history_path(config: PipelineConfig) -> Path:
    return model_dir(config) / "decisions.jsonl"


def history(config: PipelineConfig) -> List[Decision]:
    path = _history_path(config)
    if not path.is_file():
        return []
    return [Decision(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def record(config: PipelineConfig, decision: Decision) -> None:
    path = _history_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(decision), sort_keys=True) + "\n")


def new_labelled_rows(config: PipelineConfig, since: float) -> int:
    """Labelled rows `mlops feedback` added to spans after `since`."""
    total = 0
    for path in sorted(model_dir(config).glob("feedback-*.json")):
        report = json.loads(path.read_text())
        if report.get("created", report.get("window_end", 0.0)) > since:
            total += int(report.get("new_rows", 0))
    return total


def decide(config: PipelineConfig, monitored: Optional[dict], judged: Optional[dict], in_flight: Optional[str],
           now: Optional[float] = None) -> Decision:
    policy = config.monitoring.retrain
    now = time.time() if now is None else now
    version = (monitored or judged or {}).get("version")
    reasons: List[str] = []
    if monitored and policy.on_drift and monitored.get("verdict") == "drift":
        reasons.append("drift: " + "; ".join(monitored.get("reasons", [])[:3]))
    if judged and judged.get("labelled", 0) >= policy.min_labelled:
        for metric, bound in (("accuracy", policy.min_live_accuracy), ("macro_f1", policy.min_live_macro_f1)):
            value = judged.get(metric)
            if bound is not None and value is not None and value < bound:
                reasons.append(f"live {metric} {value:.4f} < {bound:g} over {judged['labelled']} labelled requests")
    blocked: List[str] = []
    if not policy.enabled:
        blocked.append("monitoring.retrain.enabled is false")
    retrains = [d for d in history(config) if d.retrain]
    last = retrains[-1].time if retrains else 0.0
    cooldown = duration_seconds(policy.cooldown)
    if retrains and now - last < cooldown:
        blocked.append(f"cooldown: the last retrain started {(now - last) / 60:.0f} min ago, "
                       f"the cooldown is {policy.cooldown}")
    new_rows = new_labelled_rows(config, last)
    if new_rows < policy.min_new_rows:
        blocked.append(f"{new_rows} new labelled rows since the last retrain, fewer than {policy.min_new_rows}")
    if in_flight:
        blocked.append(f"a retrain is in flight ({in_flight})")
    return Decision(now, config.serving.model_name, version, bool(reasons) and not blocked, reasons, blocked)


def run_command(config_path: Path, sample: Optional[int]) -> List[str]:
    command = [str(Path(sys.executable).parent / "mlops"), "run", "--config", str(Path(config_path).resolve())]
    return command + (["--sample", str(sample)] if sample is not None else [])


def start_local_run(config: PipelineConfig, config_path: Path, sample: Optional[int]) -> subprocess.Popen:
    """`mlops run` in a process of its own (its console goes to a log file); the workspace lock keeps it alone."""
    log = config.logs_dir / f"retrain-{time.strftime('%Y%m%d-%H%M%S')}.out"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as handle:
        return subprocess.Popen(run_command(config_path, sample), stdout=handle, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, "TF_USE_LEGACY_KERAS": "1"})
