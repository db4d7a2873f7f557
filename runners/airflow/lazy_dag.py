"""create_pipeline(config) as an Airflow DAG that parses without importing TFX.

TFX's AirflowDagRunner builds the pipeline's component objects while Airflow parses the DAG file, which imports
TensorFlow, TFX, TFT and TFMA: 20 s and 1 GB on 2 cores, at every parse by the scheduler and by each task
process (benchmarks.md, Orchestration). Here the DAG file needs only the pipeline's shape, the component ids and
their upstream ids, cached per config and code version; the components are built when a task runs, and run
through TFX's own Airflow launcher (`_airflow_component_launcher`) with the arguments AirflowDagRunner.run
gives it, so ML Metadata, caching and the pushed model are those of AirflowDagRunner.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
from importlib import metadata
from pathlib import Path
from typing import List, Tuple

import tfx_pipeline
from tfx_pipeline.config import PipelineConfig, load_config
from tfx_pipeline.locations import is_remote

# (component id, ids of its upstream components), in the pipeline's dependency order.
Shape = List[Tuple[str, List[str]]]
# The code create_pipeline is made of: the shape changes with it.
_PACKAGE = Path(tfx_pipeline.__file__).resolve().parent


class StaleDagError(RuntimeError):
    """A task's component is not in the pipeline its config builds now: the DAG was parsed from another config."""


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


def shape_key(config_path: Path) -> str:
    """Changes whenever the shape can: with the config file, the pipeline package's code, or TFX's version."""
    digest = hashlib.sha256(Path(config_path).read_bytes())
    for source in sorted(_PACKAGE.rglob("*.py")):
        digest.update(source.relative_to(_PACKAGE).as_posix().encode())
        digest.update(source.read_bytes())
    digest.update(metadata.version("tfx").encode())
    return digest.hexdigest()


def compute_shape(config: PipelineConfig) -> Shape:
    from tfx_pipeline.pipeline import create_pipeline  # the 20-second import, paid once per shape key

    return [(c.id, sorted(u.id for u in c.upstream_nodes)) for c in create_pipeline(config).components]


def cached_shape(config: PipelineConfig, config_path: Path, cache_dir: Path) -> Shape:
    key = shape_key(config_path)
    cache = cache_dir / f"{config.pipeline_name}.shape.json"
    try:
        cached = json.loads(cache.read_text())
        if cached["key"] == key:
            return [(task, list(upstream)) for task, upstream in cached["tasks"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent or unreadable: computed again below
    shape = compute_shape(config)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps({"key": key, "tasks": shape}, indent=1))
    partial.replace(cache)  # two parsers at once must never leave a half-written file
    return shape


def launcher_arguments(component_id: str, config_path: str) -> dict:
    """What AirflowDagRunner.run binds into a component's operator (airflow_component.AirflowComponent), for one
    component of the pipeline that config_path builds now."""
    from tfx.dsl.components.base import base_component
    from tfx.orchestration import data_types
    from tfx.orchestration.config import config_utils, pipeline_config

    from tfx_pipeline.pipeline import create_pipeline

    pipeline = create_pipeline(load_config(config_path))
    component = next((c for c in pipeline.components if c.id == component_id), None)
    if component is None:
        raise StaleDagError(f"the pipeline built from {config_path} has no component {component_id!r} "
                            f"(it has {[c.id for c in pipeline.components]}): the config or the code changed "
                            "since Airflow parsed the DAG; let it re-parse and trigger a new run")
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


def launch_component(component_id: str, config_path: str, **context) -> None:
    """One task: launches one component as AirflowDagRunner's operator would."""
    from tfx.orchestration.airflow import airflow_component

    airflow_component._airflow_component_launcher(  # pylint: disable=protected-access
        **launcher_arguments(component_id, config_path), **context)


def build_dag(config_path: Path, cache_dir: Path):
    from airflow import models
    from airflow.operators.python import PythonOperator

    config_path, cache_dir = Path(config_path).resolve(), Path(cache_dir)
    config = load_config(config_path)
    config.local_metadata_path("Airflow's TFX launcher").parent.mkdir(parents=True, exist_ok=True)
    if not is_remote(config.pipeline_root):
        config.pipeline_root.mkdir(parents=True, exist_ok=True)
    dag = models.DAG(dag_id=config.pipeline_name, **dag_settings(config))
    tasks = {}
    for component_id, upstream in cached_shape(config, config_path, cache_dir):
        tasks[component_id] = PythonOperator(
            task_id=component_id, dag=dag, python_callable=launch_component,
            op_kwargs={"component_id": component_id, "config_path": str(config_path)})
        for upstream_id in upstream:
            tasks[component_id].set_upstream(tasks[upstream_id])
    return dag
