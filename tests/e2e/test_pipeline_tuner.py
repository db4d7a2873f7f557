"""TFX's Tuner in the pipeline, end to end: `mlops run` on a small corpus (a config of its own, not --sample, for
which the Tuner is off) searches the config's space, the Trainer trains the best trial's values, and an
unchanged re-run reuses the search from the cache."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
for _path in (str(TESTS / "orchestration"), str(TESTS)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from pipeline_configs import write_config  # noqa: E402
from pipeline_helpers import (FAST_TRAINER, report, run_mlops_process, small_corpus_config, states,  # noqa: E402
                              version_dirs)
from tfx_pipeline.config import load_config  # noqa: E402
from tfx_pipeline.metadata.store import open_store  # noqa: E402

pytestmark = pytest.mark.e2e

ROWS = 900
SEARCH = {"enabled": True, "trials": 2, "epochs_per_trial": 1, "time_budget": "10m",
          "search_space": {"embedding_dim": [16, 24], "dropout": [0.2]}}


def _best_hyperparameters(config) -> dict:
    [artifact] = open_store(config).get_artifacts_by_type("HyperParameters")
    return json.loads((Path(artifact.uri) / "best_hyperparameters.txt").read_text())


def _embedding_width(version_dir: Path) -> int:
    """The token embedding's width, read from the pushed version's restored variables (their names survive the
    SavedModel; the checkpoint's keys for the encoder sub-model do not say which table is which)."""
    import tensorflow as tf

    [width] = {int(v.shape[1]) for v in tf.saved_model.load(str(version_dir)).model.variables
               if v.name == "embedding/embeddings:0"}
    return width


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    config_path = small_corpus_config(tmp_path_factory.mktemp("tuner"), ROWS, tuner=SEARCH)
    first = run_mlops_process("run", "--config", str(config_path))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    config = load_config(config_path)
    facts = {"config": config, "first": first, "first_states": states(report(config)),
             "best": _best_hyperparameters(config), "width": _embedding_width(version_dirs(config.push_root)[-1])}
    again = run_mlops_process("run", "--config", str(config_path))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    facts["again_states"] = states(report(config))
    return facts


def test_the_tuner_runs_before_the_trainer_and_its_search_is_the_configs(tuned):
    assert tuned["first_states"]["tuner"] == "ran"
    assert "tuner" in tuned["first"].stdout
    best = tuned["best"]
    assert {s["config"]["name"] for s in best["space"]} == {"embedding_dim", "dropout"}
    assert best["values"]["embedding_dim"] in (16, 24) and best["values"]["dropout"] == 0.2


def test_the_trainer_trains_the_best_trials_values_not_the_configs(tuned):
    assert tuned["width"] == tuned["best"]["values"]["embedding_dim"]
    assert tuned["width"] != FAST_TRAINER["hyperparameters"]["embedding_dim"]


def test_an_unchanged_rerun_reuses_the_search(tuned):
    assert tuned["again_states"]["tuner"] == "cached"
    assert tuned["again_states"]["trainer"] == "cached"


def test_the_tuner_is_off_for_sample_runs_and_named_in_the_pipeline_otherwise(tmp_path):
    from tfx_pipeline.pipeline import create_pipeline

    config = load_config(write_config(tmp_path / "config.yaml", "sentiment", tuner=SEARCH))
    ids = [c.id for c in create_pipeline(config).components]
    assert ids.index("transform") < ids.index("tuner") < ids.index("trainer")
    trainer = next(c for c in create_pipeline(config).components if c.id == "trainer")
    assert "hyperparameters" in trainer.inputs
    assert "tuner" not in [c.id for c in create_pipeline(config.with_overrides(sample=500)).components]
