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
    compile_model(model, num_classes, hp)
    return model


def compile_model(model: tf.keras.Model, num_classes: int, hp: dict) -> None:
    """Adam (AdamW with hp weight_decay), cross-entropy on label ids (smoothed with hp label_smoothing)."""
    learning_rate, decay = float(hp["learning_rate"]), float(hp.get("weight_decay", 0.0))
    optimizer = tf.keras.optimizers.AdamW(learning_rate, weight_decay=decay) if decay \
        else tf.keras.optimizers.Adam(learning_rate)
    model.compile(optimizer=optimizer, loss=sparse_cross_entropy(num_classes, float(hp.get("label_smoothing", 0.0))),
                  metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


def sparse_cross_entropy(num_classes: int, smoothing: float):
    """Keras' sparse cross-entropy has no label smoothing; with smoothing, the ids become smoothed one-hots."""
    if not smoothing:
        return tf.keras.losses.SparseCategoricalCrossentropy()
    smoothed = tf.keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)

    def loss(label_ids, probabilities):
        return smoothed(tf.one_hot(tf.cast(tf.reshape(label_ids, [-1]), tf.int32), num_classes), probabilities)
    return loss
