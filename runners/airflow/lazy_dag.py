"""create_pipeline(config) as an Airflow DAG that parses without importing TFX.

TFX's AirflowDagRunner builds the pipeline's component objects while Airflow parses the DAG file, which imports
TensorFlow, TFX, TFT and TFMA: 20 s and 1 GB on 2 cores, at every parse by the scheduler and by each task
process (benchmarks.md, Orchestration). Here the DAG file needs only the pipeline's shape, the component ids and
their upstream ids, compiled beside the DAG file or cached per config and code version (shape.py); the
components are built when a task runs, and run through TFX's own Airflow launcher (`_airflow_component_launcher`)
with the arguments AirflowDagRunner.run gives it, so ML Metadata, caching and the pushed model are those of
AirflowDagRunner. Before it launches anything, each task checks that the pipeline it built has its DAG's shape.
"""
from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Dict, List, Optional

from runners.airflow.shape import SHIPPED_DIR, Shape, compile_command, pipeline_shape, resolve_shape
from tfx_pipeline.config import PipelineConfig, load_config
from tfx_pipeline.locations import is_remote


class StaleDagError(RuntimeError):
    """The pipeline a task's config builds now is not the one its DAG was parsed with: the config or the code
    changed since, or the shape the DAG was built from is stale."""


def dag_settings(config: PipelineConfig) -> dict:
    airflow = config.airflow
    return {
        "schedule": airflow.schedule,
        "start_date": datetime.datetime.combine(airflow.start_date, datetime.time(), datetime.timezone.utc),
        "catchup": airflow.catchup,
        # A second run over the same MLMD and pipeline root while one is running would race for both.
        "max_active_runs": 1,
        "default_args": {"retries": airflow.retries,
                         "retry_delay": datetime.timedelta(minutes=airflow.retry_delay_minutes)},
    }


def dag_shape(dag) -> Shape:
    return [(task.task_id, sorted(task.upstream_task_ids)) for task in dag.tasks]


def shape_differences(dag: Shape, built: Shape, partial: bool = False) -> List[str]:
    """How the DAG's shape differs from the pipeline's. A partial DAG (Airflow's `partial_subset`, as `dag.test()`
    of some tasks or a cleared subset runs) holds some of the pipeline's tasks: each must be there with its
    upstream tasks among those kept."""
    ours, theirs = dict(dag), dict(built)
    if partial:
        theirs = {task: sorted(set(upstream) & set(ours)) for task, upstream in theirs.items() if task in ours}
    found = [f"{task!r} is in the DAG, not in the pipeline" for task in ours if task not in theirs]
    found += [f"{task!r} is in the pipeline, not in the DAG" for task in theirs if task not in ours]
    found += [f"{task!r} has upstream {theirs[task]} in the pipeline, {ours[task]} in the DAG"
              for task in ours if task in theirs and ours[task] != theirs[task]]
    return found


def launcher_arguments(component_id: str, config_path: str, expected: Optional[Shape] = None,
                       shape_file: str = "", partial: bool = False) -> dict:
    """What AirflowDagRunner.run binds into a component's operator (airflow_component.AirflowComponent), for one
    component of the pipeline that config_path builds now. With `expected` (the DAG's shape), a pipeline of
    another shape is refused: a DAG built from a stale shape would otherwise run its tasks in a wrong order, skip
    a component or wait on one that no longer exists, all without an error."""
    from tfx.dsl.components.base import base_component
    from tfx.orchestration import data_types
    from tfx.orchestration.config import config_utils, pipeline_config

    from tfx_pipeline.pipeline import create_pipeline

    pipeline = create_pipeline(load_config(config_path))
    component = next((c for c in pipeline.components if c.id == component_id), None)
    # A compiled shape is rewritten only by `mlops compile`; the parse-time cache by the next parse.
    remedy = (f"; the DAG was built from {shape_file}: recompile it "
              f"(`{compile_command(Path(config_path), Path(shape_file))}`) and deploy it with the DAG file"
              if shape_file else "")
    if component is None:
        raise StaleDagError(f"the pipeline built from {config_path} has no component {component_id!r} "
                            f"(it has {[c.id for c in pipeline.components]}): the config or the code changed "
                            f"since Airflow parsed the DAG; let it re-parse and trigger a new run{remedy}")
    differences = shape_differences(expected, pipeline_shape(pipeline), partial) if expected is not None else []
    if differences:
        raise StaleDagError(f"the pipeline built from {config_path} is not the one this DAG was parsed with, so "
                            f"nothing was run: {'; '.join(differences)}. The config or the code changed since "
                            f"Airflow parsed the DAG, or the shape it was built from is stale{remedy}")
    pipeline.additional_pipeline_args.setdefault("tmp_dir", os.path.join(pipeline.pipeline_info.pipeline_root,
                                                                         ".temp", ""))
    if isinstance(component, base_component.BaseComponent):
        component._resolve_pip_dependencies(pipeline.pipeline_info.pipeline_root)  # pylint: disable=protected-access
    launcher_class, component_config = config_utils.find_component_launch_info(
        pipeline_config.PipelineConfig(), component)
    return {"component": component, "component_launcher_class": launcher_class,
            "pipeline_info": pipeline.pipeline_info,
            "driver_args": data_types.DriverArgs(enable_cache=pipeline.enable_cache),
            "metadata_connection_config": pipeline.metadata_connection_config,
            "beam_pipeline_args": pipeline.beam_pipeline_args,
            "additional_pipeline_args": pipeline.additional_pipeline_args, "component_config": component_config,
            "exec_properties": dict(component.exec_properties)}


def launch_component(component_id: str, config_path: str, shape_file: str = "", **context) -> None:
    """One task: launches one component as AirflowDagRunner's operator would, once the pipeline is known to
    have the shape of the DAG the task belongs to (the one its own process parsed)."""
    from tfx.orchestration.airflow import airflow_component

    dag = context.get("dag")
    expected = dag_shape(dag) if dag is not None else None
    airflow_component._airflow_component_launcher(  # pylint: disable=protected-access
        **launcher_arguments(component_id, config_path, expected, shape_file, bool(getattr(dag, "partial", False))),
        **context)


def build_dag(config_path: Path, cache_dir: Path, shapes_dir: Path = SHIPPED_DIR, dag_file: Optional[Path] = None):
    """The DAG of the config's pipeline, from its compiled shape in shapes_dir or the parse-time cache in
    cache_dir (shape.resolve_shape); dag_file is the file being parsed, whose import timeout decides whether the
    shape may be computed here."""
    from airflow import models
    from airflow.operators.python import PythonOperator

    config_path = Path(config_path).resolve()
    config = load_config(config_path)
    shape, source, compiled = resolve_shape(config, config_path, Path(shapes_dir), Path(cache_dir), dag_file)
    config.require_metadata("Airflow's TFX launcher")
    if config.metadata.kind == "sqlite":
        config.metadata_path.parent.mkdir(parents=True, exist_ok=True)
    if not is_remote(config.pipeline_root):
        config.pipeline_root.mkdir(parents=True, exist_ok=True)
    dag = models.DAG(dag_id=config.pipeline_name, **dag_settings(config))
    tasks: Dict[str, PythonOperator] = {}
    for component_id, upstream in shape:
        tasks[component_id] = PythonOperator(
            task_id=component_id, dag=dag, python_callable=launch_component,
            op_kwargs={"component_id": component_id, "config_path": str(config_path),
                       "shape_file": str(source) if compiled else ""})
        for upstream_id in upstream:
            tasks[component_id].set_upstream(tasks[upstream_id])
    return dag
