"""Transform's preprocessing_fn: text normalisation and tokenisation shared by training and serving.

Only tf.strings and tft ops: the graph is embedded in the exported model, and TF Serving cannot load
TF-Text custom ops.
"""
from __future__ import annotations

from typing import Any, Dict, List

import tensorflow as tf
import tensorflow_transform as tft

from tfx_pipeline import features


def normalize(text: tf.Tensor) -> tf.Tensor:
    """Lower-cases and rewrites URLs, @mentions and numbers to placeholder tokens (features.TEXT_RULES).
    text: string [batch]."""
    text = tf.strings.lower(text, encoding="utf-8")
    for pattern, replacement in features.TEXT_RULES:
        text = tf.strings.regex_replace(text, pattern, replacement)
    return tf.strings.strip(tf.strings.regex_replace(text, r"\s+", " "))


def tokenize(text: tf.Tensor, max_tokens: int) -> tf.RaggedTensor:
    return tf.strings.split(normalize(text))[:, :max_tokens]


def char_ngram_ids(text: tf.Tensor, widths: List[int], buckets: int, max_ngrams: int) -> tf.Tensor:
    """Each word's character n-grams ("<good>" -> "<g", "go", ..., "od>" at width 2), hashed into 1..buckets
    (0 pads), the first max_ngrams of the text in order. text: string [batch] -> int64 [batch, max_ngrams]."""
    words = tf.strings.split(normalize(text))
    characters = tf.strings.unicode_split(tf.strings.join(["<", words, ">"]), "UTF-8")
    grams = tf.concat([tf.strings.ngrams(characters, width, separator="") for width in widths], axis=-1)
    ids = tf.strings.to_hash_bucket_fast(grams.merge_dims(1, 2), buckets) + 1
    return ids[:, :max_ngrams].to_tensor(default_value=0, shape=[None, max_ngrams])


def label_ids(labels: tf.Tensor, label_list: List[str]) -> tf.Tensor:
    """Maps label strings to ids in the order of the configured label list (never a data-derived order).

    A label outside the list becomes -1. The curated schema's label domain makes ExampleValidator stop such data
    before Transform; should one get through, the Trainer refuses to train on it (trainer/run.py). The check
    cannot live in this graph: the serving graph feeds a default "" for the label it does not receive."""
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(label_list), tf.range(len(label_list), dtype=tf.int64)),
        default_value=-1)
    return table.lookup(labels)


def _dense_1d(tensor: tf.Tensor) -> tf.Tensor:
    if isinstance(tensor, tf.sparse.SparseTensor):
        tensor = tf.sparse.to_dense(tensor, default_value="")
    return tf.reshape(tensor, [-1])


def preprocessing_fn(inputs: Dict[str, Any], custom_config: Dict[str, Any]) -> Dict[str, tf.Tensor]:
    """custom_config: {"labels": [...], "max_tokens", "vocab_size", "oov_buckets", "min_frequency",
    "char_ngrams": {"enabled", "widths", "buckets", "max_ngrams"}}."""
    max_tokens = int(custom_config["max_tokens"])
    text = _dense_1d(inputs[features.TEXT])
    tokens = tokenize(text, max_tokens)
    ids = tft.compute_and_apply_vocabulary(
        tokens,
        top_k=int(custom_config["vocab_size"]),
        frequency_threshold=int(custom_config["min_frequency"]),
        num_oov_buckets=int(custom_config["oov_buckets"]),
        vocab_filename=features.VOCABULARY_NAME)
    # Shift by one so that 0 is padding and every real token (OOV buckets included) is >= 1.
    padded = (ids + 1).to_tensor(default_value=0, shape=[None, max_tokens])
    outputs = {features.TOKEN_IDS: padded}
    chars = custom_config.get("char_ngrams") or {}
    if chars.get("enabled"):
        outputs[features.CHAR_NGRAM_IDS] = char_ngram_ids(text, list(chars["widths"]), int(chars["buckets"]),
                                                         int(chars["max_ngrams"]))
    if features.LABEL in inputs:
        outputs[features.LABEL_ID] = label_ids(_dense_1d(inputs[features.LABEL]), list(custom_config["labels"]))
    return outputs


def vocabulary_size(tf_transform_output: tft.TFTransformOutput, oov_buckets: int) -> int:
    """Embedding rows needed: padding + vocabulary + OOV buckets."""
    return 1 + tf_transform_output.vocabulary_size_by_name(features.VOCABULARY_NAME) + oov_buckets
