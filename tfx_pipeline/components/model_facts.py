"""The facts a pushed version carries in assets.extra/mlops_model.json, and as custom properties of its
PushedModel artifact in ML Metadata: what made it (the run's provenance: code, config, lock, spans) and why it
was pushed (its metrics on the test split, and the baseline's). `mlops models list` reads them without TFX."""
from __future__ import annotations

import time
from typing import Dict, List, Optional

from tfx import types

from tfx_pipeline.components.provenance import read_provenance

FILE = "mlops_model.json"
METRICS = ("accuracy", "macro_f1")


def _metrics(evaluation: Optional[types.Artifact]) -> Dict[str, Dict[str, float]]:
    if evaluation is None:
        return {}
    from tfx_pipeline.metadata.run_report import overall_metrics

    values = overall_metrics(evaluation.uri)
    out: Dict[str, Dict[str, float]] = {"candidate": {}, "baseline": {}}
    for (model, name, is_diff), value in values.items():
        if name in METRICS and not is_diff:
            out["baseline" if model == "baseline" else "candidate"][name] = value
    return out


def model_facts(model_name: str, version: int, provenance: List[types.Artifact],
                evaluation: List[types.Artifact], run_id: Optional[str]) -> dict:
    metrics = _metrics(evaluation[0] if evaluation else None)
    return {"model_name": model_name, "version": version, "pushed_at": time.time(), "pipeline_run_id": run_id,
            "provenance": read_provenance(provenance[0]) if provenance else None,
            "metrics": metrics.get("candidate", {}), "baseline_metrics": metrics.get("baseline", {}),
            "evaluation_uri": evaluation[0].uri if evaluation else None}


def set_properties(artifact: types.Artifact, facts: dict) -> None:
    """The facts `mlops models list` shows, on the PushedModel artifact."""
    for name, value in facts["metrics"].items():
        artifact.set_float_custom_property(name, value)
    for name, value in facts["baseline_metrics"].items():
        artifact.set_float_custom_property(f"baseline_{name}", value)
    artifact.set_float_custom_property("pushed_at", facts["pushed_at"])
    provenance = facts.get("provenance") or {}
    code = provenance.get("code", {})
    for key, value in (("git_commit", code.get("git_commit")), ("package_version", code.get("package_version")),
                       ("config_sha256", provenance.get("config_sha256")),
                       ("lock_sha256", provenance.get("lock_sha256")),
                       ("spans", ",".join(f"{s['span']}:{s['sha256']}" for s in provenance.get("spans", [])))):
        if value:
            artifact.set_string_custom_property(key, str(value))
    if "dirty" in code:
        artifact.set_int_custom_property("dirty", int(code["dirty"]))
