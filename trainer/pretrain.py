"""The encoder pretrainer's run_fn: masked-token prediction on unlabelled text, with nothing downloaded.

The encoder is the classifier's own (trainer/model.build_encoder), for the transform graph's vocabulary. Each
batch hides `mask_rate` of each text's tokens (BERT's recipe: 80% become the hidden-token id, 10% a random token,
10% stay as they are) and the encoder learns to name them back from their context. The output layer is the
embedding itself (tied weights), trained by a sampled softmax: the whole 20k-token softmax per hidden token would
cost twenty times more on a CPU. The Trainer receives the encoder as base_model and starts from it (trainer/run.py).

Texts are tokenised by the transform graph's own layer, so the ids are the ones the Trainer sees.
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Dict, List

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from tfx_pipeline import features
from trainer.model import build_encoder
from trainer.preprocessing import vocabulary_size

WEIGHTS = "encoder.weights.h5"
FIGURES = "pretraining.json"
# Texts held out to measure how well the encoder names hidden tokens, over the whole vocabulary.
_HELD_OUT_SHARE = 0.02
_log = logging.getLogger(__name__)


def token_ids(texts: List[str], tf_transform_output: tft.TFTransformOutput) -> np.ndarray:
    """The texts' token ids [n, max_tokens] from the transform graph; texts without a token are left out."""
    layer = tf_transform_output.transform_features_layer()
    batches = []
    for start in range(0, len(texts), 4096):
        batch = tf.constant(texts[start:start + 4096])
        batches.append(layer({features.TEXT: tf.reshape(batch, [-1, 1])})[features.TOKEN_IDS].numpy())
    ids = np.concatenate(batches) if batches else np.zeros([0, 0], np.int64)
    return ids[(ids > 0).any(axis=1)]


def hide_tokens(ids: tf.Tensor, rate: float, mask_id: int, vocab_rows: int, seed: tf.Tensor):
    """(corrupted ids, which steps were hidden): 80% of the hidden become mask_id, 10% a random token, 10% stay."""
    real = ids > 0
    draw = tf.random.stateless_uniform(tf.shape(ids), seed=seed)
    hidden = tf.logical_and(real, draw < rate)
    how = tf.random.stateless_uniform(tf.shape(ids), seed=seed + 1)
    random_ids = tf.random.stateless_uniform(tf.shape(ids), seed=seed + 2, minval=1, maxval=vocab_rows,
                                             dtype=tf.int64)
    corrupted = tf.where(tf.logical_and(hidden, how < 0.8), tf.cast(mask_id, tf.int64),
                         tf.where(tf.logical_and(hidden, how < 0.9), random_ids, ids))
    return corrupted, hidden


class MaskedTokenModel(tf.Module):
    """The encoder, a projection back to the embedding's width, and the embedding as output layer."""

    def __init__(self, encoder: tf.keras.Model, vocab_rows: int, dim: int):
        super().__init__()
        self.encoder, self.vocab_rows = encoder, vocab_rows
        self.projection = tf.keras.Sequential([tf.keras.layers.Dense(dim, activation="gelu"),
                                               tf.keras.layers.LayerNormalization()], name="masked_token_projection")
        self.bias = tf.Variable(tf.zeros([vocab_rows]), name="output_bias")

    def hidden_states(self, corrupted, hidden, training):
        return self.projection(tf.boolean_mask(self.encoder(corrupted, training=training), hidden))

    def output_weights(self):
        return self.encoder.get_layer("embedding").embeddings[:self.vocab_rows]

    def loss(self, corrupted, hidden, targets, sampled: int):
        states = self.hidden_states(corrupted, hidden, training=True)
        labels = tf.reshape(tf.boolean_mask(targets, hidden), [-1, 1])
        losses = tf.nn.sampled_softmax_loss(self.output_weights(), self.bias, labels, states,
                                            num_sampled=sampled, num_classes=self.vocab_rows)
        # A batch can happen to hide nothing: its loss is 0, not the mean of nothing.
        return tf.reduce_sum(losses) / tf.maximum(tf.cast(tf.size(losses), tf.float32), 1.0)

    def accuracy(self, corrupted, hidden, targets):
        """Share of hidden tokens named exactly, over the whole vocabulary."""
        logits = tf.matmul(self.hidden_states(corrupted, hidden, training=False), self.output_weights(),
                           transpose_b=True) + self.bias
        named = tf.equal(tf.argmax(logits, axis=1), tf.boolean_mask(targets, hidden))
        return tf.reduce_sum(tf.cast(named, tf.float32)), tf.cast(tf.size(named), tf.float32)


def pretrain(ids: np.ndarray, vocab_rows: int, max_tokens: int, hp: dict, settings: dict) -> tuple:
    """(encoder, figures). settings: the config's pretraining section (epochs, time_budget_seconds, ...)."""
    tf.keras.utils.set_random_seed(int(hp["seed"]))
    order = np.random.default_rng(int(hp["seed"])).permutation(len(ids))
    held = max(1, int(len(ids) * _HELD_OUT_SHARE)) if len(ids) > 50 else 0
    held_out, train = ids[order[:held]], ids[order[held:]]
    encoder = build_encoder(vocab_rows, max_tokens, hp)
    model = MaskedTokenModel(encoder, vocab_rows, int(hp["embedding_dim"]))
    optimizer = tf.keras.optimizers.Adam(float(settings["learning_rate"]))
    rate, sampled = float(settings["mask_rate"]), min(int(settings["sampled_tokens"]), vocab_rows - 1)

    @tf.function(reduce_retracing=True)
    def step(batch, seed):
        corrupted, hidden = hide_tokens(batch, rate, vocab_rows, vocab_rows, seed)
        with tf.GradientTape() as tape:
            loss = model.loss(corrupted, hidden, batch, sampled)
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    def held_out_accuracy() -> float:
        named = total = 0.0
        for start in range(0, len(held_out), 1024):
            batch = tf.constant(held_out[start:start + 1024])
            corrupted, hidden = hide_tokens(batch, rate, vocab_rows, vocab_rows, tf.constant([7, start]))
            right, count = model.accuracy(corrupted, hidden, batch)
            named, total = named + float(right), total + float(count)
        return named / total if total else 0.0

    figures: Dict[str, object] = {"texts": int(len(ids)), "held_out_texts": int(held), "vocabulary_rows": vocab_rows,
                                  "held_out_accuracy_before": held_out_accuracy(), "epochs": []}
    started, batch_size = time.monotonic(), int(settings["batch_size"])
    for epoch in range(int(settings["epochs"])):
        if epoch and time.monotonic() - started > float(settings["time_budget_seconds"]):
            break
        shuffled = train[np.random.default_rng(epoch).permutation(len(train))]
        losses = [float(step(tf.constant(shuffled[start:start + batch_size]), tf.constant([epoch, start])))
                  for start in range(0, len(shuffled), batch_size)]
        accuracy = held_out_accuracy()
        figures["epochs"].append({"loss": float(np.mean(losses)), "held_out_accuracy": accuracy,
                                  "seconds": round(time.monotonic() - started, 1)})
        _log.info("pretraining epoch %d: sampled-softmax loss %.4f, hidden tokens named %.4f", epoch + 1,
                  np.mean(losses), accuracy)
    figures["seconds"] = round(time.monotonic() - started, 1)
    return encoder, figures


def run_fn(texts: List[str], transform_output: str, output_dir: str, custom_config: dict) -> dict:
    """The component's entry point (tfx_pipeline/components/encoder_pretrainer.py). custom_config: the Trainer's
    (labels, max_tokens, oov_buckets, hyperparameters) plus "pretraining": the config's section. Writes the
    encoder's weights and figures to output_dir and returns the figures."""
    tf_transform_output = tft.TFTransformOutput(transform_output)
    vocab_rows = vocabulary_size(tf_transform_output, int(custom_config["oov_buckets"]))
    ids = token_ids(texts, tf_transform_output)
    if len(ids) < 2:
        raise ValueError(f"pretraining needs texts with tokens; of {len(texts)} texts, {len(ids)} have any")
    encoder, figures = pretrain(ids, vocab_rows, int(custom_config["max_tokens"]),
                                custom_config["hyperparameters"], custom_config["pretraining"])
    tf.io.gfile.makedirs(output_dir)
    encoder.save_weights(os.path.join(output_dir, WEIGHTS))
    with tf.io.gfile.GFile(os.path.join(output_dir, FIGURES), "w") as out:
        out.write(json.dumps(figures, indent=1))
    return figures


def load_encoder(model: tf.keras.Model, base_model: str, encoder_name: str) -> dict:
    """Loads a pretrained encoder's weights into the classifier's encoder layer; returns its figures."""
    model.get_layer(encoder_name).load_weights(os.path.join(base_model, WEIGHTS))
    path = os.path.join(base_model, FIGURES)
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as handle:
        return json.loads(handle.read())
