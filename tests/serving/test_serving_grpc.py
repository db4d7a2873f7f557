"""gRPC conformance: TF Serving's tensorflow_model_server_test cases and the
error table, re-expressed with the official stubs against half_plus_two.

Runs against the embedded server (threaded, and with batching on its asyncio
front end) and, when one is installed, against the real tensorflow_model_server
with the same flags."""

import grpc
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving_test_helpers import RPC_TIMEOUT, make_base_path


@pytest.fixture(scope="module", params=["embedded", "embedded-batching", "binary"])
def endpoint(request, start_server, model_store, tmp_path_factory):
    base = make_base_path(tmp_path_factory.mktemp("grpc"), "default",
                          model_store["half_plus_two"])
    if request.param == "embedded-batching":
        # Batching switches the embedded server to its grpc.aio front end,
        # which must answer every case exactly like the threaded one.
        return start_server("embedded", model_name="default", model_base_path=base,
                            enable_batching=True)
    return start_server(request.param, model_name="default", model_base_path=base)


@pytest.fixture()
def stub(endpoint):
    return prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)


@pytest.fixture()
def model_stub(endpoint):
    return model_service_pb2_grpc.ModelServiceStub(endpoint.channel)


def predict_request(value=2.0, model="default", output_filter=()):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].float_val.append(value)
    request.inputs["x"].tensor_shape.dim.add().size = 1
    request.output_filter.extend(output_filter)
    return request


def example_input(input_proto, value=2.0):
    example = input_proto.example_list.examples.add()
    example.features.feature["x"].float_list.value.append(value)


def assert_spec(spec, signature, version=123, name="default"):
    assert (spec.name, spec.version.value, spec.signature_name) == (
        name, version, signature)


def rpc_error(call, request):
    with pytest.raises(grpc.RpcError) as info:
        call(request, RPC_TIMEOUT)
    return info.value.code(), info.value.details()


def test_get_model_status(model_stub):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "default"
    result = model_stub.GetModelStatus(request, RPC_TIMEOUT)
    assert len(result.model_version_status) == 1
    status = result.model_version_status[0]
    assert status.version == 123
    assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert status.status.error_code == 0


def test_get_model_metadata(stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "default"
    request.metadata_field.append("signature_def")
    result = stub.GetModelMetadata(request, RPC_TIMEOUT)
    assert list(result.metadata) == ["signature_def"]
    signatures = get_model_metadata_pb2.SignatureDefMap()
    result.metadata["signature_def"].Unpack(signatures)
    assert set(signatures.signature_def) >= {
        "serving_default", "classify_x_to_y", "regress_x_to_y"}
    assert signatures.signature_def["classify_x_to_y"].method_name == \
        "tensorflow/serving/classify"
    assert result.model_spec.name == "default"
    assert result.model_spec.version.value == 123


@pytest.mark.parametrize("specify_output", [True, False])
def test_predict(stub, specify_output):
    request = predict_request(output_filter=["y"] if specify_output else [])
    result = stub.Predict(request, RPC_TIMEOUT)
    assert list(result.outputs) == ["y"]
    assert result.outputs["y"].dtype == types_pb2.DT_FLOAT
    assert list(result.outputs["y"].float_val) == [3.0]
    assert not result.outputs["y"].tensor_content
    assert_spec(result.model_spec, "serving_default")


def test_predict_with_explicit_version(stub):
    request = predict_request(4.0)
    request.model_spec.version.value = 123
    result = stub.Predict(request, RPC_TIMEOUT)
    assert list(result.outputs["y"].float_val) == [4.0]


def test_classify(stub):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "default"
    request.model_spec.signature_name = "classify_x_to_y"
    example_input(request.input)
    result = stub.Classify(request, RPC_TIMEOUT)
    assert len(result.result.classifications) == 1
    assert len(result.result.classifications[0].classes) == 1
    assert result.result.classifications[0].classes[0].score == 3.0
    assert_spec(result.model_spec, "classify_x_to_y")


def test_regress(stub):
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "default"
    request.model_spec.signature_name = "regress_x_to_y"
    example_input(request.input)
    result = stub.Regress(request, RPC_TIMEOUT)
    assert [r.value for r in result.result.regressions] == [3.0]
    assert_spec(result.model_spec, "regress_x_to_y")


def test_multi_inference(stub):
    request = inference_pb2.MultiInferenceRequest()
    for signature, method in (("regress_x_to_y", "tensorflow/serving/regress"),
                              ("classify_x_to_y", "tensorflow/serving/classify")):
        task = request.tasks.add()
        task.model_spec.name = "default"
        task.model_spec.signature_name = signature
        task.method_name = method
    example_input(request.input)
    result = stub.MultiInference(request, RPC_TIMEOUT)
    assert len(result.results) == 2
    assert result.results[0].regression_result.regressions[0].value == 3.0
    assert result.results[1].classification_result.classifications[0].classes[0] \
        .score == 3.0
    assert_spec(result.results[0].model_spec, "regress_x_to_y")


# --- the error table ------------------------------------------------------

def test_missing_model_spec(stub):
    request = predict_request()
    request.ClearField("model_spec")
    code, details = rpc_error(stub.Predict, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "Missing ModelSpec" in details


def test_model_spec_without_name(stub):
    request = predict_request(model="")
    request.model_spec.signature_name = "serving_default"
    code, _ = rpc_error(stub.Predict, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_unknown_model(stub):
    code, details = rpc_error(stub.Predict, predict_request(model="nope"))
    assert code == grpc.StatusCode.NOT_FOUND
    assert details == "Servable not found for request: Latest(nope)"


def test_unknown_version(stub):
    request = predict_request()
    request.model_spec.version.value = 99
    code, details = rpc_error(stub.Predict, request)
    assert code == grpc.StatusCode.NOT_FOUND
    assert details == "Servable not found for request: Specific(default, 99)"


def test_unknown_label(stub):
    request = predict_request()
    request.model_spec.version_label = "canary"
    code, details = rpc_error(stub.Predict, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "Unrecognized servable version label: canary" in details


def test_predict_unknown_signature(stub):
    request = predict_request()
    request.model_spec.signature_name = "nope"
    code, details = rpc_error(stub.Predict, request)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert details == 'Serving signature key "nope" not found.'


@pytest.mark.parametrize("method", ["Classify", "Regress"])
def test_classify_regress_unknown_signature(stub, method):
    request = (classification_pb2.ClassificationRequest() if method == "Classify"
               else regression_pb2.RegressionRequest())
    request.model_spec.name = "default"
    request.model_spec.signature_name = "nope"
    example_input(request.input)
    code, _ = rpc_error(getattr(stub, method), request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_wrong_input_names(stub):
    request = predict_request()
    request.inputs["z"].CopyFrom(request.inputs["x"])
    code, details = rpc_error(stub.Predict, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("input size does not match signature")


@pytest.mark.parametrize("alias_list", [["nope"], ["y", "y"]])
def test_bad_output_filter(stub, alias_list):
    code, _ = rpc_error(stub.Predict, predict_request(output_filter=alias_list))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_wrong_dtype(stub):
    request = predict_request()
    request.inputs["x"].Clear()
    request.inputs["x"].dtype = types_pb2.DT_STRING
    request.inputs["x"].string_val.append(b"two")
    request.inputs["x"].tensor_shape.dim.add().size = 1
    code, _ = rpc_error(stub.Predict, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_empty_input(stub):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "default"
    request.model_spec.signature_name = "classify_x_to_y"
    code, details = rpc_error(stub.Classify, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "Input is empty" in details


def test_multi_inference_bad_method(stub):
    request = inference_pb2.MultiInferenceRequest()
    task = request.tasks.add()
    task.model_spec.name = "default"
    task.model_spec.signature_name = "regress_x_to_y"
    task.method_name = "tensorflow/serving/predict"
    example_input(request.input)
    code, _ = rpc_error(stub.MultiInference, request)
    assert code == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize("fields", [[], ["signature_def", "nope"]])
def test_metadata_bad_fields(stub, fields):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "default"
    request.metadata_field.extend(fields)
    code, _ = rpc_error(stub.GetModelMetadata, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_status_of_unknown_model(model_stub):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "nope"
    code, _ = rpc_error(model_stub.GetModelStatus, request)
    assert code == grpc.StatusCode.NOT_FOUND


def test_healthy_after_errors(stub):
    result = stub.Predict(predict_request(6.0), RPC_TIMEOUT)
    assert list(result.outputs["y"].float_val) == [5.0]
