"""Baseline for the Evaluator: the latest blessed model other than the candidate itself.

With TFX's LatestBlessedModelStrategy an unchanged re-run (the Trainer served from cache) compares the model
with itself: the Evaluator's inputs differ from the first run's (the candidate became the latest blessed model),
so it and the Pusher run again for nothing, and the change thresholds compare the model with itself. Given the
candidate, this strategy leaves it out of the history and resolves the latest blessed model before it: the
baseline of the re-run is the one of the first run, the Evaluator's inputs match, and the whole run is served
from cache, with its change thresholds intact.
"""
from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy

CANDIDATE = "candidate"
MODEL = "model"


class LatestBlessedOtherModelStrategy(LatestBlessedModelStrategy):

    def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        candidate = input_dict.get(CANDIDATE, [])
        candidate_ids = {a.id for a in candidate}
        history = {key: [a for a in artifacts if not (key == MODEL and a.id in candidate_ids)]
                   for key, artifacts in input_dict.items() if key != CANDIDATE}
        result = super().resolve_artifacts(store, history) or {key: [] for key in history}
        return {**result, CANDIDATE: candidate}
