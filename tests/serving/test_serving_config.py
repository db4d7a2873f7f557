"""Model config handling: several models, version policies and labels, bad
configs, reload by file polling and by HandleReloadConfigRequest."""

import time

import grpc
import pytest
from google.protobuf import text_format
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving_test_helpers import RPC_TIMEOUT, make_base_path, wait_until, write_model_config


def predict(channel, model, version=None, label=None):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].float_val.append(2.0)
    request.inputs["x"].tensor_shape.dim.add().size = 1
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    response = stub.Predict(request, RPC_TIMEOUT)
    return response.model_spec.version.value, response.outputs["y"].float_val[0]


def serves(channel, model):
    try:
        return predict(channel, model)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.NOT_FOUND
        return None


@pytest.fixture(scope="module")
def bases(model_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("config")
    # "multi" holds version 1 = half_plus_two and version 2 = half_plus_three.
    make_base_path(root, "multi", model_store["half_plus_two"], (1,))
    return {
        "two": make_base_path(root, "two", model_store["half_plus_two"], (1,)),
        "three": make_base_path(root, "three", model_store["half_plus_three"], (1,)),
        "multi": make_base_path(root, "multi", model_store["half_plus_three"], (2,)),
        "root": root,
    }


def test_two_model_config(start_server, bases):
    config = write_model_config(bases["root"] / "two.config", [
        ("half_plus_two", bases["two"], ""), ("half_plus_three", bases["three"], "")])
    endpoint = start_server(model_config_file=config)
    assert predict(endpoint.channel, "half_plus_two") == (1, 3.0)
    assert predict(endpoint.channel, "half_plus_three") == (1, 4.0)


def test_version_policies_and_labels(start_server, bases):
    config = write_model_config(bases["root"] / "labels.config", [
        ("latest", bases["multi"], ""),
        ("both", bases["multi"],
         "model_version_policy { specific { versions: 1 versions: 2 } } "
         'version_labels { key: "stable" value: 1 } '
         'version_labels { key: "canary" value: 2 }'),
        ("all", bases["multi"], "model_version_policy { all {} }"),
    ])
    endpoint = start_server(model_config_file=config)
    assert predict(endpoint.channel, "latest") == (2, 4.0)
    with pytest.raises(grpc.RpcError) as info:
        predict(endpoint.channel, "latest", version=1)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert predict(endpoint.channel, "both", label="stable") == (1, 3.0)
    assert predict(endpoint.channel, "both", label="canary") == (2, 4.0)
    assert predict(endpoint.channel, "all", version=1) == (1, 3.0)
    assert predict(endpoint.channel, "all", version=2) == (2, 4.0)


def test_bad_config_fails_to_start(start_server, bases):
    from serving.errors import ServingError

    path = bases["root"] / "bad.config"
    path.write_text("model_config_list { config { name: 'x' base_path: }")
    with pytest.raises(ServingError) as info:
        start_server(model_config_file=str(path))
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "Invalid model config file" in info.value.message


def test_label_on_unavailable_version_is_rejected(start_server, bases):
    from serving.errors import ServingError

    config = write_model_config(bases["root"] / "badlabel.config", [
        ("m", bases["two"], 'version_labels { key: "stable" value: 42 }')])
    with pytest.raises(ServingError) as info:
        start_server(model_config_file=config)
    assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION


def test_labels_for_unavailable_versions_when_allowed(start_server, bases):
    config = write_model_config(bases["root"] / "futurelabel.config", [
        ("m", bases["two"], 'version_labels { key: "next" value: 42 }')])
    endpoint = start_server(model_config_file=config,
                            allow_version_labels_for_unavailable_models=True)
    with pytest.raises(grpc.RpcError) as info:
        predict(endpoint.channel, "m", label="next")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert info.value.details() == "Servable not found for request: Specific(m, 42)"
    assert predict(endpoint.channel, "m") == (1, 3.0)


def test_config_reload_with_polling(start_server, bases):
    path = bases["root"] / "polled.config"
    write_model_config(path, [("half_plus_two", bases["two"], "")])
    endpoint = start_server(model_config_file=str(path),
                            model_config_file_poll_wait_seconds=1)
    assert serves(endpoint.channel, "half_plus_three") is None
    write_model_config(path, [("half_plus_three", bases["three"], "")])
    wait_until(lambda: serves(endpoint.channel, "half_plus_three"), timeout=10)
    wait_until(lambda: serves(endpoint.channel, "half_plus_two") is None, timeout=5)
    # An unparsable file keeps the config that is serving.
    path.write_text("model_config_list { garbage")
    time.sleep(1.5)
    assert serves(endpoint.channel, "half_plus_three") == (1, 4.0)


def test_zero_poll_keeps_old_config(start_server, bases):
    path = bases["root"] / "unpolled.config"
    write_model_config(path, [("half_plus_two", bases["two"], "")])
    endpoint = start_server(model_config_file=str(path),
                            model_config_file_poll_wait_seconds=0)
    write_model_config(path, [("half_plus_three", bases["three"], "")])
    time.sleep(2.0)
    assert serves(endpoint.channel, "half_plus_three") is None
    assert serves(endpoint.channel, "half_plus_two") == (1, 3.0)


def reload_request(text):
    request = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(text, request.config)
    return request


def test_handle_reload_config_request(start_server, bases):
    endpoint = start_server(model_name="half_plus_two", model_base_path=bases["two"])
    stub = model_service_pb2_grpc.ModelServiceStub(endpoint.channel)
    response = stub.HandleReloadConfigRequest(reload_request(
        f'model_config_list {{ config {{ name: "half_plus_three" '
        f'base_path: "{bases["three"]}" model_platform: "tensorflow" }} }}'),
        RPC_TIMEOUT)
    assert response.status.error_code == 0
    assert predict(endpoint.channel, "half_plus_three") == (1, 4.0)
    assert serves(endpoint.channel, "half_plus_two") is None

    duplicate = (f'model_config_list {{ config {{ name: "a" base_path: "{bases["two"]}" }}'
                 f' config {{ name: "a" base_path: "{bases["two"]}" }} }}')
    with pytest.raises(grpc.RpcError) as info:
        stub.HandleReloadConfigRequest(reload_request(duplicate), RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert predict(endpoint.channel, "half_plus_three") == (1, 4.0)


def test_uri_base_paths_are_passed_on_as_given_and_the_embedded_server_refuses_them_clearly():
    from serving import launcher
    from serving.errors import ServingError
    from serving.options import ServerOptions, model_server_config
    from serving.server import ModelServer

    options = ServerOptions(port=0, model_name="m", model_base_path="gs://bucket/models/m")
    assert model_server_config(options).model_config_list.config[0].base_path == "gs://bucket/models/m"
    assert "--model_base_path=gs://bucket/models/m" in launcher.binary_command("/bin/tfs", options)
    with pytest.raises(ServingError) as raised:
        ModelServer(options).start()
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "Model m has base_path gs://bucket/models/m: the embedded server reads local folders only; serve it " \
           "with tensorflow_model_server" in raised.value.message
