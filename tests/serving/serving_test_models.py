"""Tiny SavedModels built on the fly for the serving tests.

half_plus_two mirrors TF Serving's own test model (y = a*x + b with predict,
classify and regress signatures); the text model stands in for a text
classifier without depending on the project's trainer.
"""

import os
import shutil

TEXT_CLASSES = ("negative", "positive")


def build_half_plus_two(export_dir, a=0.5, b=2.0, default_signature=True):
    """TF1-style graph export, the only way to get classify/regress method names."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        a_var = v1.Variable(a, name="a")
        b_var = v1.Variable(b, name="b")
        serialized = v1.placeholder(tf.string, shape=[None], name="tf_example")
        features = v1.parse_example(
            serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})
        y_from_example = tf.add(a_var * features["x"], b_var, name="y_example")
        x = v1.placeholder(tf.float32, shape=None, name="x")
        y = tf.add(a_var * x, b_var, name="y")
        info = v1.saved_model.utils.build_tensor_info
        sig = v1.saved_model.signature_def_utils
        predict = sig.build_signature_def(
            inputs={"x": info(x)}, outputs={"y": info(y)},
            method_name="tensorflow/serving/predict")
        classify = sig.build_signature_def(
            inputs={"inputs": info(serialized)},
            outputs={"scores": info(y_from_example)},
            method_name="tensorflow/serving/classify")
        regress = sig.build_signature_def(
            inputs={"inputs": info(serialized)},
            outputs={"outputs": info(y_from_example)},
            method_name="tensorflow/serving/regress")
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(export_dir)
            builder.add_meta_graph_and_variables(
                session, ["serve"],
                signature_def_map={
                    "serving_default" if default_signature else "predict_x_to_y":
                        predict,
                    "classify_x_to_y": classify,
                    "regress_x_to_y": regress,
                },
                strip_default_attrs=True)
            builder.save()
    return export_dir


def build_text_model(export_dir, positive_word="good", example_input=False):
    """Text classifier returning label, classes and scores. Its input is raw
    strings, or with example_input serialized tf.Examples with a "text"
    feature (the shape of TFX-exported serving signatures)."""
    import tensorflow as tf

    classes = tf.constant(TEXT_CLASSES)

    def classify(text):
        hit = tf.strings.regex_full_match(
            tf.strings.lower(text), f".*{positive_word}.*")
        positive = tf.where(hit, 0.9, 0.2)
        scores = tf.stack([1.0 - positive, positive], axis=1)
        label = tf.gather(classes, tf.argmax(scores, axis=1))
        batch_classes = tf.tile(classes[tf.newaxis, :], [tf.shape(text)[0], 1])
        return {"label": label, "scores": scores, "classes": batch_classes}

    class TextModel(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text):
            return classify(text)

        @tf.function(input_signature=[
            tf.TensorSpec([None], tf.string, name="examples")])
        def serve_examples(self, examples):
            parsed = tf.io.parse_example(
                examples, {"text": tf.io.FixedLenFeature([], tf.string)})
            return classify(parsed["text"])

    module = TextModel()
    function = module.serve_examples if example_input else module.serve
    tf.saved_model.save(module, export_dir, signatures={"serving_default": function})
    return export_dir


def build_keras_model(export_dir):
    """A Keras model exported with Model.export (Keras 2 or 3): y = 2x + 1."""
    import tensorflow as tf

    model = tf.keras.Sequential([
        tf.keras.Input(shape=(1,), name="x"),
        tf.keras.layers.Dense(1, kernel_initializer=tf.keras.initializers.Constant(2.0),
                              bias_initializer=tf.keras.initializers.Constant(1.0)),
    ])
    model.export(export_dir)
    return export_dir


def write_warmup(version_dir, values=(1.0,)):
    """assets.extra/tf_serving_warmup_requests with one Predict record."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "warmup"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(list(values), tf.float32))
    record = prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request))
    directory = os.path.join(version_dir, "assets.extra")
    os.makedirs(directory, exist_ok=True)
    with tf.io.TFRecordWriter(
            os.path.join(directory, "tf_serving_warmup_requests")) as writer:
        writer.write(record.SerializeToString())


def push_version(source_dir, base_path, version):
    """Copies a model in under a temporary name, then renames it into place,
    the atomic push TF Serving's docs recommend."""
    staging = os.path.join(base_path, f".tmp-{version}")
    shutil.copytree(source_dir, staging)
    final = os.path.join(base_path, str(version))
    os.rename(staging, final)
    return final
