"""The Keras text classifier: token ids (and hashed character n-grams) in, class probabilities out.

An encoder (embedding and one family's layers: a vector per token) read by pooling. Three families, chosen by
hp["model"]:
- cnn: embedding, then convolutions over n-grams of several widths (Kim, 2014), max and mean pooled: fast on
  CPU, and strong on short texts;
- bigru: a bidirectional GRU read by attention pooling (and max pooling), for word order beyond n-grams;
- transformer: a small encoder (self-attention and a feed-forward block per layer, learned positions), max and
  mean pooled.
With character n-grams, their embeddings are averaged (fastText's subword bag) and join the text's features, so a
misspelt or unseen word still counts by its pieces.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf

from tfx_pipeline import features

# The encoder's name inside the classifier: what a pretrained encoder's weights are loaded into.
ENCODER = "encoder"


def _not_padding(ids: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.not_equal(ids, 0), tf.float32)


class MaskedMean(tf.keras.layers.Layer):
    """Mean of the vectors whose id is not padding: [batch, steps, dim], [batch, steps] -> [batch, dim]."""

    def call(self, vectors, ids):
        weights = _not_padding(ids)[..., None]
        return tf.reduce_sum(vectors * weights, axis=1) / (tf.reduce_sum(weights, axis=1) + 1e-6)


class MaskedMax(tf.keras.layers.Layer):
    """Max over the vectors whose id is not padding (0 for a text without any): [batch, steps, dim], [batch, steps]
    -> [batch, dim]. A BiGRU's backward half outputs its initial zeros at padded steps, which a plain max reads."""

    def call(self, vectors, ids):
        present = _not_padding(ids)[..., None]
        highest = tf.reduce_max(vectors + (1.0 - present) * -1e9, axis=1)
        return tf.where(tf.reduce_max(present, axis=1) > 0, highest, tf.zeros_like(highest))


class TrimPadding(tf.keras.layers.Layer):
    """Token ids [batch, max_tokens] -> [batch, longest text's tokens] (at least 1): a recurrent layer's cost is one
    step after another, and padding is most of a short text's steps (a tweet of 12 tokens in 64). Ids are padded
    on the right (trainer/preprocessing.py), and with masked pooling the result is the same for any padding."""

    def call(self, ids):
        longest = tf.cast(tf.reduce_max(tf.reduce_sum(_not_padding(ids), axis=1)), tf.int32)
        return ids[:, :tf.maximum(longest, 1)]


class AttentionPooling(tf.keras.layers.Layer):
    """A learned score per step, softmax over the steps that are not padding, the weighted sum."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.hidden = tf.keras.layers.Dense(units, activation="tanh")
        self.score = tf.keras.layers.Dense(1)

    def call(self, states, ids):
        scores = self.score(self.hidden(states)) + (1.0 - _not_padding(ids)[..., None]) * -1e9
        return tf.reduce_sum(states * tf.nn.softmax(scores, axis=1), axis=1)


class PositionEmbedding(tf.keras.layers.Layer):
    def __init__(self, steps: int, dim: int, **kwargs):  # steps: the most a text has
        super().__init__(**kwargs)
        self.positions = tf.keras.layers.Embedding(steps, dim)

    def call(self, vectors):
        return vectors + self.positions(tf.range(tf.shape(vectors)[1]))[None]


def _cnn(x, token_ids, hp, max_tokens):
    x = tf.keras.layers.SpatialDropout1D(float(hp["dropout"]) / 2)(x)
    # One convolution per n-gram width; per step, the n-grams of every width that end there.
    convs = [tf.keras.layers.Conv1D(int(hp["conv_filters"]), int(width), padding="same", activation="relu",
                                    name=f"conv_{width}gram")(x) for width in hp["kernel_sizes"]]
    return convs[0] if len(convs) == 1 else tf.keras.layers.Concatenate()(convs)


def _bigru(x, token_ids, hp, max_tokens):
    mask = tf.keras.layers.Lambda(lambda ids: tf.not_equal(ids, 0))(token_ids)
    return tf.keras.layers.Bidirectional(tf.keras.layers.GRU(int(hp.get("rnn_units", 64)), return_sequences=True),
                                         name="bigru")(x, mask=mask)


def _transformer(x, token_ids, hp, max_tokens):
    dim, heads = int(hp["embedding_dim"]), int(hp.get("attention_heads", 4))
    x = PositionEmbedding(max_tokens, dim, name="positions")(x)
    attention_mask = tf.keras.layers.Lambda(lambda ids: tf.not_equal(ids, 0)[:, None, :])(token_ids)
    for layer in range(int(hp.get("encoder_layers", 1))):
        attention = tf.keras.layers.MultiHeadAttention(heads, dim // heads, dropout=float(hp["dropout"]) / 2,
                                                       name=f"self_attention_{layer}")
        attended = attention(x, x, attention_mask=attention_mask)
        x = tf.keras.layers.LayerNormalization(name=f"attention_norm_{layer}")(x + attended)
        feed = tf.keras.layers.Dense(dim, name=f"feed_forward_{layer}_out")(
            tf.keras.layers.Dense(2 * dim, activation="relu", name=f"feed_forward_{layer}")(x))
        x = tf.keras.layers.LayerNormalization(name=f"feed_forward_norm_{layer}")(x + feed)
    return x


_FAMILIES = {"cnn": _cnn, "bigru": _bigru, "transformer": _transformer}


def build_encoder(vocab_rows: int, max_tokens: int, hp: dict) -> tf.keras.Model:
    """Token ids [batch, steps] (steps at most max_tokens) -> one vector per step [batch, steps, dim]: the part of
    the classifier that masked-token pretraining (trainer/pretrain.py) trains and the Trainer starts from.

    The embedding has one row more than the vocabulary (vocab_rows is the id after the last one): the hidden
    token's of pretraining, which the classifier never sees."""
    family = hp.get("model", "cnn")
    if family not in _FAMILIES:
        raise ValueError(f"unknown model family {family!r}: {', '.join(_FAMILIES)}")
    token_ids = tf.keras.Input(shape=(None,), dtype=tf.int64, name=features.TOKEN_IDS)
    x = tf.keras.layers.Embedding(vocab_rows + 1, int(hp["embedding_dim"]), name="embedding")(token_ids)
    return tf.keras.Model(token_ids, _FAMILIES[family](x, token_ids, hp, max_tokens), name=ENCODER)


def _pool(family: str, steps, token_ids, hp):
    """The text's vector from its steps': for the CNN and the transformer, max pooling (is the n-gram there?)
    and mean pooling (how much of the text is like it?); for the BiGRU, attention pooling and max pooling over
    the steps that are not padding."""
    if family == "bigru":
        return tf.keras.layers.Concatenate()([
            AttentionPooling(int(hp.get("rnn_units", 64)), name="attention_pooling")(steps, token_ids),
            MaskedMax(name="max_pooling")(steps, token_ids)])
    first = MaskedMean()(steps, token_ids) if family == "transformer" \
        else tf.keras.layers.GlobalAveragePooling1D()(steps)
    return tf.keras.layers.Concatenate()([first, tf.keras.layers.GlobalMaxPooling1D()(steps)])


def build_model(vocab_rows: int, num_classes: int, max_tokens: int, hp: dict,
                char_ngrams: Optional[dict] = None) -> tf.keras.Model:
    """char_ngrams: {"buckets", "max_ngrams"} when Transform outputs features.CHAR_NGRAM_IDS."""
    tf.keras.utils.set_random_seed(int(hp["seed"]))
    token_ids = tf.keras.Input(shape=(max_tokens,), dtype=tf.int64, name=features.TOKEN_IDS)
    inputs = {features.TOKEN_IDS: token_ids}
    family = hp.get("model", "cnn")
    # Only the BiGRU reads trimmed ids: its steps run one after another, while the CNN's and the transformer's
    # run side by side, and their pooling reads the padded steps as their measured models did.
    steps_ids = TrimPadding(name="trim_padding")(token_ids) if family == "bigru" else token_ids
    parts = [_pool(family, build_encoder(vocab_rows, max_tokens, hp)(steps_ids), steps_ids, hp)]
    if char_ngrams:
        ngram_ids = tf.keras.Input(shape=(int(char_ngrams["max_ngrams"]),), dtype=tf.int64,
                                   name=features.CHAR_NGRAM_IDS)
        inputs[features.CHAR_NGRAM_IDS] = ngram_ids
        vectors = tf.keras.layers.Embedding(int(char_ngrams["buckets"]) + 1, int(hp["embedding_dim"]),
                                            name="char_ngram_embedding")(ngram_ids)
        parts.append(MaskedMean(name="char_ngram_bag")(vectors, ngram_ids))
    pooled = tf.keras.layers.Concatenate()(parts) if len(parts) > 1 else parts[0]
    x = tf.keras.layers.Dropout(float(hp["dropout"]))(pooled)
    probabilities = tf.keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    model = tf.keras.Model(inputs, probabilities, name="text_classifier")
    compile_model(model, num_classes, hp)
    return model


def compile_model(model: tf.keras.Model, num_classes: int, hp: dict) -> None:
    """Adam (AdamW with hp weight_decay), cross-entropy on label ids (smoothed with hp label_smoothing). With hp
    weight_averaging (a momentum, such as 0.99), the optimizer also keeps an exponential moving average of the
    weights, which trainer.callbacks.AveragedWeights makes the model's at each epoch's end."""
    learning_rate, decay = float(hp["learning_rate"]), float(hp.get("weight_decay", 0.0))
    averaging = float(hp.get("weight_averaging", 0.0))
    ema = {"use_ema": True, "ema_momentum": averaging} if averaging else {}
    optimizer = tf.keras.optimizers.AdamW(learning_rate, weight_decay=decay, **ema) if decay \
        else tf.keras.optimizers.Adam(learning_rate, **ema)
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
