"""The encoder pretrainer in the pipeline, end to end: `mlops run` on a small corpus pretrains the encoder on the
spans' train texts and a shipped text file, the Trainer starts from it (its base_model), and an unchanged re-run
reuses both from the cache."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
for _path in (str(TESTS / "orchestration"), str(TESTS)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from orchestration_helpers import corpus_rows, with_splits  # noqa: E402
from pipeline_helpers import report, run_mlops_process, small_corpus_config, states  # noqa: E402
from tfx_pipeline.config import load_config  # noqa: E402
from tfx_pipeline.metadata.store import open_store  # noqa: E402

pytestmark = pytest.mark.e2e

ROWS = 900
# SST-2's train sentences stand for text from elsewhere; its validation and test rows stay out.
PRETRAINING = {"enabled": True, "epochs": 2, "time_budget": "5m", "max_texts_per_source": 3000,
               "texts": [{"path": str(ROOT / "data" / "sst2.csv.xz"), "split_column": "split"}]}


def _trainer_base_models(store) -> list:
    """The ids of the Model artifacts each Trainer execution read as its base_model."""
    [trainer_type] = [t for t in store.get_execution_types() if t.name.split(".")[-1] == "Trainer"]
    found = []
    for execution in store.get_executions_by_type(trainer_type.name):
        events = store.get_events_by_execution_ids([execution.id])
        found += [e.artifact_id for e in events if e.path.steps and e.path.steps[0].key == "base_model"]
    return found


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    config_path = small_corpus_config(tmp_path_factory.mktemp("pretraining"), ROWS, pretraining=PRETRAINING)
    first = run_mlops_process("run", "--config", str(config_path))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    config = load_config(config_path)
    store = open_store(config)
    [model] = [a for a in store.get_artifacts_by_type("Model") if a.custom_properties.get("pretraining_texts")]
    facts = {"config": config, "first": first, "first_states": states(report(config)), "model": model,
             "figures": json.loads((Path(model.uri) / "Format-Serving" / "pretraining.json").read_text()),
             "base_models": _trainer_base_models(store)}
    again = run_mlops_process("run", "--config", str(config_path))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    facts["again_states"] = states(report(config))
    return facts


def test_the_pretrainer_runs_between_transform_and_trainer_on_the_train_texts(pretrained):
    assert pretrained["first_states"]["encoder_pretrainer"] == "ran"
    assert "encoder_pretrainer" in pretrained["first"].stdout
    sources = json.loads(pretrained["model"].custom_properties["pretraining_sources"].string_value)
    train_rows = sum(1 for row in with_splits(corpus_rows()[:ROWS]) if row[-1] == "train")
    # Only the span's train split (deduplicated, so at most its rows), and SST-2's train rows up to the cap.
    assert 0.9 * train_rows <= sources["spans (train split)"] <= train_rows
    assert sources[PRETRAINING["texts"][0]["path"]] == PRETRAINING["max_texts_per_source"]
    assert "request logs" in sources  # none yet: nothing has been served in this workspace
    assert sources["request logs"] == 0


def test_the_encoder_learned_to_name_hidden_tokens(pretrained):
    figures = pretrained["figures"]
    assert len(figures["epochs"]) == PRETRAINING["epochs"]
    assert figures["epochs"][-1]["loss"] < figures["epochs"][0]["loss"]
    # Two short epochs on a few thousand texts: far from the full runs' figures (docs/benchmarks.md), yet far
    # above chance, one token in the vocabulary.
    named = figures["epochs"][-1]["held_out_accuracy"]
    assert named > 10 / figures["vocabulary_rows"] and named > figures["held_out_accuracy_before"]


def test_the_trainer_starts_from_the_pretrained_encoder(pretrained):
    assert pretrained["base_models"] == [pretrained["model"].id]


def test_an_unchanged_rerun_reuses_the_pretrained_encoder(pretrained):
    assert pretrained["again_states"]["encoder_pretrainer"] == "cached"
    assert pretrained["again_states"]["trainer"] == "cached"
