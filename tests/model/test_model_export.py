"""Model tests: the classifier can learn (overfits a tiny batch) and both exported signatures agree."""
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

from tfx_pipeline import features
from trainer.export import export_model
from trainer.model import build_model
from trainer.preprocessing import preprocessing_fn, vocabulary_size

LABELS = ["negative", "neutral", "positive"]
# The default config's sizes: an empty batch broke only a model of these (oneDNN's kernels on zero rows).
CHARS = {"enabled": True, "widths": [2, 3, 4], "buckets": 1000, "max_ngrams": 64}
CONFIG = {"labels": LABELS, "max_tokens": 32, "vocab_size": 100, "oov_buckets": 3, "min_frequency": 1,
          "char_ngrams": CHARS}
HP = {"embedding_dim": 64, "conv_filters": 96, "kernel_sizes": [1, 2, 3], "dropout": 0.0, "learning_rate": 0.02,
      "batch_size": 8, "epochs": 1, "patience": 0, "seed": 7}
TEXTS = ["i love this so much", "worst delay ever, awful", "the flight left at noon", "great crew, loved it",
         "terrible service and rude staff", "seat 12a is by the window", "amazing, thank you!", "never again, hate it"]
TARGETS = ["positive", "negative", "neutral", "positive", "negative", "neutral", "positive", "negative"]


@pytest.fixture(scope="module")
def transform_output(tmp_path_factory) -> tft.TFTransformOutput:
    spec = {features.TEXT: tf.io.FixedLenFeature([1], tf.string),
            features.LABEL: tf.io.FixedLenFeature([1], tf.string)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    data = [{features.TEXT: [t], features.LABEL: [l]} for t, l in zip(TEXTS, TARGETS)]
    out = str(tmp_path_factory.mktemp("transform"))
    with tempfile.TemporaryDirectory() as tmp, tft_beam.Context(temp_dir=tmp, force_tf_compat_v1=False):
        transform_fn = (data, metadata) | tft_beam.AnalyzeDataset(lambda inputs: preprocessing_fn(inputs, CONFIG))
        _ = transform_fn | tft_beam.WriteTransformFn(out)
    # The raw schema, which the tf.Example signature parses with (TFX's Transform writes it too).
    metadata_io.write_metadata(metadata, str(Path(out) / tft.TFTransformOutput.RAW_METADATA_DIR))
    return tft.TFTransformOutput(out)


@pytest.fixture(scope="module")
def trained(transform_output):
    layer = transform_output.transform_features_layer()
    transformed = layer({features.TEXT: tf.constant([[t] for t in TEXTS]),
                         features.LABEL: tf.constant([[l] for l in TARGETS])})
    model = build_model(vocabulary_size(transform_output, CONFIG["oov_buckets"]), len(LABELS),
                        CONFIG["max_tokens"], HP)
    history = model.fit(transformed[features.TOKEN_IDS], transformed[features.LABEL_ID], epochs=60,
                        batch_size=8, verbose=0)
    return model, history


def test_model_overfits_a_tiny_batch(trained):
    _, history = trained
    assert history.history["accuracy"][-1] == 1.0
    assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]


def test_both_signatures_agree_and_return_labels_from_the_label_set(trained, transform_output, tmp_path):
    model, _ = trained
    export_dir = str(tmp_path / "export")
    export_model(model, transform_output, LABELS, export_dir)
    loaded = tf.saved_model.load(export_dir)
    raw = loaded.signatures[features.SERVING_DEFAULT](text=tf.constant(TEXTS))
    examples = [tf.train.Example(features=tf.train.Features(feature={
        features.TEXT: tf.train.Feature(bytes_list=tf.train.BytesList(value=[t.encode()]))})).SerializeToString()
        for t in TEXTS]
    serialized = loaded.signatures[features.SERVING_TF_EXAMPLE](inputs=tf.constant(examples))

    np.testing.assert_allclose(raw["scores"].numpy(), serialized["scores"].numpy(), rtol=1e-6, atol=1e-6)
    assert raw["classes"].numpy().tolist() == serialized["classes"].numpy().tolist()
    assert [l.decode() for l in raw["label"].numpy()] == TARGETS  # the overfit model reproduces its batch
    assert raw["scores"].shape == (len(TEXTS), len(LABELS))
    np.testing.assert_allclose(raw["scores"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    assert raw["classes"].numpy()[0].tolist() == [l.encode() for l in LABELS]


def test_the_saved_model_holds_the_weights_it_serves_not_the_optimizers_state(trained, transform_output, tmp_path):
    model, _ = trained  # fitted: its Adam holds two moments per weight
    export_model(model, transform_output, LABELS, str(tmp_path / "export"))
    stored = tf.train.list_variables(str(tmp_path / "export" / "variables" / "variables"))
    assert not [name for name, _ in stored if "optimizer" in name]
    values = sum(int(np.prod(shape)) for name, shape in stored if name.endswith("VARIABLE_VALUE"))
    assert values == sum(int(np.prod(w.shape)) for w in model.weights)


def test_tf_example_signature_is_a_classify_signature(trained, transform_output, tmp_path):
    from tensorflow.core.protobuf import saved_model_pb2

    model, _ = trained
    export_dir = tmp_path / "export"
    export_model(model, transform_output, LABELS, str(export_dir))
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((export_dir / "saved_model.pb").read_bytes())
    signatures = saved_model.meta_graphs[0].signature_def
    classify = signatures[features.SERVING_TF_EXAMPLE]
    assert classify.method_name == "tensorflow/serving/classify"
    assert set(classify.inputs) == {"inputs"} and set(classify.outputs) == {"classes", "scores"}
    assert signatures[features.SERVING_DEFAULT].method_name == "tensorflow/serving/predict"
    assert set(signatures[features.SERVING_DEFAULT].inputs) == {"text"}
    # The fingerprint was rewritten after the signature change: it is the one saved_model.pb has now (the Pusher
    # compares fingerprints to skip a model already served, so a stale one would push or skip wrongly).
    from tensorflow.core.protobuf import fingerprint_pb2
    from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting

    fresh = fingerprint_pb2.FingerprintDef.FromString(fingerprinting.CreateFingerprintDef(str(export_dir)))
    stored = fingerprint_pb2.FingerprintDef.FromString((export_dir / "fingerprint.pb").read_bytes())
    assert stored.saved_model_checksum == fresh.saved_model_checksum != 0
    assert stored == fresh


def test_an_empty_batch_gets_empty_answers_from_both_signatures(trained, transform_output, tmp_path):
    model, _ = trained
    export_dir = str(tmp_path / "export")
    export_model(model, transform_output, LABELS, export_dir)
    loaded = tf.saved_model.load(export_dir)
    raw = loaded.signatures[features.SERVING_DEFAULT](text=tf.constant([], tf.string))
    serialized = loaded.signatures[features.SERVING_TF_EXAMPLE](inputs=tf.constant([], tf.string))
    for outputs in (raw, serialized):
        assert outputs["scores"].shape == (0, len(LABELS))
        assert outputs["classes"].shape == (0, len(LABELS))
    assert raw["label"].shape == (0,)


class _StopWhenLearnt(tf.keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if logs["accuracy"] == 1.0:
            self.model.stop_training = True


@pytest.mark.parametrize("family, chars", [("cnn", True), ("bigru", True), ("transformer", False)])
def test_each_family_learns_and_serves_raw_text_through_both_signatures(transform_output, tmp_path, family, chars):
    layer = transform_output.transform_features_layer()
    transformed = layer({features.TEXT: tf.constant([[t] for t in TEXTS]),
                         features.LABEL: tf.constant([[l] for l in TARGETS])})
    model = build_model(vocabulary_size(transform_output, CONFIG["oov_buckets"]), len(LABELS), CONFIG["max_tokens"],
                        {**HP, "model": family, "embedding_dim": 32, "conv_filters": 16, "rnn_units": 16,
                         "attention_heads": 4, "encoder_layers": 1, "learning_rate": 0.01},
                        CHARS if chars else None)
    inputs = {name: transformed[name] for name in model.input_names}
    assert set(inputs) == {features.TOKEN_IDS} | ({features.CHAR_NGRAM_IDS} if chars else set())
    # Up to 80 epochs, stopped at the first that fits the tiny batch: the recurrent family needs the most.
    history = model.fit(inputs, transformed[features.LABEL_ID], epochs=80, batch_size=8, verbose=0,
                        callbacks=[_StopWhenLearnt()])
    assert history.history["accuracy"][-1] == 1.0, family
    export_dir = str(tmp_path / family)
    export_model(model, transform_output, LABELS, export_dir)
    loaded = tf.saved_model.load(export_dir)
    raw = loaded.signatures[features.SERVING_DEFAULT](text=tf.constant(TEXTS))
    assert [l.decode() for l in raw["label"].numpy()] == TARGETS
    examples = [tf.train.Example(features=tf.train.Features(feature={
        features.TEXT: tf.train.Feature(bytes_list=tf.train.BytesList(value=[t.encode()]))})).SerializeToString()
        for t in TEXTS]
    serialized = loaded.signatures[features.SERVING_TF_EXAMPLE](inputs=tf.constant(examples))
    np.testing.assert_allclose(raw["scores"].numpy(), serialized["scores"].numpy(), rtol=1e-5, atol=1e-6)
    assert loaded.signatures[features.SERVING_DEFAULT](text=tf.constant([], tf.string))["scores"].shape == (0, 3)


def test_a_bigru_scores_a_text_the_same_alone_or_beside_a_longer_one():
    # It reads only the batch's longest text's steps: the padding a batch gives a short text must not count.
    model = build_model(50, 3, 16, {**HP, "model": "bigru", "embedding_dim": 8, "rnn_units": 4})
    ids = np.zeros((3, 16), np.int64)
    ids[0, :3], ids[1, :16] = [5, 6, 7], np.arange(1, 17)
    together = model(ids, training=False).numpy()
    np.testing.assert_allclose(model(ids[:1], training=False).numpy()[0], together[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model(ids[1:2], training=False).numpy()[0], together[1], rtol=1e-5, atol=1e-6)
    alone_empty = model(ids[2:], training=False).numpy()[0]  # no token at all: an answer, not NaN
    assert np.isfinite(alone_empty).all()
    np.testing.assert_allclose(alone_empty, together[2], rtol=1e-5, atol=1e-6)


def test_character_ngrams_of_a_misspelt_word_overlap_the_word_s():
    from trainer.preprocessing import char_ngram_ids

    ids = char_ngram_ids(tf.constant(["terrible", "terible", "wonderful"]), [2, 3, 4], 100_000, 64).numpy()
    grams = [set(row[row > 0]) for row in ids]
    assert len(grams[0] & grams[1]) >= len(grams[1]) // 2  # most of the misspelling's pieces are the word's
    assert len(grams[0] & grams[2]) <= 2
    assert ids.shape == (3, 64)

