"""Baseline for the Evaluator: the latest blessed model, unless that is the candidate itself.

With TFX's LatestBlessedModelStrategy an unchanged re-run (the Trainer served from cache) compares the model
with itself: the Evaluator's inputs differ from the first run's (a baseline appeared), so it and the Pusher run
again for nothing. Given the candidate, this strategy resolves no baseline in that case, the Evaluator's inputs
match the first run's, and the whole run is served from cache.
"""
from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy

CANDIDATE = "candidate"
MODEL = "model"


class LatestBlessedOtherModelStrategy(LatestBlessedModelStrategy):

    def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        candidate_ids = {a.id for a in input_dict.get(CANDIDATE, [])}
        history = {k: v for k, v in input_dict.items() if k != CANDIDATE}
        result = super().resolve_artifacts(store, history) or {k: [] for k in history}
        if any(model.id in candidate_ids for model in result.get(MODEL, [])):
            result = {k: [] for k in history}
        return {**result, CANDIDATE: input_dict.get(CANDIDATE, [])}
