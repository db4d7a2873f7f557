"""The pipeline's shape, all an Airflow DAG file needs of it: the component ids and their upstream ids.

Computing it means building create_pipeline(config), which imports TensorFlow, TFX and google.cloud.aiplatform:
20-30 s on 2 cores, as much as Airflow's default `dagbag_import_timeout` (30 s) for the whole parse. So the DAG
file reads it, in this order:

1. A compiled shape: `mlops compile --target airflow` writes `shapes/<config file stem>.json` beside the DAG file
   (shipped in the repository for configs/*.yaml). It is used only while its `config_sha256` is the hash of the
   config's content. No code goes into that key: a code edit that changes the shape is caught by the test that
   recompiles the shipped shapes (tests/orchestration/test_orchestration_dag.py) and, for any config, by every
   task, which compares the pipeline it builds with its DAG's shape before it runs anything (lazy_dag.py).
2. The parse-time cache, `$AIRFLOW_HOME/mlops/<pipeline_name>.shape.json`, keyed by the config, the code of
   tfx_pipeline/ and TFX's version. It is computed at parse (and TensorFlow imported) only when Airflow's import
   timeout for the file is at least COMPUTE_AT_PARSE_MIN_TIMEOUT, as in the home `mlops airflow up` writes.
3. Otherwise the parse fails at once with MissingShapeError, which names the shape file and the command that
   writes it: a stock Airflow must never spend its import budget on TensorFlow and time out.
"""
from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path
from typing import List, Optional, Tuple

import yaml

import tfx_pipeline
from tfx_pipeline.config import DEFAULT_CONFIG, PipelineConfig

# (component id, ids of its upstream components), in the pipeline's dependency order.
Shape = List[Tuple[str, List[str]]]

FORMAT = 1
# Beside the project's DAG file; a deployed DAG file reads the shapes/ folder beside itself.
SHIPPED_DIR = Path(__file__).resolve().parent / "shapes"
ROOT = DEFAULT_CONFIG.parent.parent
# Building the pipeline at parse took 20-26 s on 2 idle cores; a task running beside the parser can double that.
COMPUTE_AT_PARSE_MIN_TIMEOUT = 90.0
# The code create_pipeline is made of, for the parse-time cache's key.
_PACKAGE = Path(tfx_pipeline.__file__).resolve().parent
ABOUT = ("Written by `mlops compile --target airflow` (runners/airflow/shape.py). The Airflow DAG file builds its "
         "tasks from `tasks` while `config_sha256` is the hash of the config's content; recompile after a "
         "change of the config or of the pipeline's code.")


class MissingShapeError(RuntimeError):
    """No shape matches the config, and computing one would not fit in Airflow's import timeout."""


class ShapeFileTaken(ValueError):
    """The output holds the compiled shape of another config file."""


def config_key(config_path: Path) -> str:
    """sha256 of the config's content: its YAML values, not its comments, layout or key order. Not of its
    resolved form either, whose absolute paths would change with the folder a clone is in."""
    content = yaml.safe_load(Path(config_path).read_text())
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def pipeline_shape(pipeline) -> Shape:
    return [(c.id, sorted(u.id for u in c.upstream_nodes)) for c in pipeline.components]


def compute_shape(config: PipelineConfig) -> Shape:
    from tfx_pipeline.pipeline import create_pipeline  # the 20-second import

    return pipeline_shape(create_pipeline(config))


def shown(path: Path) -> str:
    """A path as messages and shape files name it: relative to the repository when inside it."""
    path = Path(path).absolute()
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def compile_command(config_path: Path, output: Optional[Path] = None) -> str:
    command = f"mlops compile --target airflow --config {shown(config_path)}"
    if output is not None and Path(output).resolve() != default_output(config_path):
        command += f" --output {shown(output)}"
    return command


def default_output(config_path: Path) -> Path:
    return SHIPPED_DIR / f"{Path(config_path).stem}.json"


def render(config_path: Path, config: PipelineConfig, shape: Shape) -> str:
    """A compiled shape file's text. Deterministic (no timestamp), so recompiling an unchanged pipeline leaves
    the shipped file byte for byte as it was."""
    tasks = ",\n  ".join(json.dumps([task, upstream]) for task, upstream in shape)
    head = json.dumps({"about": ABOUT, "format": FORMAT, "config": shown(config_path),
                       "config_sha256": config_key(config_path), "pipeline_name": config.pipeline_name},
                      indent=1)
    return head[:-2] + f',\n "tasks": [\n  {tasks}\n ]\n}}\n'


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text)
    partial.replace(path)  # a parser never reads half a file


def owner(path: Path) -> Optional[str]:
    """The config file a compiled shape file was written for, or None when there is no such file."""
    try:
        return json.loads(Path(path).read_text()).get("config")
    except (OSError, ValueError, AttributeError):
        return None


def compile_shape(config_path: Path, config: PipelineConfig, output: Optional[Path] = None) -> Path:
    output = Path(output) if output is not None else default_output(config_path)
    taken = owner(output)
    # A config elsewhere with a shipped config's file name must not replace that config's shape.
    if taken is not None and taken != shown(config_path):
        raise ShapeFileTaken(f"{output} holds the shape of {taken}, not of {shown(config_path)}: pass --output "
                             f"{output.with_name(f'{output.stem}-{config_key(config_path)[:8]}.json')} (any name in "
                             "the same folder works: the DAG file reads each shape file there)")
    _write(output, render(config_path, config, compute_shape(config)))
    return output


def tasks_problem(tasks) -> Optional[str]:
    """Why `tasks` cannot be a DAG's shape, or None: pairs of an id and its upstream ids, each id once, every
    upstream id listed before."""
    if not isinstance(tasks, list) or not tasks:
        return "no task list"
    seen = set()
    for entry in tasks:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                and isinstance(entry[1], list) and all(isinstance(u, str) for u in entry[1])):
            return f"malformed task entry {entry!r}"
        if entry[0] in seen:
            return f"task {entry[0]!r} listed twice"
        if not set(entry[1]) <= seen:
            return f"task {entry[0]!r} has upstream tasks not listed before it: {sorted(set(entry[1]) - seen)}"
        seen.add(entry[0])
    return None


def find_compiled(shapes_dir: Path, key: str, pipeline_name: str) -> Tuple[Optional[Path], Optional[Shape],
                                                                              List[str]]:
    """(file, shape, []) for the compiled shape in shapes_dir whose key is `key`, else (None, None, why each file
    there was not used)."""
    rejected = []
    for path in sorted(Path(shapes_dir).glob("*.json")) if Path(shapes_dir).is_dir() else []:
        try:
            compiled = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            rejected.append(f"{path}: unreadable ({exc})")
            continue
        if not isinstance(compiled, dict) or compiled.get("format") != FORMAT:
            rejected.append(f"{path}: not a shape file of format {FORMAT}")
        elif compiled.get("config_sha256") != key:
            if compiled.get("pipeline_name") == pipeline_name:
                rejected.append(f"{path}: compiled from other config content (of {compiled.get('config')}, "
                                f"sha256 {str(compiled.get('config_sha256'))[:12]}...)")
        elif tasks_problem(compiled.get("tasks")):
            rejected.append(f"{path}: {tasks_problem(compiled.get('tasks'))}")
        else:
            return path, [(task, list(upstream)) for task, upstream in compiled["tasks"]], []
    return None, None, rejected


def cache_key(config_path: Path) -> str:
    """The parse-time cache's key: the config, every source file of tfx_pipeline/ and TFX's version. Broad, as
    it is recomputed by the parse itself, where that is affordable."""
    digest = hashlib.sha256(config_key(config_path).encode())
    for source in sorted(_PACKAGE.rglob("*.py")):
        digest.update(source.relative_to(_PACKAGE).as_posix().encode())
        digest.update(source.read_bytes())
    digest.update(metadata.version("tfx").encode())
    return digest.hexdigest()


def cache_file(cache_dir: Path, config: PipelineConfig) -> Path:
    return Path(cache_dir) / f"{config.pipeline_name}.shape.json"


def cached_shape(config: PipelineConfig, config_path: Path, cache_dir: Path, compute: bool = True) -> Optional[Shape]:
    """The cached shape if its key is current; else, if `compute`, the shape computed (importing TFX) and cached;
    else None."""
    key = cache_key(config_path)
    cache = cache_file(cache_dir, config)
    try:
        cached = json.loads(cache.read_text())
        if cached["key"] == key and tasks_problem(cached["tasks"]) is None:
            return [(task, list(upstream)) for task, upstream in cached["tasks"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent or unreadable: computed again below
    if not compute:
        return None
    shape = compute_shape(config)
    _write(cache, json.dumps({"key": key, "tasks": shape}, indent=1))
    return shape


def import_timeout(dag_file: Optional[Path]) -> float:
    """The seconds Airflow grants the DAG file's import (cluster policies included); 0 or less: no limit."""
    from airflow import settings

    return float(settings.get_dagbag_import_timeout(str(dag_file or "")))


def resolve_shape(config: PipelineConfig, config_path: Path, shapes_dir: Path, cache_dir: Path,
                  dag_file: Optional[Path] = None) -> Tuple[Shape, Path, bool]:
    """The DAG's shape, the file it came from and whether that is a compiled shape (see the module's docstring
    for the order)."""
    key = config_key(config_path)
    found, shape, rejected = find_compiled(shapes_dir, key, config.pipeline_name)
    if found is not None:
        return shape, found, True
    timeout = import_timeout(dag_file)
    computable = timeout <= 0 or timeout >= COMPUTE_AT_PARSE_MIN_TIMEOUT
    shape = cached_shape(config, config_path, cache_dir, compute=computable)
    if shape is not None:
        return shape, cache_file(cache_dir, config), False
    output = Path(shapes_dir) / f"{Path(config_path).stem}.json"
    if owner(output) not in (None, shown(config_path)):
        output = output.with_name(f"{output.stem}-{key[:8]}.json")
    looked = "\n".join(f"  - {why}" for why in rejected) or f"  - no shape file for it in {shapes_dir}"
    raise MissingShapeError(
        f"no pipeline shape for config {Path(config_path).absolute()} (pipeline {config.pipeline_name!r}, content "
        f"sha256 {key[:12]}...):\n{looked}\n  - no current parse-time cache in {cache_file(cache_dir, config)}\n"
        f"Write it with `{compile_command(config_path, output)}` (where the project is installed), so that it is "
        f"in {Path(shapes_dir)}, beside this DAG file, wherever Airflow parses it. Computing the shape during the "
        f"parse would import TensorFlow and TFX (20-30 s), more than this Airflow's dagbag_import_timeout of "
        f"{timeout:g} s allows; a parse computes it only with a timeout of at least "
        f"{COMPUTE_AT_PARSE_MIN_TIMEOUT:g} s (as `mlops airflow up` sets).")
