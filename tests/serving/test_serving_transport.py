"""Transport options: TLS from --ssl_config_file, the UNIX socket, the REST
timeout and the gRPC/REST counts in the Prometheus output."""

import datetime
import os

import grpc
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving_test_helpers import RPC_TIMEOUT, http, make_base_path


def predict_request(model="default"):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].float_val.append(2.0)
    request.inputs["x"].tensor_shape.dim.add().size = 1
    return request


def self_signed_cert():
    """PEM key and certificate for 127.0.0.1, made with `cryptography`."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"),
                 x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


# Batching puts gRPC on the asyncio front end; both must bind the same ports.
FRONT_ENDS = pytest.mark.parametrize("enable_batching", [False, True],
                                     ids=["threaded", "asyncio"])


@FRONT_ENDS
def test_tls_from_ssl_config_file(start_server, model_store, tmp_path, enable_batching):
    pytest.importorskip("cryptography", reason="needs cryptography to make a cert")
    key, cert = self_signed_cert()
    config = tmp_path / "ssl.config"
    config.write_text(f"server_key: {key!r}\nserver_cert: {cert!r}\n"
                      "client_verify: false\n".replace("'", '"'))
    base = make_base_path(tmp_path, "default", model_store["half_plus_two"])
    endpoint = start_server(model_name="default", model_base_path=base,
                            ssl_config_file=str(config), rest_api_port=0,
                            enable_batching=enable_batching)
    credentials = grpc.ssl_channel_credentials(root_certificates=cert.encode())
    with grpc.secure_channel(endpoint.grpc_target, credentials) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(predict_request(), RPC_TIMEOUT)
    assert list(response.outputs["y"].float_val) == [3.0]
    plain = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    with pytest.raises(grpc.RpcError) as info:
        plain.Predict(predict_request(), 3)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


@FRONT_ENDS
def test_unix_socket(start_server, model_store, tmp_path, enable_batching):
    socket_path = str(tmp_path / "serving.sock")
    base = make_base_path(tmp_path, "default", model_store["half_plus_two"])
    start_server(model_name="default", model_base_path=base,
                 grpc_socket_path=socket_path, rest_api_port=0,
                 enable_batching=enable_batching)
    assert os.path.exists(socket_path)
    with grpc.insecure_channel(f"unix:{socket_path}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(predict_request(), RPC_TIMEOUT)
    assert list(response.outputs["y"].float_val) == [3.0]


def test_rest_timeout_is_504(start_server, model_store, tmp_path):
    # A batch that waits 3 s to fill makes a predict outlast a 300 ms timeout.
    params = tmp_path / "batching.txt"
    params.write_text("max_batch_size { value: 64 } "
                      "batch_timeout_micros { value: 3000000 }")
    base = make_base_path(tmp_path, "default", model_store["half_plus_two"])
    endpoint = start_server(model_name="default", model_base_path=base,
                            enable_batching=True, batching_parameters_file=str(params),
                            rest_api_timeout_in_ms=300)
    status, body = http("POST", f"{endpoint.rest_url}/v1/models/default:predict",
                        {"instances": [1.0]})
    assert status == 504
    assert "timed out" in body["error"]


@FRONT_ENDS
def test_metrics_count_both_entrypoints(start_server, model_store, tmp_path,
                                        enable_batching):
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text("prometheus_config { enable: true }")
    base = make_base_path(tmp_path, "default", model_store["half_plus_two"])
    endpoint = start_server(model_name="default", model_base_path=base,
                            monitoring_config_file=str(monitoring),
                            enable_batching=enable_batching)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    stub.Predict(predict_request(), RPC_TIMEOUT)
    with pytest.raises(grpc.RpcError):
        stub.Predict(predict_request("missing"), RPC_TIMEOUT)
    http("POST", f"{endpoint.rest_url}/v1/models/default:predict", {"instances": [1.0]})
    status, text = http("GET", f"{endpoint.rest_url}/monitoring/prometheus/metrics")
    assert status == 200
    assert ':tensorflow:serving:request_count{model_name="default",status="OK"} 2' in text
    assert ':tensorflow:serving:request_count{model_name="missing",status="NOT_FOUND"} 1' \
        in text
    for entrypoint in ("GRPC", "REST"):
        assert (':tensorflow:serving:request_latency_count{model_name="default",'
                f'API="Predict",entrypoint="{entrypoint}"}} 1') in text
    assert ":tensorflow:serving:runtime_latency_bucket" in text
    assert ':tensorflow:cc:saved_model:load_attempt_count{model_path="' in text


def test_metrics_endpoint_absent_without_monitoring_config(start_server, model_store,
                                                           tmp_path):
    base = make_base_path(tmp_path, "default", model_store["half_plus_two"])
    endpoint = start_server(model_name="default", model_base_path=base)
    status, _ = http("GET", f"{endpoint.rest_url}/monitoring/prometheus/metrics")
    assert status == 404
