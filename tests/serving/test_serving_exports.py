"""Kinds of export: a Keras Model.export SavedModel is served like any other;
a model without a serving_default signature fails Predict the way TF
Serving's testBadModel expects; a TF2 signature (method_name predict) can be
used by Classify unless --enable_signature_method_name_check is on."""

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

import serving_test_models as models
from serving_test_helpers import RPC_TIMEOUT, http, make_base_path, write_model_config

from serving.client import GrpcClient


@pytest.fixture(scope="module", params=["embedded", "binary"])
def endpoint(request, start_server, model_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    keras_dir = models.build_keras_model(str(root / "keras_template"))
    no_default = models.build_half_plus_two(str(root / "bad_template"),
                                            default_signature=False)
    config = write_model_config(root / "models.config", [
        ("keras", make_base_path(root, "keras", keras_dir, (1,)), ""),
        ("bad", make_base_path(root, "bad", no_default, (1,)), ""),
        ("tf2", make_base_path(root, "tf2", model_store["text_examples"], (1,)), ""),
    ])
    return start_server(request.param, model_config_file=config)


def test_keras_export_is_served(endpoint):
    host, port = endpoint.grpc_target.rsplit(":", 1)
    with GrpcClient(host, int(port)) as client:
        (input_name,) = client.signature_inputs("keras")
        result = client.predict({input_name: np.array([[1.0], [3.0]], np.float32)},
                                "keras")
    (output,) = result.outputs.values()
    assert output.reshape(-1).tolist() == [3.0, 7.0]
    assert (result.model_version, result.signature_name) == (1, "serving_default")


def test_predict_on_model_without_default_signature(endpoint):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "bad"
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].float_val.append(2.0)
    request.inputs["x"].tensor_shape.dim.add().size = 1
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    request.model_spec.signature_name = "predict_x_to_y"
    assert list(stub.Predict(request, RPC_TIMEOUT).outputs["y"].float_val) == [3.0]


def classify_request(model, texts):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = model
    for text in texts:
        example = request.input.example_list.examples.add()
        example.features.feature["text"].bytes_list.value.append(text.encode())
    return request


def test_classify_on_tf2_signature(endpoint):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    result = stub.Classify(classify_request("tf2", ["good", "bad"]), RPC_TIMEOUT)
    first, second = result.result.classifications
    assert [(c.label, round(c.score, 3)) for c in first.classes] == \
        [("negative", 0.1), ("positive", 0.9)]
    assert second.classes[1].score == pytest.approx(0.2)
    status, body = http("POST", f"{endpoint.rest_url}/v1/models/tf2:classify",
                        {"examples": [{"text": "good"}]})
    assert status == 200
    assert body["results"][0][1][0] == "positive"


def test_method_name_check_rejects_tf2_signature(start_server, model_store,
                                                 tmp_path):
    base = make_base_path(tmp_path, "tf2", model_store["text_examples"], (1,))
    endpoint = start_server(model_name="tf2", model_base_path=base, rest_api_port=0,
                            enable_signature_method_name_check=True)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.Classify(classify_request("tf2", ["good"]), RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == (
        "Expected classification signature method_name to be "
        "tensorflow/serving/classify. Was: tensorflow/serving/predict")
