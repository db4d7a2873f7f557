"""The Trainer's run_fn: fit on the train split, early-stop on eval, export both serving signatures."""
from __future__ import annotations

import logging
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from tfx_pipeline import features
from trainer.callbacks import VAL_MACRO_F1, AveragedWeights, ProgressLog, ValidationMacroF1
from trainer.export import export_model
from trainer.model import ENCODER, build_model
from trainer.pretrain import load_encoder
from trainer.preprocessing import vocabulary_size


class UnknownLabelError(ValueError):
    """Transform mapped labels outside the configured set to -1: training on them would be training on noise."""


def check_labels(examples: tf.data.Dataset, num_labels: int, split: str) -> None:
    """Fails when a label id is outside 0..num_labels-1 (see trainer/preprocessing.label_ids). One pass, which
    also fills the dataset's in-memory cache for training."""
    bad = examples.reduce(tf.constant(0, tf.int64), lambda count, example: count + tf.cast(
        tf.logical_or(example[1] < 0, example[1] >= num_labels), tf.int64))
    if int(bad):
        raise UnknownLabelError(
            f"{int(bad)} example(s) of the {split} split have a label outside the configured labels; "
            "ExampleValidator should have stopped them: check the curated schema's label domain")


def examples(file_pattern: List[str], data_accessor: tfx.components.DataAccessor,
             tf_transform_output: tft.TFTransformOutput, num_labels: int, split: str) -> tf.data.Dataset:
    """A split's (features, label) pairs, parsed once and then kept in memory: token ids are small (a few MB
    for 40k texts), and re-reading and parsing TFRecords every epoch cost more than the training steps."""
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=1024, label_key=features.LABEL_ID, num_epochs=1, shuffle=False),
        tf_transform_output.transformed_metadata.schema,
    ).unbatch().cache()
    check_labels(dataset, num_labels, split)
    return dataset


def batched(dataset: tf.data.Dataset, batch_size: int, seed: int, shuffle: bool) -> tf.data.Dataset:
    """Shuffled per epoch over the whole split when `shuffle`."""
    if shuffle:
        dataset = dataset.shuffle(1_000_000, seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def class_weights(train: tf.data.Dataset, num_classes: int, kind: str) -> Optional[Dict[int, float]]:
    """None, or each class's weight from its count in the train split: n / (k * count) ("balanced"), or the
    square root of that ("sqrt")."""
    if kind == "none":
        return None
    counts = np.zeros(num_classes)
    for _, label_batch in train:
        counts += np.bincount(np.reshape(label_batch.numpy(), [-1]), minlength=num_classes)[:num_classes]
    weights = counts.sum() / (num_classes * np.maximum(counts, 1))
    return {label: float(np.sqrt(w) if kind == "sqrt" else w) for label, w in enumerate(weights)}


def build(config: dict, tf_transform_output: tft.TFTransformOutput, hp: dict) -> tf.keras.Model:
    """The model of the custom_config and hyperparameters `hp`, sized to the transform graph's vocabulary."""
    chars = config.get("char_ngrams") or {}
    return build_model(vocabulary_size(tf_transform_output, int(config["oov_buckets"])), len(config["labels"]),
                       int(config["max_tokens"]), hp, chars if chars.get("enabled") else None)


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """custom_config: {"labels", "max_tokens", "oov_buckets", "char_ngrams", "hyperparameters": {...}} from the
    pipeline config."""
    config = fn_args.custom_config
    # With a Tuner upstream, the best trial's values (KerasTuner's HyperParameters config) over the config's.
    hp = {**config["hyperparameters"], **((fn_args.hyperparameters or {}).get("values") or {})}
    labels = list(config["labels"])
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    model = build(config, tf_transform_output, hp)
    if fn_args.base_model:  # the encoder pretrainer's output (tfx_pipeline/components/encoder_pretrainer.py)
        figures = load_encoder(model, fn_args.base_model, ENCODER)
        logging.getLogger(__name__).info("the encoder starts from the one pretrained on %s texts (%s)",
                                         figures.get("texts", "?"), fn_args.base_model)
    train = batched(examples(fn_args.train_files, fn_args.data_accessor, tf_transform_output, len(labels),
                             features.TRAIN_SPLIT), int(hp["batch_size"]), int(hp["seed"]), shuffle=True)
    validation = batched(examples(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, len(labels),
                                  features.EVAL_SPLIT), int(hp["batch_size"]), int(hp["seed"]), shuffle=False)
    model.fit(
        train,
        validation_data=validation,
        epochs=int(hp["epochs"]),
        verbose=2,
        class_weight=class_weights(train, len(labels), hp.get("class_weights", "none")),
        callbacks=[
            AveragedWeights(),  # first: the epoch validated and kept is the averaged weights'
            ValidationMacroF1(validation, len(labels)),  # before the callbacks that read its metric
            tf.keras.callbacks.EarlyStopping(monitor=VAL_MACRO_F1, mode="max", patience=int(hp["patience"]),
                                             restore_best_weights=True),
            tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch"),
            ProgressLog(int(hp["epochs"])),
        ])
    export_model(model, tf_transform_output, labels, fn_args.serving_model_dir)
