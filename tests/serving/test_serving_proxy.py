"""The logging proxy in front of a server that cannot log (the embedded server with logging off stands in for the
real tensorflow_model_server): every answer, error included, is the direct call's, over gRPC and REST, and the
requests are logged as the embedded server logs them."""

import grpc
import pytest
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     model_service_pb2_grpc, prediction_service_pb2_grpc)

from serving_test_helpers import (RPC_TIMEOUT, free_port, http, make_base_path, predict_request, read_logs,
                                  write_model_config)

from serving import request_ids
from serving.options import ServerOptions
from serving.proxy import ProxyServer, parse_upstream


@pytest.fixture(scope="module")
def pair(start_server, model_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("proxy")
    config = write_model_config(root / "models.config", [
        ("default", make_base_path(root, "default", model_store["half_plus_two"], (5,)), ""),
        ("text", make_base_path(root, "text", model_store["text"], (2,)), "")])
    monitoring = root / "monitoring.config"
    monitoring.write_text('prometheus_config { enable: true }')
    upstream = start_server(model_config_file=config, monitoring_config_file=str(monitoring))
    grpc_port, rest_port = upstream.grpc_target.rsplit(":", 1)[1], upstream.rest_url.rsplit(":", 1)[1]
    proxy = ProxyServer(ServerOptions(port=0, rest_api_port=free_port(), proxy_to=f"127.0.0.1:{grpc_port}:{rest_port}",
                                      request_log_dir=str(root / "logs"),
                                      monitoring_config_file=str(monitoring))).start()
    yield upstream, proxy, root / "logs"
    proxy.stop(grace=0)


def _stubs(target):
    channel = grpc.insecure_channel(target)
    return prediction_service_pb2_grpc.PredictionServiceStub(channel), model_service_pb2_grpc.ModelServiceStub(channel)


def _call(method, request, **kwargs):
    """(response or None, status code, details)."""
    try:
        return method(request, RPC_TIMEOUT, **kwargs), grpc.StatusCode.OK, ""
    except grpc.RpcError as exc:
        return None, exc.code(), exc.details()


def test_grpc_answers_through_the_proxy_are_the_direct_ones_and_are_logged(pair):
    upstream, proxy, folder = pair
    (direct, direct_models), (proxied, proxied_models) = _stubs(upstream.grpc_target), _stubs(
        f"127.0.0.1:{proxy.grpc_port}")
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name, classify.model_spec.signature_name = "default", "classify_x_to_y"
    classify.input.example_list.examples.add().features.feature["x"].float_list.value.append(2.0)
    metadata = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    metadata.model_spec.name = "default"
    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = "text"
    calls = [("Predict", predict_request("default", 4.0)), ("Predict", predict_request("nope", 1.0)),
             ("Classify", classify), ("GetModelMetadata", metadata)]
    for name, request in calls:
        assert _call(getattr(proxied, name), request) == _call(getattr(direct, name), request), name
    assert _call(proxied_models.GetModelStatus, status) == _call(direct_models.GetModelStatus, status)

    response, call = proxied.Predict.with_call(predict_request("default", 6.0), RPC_TIMEOUT,
                                               metadata=[("x-request-id", "through-the-proxy")])
    assert dict(call.initial_metadata())[request_ids.HEADER] == "through-the-proxy"
    assert proxy.request_logger.flush()
    records = read_logs(folder)[("default", 5)]
    assert [r.WhichOneof("log_type") for r in records] == ["predict_log", "classify_log", "predict_log"]
    assert records[-1].log_metadata.request_origin == "through-the-proxy"
    assert records[-1].predict_log.request == predict_request("default", 6.0)
    assert records[-1].predict_log.response == response
    assert records[1].classify_log.request == classify


@pytest.mark.parametrize("path, body", [
    ("/v1/models/default:predict", {"instances": [1.0, 2.0]}),
    ("/v1/models/default/versions/5:predict", {"inputs": {"x": [3.0]}}),
    ("/v1/models/text:predict", {"instances": ["so good", "bad"]}),
    ("/v1/models/default:classify", {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}),
    ("/v1/models/default:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]}),
    ("/v1/models/default:predict", {"instances": ["two"]}),
    ("/v1/models/nope:predict", {"instances": [1.0]}),
])
def test_rest_answers_through_the_proxy_are_the_direct_ones(pair, path, body):
    upstream, proxy, _ = pair
    assert http("POST", f"http://127.0.0.1:{proxy.rest_port}{path}", body) == http("POST", upstream.rest_url + path,
                                                                                   body)


def test_rest_status_and_metadata_through_the_proxy(pair):
    upstream, proxy, _ = pair
    for path in ("/v1/models/default", "/v1/models/default/versions/5", "/v1/models/text/metadata"):
        assert http("GET", f"http://127.0.0.1:{proxy.rest_port}{path}") == http("GET", upstream.rest_url + path)


def test_the_proxys_metrics_are_the_upstreams_plus_the_request_log_counters(pair):
    _, proxy, _ = pair
    http("POST", f"http://127.0.0.1:{proxy.rest_port}/v1/models/default:predict", {"instances": [1.0]})
    assert proxy.request_logger.flush()
    status, text = http("GET", f"http://127.0.0.1:{proxy.rest_port}/monitoring/prometheus/metrics")
    assert status == 200
    assert ':tensorflow:serving:request_count{model_name="default",status="OK"}' in text  # the upstream's
    assert ':mlops:request_log:written_records{model_name="default"}' in text  # the proxy's own


@pytest.mark.parametrize("value", ["localhost", "host:x", "host:1:2:3"])
def test_a_bad_upstream_is_named(value):
    from serving.errors import ServingError

    with pytest.raises(ServingError, match="expected HOST:GRPC_PORT or HOST:GRPC_PORT:REST_PORT"):
        parse_upstream(value)
