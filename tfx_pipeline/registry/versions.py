"""The pushed versions of a model, one row each: when and by which run it was pushed, on which spans, its metrics
and its baseline's, the labels it holds, and its state on a running server.

Read from ML Metadata (the PushedModel artifacts' properties, set by the Pusher from the evaluation and the run's
provenance), from the version folders (assets.extra/mlops_model.json) and from the labels file; no TFX or
TensorFlow import, so listing 50 versions takes well under a second. A version whose folder was deleted is listed
as gone.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from tfx_pipeline.config import PipelineConfig
from tfx_pipeline.metadata.lineage import Lineage, property_value

FACTS_FILE = Path("assets.extra") / "mlops_model.json"
METRICS = ("accuracy", "macro_f1")


@dataclass
class VersionRow:
    version: int
    folder: Path
    on_disk: bool
    pushed_at: Optional[float] = None
    run_id: Optional[str] = None
    spans: List[str] = field(default_factory=list)  # "<span>:<content sha256>"
    metrics: Dict[str, float] = field(default_factory=dict)
    baseline_metrics: Dict[str, float] = field(default_factory=dict)
    baseline_version: Optional[int] = None
    decision: str = "pushed (blessed)"
    labels: List[str] = field(default_factory=list)
    server_state: Optional[str] = None
    config_sha256: Optional[str] = None
    code: str = ""
    in_metadata: bool = False

    def to_dict(self) -> dict:
        out = dict(self.__dict__)
        out["folder"] = str(self.folder)
        return out


def read_facts(folder: Path) -> Optional[dict]:
    path = Path(folder) / FACTS_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _code(git_commit: Optional[str], dirty: Optional[int], package_version: Optional[str]) -> str:
    if git_commit:
        return git_commit[:12] + ("+dirty" if dirty else "")
    return f"package {package_version}" if package_version else ""


def _from_metadata(row: VersionRow, pushed, lineage: Lineage, versions_by_model: Dict[int, int]) -> None:
    row.in_metadata = True
    row.pushed_at = property_value(pushed, "pushed_at") or pushed.create_time_since_epoch / 1000.0
    row.metrics = {m: property_value(pushed, m) for m in METRICS if property_value(pushed, m) is not None}
    row.baseline_metrics = {m: property_value(pushed, f"baseline_{m}") for m in METRICS
                            if property_value(pushed, f"baseline_{m}") is not None}
    spans = property_value(pushed, "spans")
    row.spans = spans.split(",") if spans else []
    row.config_sha256 = property_value(pushed, "config_sha256")
    row.code = _code(property_value(pushed, "git_commit"), property_value(pushed, "dirty"),
                     property_value(pushed, "package_version"))
    pusher = lineage.producer(pushed)
    if pusher is not None:
        row.run_id = lineage.run_id(pusher.execution)
        blessing = pusher.first("model_blessing")
        evaluator = lineage.producer(blessing) if blessing is not None else None
        baseline = evaluator.first("baseline_model") if evaluator else None
        row.baseline_version = versions_by_model.get(baseline.id) if baseline is not None else None


def _from_file(row: VersionRow, facts: dict) -> None:
    """For a version ML Metadata does not know (another workspace's store, or pushed before facts were kept)."""
    row.pushed_at = facts.get("pushed_at")
    row.run_id = facts.get("pipeline_run_id")
    row.metrics = facts.get("metrics", {})
    row.baseline_metrics = facts.get("baseline_metrics", {})
    provenance = facts.get("provenance") or {}
    row.spans = [f"{s['span']}:{s['sha256']}" for s in provenance.get("spans", [])]
    row.config_sha256 = provenance.get("config_sha256")
    code = provenance.get("code", {})
    row.code = _code(code.get("git_commit"), code.get("dirty"), code.get("package_version"))


def list_versions(config: PipelineConfig, labels: Optional[Dict[str, int]] = None,
                  server_states: Optional[Dict[int, str]] = None) -> List[VersionRow]:
    push_root = Path(config.push_root)
    on_disk = {int(p.name): p for p in push_root.iterdir() if p.name.isascii() and p.name.isdigit() and p.is_dir()} \
        if push_root.is_dir() else {}
    rows: Dict[int, VersionRow] = {v: VersionRow(v, p, True) for v, p in on_disk.items()}
    from tfx_pipeline.metadata.store import open_store

    store = open_store(config)
    if store is not None:
        lineage = Lineage(store)
        pushed_models = [a for a in lineage.pushed_models()
                         if Path(str(property_value(a, "pushed_destination") or "")).parent == push_root]
        # Model artifact id -> the version it was pushed as: to name each version's baseline.
        versions_by_model = {}
        for pushed in pushed_models:
            pusher = lineage.producer(pushed)
            model = pusher.first("model") if pusher else None
            if model is not None:
                versions_by_model[model.id] = int(property_value(pushed, "pushed_version"))
        for pushed in pushed_models:
            version = int(property_value(pushed, "pushed_version"))
            row = rows.setdefault(version, VersionRow(version, push_root / str(version), False))
            _from_metadata(row, pushed, lineage, versions_by_model)
    for row in rows.values():
        if not row.in_metadata and row.on_disk:
            facts = read_facts(row.folder)
            if facts:
                _from_file(row, facts)
            else:
                row.decision = "on disk, not in ML Metadata"
        if not row.on_disk:
            row.decision = "gone: its folder was deleted"
    for label, version in (labels or {}).items():
        if version in rows:
            rows[version].labels.append(label)
    for version, state in (server_states or {}).items():
        if version in rows:
            rows[version].server_state = state
    return [rows[v] for v in sorted(rows)]
