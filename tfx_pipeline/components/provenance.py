"""RunProvenance: the facts of what a run trained on and with, recorded in ML Metadata as an artifact of its own.

Its inputs are the Examples the run uses (the latest span, or the span window), so the spans are the ones that
really fed Transform, not a guess at build time; each span's content hash comes from ingestion's manifest. The
code version, config hash and lock hash come from create_pipeline (tfx_pipeline/provenance.py). The atomic
Pusher copies the facts into the pushed version (assets.extra/mlops_model.json), so a model found on disk says
what made it.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from tfx_pipeline.components.span_window import span_of
from tfx_pipeline.data.spans import read_manifest, span_dir
from tfx_pipeline.locations import parse_location

FILE = "provenance.json"


class Provenance(types.Artifact):
    """provenance.json: code version, config and lock hashes, and the spans (with content hashes) of a run."""
    TYPE_NAME = "mlops.Provenance"


class ProvenanceSpec(ComponentSpec):
    PARAMETERS = {"facts": ExecutionParameter(type=str), "data_root": ExecutionParameter(type=str)}
    INPUTS = {"examples": ChannelParameter(type=standard_artifacts.Examples)}
    OUTPUTS = {"provenance": ChannelParameter(type=Provenance)}


def span_facts(examples: List[types.Artifact], data_root: str) -> List[Dict[str, Any]]:
    facts = []
    for artifact in examples:
        span = span_of(artifact)
        manifest = read_manifest(span_dir(parse_location(data_root), span))
        facts.append({"span": span, "sha256": manifest.get("sha256"), "rows_per_split": manifest.get("rows_per_split"),
                      "source": manifest.get("source"), "examples_uri": artifact.uri})
    return sorted(facts, key=lambda fact: fact["span"])


def read_provenance(artifact: types.Artifact) -> dict:
    with fileio.open(os.path.join(artifact.uri, FILE), "rb") as handle:
        return json.loads(handle.read())


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        facts = json.loads(exec_properties["facts"])
        facts["spans"] = span_facts(input_dict["examples"], exec_properties["data_root"])
        [artifact] = output_dict["provenance"]
        fileio.makedirs(artifact.uri)
        with fileio.open(os.path.join(artifact.uri, FILE), "wb") as handle:
            handle.write(json.dumps(facts, indent=1, sort_keys=True).encode())
        code = facts.get("code", {})
        for key, value in (("git_commit", code.get("git_commit")), ("package_version", code.get("package_version")),
                           ("config_sha256", facts.get("config_sha256")), ("lock_sha256", facts.get("lock_sha256")),
                           ("spans", ",".join(f"{s['span']}:{s['sha256']}" for s in facts["spans"]))):
            if value:
                artifact.set_string_custom_property(key, str(value))
        if "dirty" in code:
            artifact.set_int_custom_property("dirty", int(code["dirty"]))


class RunProvenance(base_component.BaseComponent):
    SPEC_CLASS = ProvenanceSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, examples: types.BaseChannel, facts: dict, data_root: str):
        super().__init__(spec=ProvenanceSpec(examples=examples, facts=json.dumps(facts, sort_keys=True),
                                             data_root=data_root,
                                             provenance=types.Channel(type=Provenance)))
