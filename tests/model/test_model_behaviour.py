"""Behavioural tests of the trained sentiment model (tests/model/behaviour.py): the default config's model family
and hyperparameters, trained by `mlops run` on a sample of the default corpus, scored through the pushed
version's raw-text signature as a client would.

The bars are what a model of SAMPLE rows meets with margin (measured: see docs/benchmarks.md, "Model quality",
where bench/quality.py runs the same checks on the full models); they are well above chance (1/3 per class),
so a model that learnt nothing, or a signature that scrambles its classes, fails them.
"""
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
for _path in (str(TESTS), str(TESTS / "e2e"), str(Path(__file__).resolve().parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import behaviour  # noqa: E402
from pipeline_configs import write_config  # noqa: E402
from pipeline_helpers import effective_config, run_mlops_process, version_dirs  # noqa: E402

pytestmark = pytest.mark.e2e

SAMPLE = 8000
THRESHOLDS = {"accuracy": {"lower_bound": 0.5, "max_drop": 0.2}, "macro_f1": {"lower_bound": 0.4, "max_drop": 0.2}}


@pytest.fixture(scope="module")
def score(tmp_path_factory):
    config_path = write_config(tmp_path_factory.mktemp("behaviour") / "config.yaml", "sentiment",
                               evaluation={"thresholds": THRESHOLDS})
    result = run_mlops_process("run", "--config", str(config_path), "--sample", str(SAMPLE))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return behaviour.saved_model_scorer(str(version_dirs(effective_config(config_path, SAMPLE).push_root)[-1]))


def test_invariance_other_mentions_urls_numbers_and_names_keep_the_label(score):
    share, changed = behaviour.invariance(score, "sentiment")
    assert share >= 0.85, changed


def test_directional_negation_and_intensifiers_move_the_scores_the_right_way(score):
    share, wrong = behaviour.directional(score, "sentiment")
    assert share >= 0.75, wrong


def test_minimum_functionality_unambiguous_sentences_get_their_class(score):
    per_class, misses = behaviour.minimum_functionality(score, "sentiment")
    # Measured on this sample: positive 0.79 and negative 0.92 of 24 sentences each with the config's weight
    # averaging (0.83 and 0.92 without it, one sentence more; the full models 0.88 and 0.96).
    assert per_class["positive"] >= 0.75 and per_class["negative"] >= 0.75, (per_class, misses)
    # Neutral is the hard class of this corpus (0.50 measured on this sample, 0.46 without averaging: plain
    # questions often read as complaints); above chance (1/3) still separates a model from none.
    assert per_class["neutral"] >= 0.4, (per_class, misses)


def test_the_checks_fail_a_model_that_learnt_nothing():
    """The bars are not met by a constant answer, nor by one with its classes swapped."""
    constant = lambda texts: [{"negative": 0.2, "neutral": 0.5, "positive": 0.3} for _ in texts]  # noqa: E731
    assert behaviour.directional(constant, "sentiment")[0] == 0.0
    per_class, _ = behaviour.minimum_functionality(constant, "sentiment")
    assert per_class["positive"] == per_class["negative"] == 0.0

    truth = {text: label for label, texts in behaviour.MINIMUM["sentiment"].items() for text in texts}

    def answering(mapping):
        return lambda texts: [{c: 0.8 if c == mapping[truth.get(t, "neutral")] else 0.1
                               for c in ("negative", "neutral", "positive")} for t in texts]

    right = answering({"negative": "negative", "neutral": "neutral", "positive": "positive"})
    swapped = answering({"negative": "positive", "neutral": "neutral", "positive": "negative"})
    assert set(behaviour.minimum_functionality(right, "sentiment")[0].values()) == {1.0}
    per_class, _ = behaviour.minimum_functionality(swapped, "sentiment")
    assert per_class["positive"] == per_class["negative"] == 0.0
