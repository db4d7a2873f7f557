"""Code tests for preprocessing_fn: exact tokens from tf.strings, exact ids from tft through tft_beam."""
import tempfile

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from tfx_pipeline import features
from trainer.preprocessing import normalize, preprocessing_fn, tokenize

LABELS = ["negative", "neutral", "positive"]
CONFIG = {"labels": LABELS, "max_tokens": 6, "vocab_size": 100, "oov_buckets": 2, "min_frequency": 1}


def _strings(tensor):
    return [t.decode() for t in tensor.numpy()]


def test_normalize_rewrites_urls_mentions_numbers_and_punctuation():
    out = normalize(tf.constant([
        "Check https://t.co/AbC123 NOW!!",
        "@United flight 1234 delayed 2.5 hours... #fail",
        "I don't LOVE it?",
        "caf\u00c9 \u00dcBER",
    ]))
    assert _strings(out) == [
        "check xxurl now ! !",
        "xxuser flight xxnum delayed xxnum hours fail",
        "i don't love it ?",
        "caf\u00e9 \u00fcber",
    ]


def test_tokenize_truncates_to_max_tokens():
    tokens = tokenize(tf.constant(["one two three four", "a"]), max_tokens=3)
    assert tokens.to_list() == [[b"one", b"two", b"three"], [b"a"]]


def _analyze_and_transform(texts, labels):
    spec = {features.TEXT: tf.io.FixedLenFeature([1], tf.string),
            features.LABEL: tf.io.FixedLenFeature([1], tf.string)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    data = [{features.TEXT: [t], features.LABEL: [l]} for t, l in zip(texts, labels)]
    with tempfile.TemporaryDirectory() as tmp, tft_beam.Context(temp_dir=tmp, force_tf_compat_v1=False):
        (transformed, _), transform_fn = (data, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing_fn(inputs, CONFIG))
        output_dir = tmp + "/transform_output"
        _ = transform_fn | tft_beam.WriteTransformFn(output_dir)
        vocabulary = tft.TFTransformOutput(output_dir).vocabulary_by_name(features.VOCABULARY_NAME)
    return transformed, [v.decode() for v in vocabulary]


def test_vocabulary_ids_padding_and_labels_through_tft_beam():
    transformed, vocabulary = _analyze_and_transform(
        ["good good good", "bad bad", "good ok", "@bob bad good"],
        ["positive", "negative", "neutral", "negative"])
    # Most frequent first: good x5, bad x3, then ok and xxuser once each.
    assert vocabulary[:2] == ["good", "bad"]
    assert sorted(vocabulary[2:]) == ["ok", "xxuser"]
    ids = {token: i + 1 for i, token in enumerate(vocabulary)}  # 0 is padding
    rows = [(list(r[features.TOKEN_IDS]), int(r[features.LABEL_ID])) for r in transformed]
    assert rows == [
        ([ids["good"]] * 3 + [0, 0, 0], 2),
        ([ids["bad"]] * 2 + [0] * 4, 0),
        ([ids["good"], ids["ok"], 0, 0, 0, 0], 1),
        ([ids["xxuser"], ids["bad"], ids["good"], 0, 0, 0], 0),
    ]


def test_unknown_words_fall_into_oov_buckets_at_serving():
    transformed, vocabulary = _analyze_and_transform(["good", "bad"], ["positive", "negative"])
    assert len(vocabulary) == 2
    spec = {features.TEXT: tf.io.FixedLenFeature([1], tf.string),
            features.LABEL: tf.io.FixedLenFeature([1], tf.string)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    with tempfile.TemporaryDirectory() as tmp, tft_beam.Context(temp_dir=tmp, force_tf_compat_v1=False):
        transform_fn = ([{features.TEXT: ["good"], features.LABEL: ["positive"]},
                         {features.TEXT: ["bad"], features.LABEL: ["negative"]}], metadata) | tft_beam.AnalyzeDataset(
            lambda inputs: preprocessing_fn(inputs, CONFIG))
        _ = transform_fn | tft_beam.WriteTransformFn(tmp + "/out")
        layer = tft.TFTransformOutput(tmp + "/out").transform_features_layer()
        out = layer({features.TEXT: tf.constant([["good zebra"]])})
    token_ids = out[features.TOKEN_IDS].numpy()[0]
    assert features.LABEL_ID not in out  # serving sends no label and needs none
    assert token_ids[0] == 1
    # Vocabulary of 2 -> tft ids 2..3 are OOV buckets, shifted by one for padding.
    assert token_ids[1] in (3, 4)
    assert np.all(token_ids[2:] == 0)



def test_monitoring_makes_the_tokens_transform_makes():
    """tfx_pipeline/monitoring counts tokens and OOV words with the `regex` package, Transform with tf.strings:
    the shared rules must give the same words."""
    from tfx_pipeline.monitoring.request_features import tokens

    texts = ["Check https://t.co/AbC123 NOW!!", "@United flight 1234 delayed 2.5 hours... #fail",
             "I don't LOVE it?", "caf\u00c9 \u00dcBER na\u00efve", "'quoted' it's -- ok\t\ttabs", "   ",
             "\u00bfQu\u00e9 tal?",
             "emoji \U0001F600 and www.example.com/x"]
    assert [tokens(t) for t in texts] == [[w.decode() for w in row] for row in
                                          tokenize(tf.constant(texts), max_tokens=1000).to_list()]
