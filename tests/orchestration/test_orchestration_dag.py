"""The Airflow DAG as Airflow's own DagBag loads it from runners/airflow/, in a process with an AIRFLOW_HOME of its own
(the one `mlops airflow up` writes), and the shipped shapes it is built from (runners/airflow/shapes/).
test_orchestration_stock_airflow.py parses the same files in a stock Airflow."""
from __future__ import annotations

import datetime
import json
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from orchestration_helpers import ROOT, airflow_env, write_config
from tfx_pipeline.cli import mlops
from tfx_pipeline.config import load_config
from tfx_pipeline.pipeline import create_pipeline

AIRFLOW_SETTINGS = {"schedule": "@daily", "start_date": datetime.date(2025, 3, 1), "catchup": False,
                    "retries": 2, "retry_delay_minutes": 1.5}

# Run in the Airflow environment: what Airflow's DagBag makes of the dags folder, as JSON.
DAGBAG_PROBE = """
import json, sys, time
from airflow.models import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder={folder!r}, include_examples=False)
seconds = time.perf_counter() - started
dags = {{}}
for dag_id, dag in bag.dags.items():
    dags[dag_id] = {{
        "schedule": dag.schedule_interval, "start_date": dag.start_date.isoformat(), "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "tasks": {{t.task_id: {{"upstream": sorted(t.upstream_task_ids), "retries": t.retries,
                                "retry_delay": t.retry_delay.total_seconds()}} for t in dag.tasks}},
        "topological": [t.task_id for t in dag.topological_sort()],
        "commands": {{t.task_id: getattr(t, "bash_command", "") for t in dag.tasks}},
    }}
print("DAGBAG" + json.dumps({{"errors": {{k: str(v) for k, v in bag.import_errors.items()}},
                              "files": sorted(s.file for s in bag.dagbag_stats),
                              "dags": dags, "seconds": seconds,
                              "imported": sorted({{"tensorflow", "tfx"}} & set(sys.modules))}}))
"""


def load_dagbag(env) -> tuple:
    probe = DAGBAG_PROBE.format(folder=str(ROOT / "runners" / "airflow"))
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=600)
    line = next((l for l in result.stdout.splitlines() if l.startswith("DAGBAG")), None)
    assert line is not None, result.stderr[-3000:]
    return json.loads(line[len("DAGBAG"):]), result.stderr


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dag")
    config_path = write_config(folder / "config.yaml", "sentiment", airflow=AIRFLOW_SETTINGS)
    env = airflow_env(folder / "airflow", config_path)
    first, stderr = load_dagbag(env)  # computes the pipeline's shape and caches it
    second, _ = load_dagbag(env)  # what the scheduler and every task process parse from then on
    return {"config": load_config(config_path), "config_path": config_path, "bag": first, "warm_bag": second,
            "stderr": stderr, "cache_dir": folder / "airflow" / "mlops"}


def test_the_dags_folder_imports_without_errors_and_holds_only_the_pipeline(parsed):
    bag, config = parsed["bag"], parsed["config"]
    assert bag["errors"] == {}
    # runners/airflow/.airflowignore keeps the DAG's helper modules out of Airflow's parse.
    assert sorted(f.rsplit("/", 1)[-1] for f in bag["files"]) == ["monitor_dag.py", "pipeline_dag.py"]
    assert sorted(bag["dags"]) == [config.pipeline_name, f"{config.pipeline_name}_monitor"]


def test_the_monitoring_dag_runs_mlops_monitor_on_the_configs_schedule(parsed):
    dag = parsed["bag"]["dags"][f"{parsed['config'].pipeline_name}_monitor"]
    assert list(dag["tasks"]) == ["monitor"] and dag["schedule"] == parsed["config"].monitoring.schedule
    assert dag["commands"]["monitor"].split()[1:4] == ["monitor", "--config", str(parsed["config_path"])]


def test_task_ids_are_the_component_ids_with_the_same_dependencies(parsed):
    config = parsed["config"]
    dag = parsed["bag"]["dags"][config.pipeline_name]
    components = create_pipeline(config).components
    assert sorted(dag["tasks"]) == sorted(c.id for c in components)
    for component in components:
        assert dag["tasks"][component.id]["upstream"] == sorted(n.id for n in component.upstream_nodes), component.id
    # The pipeline's own (dependency) order is an order Airflow can run the tasks in.
    order = [c.id for c in components]
    for task_id, task in dag["tasks"].items():
        assert all(order.index(up) < order.index(task_id) for up in task["upstream"])
    assert dag["topological"].index("data_gate") < dag["topological"].index("transform") \
        < dag["topological"].index("trainer") < dag["topological"].index("evaluator") \
        < dag["topological"].index("pusher")


def test_schedule_start_date_catchup_and_retries_come_from_the_config(parsed):
    dag = parsed["bag"]["dags"][parsed["config"].pipeline_name]
    assert dag["schedule"] == "@daily"
    assert dag["start_date"] == "2025-03-01T00:00:00+00:00"
    assert dag["catchup"] is False and dag["max_active_runs"] == 1
    assert {t["retries"] for t in dag["tasks"].values()} == {2}
    assert {t["retry_delay"] for t in dag["tasks"].values()} == {90.0}


def test_parsing_packages_no_user_code(parsed):
    config = parsed["config"]
    # TFX writes a wheel of a module file's folder to <pipeline_root>/_wheels; entry points need none.
    assert not (config.pipeline_root / "_wheels").exists()
    assert "bdist_wheel" not in parsed["stderr"] and "setup.py" not in parsed["stderr"]


def test_a_parse_with_the_shape_cached_imports_neither_tensorflow_nor_tfx(parsed):
    first, second = parsed["bag"], parsed["warm_bag"]
    assert second["errors"] == {} and second["dags"] == first["dags"]
    assert first["imported"] == ["tensorflow", "tfx"]  # the first parse builds the pipeline once
    assert second["imported"] == []
    assert [p.name for p in parsed["cache_dir"].iterdir()] == [f"{parsed['config'].pipeline_name}.shape.json"]


def test_the_cached_shape_follows_a_config_change(parsed, tmp_path):
    from runners.airflow.shape import cached_shape

    config_path = write_config(tmp_path / "config.yaml", "sentiment", data={"span_window": 2})
    config = load_config(config_path)
    cache_dir = tmp_path / "cache"
    wide = cached_shape(config, config_path, cache_dir)
    assert "span_window_resolver" in dict(wide)
    config_path.write_text(config_path.read_text().replace("span_window: 2", "span_window: 1"))
    narrow = cached_shape(load_config(config_path), config_path, cache_dir)
    assert "span_window_resolver" not in dict(narrow)
    pipeline = create_pipeline(load_config(config_path))
    assert narrow == [(c.id, sorted(u.id for u in c.upstream_nodes)) for c in pipeline.components]


SHIPPED = ("sentiment", "emotion", "sst2")


@pytest.mark.parametrize("name", SHIPPED)
def test_the_shipped_shape_is_the_one_mlops_compile_writes_now(name, tmp_path):
    """Fails when a change of configs/<name>.yaml or of the pipeline's code left its shipped shape stale. A stale
    shape would never run wrong components (each task checks), but a stock Airflow could not parse the DAG, or
    every run would fail at its first task."""
    from runners.airflow import shape

    config_path = ROOT / "configs" / f"{name}.yaml"
    shipped = shape.default_output(config_path)
    fix = (f"{shipped.relative_to(ROOT)} is stale: run `mlops compile --target airflow --config "
           f"configs/{name}.yaml` and ship the file it rewrites")
    written = tmp_path / f"{name}.json"
    result = CliRunner().invoke(mlops, ["compile", "--target", "airflow", "--config", str(config_path),
                                        "--output", str(written)])
    assert result.exit_code == 0, result.output
    assert shipped.is_file(), fix
    compiled = json.loads(shipped.read_text())
    assert compiled["config_sha256"] == shape.config_key(config_path), fix
    assert compiled["tasks"] == [[c.id, sorted(u.id for u in c.upstream_nodes)]
                                 for c in create_pipeline(load_config(config_path)).components], fix
    # Byte for byte, so that recompiling an up-to-date shape changes nothing in the repository.
    assert shipped.read_text() == written.read_text(), fix


def test_compiling_another_config_file_never_replaces_a_shipped_configs_shape(tmp_path):
    shapes = tmp_path / "shapes"
    shapes.mkdir()
    shipped = ROOT / "runners" / "airflow" / "shapes" / "sentiment.json"
    (shapes / "sentiment.json").write_bytes(shipped.read_bytes())
    # Same file name as configs/sentiment.yaml, other content: its default output would be the shipped shape.
    config_path = write_config(tmp_path / "sentiment.yaml", "sentiment", data={"span_window": 2})
    result = CliRunner().invoke(mlops, ["compile", "--target", "airflow", "--config", str(config_path),
                                        "--output", str(shapes / "sentiment.json")])
    assert result.exit_code != 0
    assert "holds the shape of configs/sentiment.yaml" in result.output and "pass --output" in result.output
    assert (shapes / "sentiment.json").read_bytes() == shipped.read_bytes()


def test_the_config_key_follows_the_configs_values_not_its_comments_layout_or_folder(tmp_path):
    from runners.airflow.shape import config_key

    shipped = ROOT / "configs" / "sentiment.yaml"
    text = shipped.read_text()
    (tmp_path / "elsewhere").mkdir()
    moved = tmp_path / "elsewhere" / "sentiment.yaml"
    # Keys sorted, flow lists in block style, the comments gone: the same values.
    moved.write_text("# a copy in another folder\n" + yaml.safe_dump(yaml.safe_load(text), sort_keys=True))
    assert config_key(moved) == config_key(shipped)
    edited = tmp_path / "edited.yaml"
    edited.write_text(text.replace("retries: 1", "retries: 2"))
    assert config_key(edited) != config_key(shipped)


def test_a_task_whose_component_left_the_pipeline_fails_with_a_clear_error(parsed):
    from runners.airflow.lazy_dag import StaleDagError, launch_component

    with pytest.raises(StaleDagError, match="no component 'span_window_resolver'.*changed since Airflow parsed"):
        launch_component("span_window_resolver", str(parsed["config_path"]))


# Run in the Airflow environment: the DAG TFX's AirflowDagRunner builds for the config against ours, task by
# task, down to the arguments each task hands TFX's _airflow_component_launcher. Prints the differences.
RUNNER_PROBE = """
import json, sys, tempfile
from tfx.orchestration.airflow.airflow_dag_runner import AirflowDagRunner, AirflowPipelineConfig
from runners.airflow.lazy_dag import build_dag, dag_settings, launcher_arguments
from tfx_pipeline.config import load_config
from tfx_pipeline.pipeline import create_pipeline

def text(value):
    return json.dumps(value, default=str, sort_keys=True)

def task_facts(task):
    return {"upstream": sorted(task.upstream_task_ids), "retries": task.retries, "retry_delay": str(task.retry_delay)}

def dag_facts(dag):
    return {"dag_id": dag.dag_id, "schedule": dag.schedule_interval, "start_date": str(dag.start_date),
            "catchup": dag.catchup, "max_active_runs": dag.max_active_runs, "order": [t.task_id for t in dag.tasks]}

def launch_facts(args, exec_properties):
    info = args["pipeline_info"]
    return {"component": (type(args["component"]).__name__, args["component"].id),
            "launcher": args["component_launcher_class"].__name__,
            "pipeline": (info.pipeline_name, info.pipeline_root),
            "enable_cache": args["driver_args"].enable_cache,
            "metadata": args["metadata_connection_config"].SerializeToString().hex(),
            "beam_args": list(args["beam_pipeline_args"]),
            "additional_args": text(args["additional_pipeline_args"]),
            "component_config": text(args["component_config"]),
            "exec_properties": text(exec_properties)}

def compare(path):
    config = load_config(path)
    theirs = AirflowDagRunner(AirflowPipelineConfig(airflow_dag_config=dag_settings(config))).run(
        create_pipeline(config))
    ours = build_dag(path, cache_dir=tempfile.mkdtemp())
    differences = []
    if dag_facts(theirs) != dag_facts(ours):
        differences.append(["dag", dag_facts(theirs), dag_facts(ours)])
    for task in theirs.tasks:
        mine = ours.get_task(task.task_id)
        if task_facts(task) != task_facts(mine):
            differences.append([task.task_id, task_facts(task), task_facts(mine)])
        bound = launch_facts(task.python_callable.keywords, task.op_kwargs["exec_properties"])
        args = launcher_arguments(task.task_id, path)
        built = launch_facts(args, args["exec_properties"])
        for key in bound:
            if bound[key] != built[key]:
                differences.append([task.task_id, key, bound[key], built[key]])
    return {"tasks": [t.task_id for t in theirs.tasks], "differences": differences}

print("RUNNER" + json.dumps({path: compare(path) for path in sys.argv[1:]}))
"""


def test_each_task_launches_its_component_as_airflow_dag_runner_would(tmp_path):
    for n in (1, 2):
        (tmp_path / f"window{n}").mkdir()
    paths = [write_config(tmp_path / f"window{n}" / "config.yaml", "sentiment", airflow=AIRFLOW_SETTINGS,
                          data={"span_window": n}, evaluation={"thresholds": {"accuracy": {"lower_bound": 0.5}}})
             for n in (1, 2)]
    env = airflow_env(tmp_path / "airflow", paths[0])
    result = subprocess.run([sys.executable, "-c", RUNNER_PROBE, *map(str, paths)], env=env, capture_output=True,
                            text=True, timeout=600)
    line = next((l for l in result.stdout.splitlines() if l.startswith("RUNNER")), None)
    assert line is not None, result.stderr[-3000:]
    probe = json.loads(line[len("RUNNER"):])
    for path in paths:
        assert probe[str(path)]["tasks"] == [c.id for c in create_pipeline(load_config(path)).components]
        assert probe[str(path)]["differences"] == []
    assert "span_window_resolver" in probe[str(paths[1])]["tasks"]


# Run in the Airflow environment: the DAG built from the compiled shape in argv[2], then its first task as the
# PythonOperator calls it (op_kwargs and the context's dag). Prints what the task raised.
STALE_PROBE = """
import json, sys
from pathlib import Path
from runners.airflow.lazy_dag import StaleDagError, build_dag, launch_component
dag = build_dag(Path(sys.argv[1]), cache_dir=Path(sys.argv[2]) / "cache", shapes_dir=Path(sys.argv[2]))
task = dag.get_task("csv_example_gen")
try:
    launch_component(**task.op_kwargs, dag=dag)
    raised = None
except StaleDagError as exc:
    raised = str(exc)
print("STALE" + json.dumps({"raised": raised, "transform_upstream": sorted(dag.get_task("transform").upstream_task_ids),
                            "cache": (Path(sys.argv[2]) / "cache").exists()}))
"""


def test_a_dag_built_from_a_stale_compiled_shape_runs_nothing(tmp_path):
    from runners.airflow.shape import render

    config_path = write_config(tmp_path / "config.yaml", "sentiment")
    config = load_config(config_path)
    # A shape compiled for this very config, but by code that did not yet order Transform after the DataGate:
    # Airflow would run Transform on data that failed validation.
    stale = [(c.id, sorted(u.id for u in c.upstream_nodes if (c.id, u.id) != ("transform", "data_gate")))
             for c in create_pipeline(config).components]
    shapes = tmp_path / "shapes"
    shapes.mkdir()
    (shapes / "config.json").write_text(render(config_path, config, stale))
    env = airflow_env(tmp_path / "airflow", config_path)
    result = subprocess.run([sys.executable, "-c", STALE_PROBE, str(config_path), str(shapes)], env=env,
                            capture_output=True, text=True, timeout=600)
    line = next((l for l in result.stdout.splitlines() if l.startswith("STALE")), None)
    assert line is not None, result.stderr[-3000:]
    probe = json.loads(line[len("STALE"):])
    # The key matched, so the parse used the stale file (and computed nothing); the first task refused to run.
    assert "data_gate" not in probe["transform_upstream"] and probe["cache"] is False
    raised = probe["raised"]
    assert raised is not None and "not the one this DAG was parsed with, so nothing was run" in raised
    real = dict((c.id, sorted(u.id for u in c.upstream_nodes)) for c in create_pipeline(config).components)
    assert f"'transform' has upstream {real['transform']} in the pipeline, {dict(stale)['transform']} in the DAG" \
        in raised
    assert f"mlops compile --target airflow --config {config_path} --output {shapes / 'config.json'}" in raised


def test_a_partial_dag_of_some_tasks_matches_the_pipeline_it_was_cut_from():
    """`dag.partial_subset(...).test()` runs a DAG of some tasks (the span-window test validates span 1 so): its
    shape is the pipeline's, kept to those tasks; a full DAG of that shape would be stale."""
    from runners.airflow.lazy_dag import shape_differences

    pipeline = [("a", []), ("b", []), ("c", ["a", "b"]), ("d", ["c"])]
    cut = [("a", []), ("b", []), ("c", ["a", "b"])]
    assert shape_differences(cut, pipeline, partial=True) == []
    assert shape_differences(cut, pipeline) == ["'d' is in the pipeline, not in the DAG"]
    assert shape_differences([("a", []), ("c", [])], pipeline, partial=True) == \
        ["'c' has upstream ['a'] in the pipeline, [] in the DAG"]
    assert shape_differences([("a", []), ("e", ["a"])], pipeline, partial=True) == \
        ["'e' is in the DAG, not in the pipeline"]
