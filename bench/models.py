"""Benchmark for model management (docs/benchmarks.md, "Model management").

1. `mlops models list` with 50 pushed versions (target: at most 2 s), as a user runs it: a fresh process, table
   and --json, with no server and with the embedded server answering GetModelStatus. Median of 5 runs each.
2. `mlops report --html` on the config's latest run (the default corpus after `make run`): the command's wall time,
   and write_report's own time once TFX is imported.

The 50 versions are the config's latest push, repeated: a scratch copy of its ML Metadata store gets 49 more
Pusher executions, each in a pipeline run of its own, consuming the same model and blessing and producing a
PushedModel artifact with the same properties and a new version (what 49 more blessed runs would have recorded),
and the serving root gets 49 more version folders (hard links of the pushed SavedModel). The config's own
workspace is only read.

    .venv/bin/python bench/models.py [--config configs/sentiment.yaml] [--versions 50] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from net_helpers import free_port  # noqa: E402  (tests/net_helpers.py: the tests' helper, shared)

MLOPS = [sys.executable, "-c", "from tfx_pipeline.cli import main; main()"]
REPEATS = 5


def _latest_push(config):
    from tfx_pipeline.metadata.lineage import Lineage, property_value
    from tfx_pipeline.metadata.store import open_store

    if config.metadata_path is None or not Path(config.metadata_path).is_file():
        raise SystemExit(f"no ML Metadata store at {config.metadata_path}: run `make run` (or mlops run) first")
    lineage = Lineage(open_store(config))
    pushed = [a for a in lineage.pushed_models()
              if Path(str(property_value(a, "pushed_destination") or "")).parent == Path(config.push_root)]
    if not pushed:
        raise SystemExit(f"no pushed version of {config.serving.model_name} in {config.metadata_path}")
    return int(property_value(pushed[-1], "pushed_version"))


def _fabricate(store_path: Path, push_root: Path, source_push_root: Path, version: int, count: int) -> list:
    """Clones version's Pusher execution count - 1 times in the store at store_path; returns the versions."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    from ml_metadata.metadata_store import metadata_store

    from tfx_pipeline.metadata.lineage import Lineage, property_value

    connection = pb.ConnectionConfig()
    connection.sqlite.filename_uri = str(store_path)
    connection.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE
    store = metadata_store.MetadataStore(connection)
    lineage = Lineage(store)
    pushed = lineage.pushed_model(version)
    pusher = lineage.producer(pushed)
    inputs = [e for e in store.get_events_by_execution_ids([pusher.execution.id]) if e.type == pb.Event.INPUT]
    run_context = next(c for c in store.get_contexts_by_execution(pusher.execution.id)
                       if store.get_context_types_by_id([c.type_id])[0].name == "pipeline_run")
    other_contexts = [c for c in store.get_contexts_by_execution(pusher.execution.id) if c.id != run_context.id]

    def retarget(artifact, new_version: int) -> None:
        destination = str(push_root / str(new_version))
        for key in ("pushed_version", "pushed_destination"):
            holder = artifact.custom_properties if key in artifact.custom_properties else artifact.properties
            if key == "pushed_version":
                field = holder[key]
                if field.HasField("int_value"):
                    field.int_value = new_version
                else:
                    field.string_value = str(new_version)
            else:
                holder[key].string_value = destination
        if "pushed_at" in artifact.custom_properties:
            artifact.custom_properties["pushed_at"].double_value += new_version - version

    retarget(pushed, version)
    store.put_artifacts([pushed])
    shutil.copytree(source_push_root / str(version), push_root / str(version), copy_function=os.link)
    versions = [version]
    for k in range(1, count):
        new_version = version + k
        artifact = pb.Artifact()
        artifact.CopyFrom(pushed)
        artifact.ClearField("id")
        artifact.ClearField("create_time_since_epoch")
        artifact.ClearField("last_update_time_since_epoch")
        artifact.uri = f"{pushed.uri}-bench-{k}"
        retarget(artifact, new_version)
        execution = pb.Execution()
        execution.CopyFrom(pusher.execution)
        for field_name in ("id", "create_time_since_epoch", "last_update_time_since_epoch", "name"):
            execution.ClearField(field_name)
        context = pb.Context(type_id=run_context.type_id, name=f"{run_context.name}-bench-{k}")
        events = [(store.get_artifacts_by_id([e.artifact_id])[0], pb.Event(type=e.type, path=e.path))
                  for e in inputs]
        events.append((artifact, pb.Event(type=pb.Event.OUTPUT, path=pb.Event.Path(
            steps=[pb.Event.Path.Step(key="pushed_model"), pb.Event.Path.Step(index=0)]))))
        store.put_execution(execution, events, [context, *other_contexts])
        shutil.copytree(source_push_root / str(version), push_root / str(new_version), copy_function=os.link)
        versions.append(new_version)
    assert len([a for a in Lineage(store).pushed_models()
                if str(property_value(a, "pushed_destination")).startswith(str(push_root))]) == count
    return versions


def _timed(argv, env) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if result.returncode:
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return elapsed


def _median_of(argv, env) -> dict:
    times = [_timed(argv, env) for _ in range(REPEATS)]
    return {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3)}


def _with_server(config_file: Path, workdir: Path, env, argv) -> dict:
    port = free_port()
    log = open(workdir / "serve.log", "w")
    server = subprocess.Popen([*MLOPS, "serve", "--config", str(config_file), "--port", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None:
                raise SystemExit(f"mlops serve exited: see {workdir / 'serve.log'}")
            time.sleep(0.5)
        time.sleep(3)  # the version loads after the port opens
        measured = _median_of([*argv, "--port", str(port)], env)
        listed = subprocess.run([*argv, "--port", str(port), "--json"], capture_output=True, text=True, env=env,
                                cwd=ROOT).stdout.splitlines()
        measured["versions_with_server_state"] = sum(1 for line in listed if json.loads(line).get("server_state"))
        return measured
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "sentiment.yaml")
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures to this file.")
    args = parser.parse_args()

    import yaml

    from tfx_pipeline.config import load_config

    config = load_config(args.config)
    version = _latest_push(config)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    figures = {"config": str(args.config), "versions": args.versions}
    with tempfile.TemporaryDirectory(prefix="bench-models-") as scratch:
        workdir = Path(scratch)
        scratch_config = config.with_overrides(workdir=workdir, serving_root=workdir / "serving")
        Path(scratch_config.metadata_path).parent.mkdir(parents=True)
        shutil.copy2(config.metadata_path, scratch_config.metadata_path)
        Path(scratch_config.push_root).mkdir(parents=True)
        _fabricate(Path(scratch_config.metadata_path), Path(scratch_config.push_root), Path(config.push_root),
                   version, args.versions)
        # The scratch workspace as a config file of its own (paths absolute), for mlops list and mlops serve.
        config_file = workdir / "config.yaml"
        config_file.write_text(yaml.safe_dump(scratch_config.model_dump(mode="json")))
        listing = [*MLOPS, "models", "list", "--config", str(config_file)]
        # No server: a port nothing listens on.
        figures["list_no_server"] = _median_of([*listing, "--port", str(free_port())], env)
        figures["list_json_no_server"] = _median_of([*listing, "--port", str(free_port()), "--json"], env)
        rows = subprocess.run([*listing, "--port", str(free_port()), "--json"], capture_output=True, text=True,
                              env=env, cwd=ROOT).stdout.splitlines()
        figures["rows_listed"] = len(rows)
        figures["list_with_server"] = _with_server(config_file, workdir, env, listing)
        print(f"mlops models list, {args.versions} versions: {figures['list_no_server']['median_s']} s "
              f"(json {figures['list_json_no_server']['median_s']} s; with a server "
              f"{figures['list_with_server']['median_s']} s); {figures['rows_listed']} rows", flush=True)

    report_dir = Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        start = time.perf_counter()
        _timed([*MLOPS, "report", "--config", str(args.config), "--html"], env)
        figures["report_html_command_s"] = round(time.perf_counter() - start, 2)
        from tfx_pipeline.metadata.run_report import build_report
        from tfx_pipeline.pipeline import create_pipeline
        from tfx_pipeline.reports.html import write_report

        shown = build_report(config, [c.id for c in create_pipeline(config).components])
        start = time.perf_counter()
        page = write_report(config, shown, report_dir)
        figures["write_report_s"] = round(time.perf_counter() - start, 2)
        figures["report_bytes"] = Path(page).stat().st_size
    finally:
        shutil.rmtree(report_dir, ignore_errors=True)
    print(f"mlops report --html: {figures['report_html_command_s']} s for the command, "
          f"{figures['write_report_s']} s to write it once imported; {figures['report_bytes']:,} bytes")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
