"""The pipeline as an Airflow DAG: create_pipeline(config) run by TFX's Airflow launcher, one task per component.

Airflow finds this file in its dags folder (`mlops airflow up` points it at runners/airflow/). The config comes
from $MLOPS_CONFIG (default configs/sentiment.yaml); the DAG id is the config's pipeline_name, and the schedule,
start date, catchup and retries come from its `airflow:` section. Parsing imports no TFX: the tasks come from the
pipeline's shape, compiled by `mlops compile --target airflow` into the shapes/ folder beside this file (shipped
for configs/*.yaml), or cached under $AIRFLOW_HOME/mlops (runners/airflow/shape.py). Without either, the parse
fails at once with an error naming the command that writes it.
"""
from __future__ import annotations

import os
from pathlib import Path

from airflow.configuration import AIRFLOW_HOME

from runners.airflow.lazy_dag import build_dag
from tfx_pipeline.config import DEFAULT_CONFIG

CONFIG_ENV = "MLOPS_CONFIG"

# Not resolved: a DAG file copied into another dags folder reads the shapes/ copied beside it.
_HERE = Path(__file__).absolute()

DAG = build_dag(Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG), cache_dir=Path(AIRFLOW_HOME) / "mlops",
                shapes_dir=_HERE.parent / "shapes", dag_file=_HERE)
