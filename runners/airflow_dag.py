"""The pipeline as an Airflow DAG: create_pipeline(config) through TFX's AirflowDagRunner.

Airflow finds this file in its dags folder (`mlops airflow up` points it at runners/). The config comes from
$MLOPS_CONFIG (default configs/sentiment.yaml); the DAG id is the config's pipeline_name, and the schedule,
start date, catchup and retries come from its `airflow:` section.
"""
from __future__ import annotations

import datetime
import os

from tfx.orchestration.airflow.airflow_dag_runner import AirflowDagRunner, AirflowPipelineConfig

from tfx_pipeline.config import DEFAULT_CONFIG, PipelineConfig, load_config
from tfx_pipeline.pipeline import create_pipeline

CONFIG_ENV = "MLOPS_CONFIG"


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


def build_dag(config: PipelineConfig):
    config.pipeline_root.mkdir(parents=True, exist_ok=True)
    runner = AirflowDagRunner(AirflowPipelineConfig(airflow_dag_config=dag_settings(config)))
    return runner.run(create_pipeline(config))


DAG = build_dag(load_config(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG))
