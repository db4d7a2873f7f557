"""The monitoring DAG, `<pipeline>_monitor`: `mlops monitor` for the config's model, on monitoring.schedule.

It reads the served model's request logs, writes the drift and skew report, and applies the retrain policy,
which may trigger the pipeline's own DAG through Airflow's REST API (monitoring.retrain.runner: airflow). Like
pipeline_dag.py it takes the config from $MLOPS_CONFIG and imports no TensorFlow to parse.
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from airflow import models
from airflow.configuration import AIRFLOW_HOME
from airflow.operators.bash import BashOperator

from runners.airflow.lazy_dag import dag_settings
from tfx_pipeline.config import DEFAULT_CONFIG, load_config

CONFIG_ENV = "MLOPS_CONFIG"

_config_path = Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG).resolve()
_config = load_config(_config_path)
_settings = dict(dag_settings(_config), schedule=_config.monitoring.schedule)

with models.DAG(dag_id=f"{_config.pipeline_name}_monitor", **_settings) as DAG:
    BashOperator(
        task_id="monitor",
        bash_command=" ".join(shlex.quote(part) for part in (
            str(Path(sys.executable).parent / "mlops"), "monitor", "--config", str(_config_path), "--airflow-home",
            str(AIRFLOW_HOME))),
        # A window with no logs is "nothing to monitor" (exit 4): a skipped task, not a failed one.
        skip_on_exit_code=4,
        env={"TF_USE_LEGACY_KERAS": "1"}, append_env=True)
