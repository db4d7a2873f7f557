"""The Tuner's tuner_fn: KerasTuner's random search over the config's search space, each trial the Trainer's own
model and training (trainer/run.py) for tuner.epochs_per_trial epochs, scored by its best validation macro-F1
(what the Evaluator blesses on), within a trial count and a time budget.

KerasTuner 1.4 builds Keras 3 models; the project trains Keras 2 (tf_keras). So the search overrides run_trial
and trains the model itself, and KerasTuner keeps what it is good at: the search space, the oracle, the trial
records TFX's Tuner reads the best hyperparameters from.
"""
from __future__ import annotations

import time
from typing import Dict

import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx

from tfx_pipeline import features
from trainer.callbacks import VAL_MACRO_F1, AveragedWeights, ValidationMacroF1
from trainer.run import batched, build, class_weights, examples


class BudgetedRandomSearch(keras_tuner.oracles.RandomSearchOracle):
    """Random search that starts no trial past its deadline (a trial under way finishes)."""

    def __init__(self, deadline: float, **kwargs):
        super().__init__(**kwargs)
        self.deadline = deadline

    def populate_space(self, trial_id: str) -> dict:
        if time.time() > self.deadline:
            return {"status": keras_tuner.engine.trial.TrialStatus.STOPPED, "values": None}
        return super().populate_space(trial_id)


class TrainerSearch(keras_tuner.Tuner):
    """Each trial: the config's hyperparameters with the trial's values, trained as run_fn trains."""

    def __init__(self, oracle, config: dict, transform_output: tft.TFTransformOutput, train: tf.data.Dataset,
                 validation: tf.data.Dataset, epochs: int, **kwargs):
        super().__init__(oracle=oracle, **kwargs)
        self.config, self.transform_output = config, transform_output
        self.train, self.validation, self.epochs = train, validation, epochs

    def run_trial(self, trial, *args, **kwargs) -> Dict[str, float]:
        hp = {**self.config["hyperparameters"], **trial.hyperparameters.values}
        num_labels = len(self.config["labels"])
        model = build(self.config, self.transform_output, hp)
        train = batched(self.train, int(hp["batch_size"]), int(hp["seed"]), shuffle=True)
        validation = batched(self.validation, int(hp["batch_size"]), int(hp["seed"]), shuffle=False)
        history = model.fit(train, validation_data=validation, epochs=self.epochs, verbose=2,
                            class_weight=class_weights(train, num_labels, hp.get("class_weights", "none")),
                            callbacks=[AveragedWeights(), ValidationMacroF1(validation, num_labels)])
        return {VAL_MACRO_F1: max(history.history[VAL_MACRO_F1])}

    def save_model(self, trial_id, model, step=0):
        """Trials keep no model: the Trainer trains the chosen one again, on its own epochs."""

    def load_model(self, trial):
        raise NotImplementedError("trials keep no model; the Trainer trains the best trial's hyperparameters")


def search_space(space: Dict[str, list]) -> keras_tuner.HyperParameters:
    hyperparameters = keras_tuner.HyperParameters()
    for name, values in space.items():
        hyperparameters.Choice(name, values)
    return hyperparameters


def tuner_fn(fn_args: tfx.components.FnArgs) -> tfx.components.TunerFnResult:
    """custom_config: the Trainer's ({"labels", "max_tokens", "oov_buckets", "char_ngrams", "hyperparameters"})
    and "search": {"trials", "time_budget_seconds", "epochs_per_trial", "search_space"}."""
    config = fn_args.custom_config
    search = config["search"]
    transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    num_labels = len(config["labels"])
    oracle = BudgetedRandomSearch(
        deadline=time.time() + float(search["time_budget_seconds"]),
        objective=keras_tuner.Objective(VAL_MACRO_F1, direction="max"),
        max_trials=int(search["trials"]),
        hyperparameters=search_space(search["search_space"]),
        seed=int(config["hyperparameters"]["seed"]))
    tuner = TrainerSearch(
        oracle, config, transform_output,
        examples(fn_args.train_files, fn_args.data_accessor, transform_output, num_labels, features.TRAIN_SPLIT),
        examples(fn_args.eval_files, fn_args.data_accessor, transform_output, num_labels, features.EVAL_SPLIT),
        int(search["epochs_per_trial"]), directory=fn_args.working_dir, project_name="search")
    return tfx.components.TunerFnResult(tuner=tuner, fit_kwargs={})
