"""Where monitoring's results go: a JSON file per report, Prometheus gauges (a text file the model server serves
with its own metrics), and ML Metadata, where each report is an execution linked to the served version's
PushedModel artifact, so a version's lineage shows how it did once served.

Files live in <monitoring_dir>/<model>/: monitor-<end>.json, feedback-<time>.json, decisions.jsonl; the gauges in
<monitoring_dir>/<model>.prom.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import List, Optional

from tfx_pipeline.config import PipelineConfig

MONITOR_EXECUTION = "mlops.Monitor"
FEEDBACK_EXECUTION = "mlops.Feedback"
REPORT_ARTIFACT = "mlops.MonitoringReport"


def model_dir(config: PipelineConfig) -> Path:
    return config.monitoring_dir / config.serving.model_name


def _write_json(path: Path, body: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(body, indent=1, sort_keys=True, default=str))
    partial.replace(path)
    return path


def write_report(config: PipelineConfig, kind: str, body: dict) -> Path:
    """<kind>-<when written, UTC, to the microsecond>.json: names sort in time and two reports never share one."""
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
    return _write_json(model_dir(config) / f"{kind}-{stamp}.json", body)


def latest_report(config: PipelineConfig, kind: str) -> Optional[dict]:
    found = sorted(model_dir(config).glob(f"{kind}-*.json"))
    return json.loads(found[-1].read_text()) if found else None


def _gauge(name: str, labels: dict, value: float) -> str:
    text = ",".join(f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                    for k, v in labels.items())
    return f"{name}{{{text}}} {value:.6g}"


def write_gauges(config: PipelineConfig) -> Path:
    """Rewrites the model's Prometheus text file from its latest monitoring and feedback reports."""
    model = config.serving.model_name
    lines: List[str] = []
    monitored = latest_report(config, "monitor")
    if monitored:
        base = {"model_name": model, "version": monitored["version"]}
        lines += ["# TYPE :mlops:monitor:drift gauge", _gauge(":mlops:monitor:drift", base,
                                                               1.0 if monitored["verdict"] == "drift" else 0.0),
                  "# TYPE :mlops:monitor:requests gauge", _gauge(":mlops:monitor:requests", base,
                                                                  monitored["requests"]),
                  "# TYPE :mlops:monitor:timestamp_seconds gauge",
                  _gauge(":mlops:monitor:timestamp_seconds", base, monitored["window_end"]),
                  "# TYPE :mlops:monitor:score gauge"]
        lines += [_gauge(":mlops:monitor:score", {**base, "feature": s["feature"], "comparison": s["comparison"],
                                                  "measure": s["measure"]}, s["value"]) for s in monitored["scores"]]
        if monitored.get("text"):
            lines += ["# TYPE :mlops:monitor:text_auc gauge",
                      _gauge(":mlops:monitor:text_auc", base, monitored["text"]["auc"]),
                      "# TYPE :mlops:monitor:text_p_value gauge",
                      _gauge(":mlops:monitor:text_p_value", base, monitored["text"]["p_value"])]
    judged = latest_report(config, "feedback")
    if judged and judged.get("labelled"):
        base = {"model_name": model, "version": judged["version"]}
        lines += ["# TYPE :mlops:feedback:labelled_requests gauge",
                  _gauge(":mlops:feedback:labelled_requests", base, judged["labelled"])]
        for metric in ("accuracy", "macro_f1"):
            if judged.get(metric) is not None and not math.isnan(judged[metric]):
                lines += [f"# TYPE :mlops:feedback:live_{metric} gauge",
                          _gauge(f":mlops:feedback:live_{metric}", base, judged[metric])]
    path = config.monitoring_dir / f"{model}.prom"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text("\n".join(lines) + "\n")
    partial.replace(path)  # the server may read it at any moment
    return path


def record_in_metadata(config: PipelineConfig, execution_type: str, version: int, report_path: Path,
                       properties: dict) -> Optional[int]:
    """An execution of `execution_type` whose input is the version's PushedModel artifact and whose output is the
    report file; None when the pipeline's ML Metadata is not here (nothing has been pushed from this workspace)."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    from tfx_pipeline.metadata.lineage import Lineage

    from tfx_pipeline.metadata.store import open_store

    store = open_store(config, readonly=False)
    if store is None:
        return None
    execution_type_id = store.put_execution_type(pb.ExecutionType(name=execution_type), can_add_fields=True)
    artifact_type_id = store.put_artifact_type(pb.ArtifactType(name=REPORT_ARTIFACT), can_add_fields=True)
    execution = pb.Execution(type_id=execution_type_id, last_known_state=pb.Execution.COMPLETE,
                             name=f"{execution_type}-{report_path.stem}")
    for key, value in properties.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            execution.custom_properties[key].string_value = str(value)
        elif isinstance(value, int):
            execution.custom_properties[key].int_value = value
        else:
            execution.custom_properties[key].double_value = float(value)
    artifact = pb.Artifact(type_id=artifact_type_id, uri=str(report_path), state=pb.Artifact.LIVE)
    events = [(artifact, pb.Event(type=pb.Event.OUTPUT, path=pb.Event.Path(steps=[pb.Event.Path.Step(key="report")])))]
    pushed = Lineage(store).pushed_model(version)
    if pushed is not None:
        events.append((pushed, pb.Event(type=pb.Event.INPUT,
                                        path=pb.Event.Path(steps=[pb.Event.Path.Step(key="served_model")]))))
    contexts = [c for c in store.get_contexts_by_type("pipeline") if c.name == config.pipeline_name]
    execution_id, _, _ = store.put_execution(execution, events, contexts)
    return execution_id
