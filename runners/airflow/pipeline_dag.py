"""The pipeline as an Airflow DAG: create_pipeline(config) run by TFX's Airflow launcher, one task per component.

Airflow finds this file in its dags folder (`mlops airflow up` points it at runners/airflow/). The config comes
from $MLOPS_CONFIG (default configs/sentiment.yaml); the DAG id is the config's pipeline_name, and the schedule,
start date, catchup and retries come from its `airflow:` section. Parsing imports no TFX (see lazy_dag.py); the
pipeline's shape is cached under $AIRFLOW_HOME/mlops.
"""
from __future__ import annotations

import os
from pathlib import Path

from airflow.configuration import AIRFLOW_HOME

from runners.airflow.lazy_dag import build_dag
from tfx_pipeline.config import DEFAULT_CONFIG

CONFIG_ENV = "MLOPS_CONFIG"

DAG = build_dag(Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG), cache_dir=Path(AIRFLOW_HOME) / "mlops")
