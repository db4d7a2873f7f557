"""The Keras text classifier: token ids in, class probabilities out.

Embedding, then convolutions over n-grams of several widths (Kim, 2014), max and mean pooled: fast on CPU,
and strong enough on short texts that a recurrent layer does not pay for its training time.
"""
from __future__ import annotations

import tensorflow as tf

from tfx_pipeline import features


def build_model(vocab_rows: int, num_classes: int, max_tokens: int, hp: dict) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(int(hp["seed"]))
    token_ids = tf.keras.Input(shape=(max_tokens,), dtype=tf.int64, name=features.TOKEN_IDS)
    x = tf.keras.layers.Embedding(vocab_rows, int(hp["embedding_dim"]), name="embedding")(token_ids)
    x = tf.keras.layers.SpatialDropout1D(float(hp["dropout"]) / 2)(x)
    # One convolution per n-gram width, each read two ways: max pooling (is the n-gram there?) and mean
    # pooling (how much of the text is like it?).
    branches = []
    for width in hp["kernel_sizes"]:
        conv = tf.keras.layers.Conv1D(int(hp["conv_filters"]), int(width), padding="same", activation="relu",
                                      name=f"conv_{width}gram")(x)
        branches += [tf.keras.layers.GlobalMaxPooling1D()(conv), tf.keras.layers.GlobalAveragePooling1D()(conv)]
    pooled = tf.keras.layers.Concatenate()(branches)
    x = tf.keras.layers.Dropout(float(hp["dropout"]))(pooled)
    probabilities = tf.keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    model = tf.keras.Model(token_ids, probabilities, name="text_classifier")
    model.compile(
        optimizer=tf.keras.optimizers.Adam(float(hp["learning_rate"])),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(),
        metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model
