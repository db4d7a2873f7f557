"""Kinds of export: a Keras Model.export SavedModel is served like any other,
and a model without a serving_default signature fails Predict the way TF
Serving's testBadModel expects."""

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

import serving_test_models as models
from serving_test_helpers import RPC_TIMEOUT, make_base_path, write_model_config

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
