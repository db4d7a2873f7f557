"""Exports the trained model with its Transform graph and two serving signatures.

- serving_default: raw text strings ("text", [batch]) -> label [batch], classes [batch, C], scores [batch, C].
  What clients call: no tf.Example to build.
- serving_tf_example: serialized tf.Example ("inputs", [batch]) -> classes, scores, marked as a classify
  signature, so TF Serving's Classify API and the TFMA Evaluator both use it.
"""
from __future__ import annotations

import os
from typing import List

import tensorflow as tf
import tensorflow_transform as tft
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.saved_model import fingerprinting_utils

from tfx_pipeline import features

SAVED_MODEL_PB = "saved_model.pb"


class _Scorer(tf.Module):
    """Raw features -> (classes, scores): the Transform layer and the model as one graph."""

    def __init__(self, model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput, labels: List[str]):
        super().__init__()
        self.model = model
        self.tft_layer = tf_transform_output.transform_features_layer()
        self.labels = tf.constant(labels)

    def score(self, text: tf.Tensor):
        def run_model():
            transformed = self.tft_layer({features.TEXT: tf.reshape(text, [-1, 1])})
            return self.model({name: transformed[name] for name in self.model.input_names}, training=False)

        # An empty batch is a valid request (TF Serving passes it to the model), but the graph's shape inference
        # fails on zero rows ("Matrix size-incompatible"): answer it with zero rows of scores instead.
        scores = tf.cond(tf.size(text) > 0, run_model,
                         lambda: tf.zeros([0, int(self.labels.shape[0])], tf.float32))
        classes = tf.tile(tf.expand_dims(self.labels, 0), [tf.shape(scores)[0], 1])
        return classes, scores


def export_model(model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput, labels: List[str],
                 export_dir: str) -> None:
    # A model of the same layers without compile(): the Keras model tracks its optimizer, whose moments (and the
    # weight average) were three quarters of the SavedModel's bytes and are no use to a server.
    inference = tf.keras.Model(model.inputs, model.outputs, name=model.name)
    scorer = _Scorer(inference, tf_transform_output, labels)
    text_spec = {features.TEXT: tf_transform_output.raw_feature_spec()[features.TEXT]}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve_text(text):
        classes, scores = scorer.score(text)
        label = tf.gather(scorer.labels, tf.argmax(scores, axis=1))
        return {"label": label, "classes": classes, "scores": scores}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def serve_tf_example(inputs):
        parsed = tf.io.parse_example(inputs, text_spec)
        classes, scores = scorer.score(parsed[features.TEXT])
        return {"classes": classes, "scores": scores}

    signatures = {
        features.SERVING_DEFAULT: serve_text.get_concrete_function(),
        features.SERVING_TF_EXAMPLE: serve_tf_example.get_concrete_function(),
    }
    tf.saved_model.save(scorer, export_dir, signatures=signatures)
    _mark_classify(export_dir, features.SERVING_TF_EXAMPLE)


def _mark_classify(export_dir: str, signature_name: str) -> None:
    """TF2 saves every signature as "predict"; TF Serving's Classify accepts only the classify method."""
    path = os.path.join(export_dir, SAVED_MODEL_PB)
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        meta_graph.signature_def[signature_name].method_name = tf.saved_model.CLASSIFY_METHOD_NAME
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(saved_model.SerializeToString())
    # The fingerprint hashes saved_model.pb: rewrite it so it describes the file as it now is.
    fingerprinting_utils.write_fingerprint(export_dir)
