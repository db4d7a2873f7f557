"""Code tests for the Evaluator's baseline: the latest blessed model other than the candidate."""
import pytest
from tfx.types import standard_artifacts

from tfx_pipeline.components.baseline_strategy import CANDIDATE, MODEL, LatestBlessedOtherModelStrategy

BLESSING = "model_blessing"


def _model(model_id):
    model = standard_artifacts.Model()
    model.id = model_id
    return model


def _blessing(blessing_id, model_id, blessed):
    blessing = standard_artifacts.ModelBlessing()
    blessing.id = blessing_id
    blessing.set_int_custom_property("current_model_id", model_id)
    blessing.set_int_custom_property("blessed", int(blessed))
    return blessing


def _baseline(models, blessed, candidate):
    """models: ids in creation order; blessed: the ids the Evaluator blessed; the resolved baseline's id or None."""
    inputs = {MODEL: [_model(m) for m in models],
              BLESSING: [_blessing(100 + m, m, m in blessed) for m in models],
              CANDIDATE: [_model(candidate)]}
    result = LatestBlessedOtherModelStrategy().resolve_artifacts(None, inputs)
    assert [a.id for a in result[CANDIDATE]] == [candidate]
    assert len(result[MODEL]) == len(result[BLESSING]) <= 1
    if not result[MODEL]:
        return None
    assert result[BLESSING][0].get_int_custom_property("current_model_id") == result[MODEL][0].id
    return result[MODEL][0].id


@pytest.mark.parametrize("models, blessed, candidate, expected", [
    ([1], [], 1, None),                 # the first model: nothing to compare with
    ([1], [1], 1, None),                # its unchanged re-run: still nothing, so the Evaluator is cached
    ([1, 2], [1], 2, 1),                # a new candidate against the blessed model
    ([1, 2], [1, 2], 2, 1),             # two blessed, re-run of the second: the first, not "no baseline"
    ([1, 2, 3], [1, 2, 3], 3, 2),       # three blessed: the one before the candidate
    ([1, 2, 3], [1, 3], 3, 1),          # the unblessed one in between is skipped
    ([1, 2, 3], [1, 2], 3, 2),          # a fresh, unblessed candidate
    ([1, 2, 3], [1, 2, 3], 2, 3),       # an older model re-evaluated: the latest blessed one that is not it
])
def test_the_baseline_is_the_latest_blessed_model_other_than_the_candidate(models, blessed, candidate, expected):
    assert _baseline(models, blessed, candidate) == expected
