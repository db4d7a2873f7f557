"""What a run did, read back from ML Metadata: per component ran / cached / failed / skipped and wall
seconds, the blessing decision with each metric against its threshold, and the pushed version. Runs made
under LocalDagRunner and under Airflow alike (tfx_pipeline/pipeline_runs.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ml_metadata.proto import metadata_store_pb2

from tfx_pipeline.components.ids import EVALUATOR, PUSHER
from tfx_pipeline.config import PipelineConfig
from tfx_pipeline.metadata.runs import LEGACY_RUN, PipelineRun, executions_by_component, find_run
from tfx_pipeline.metadata.store import open_store

_STATES = {
    metadata_store_pb2.Execution.COMPLETE: "ran",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "failed",
    metadata_store_pb2.Execution.RUNNING: "running",
    metadata_store_pb2.Execution.CANCELED: "canceled",
}
NO_PUSH = "no push"
_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)


@dataclass
class ComponentRun:
    component_id: str
    # ran | cached | failed | skipped (did not run in this pipeline run) | no push (the Pusher's, when the model
    # was not blessed: it ran, and refused)
    state: str
    seconds: float = 0.0
    outputs: Dict[str, List[metadata_store_pb2.Artifact]] = field(default_factory=dict)


@dataclass
class MetricCheck:
    name: str
    value: Optional[float]
    lower_bound: float
    max_drop: float
    baseline: Optional[float]
    failures: List[str]

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class RunReport:
    run_id: str
    components: List[ComponentRun]
    blessed: Optional[bool] = None
    blessing_reason: str = ""
    checks: List[MetricCheck] = field(default_factory=list)
    pushed_path: Optional[str] = None
    pushed_version: Optional[int] = None
    already_serving_version: Optional[int] = None
    launcher: str = ""

    def component(self, component_id: str) -> ComponentRun:
        return next(c for c in self.components if c.component_id == component_id)

    def table(self) -> str:
        width = max(len(c.component_id) for c in self.components)
        lines = [f"{'component':<{width}}  {'state':<8}  {'seconds':>8}"]
        lines += [f"{c.component_id:<{width}}  {c.state:<8}  {c.seconds:>8.1f}" for c in self.components]
        lines.append(f"{'total':<{width}}  {'':<8}  {sum(c.seconds for c in self.components):>8.1f}")
        lines.append("")
        decision = {True: "BLESSED", False: "NOT BLESSED", None: "no decision"}[self.blessed]
        lines.append(f"blessing: {decision}" + (f" ({self.blessing_reason})" if self.blessing_reason else ""))
        for check in self.checks:
            value = "missing" if check.value is None else f"{check.value:.4f}"
            baseline = "no baseline" if check.baseline is None else \
                f"baseline {check.baseline:.4f}, allowed drop {check.max_drop:.4f}"
            verdict = "ok" if check.ok else "FAIL: " + "; ".join(check.failures)
            lines.append(f"  {check.name}: {value} (lower bound {check.lower_bound:.4f}; {baseline}) {verdict}")
        pusher = next((c for c in self.components if c.component_id == PUSHER), None)
        if self.pushed_path and pusher is not None and pusher.state == "cached":
            lines.append(f"pushed: nothing new (served from cache; {self.pushed_path} is unchanged)")
        elif self.pushed_path:
            lines.append(f"pushed: {self.pushed_path}")
        elif self.already_serving_version is not None:
            lines.append(f"pushed: nothing (version {self.already_serving_version} already holds this model)")
        elif self.blessed is False:
            lines.append("pushed: nothing (the model was not blessed; what is served is unchanged)")
        else:
            lines.append("pushed: nothing")
        return "\n".join(lines)


def _outputs(store, execution_id: int) -> Dict[str, List[metadata_store_pb2.Artifact]]:
    events = [e for e in store.get_events_by_execution_ids([execution_id]) if e.type in _OUTPUT_EVENTS]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    outputs: Dict[str, List[metadata_store_pb2.Artifact]] = {}
    for event in events:
        key = event.path.steps[0].key if event.path.steps else ""
        outputs.setdefault(key, []).append(artifacts[event.artifact_id])
    return outputs


def _state(execution: metadata_store_pb2.Execution, run: PipelineRun) -> str:
    # The legacy launcher marks a resolver CACHED (it has no executor to run); the IR one records it as run.
    if (run.context.type == LEGACY_RUN and execution.type.endswith(".Resolver")
            and execution.last_known_state == metadata_store_pb2.Execution.CACHED):
        return "ran"
    return _STATES.get(execution.last_known_state, "unknown")


def component_runs(store, config: PipelineConfig, component_ids: List[str], run: PipelineRun) -> List[ComponentRun]:
    by_component = executions_by_component(store, run, config.pipeline_name)
    runs = []
    for component_id in component_ids:
        execution = by_component.get(component_id)
        if execution is None:
            runs.append(ComponentRun(component_id, "skipped"))
            continue
        seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000.0
        runs.append(ComponentRun(component_id, _state(execution, run), seconds, _outputs(store, execution.id)))
    return runs


def _int_property(artifact: metadata_store_pb2.Artifact, key: str) -> Optional[int]:
    value = artifact.custom_properties.get(key)
    return value.int_value if value is not None and value.HasField("int_value") else None


def _string_property(artifact: metadata_store_pb2.Artifact, key: str) -> Optional[str]:
    value = artifact.custom_properties.get(key)
    return value.string_value if value is not None and value.HasField("string_value") else None


def overall_metrics(evaluation_uri: str) -> Dict[tuple, float]:
    """(model_name, metric name, is_diff) -> value on the whole test split."""
    import tensorflow_model_analysis as tfma

    values = {}
    for metrics in tfma.load_metrics(evaluation_uri):
        if metrics.slice_key.single_slice_keys:
            continue
        for item in metrics.metric_keys_and_values:
            if item.key.HasField("sub_key") or not item.value.HasField("double_value"):
                continue
            values[(item.key.model_name, item.key.name, item.key.is_diff)] = item.value.double_value.value
    return values


def _failure_text(failure) -> str:
    if failure.message:
        return failure.message
    if failure.metric_key.is_diff:
        return f"change {failure.metric_value.double_value.value:+.4f} against the baseline is too large a drop"
    return f"{failure.metric_value.double_value.value:.4f} is below the lower bound"


def blessing_checks(config: PipelineConfig, evaluation_uri: str) -> List[MetricCheck]:
    import tensorflow_model_analysis as tfma

    values = overall_metrics(evaluation_uri)
    validation = tfma.load_validation_result(evaluation_uri)
    failures: Dict[str, List[str]] = {}
    for per_slice in validation.metric_validations_per_slice:
        if per_slice.slice_key.single_slice_keys:
            continue
        for failure in per_slice.failures:
            failures.setdefault(failure.metric_key.name, []).append(_failure_text(failure))
    checks = []
    for name, threshold in config.evaluation.thresholds.items():
        candidate = next((v for (model, n, diff), v in values.items()
                          if n == name and not diff and model in ("", "candidate")), None)
        baseline = values.get(("baseline", name, False))
        checks.append(MetricCheck(name, candidate, threshold.lower_bound, threshold.max_drop, baseline,
                                  failures.get(name, [])))
    return checks


def build_report(config: PipelineConfig, component_ids: List[str], run_id: Optional[str] = None) -> RunReport:
    store = open_store(config)
    run = find_run(store, config.pipeline_name, run_id) if store is not None else None
    if run is None:
        which = f"no run {run_id!r} of" if run_id else "no run of"
        raise LookupError(f"{which} pipeline {config.pipeline_name!r} recorded in {config.metadata_where}")
    report = RunReport(run.run_id, component_runs(store, config, component_ids, run), launcher=run.launcher)
    by_id = {c.component_id: c for c in report.components}
    evaluator = by_id.get(EVALUATOR)
    if evaluator and evaluator.state in ("ran", "cached"):
        blessing = evaluator.outputs.get("blessing", [None])[0]
        report.blessed = bool(blessing and _int_property(blessing, "blessed"))
        evaluation = evaluator.outputs.get("evaluation", [None])[0]
        if evaluation is not None:
            report.checks = blessing_checks(config, evaluation.uri)
        if not config.evaluation.thresholds:
            report.blessed = False
            report.blessing_reason = "no threshold configured in evaluation.thresholds: refusing to bless"
        elif not report.blessed:
            report.blessing_reason = "a threshold was not met"
    elif evaluator:
        report.blessing_reason = f"the evaluator did not run ({evaluator.state})"
    pusher = by_id.get(PUSHER)
    if pusher and pusher.state in ("ran", "cached"):
        pushed = pusher.outputs.get("pushed_model", [None])[0]
        if pushed is not None and _int_property(pushed, "pushed"):
            report.pushed_path = _string_property(pushed, "pushed_destination")
            version = _string_property(pushed, "pushed_version")
            report.pushed_version = int(version) if version else None
        elif pushed is not None:
            report.already_serving_version = _int_property(pushed, "already_serving_version")
        if report.blessed is False and report.pushed_path is None:
            pusher.state = NO_PUSH
    return report
