"""The DAG files in an Airflow as a new user has one: a fresh AIRFLOW_HOME with Airflow's default settings (its
30 s dagbag_import_timeout among them) and `airflow db migrate`, nothing of what `mlops airflow up` writes. The
dags folder holds what docs/orchestration.md says to deploy (the two DAG files and shapes/), and the configs are
byte-for-byte copies of the shipped ones in a folder of the test's own, as in a clone elsewhere. Airflow's own CLI
then judges the parse; no daemon is started."""
from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from orchestration_helpers import ROOT, write_config
from tfx_pipeline.config import load_config
from tfx_pipeline.pipeline import create_pipeline

AIRFLOW = str(Path(sys.executable).parent / "airflow")
SHIPPED = ("sentiment", "emotion", "sst2")
# Measured on 2 shared cores: `airflow dags report` gave 0.08 s for pipeline_dag.py and 0.01 s for
# monitor_dag.py; the first parse that built the pipeline took 20-26 s, most of the 30 s Airflow allows.
PARSE_LIMIT_SECONDS = 10.0
# What building the pipeline imports; a parse that imports any of them costs seconds and about 1 GB.
HEAVY_MODULES = ("tensorflow", "tfx", "tensorflow_transform", "tensorflow_model_analysis",
                 "tensorflow_data_validation", "apache_beam", "keras", "tf_keras", "ml_metadata",
                 "google.cloud.aiplatform")

# Run with the stock environment in a clean interpreter: Airflow's DagBag over the dags folder, and which heavy
# modules the parse left imported.
DAGBAG_PROBE = """
import json, sys
from airflow.models import DagBag
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
heavy = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in sys.argv[2].split(",")))
print("PROBE" + json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": {d: [[t.task_id, sorted(t.upstream_task_ids)] for t in dag.tasks] for d, dag in bag.dags.items()},
    "heavy": heavy}))
"""


def stock_env(home: Path, dags: Path, config_path: Path) -> Dict[str, str]:
    # Nothing of this machine's Airflow or TensorFlow settings leaks in: only the three settings a new user sets,
    # and the config the DAG file is told to build.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLOPS_", "TF_"))}
    return {**env, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "MLOPS_CONFIG": str(config_path)}


def airflow(env: Dict[str, str], *args: str, returncode: int = 0) -> subprocess.CompletedProcess:
    result = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=180,
                            cwd=env["AIRFLOW_HOME"])
    assert result.returncode == returncode, \
        f"airflow {' '.join(args)}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


def json_output(result: subprocess.CompletedProcess):
    # Airflow may print a warning line before the JSON.
    start = min(i for i in (result.stdout.find("["), result.stdout.find("{")) if i >= 0)
    return json.loads(result.stdout[start:])


def report_seconds(report) -> Dict[str, float]:
    """{file name: parse seconds} from `airflow dags report -o json` (durations read like 0:00:00.080526)."""
    seconds = {}
    for row in report:
        hours, minutes, secs = row["duration"].split(":")
        seconds[Path(row["file"]).name] = datetime.timedelta(hours=int(hours), minutes=int(minutes),
                                                             seconds=float(secs)).total_seconds()
    return seconds


def probe(env: Dict[str, str]) -> dict:
    result = subprocess.run([sys.executable, "-c", DAGBAG_PROBE, env["AIRFLOW__CORE__DAGS_FOLDER"],
                             ",".join(HEAVY_MODULES)], env=env, capture_output=True, text=True, timeout=180)
    line = next((l for l in result.stdout.splitlines() if l.startswith("PROBE")), None)
    assert line is not None, result.stderr[-3000:]
    return json.loads(line[len("PROBE"):])


@pytest.fixture(scope="module")
def stock(tmp_path_factory):
    """A clone's configs, schemas and data elsewhere; a dags folder deployed as the docs say; a migrated home."""
    root = tmp_path_factory.mktemp("stock")
    for folder in ("configs", "schema", "data"):
        shutil.copytree(ROOT / folder, root / "clone" / folder)
    dags = root / "dags"
    dags.mkdir()
    for dag_file in ("pipeline_dag.py", "monitor_dag.py"):
        shutil.copy(ROOT / "runners" / "airflow" / dag_file, dags)
    shutil.copytree(ROOT / "runners" / "airflow" / "shapes", dags / "shapes")
    home = root / "home"
    home.mkdir()  # what a new user does before `export AIRFLOW_HOME=...`; Airflow fills it
    airflow(stock_env(home, dags, root / "clone" / "configs" / "sentiment.yaml"), "db", "migrate")
    # db migrate wrote the stock airflow.cfg: the timeout every parse below gets is Airflow's default.
    assert "\ndagbag_import_timeout = 30.0\n" in (home / "airflow.cfg").read_text()
    return {"root": root, "home": home, "dags": dags}


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_config_parses_on_the_first_try_well_inside_the_default_timeout(stock, name):
    config_path = stock["root"] / "clone" / "configs" / f"{name}.yaml"
    env = stock_env(stock["home"], stock["dags"], config_path)
    config = load_config(config_path)
    assert json_output(airflow(env, "dags", "list-import-errors", "-o", "json")) == []
    report = json_output(airflow(env, "dags", "report", "-o", "json"))
    assert sorted((Path(r["file"]).name, r["dags"]) for r in report) == [
        ("monitor_dag.py", [f"{config.pipeline_name}_monitor"]), ("pipeline_dag.py", [config.pipeline_name])]
    seconds = report_seconds(report)
    assert seconds["pipeline_dag.py"] < PARSE_LIMIT_SECONDS and seconds["monitor_dag.py"] < PARSE_LIMIT_SECONDS, \
        seconds
    parsed = probe(env)
    assert parsed["errors"] == {}
    # The tasks and their dependencies are create_pipeline's, not merely what the shape file says.
    expected = [[c.id, sorted(u.id for u in c.upstream_nodes)] for c in create_pipeline(config).components]
    assert parsed["dags"][config.pipeline_name] == expected
    assert parsed["dags"][f"{config.pipeline_name}_monitor"] == [["monitor", []]]
    assert parsed["heavy"] == []


def test_airflow_lists_the_pipeline_and_the_monitoring_dag_with_their_task_ids(stock):
    config_path = stock["root"] / "clone" / "configs" / "sentiment.yaml"
    env = stock_env(stock["home"], stock["dags"], config_path)
    listed = {d["dag_id"]: Path(d["fileloc"]) for d in json_output(airflow(env, "dags", "list", "-o", "json"))}
    assert listed == {"sentiment": stock["dags"] / "pipeline_dag.py",
                      "sentiment_monitor": stock["dags"] / "monitor_dag.py"}
    tasks = airflow(env, "tasks", "list", "sentiment").stdout.split()
    assert sorted(tasks) == sorted(c.id for c in create_pipeline(load_config(config_path)).components)
    assert airflow(env, "tasks", "list", "sentiment_monitor").stdout.split() == ["monitor"]


def test_a_config_without_a_compiled_shape_fails_fast_naming_the_shape_file_and_the_command(stock, tmp_path):
    config_path = write_config(tmp_path / "wide.yaml", "sentiment", data={"span_window": 2})
    env = stock_env(stock["home"], stock["dags"], config_path)
    # The command exits 1 when it has import errors to list.
    [error] = json_output(airflow(env, "dags", "list-import-errors", "-o", "json", returncode=1))
    assert Path(error["filepath"]) == stock["dags"] / "pipeline_dag.py"
    message = error["error"]
    assert "MissingShapeError" in message and "Timeout" not in message
    assert f"mlops compile --target airflow --config {config_path} --output {stock['dags'] / 'shapes' / 'wide.json'}" \
        in message
    # The shipped shape of the same pipeline name is named and refused for what it is.
    assert f"{stock['dags'] / 'shapes' / 'sentiment.json'}: compiled from other config content" in message
    assert "dagbag_import_timeout of 30 s" in message
    seconds = report_seconds(json_output(airflow(env, "dags", "report", "-o", "json")))
    assert seconds["pipeline_dag.py"] < PARSE_LIMIT_SECONDS, seconds
    # The monitoring DAG does not need the shape and still loads.
    assert probe(env)["dags"]["sentiment_monitor"] == [["monitor", []]]
