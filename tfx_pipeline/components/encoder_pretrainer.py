"""EncoderPretrainer: the classifier's encoder pretrained on the project's unlabelled text, for the Trainer to
start from (its base_model). The training itself is model code, named by entry point (pretraining.run_fn).

Its text, gathered when it runs: the train split of every span under the data root, the configured text files
(pretraining.texts, only their train rows when they have a split column) and, with pretraining.request_logs, the
texts the served model was asked about. Never a span's eval or test split: the Evaluator's verdict would then be
on texts the encoder has read.

It is cached while that text is unchanged. TFX's cache key is the inputs (the transform graph: a new one whenever
the vocabulary may change) and the parameters; `texts_key` is a parameter made by create_pipeline from the spans'
content hashes, the files' bytes and the request logs' names, sizes and times, so new text means a new key.
"""
from __future__ import annotations

import csv
import hashlib
import importlib
import io
import json
import time
from pathlib import Path
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx.utils import path_utils

from tfx_pipeline import features
from tfx_pipeline.config import PipelineConfig, duration_seconds, resolve_source
from tfx_pipeline.data.ingest import read_source
from tfx_pipeline.data.parsing import field_limit
from tfx_pipeline.data.problems import IngestionError
from tfx_pipeline.data.spans import existing_spans, read_manifest, read_span_texts, span_dir
from tfx_pipeline.locations import is_remote, parse_location


class EncoderPretrainerSpec(ComponentSpec):
    PARAMETERS = {
        "run_fn": ExecutionParameter(type=str),
        "custom_config": ExecutionParameter(type=str),
        "data_root": ExecutionParameter(type=str),
        "text_sources": ExecutionParameter(type=str),
        "request_log_root": ExecutionParameter(type=str),
        "model_name": ExecutionParameter(type=str),
        "texts_key": ExecutionParameter(type=str),
    }
    INPUTS = {"transform_graph": ChannelParameter(type=standard_artifacts.TransformGraph)}
    OUTPUTS = {"model": ChannelParameter(type=standard_artifacts.Model)}


def _request_log_files(root: str, model_name: str) -> List[Path]:
    folder = Path(root) / model_name if root else None
    return sorted(folder.glob("*/*.tfrecord")) if folder and folder.is_dir() else []


def texts_key(config: PipelineConfig) -> str:
    """What the pretrainer's text is made of, hashed cheaply at pipeline definition (see the module)."""
    key = hashlib.sha256()
    data_root = config.paths.data_root
    # A remote data root is listed only where the pipeline runs (a Kubeflow spec is compiled elsewhere): there the
    # key leaves the spans out, and a new span still re-runs the pretrainer through its new transform graph.
    for span in [] if is_remote(data_root) else existing_spans(data_root):
        key.update(f"span {span} {read_manifest(span_dir(data_root, span)).get('sha256')}\n".encode())
    for source in config.pretraining.texts:
        key.update(source.model_dump_json().encode())
        key.update(hashlib.sha256(resolve_source(source.path).read_bytes()).digest())
    if config.pretraining.request_logs:
        for path in _request_log_files(str(config.request_log_root), config.serving.model_name):
            stat = path.stat()
            key.update(f"log {path.parent.name}/{path.name} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return key.hexdigest()


def source_texts(source: Dict[str, Any], limit: int) -> List[str]:
    """A text file's texts (its split_column's `splits` rows only, when it has one)."""
    path = resolve_source(source["path"])
    body = read_source(path).decode("utf-8", errors="replace")
    with field_limit():
        reader = csv.DictReader(io.StringIO(body, newline=""))
        header = reader.fieldnames or []
        for column in (source["text_column"], source.get("split_column")):
            if column and column not in header:
                raise IngestionError(f"{path}: no column {column!r} (pretraining.texts); its header is {header}")
        splits = set(source["splits"])
        texts = [row[source["text_column"]] or "" for row in reader
                 if not source.get("split_column") or row[source["split_column"]] in splits]
    return texts[:limit]


def request_texts(root: str, model_name: str, limit: int) -> List[str]:
    """The newest `limit` texts the served model was asked about, every version's logs."""
    if not _request_log_files(root, model_name):
        return []
    from tfx_pipeline.monitoring.logs import read_window

    texts = [request.text for request in read_window(Path(root), model_name, 0, time.time() + 1).requests]
    return texts[-limit:]


def gather_texts(exec_properties: Dict[str, Any], limit: int) -> Dict[str, List[str]]:
    """{where from: texts}, each source capped at `limit`."""
    data_root = parse_location(exec_properties["data_root"])
    spans = []
    for span in existing_spans(data_root):
        spans += read_span_texts(data_root, span, splits=(features.TRAIN_SPLIT,))
    gathered = {"spans (train split)": list(dict.fromkeys(spans))[:limit]}
    for source in json.loads(exec_properties["text_sources"]):
        gathered[source["path"]] = source_texts(source, limit)
    if exec_properties["request_log_root"]:
        gathered["request logs"] = request_texts(exec_properties["request_log_root"],
                                                 exec_properties["model_name"], limit)
    return gathered


def _entry_point(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        custom_config = json.loads(exec_properties["custom_config"])
        gathered = gather_texts(exec_properties, int(custom_config["pretraining"]["max_texts_per_source"]))
        texts = list(dict.fromkeys(text.strip() for batch in gathered.values() for text in batch if text.strip()))
        [transform_graph] = input_dict["transform_graph"]
        [model] = output_dict["model"]
        figures = _entry_point(exec_properties["run_fn"])(
            texts=texts, transform_output=transform_graph.uri,
            output_dir=path_utils.serving_model_dir(model.uri), custom_config=custom_config)
        model.set_int_custom_property("pretraining_texts", int(figures["texts"]))
        model.set_string_custom_property("pretraining_sources", json.dumps(
            {where: len(batch) for where, batch in gathered.items()}, sort_keys=True))
        if figures.get("epochs"):
            model.set_float_custom_property("held_out_accuracy", float(figures["epochs"][-1]["held_out_accuracy"]))


class EncoderPretrainer(base_component.BaseComponent):
    SPEC_CLASS = EncoderPretrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, transform_graph: types.BaseChannel, config: PipelineConfig, model_config: dict):
        settings = config.pretraining.model_dump(exclude={"enabled", "run_fn", "texts", "request_logs"})
        settings["time_budget_seconds"] = duration_seconds(settings.pop("time_budget"))
        logs = str(config.request_log_root) if config.pretraining.request_logs else ""
        super().__init__(spec=EncoderPretrainerSpec(
            transform_graph=transform_graph,
            run_fn=config.pretraining.run_fn,
            custom_config=json.dumps({**model_config, "pretraining": settings}, sort_keys=True),
            data_root=str(config.paths.data_root),
            text_sources=json.dumps([t.model_dump() for t in config.pretraining.texts], sort_keys=True),
            request_log_root=logs,
            model_name=config.serving.model_name,
            texts_key=texts_key(config),
            model=types.Channel(type=standard_artifacts.Model)))
