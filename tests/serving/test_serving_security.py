"""Security of the model server (SECURITY.md): what it listens on by default, mutual TLS on gRPC, REST URLs that
try to leave the model registry, and which folders it serves.

TLS is checked with TF Serving's own SSLConfig fields and the official tensorflow_serving.apis stubs over
grpc.secure_channel; the certificates are made here with `cryptography` (a CA, a server and a client certificate it
signs, and a second CA whose client certificate must be refused).
"""

import dataclasses
import datetime
import http.client as http_client
import ipaddress
import os
import shutil
import sys
import threading
import time

import grpc
import pytest
from google.protobuf import text_format
from tensorflow_serving.apis import (get_model_status_pb2, model_management_pb2, model_service_pb2_grpc,
                                     prediction_service_pb2_grpc)
from tensorflow_serving.config import model_server_config_pb2

from net_helpers import listening_addresses
from serving_test_helpers import (RPC_TIMEOUT, free_port, http, make_base_path, predict_request, wait_until,
                                  write_model_config)

from serving.config_protos import SSLConfig
from serving.errors import ServingError
from serving.options import ServerOptions

x509 = pytest.importorskip("cryptography.x509", reason="the certificates are made with `cryptography`")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

# Batching puts gRPC on the asyncio front end; TLS must hold on both.
FRONT_ENDS = pytest.mark.parametrize("enable_batching", [False, True], ids=["threaded", "asyncio"])


# --------------------------------------------------------------------------------------------- certificates

@dataclasses.dataclass
class Identity:
    key_pem: bytes
    cert_pem: bytes
    key: object
    cert: object


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_ca(name):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         key_cert_sign=True, crl_sign=True, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return Identity(_pem_key(key), cert.public_bytes(serialization.Encoding.PEM), key, cert)


def issue(ca, name, usage, server=False):
    """A leaf certificate that `ca` signs: for 127.0.0.1/localhost when `server`, else a client's."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .issuer_name(ca.cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    return Identity(_pem_key(key), cert.public_bytes(serialization.Encoding.PEM), key, cert)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The CA, its server and client certificates, and a client certificate of another CA, as PEM files too."""
    folder = tmp_path_factory.mktemp("pki")
    ca, other_ca = make_ca("mlops test CA"), make_ca("someone else's CA")
    found = {"ca": ca, "server": issue(ca, "model server", ExtendedKeyUsageOID.SERVER_AUTH, server=True),
             "client": issue(ca, "pipeline client", ExtendedKeyUsageOID.CLIENT_AUTH),
             "stranger": issue(other_ca, "stranger", ExtendedKeyUsageOID.CLIENT_AUTH)}
    files = {}
    for name, identity in found.items():
        files[f"{name}.crt"] = folder / f"{name}.crt"
        files[f"{name}.crt"].write_bytes(identity.cert_pem)
        files[f"{name}.key"] = folder / f"{name}.key"
        files[f"{name}.key"].write_bytes(identity.key_pem)
    found["files"] = {name: str(path) for name, path in files.items()}
    found["folder"] = folder
    return found


def write_ssl_config(path, key, cert, custom_ca=b"", client_verify=False):
    """A text SSLConfig as TF Serving reads it (fields of tensorflow_serving/config/ssl_config.proto)."""
    config = SSLConfig(server_key=key.decode(), server_cert=cert.decode(), custom_ca=custom_ca.decode(),
                       client_verify=client_verify)
    path.write_text(text_format.MessageToString(config))
    return str(path)


def channel_credentials(pki, client=None):
    """Trusting our CA; presenting `client`'s certificate when given."""
    identity = pki[client] if client else None
    return grpc.ssl_channel_credentials(root_certificates=pki["ca"].cert_pem,
                                        private_key=identity.key_pem if identity else None,
                                        certificate_chain=identity.cert_pem if identity else None)


def secure_predict(target, credentials, options=()):
    with grpc.secure_channel(target, credentials, options=list(options)) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return stub.Predict(predict_request("default", 2.0), RPC_TIMEOUT)


def refused(call):
    """The gRPC status of a call that must fail; a call that succeeds fails the test."""
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code()


@pytest.fixture(scope="module")
def mtls_servers(start_server, model_store, tmp_path_factory, pki):
    """One server per front end with client_verify: true and custom_ca = our CA, on TCP and a UNIX socket."""
    root = tmp_path_factory.mktemp("mtls")
    config = write_ssl_config(root / "ssl.config", pki["server"].key_pem, pki["server"].cert_pem,
                              custom_ca=pki["ca"].cert_pem, client_verify=True)
    base = make_base_path(root, "default", model_store["half_plus_two"])
    servers = {}
    for batching in (False, True):
        socket_path = str(root / f"serving-{int(batching)}.sock")
        endpoint = start_server(model_name="default", model_base_path=base, ssl_config_file=config,
                                rest_api_port=0, enable_batching=batching, grpc_socket_path=socket_path)
        servers[batching] = (endpoint, socket_path)
    return servers


# ----------------------------------------------------------------------------------------------- mutual TLS

@FRONT_ENDS
def test_mutual_tls_answers_a_client_whose_certificate_the_ca_signed(mtls_servers, pki, enable_batching):
    endpoint, _ = mtls_servers[enable_batching]
    response = secure_predict(endpoint.grpc_target, channel_credentials(pki, "client"))
    assert list(response.outputs["y"].float_val) == [3.0]
    assert response.model_spec.name == "default" and response.model_spec.version.value == 123


@FRONT_ENDS
def test_mutual_tls_refuses_a_client_without_a_certificate(mtls_servers, pki, enable_batching):
    endpoint, _ = mtls_servers[enable_batching]
    # TLS that trusts the server but presents no certificate: the handshake is refused, nothing runs.
    assert refused(lambda: secure_predict(endpoint.grpc_target, channel_credentials(pki))) == \
        grpc.StatusCode.UNAVAILABLE
    # Nor does plaintext get in, on either service: ModelService's HandleReloadConfigRequest could otherwise
    # point the server at any folder on the machine.
    plain_models = model_service_pb2_grpc.ModelServiceStub(endpoint.channel)
    reload = model_management_pb2.ReloadConfigRequest()
    reload.config.model_config_list.config.add(name="elsewhere", base_path="/etc", model_platform="tensorflow")
    assert refused(lambda: plain_models.HandleReloadConfigRequest(reload, 5)) == grpc.StatusCode.UNAVAILABLE
    plain = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    assert refused(lambda: plain.Predict(predict_request("default", 2.0), 5)) == grpc.StatusCode.UNAVAILABLE
    # ... and the server keeps answering the client that has one, with the model list it was given.
    with grpc.secure_channel(endpoint.grpc_target, channel_credentials(pki, "client")) as channel:
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "default"}), RPC_TIMEOUT)
        assert [s.version for s in status.model_version_status] == [123]
        missing = get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "elsewhere"})
        assert refused(lambda: model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            missing, RPC_TIMEOUT)) == grpc.StatusCode.NOT_FOUND


def test_the_same_client_is_answered_when_client_verify_is_off(start_server, model_store, tmp_path, pki):
    """The control for the refusals above: same server certificate, same client (trusting our CA, presenting no
    certificate), only client_verify: false. It is answered, so what refused it above is client_verify."""
    config = write_ssl_config(tmp_path / "ssl.config", pki["server"].key_pem, pki["server"].cert_pem,
                              custom_ca=pki["ca"].cert_pem, client_verify=False)
    base = make_base_path(tmp_path, "default", model_store["half_plus_two"])
    endpoint = start_server(model_name="default", model_base_path=base, ssl_config_file=config, rest_api_port=0)
    assert list(secure_predict(endpoint.grpc_target, channel_credentials(pki)).outputs["y"].float_val) == [3.0]
    plain = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    assert refused(lambda: plain.Predict(predict_request("default", 2.0), 5)) == grpc.StatusCode.UNAVAILABLE


@FRONT_ENDS
def test_mutual_tls_refuses_a_certificate_from_another_ca(mtls_servers, pki, enable_batching):
    endpoint, _ = mtls_servers[enable_batching]
    assert refused(lambda: secure_predict(endpoint.grpc_target, channel_credentials(pki, "stranger"))) == \
        grpc.StatusCode.UNAVAILABLE
    # A client that does not trust the server's CA refuses the server in turn (it only trusts the system roots).
    assert refused(lambda: secure_predict(endpoint.grpc_target, grpc.ssl_channel_credentials())) == \
        grpc.StatusCode.UNAVAILABLE
    assert list(secure_predict(endpoint.grpc_target, channel_credentials(pki, "client")).outputs["y"]
                .float_val) == [3.0]


@FRONT_ENDS
def test_the_unix_socket_takes_the_same_credentials_as_the_tcp_port(mtls_servers, pki, enable_batching):
    # As in TF Serving (server.cc adds both ports with the SSLConfig's credentials): with mutual TLS no port
    # serves a client without a certificate. A unix: target's authority is its path, so the client names the
    # host the certificate was issued to.
    _, socket_path = mtls_servers[enable_batching]
    target, name = f"unix:{socket_path}", [("grpc.ssl_target_name_override", "localhost")]
    response = secure_predict(target, channel_credentials(pki, "client"), name)
    assert list(response.outputs["y"].float_val) == [3.0]
    assert refused(lambda: secure_predict(target, channel_credentials(pki), name)) == grpc.StatusCode.UNAVAILABLE
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert refused(lambda: stub.Predict(predict_request("default", 2.0), 5)) == grpc.StatusCode.UNAVAILABLE


def test_our_grpc_client_speaks_mutual_tls_from_pem_files(mtls_servers, pki):
    from serving.client import ServingClientError, make_client

    endpoint, _ = mtls_servers[False]
    host, port = endpoint.grpc_target.rsplit(":", 1)
    files = pki["files"]
    with make_client(host=host, port=int(port), root_cert_file=files["ca.crt"], client_cert_file=files["client.crt"],
                     client_key_file=files["client.key"]) as client:
        result = client.predict({"x": [2.0]}, "default")
        assert result.outputs["y"].tolist() == [3.0] and result.model_version == 123
        assert client.model_status("default")[0]["state"] == "AVAILABLE"
    # The certificate names localhost too: a client connecting by that name checks it.
    with make_client(host="localhost", port=int(port), root_cert_file=files["ca.crt"],
                     client_cert_file=files["client.crt"], client_key_file=files["client.key"]) as client:
        assert client.predict({"x": [4.0]}, "default").outputs["y"].tolist() == [4.0]
    for refused_client in ({"root_cert_file": files["ca.crt"]},
                           {"root_cert_file": files["ca.crt"], "client_cert_file": files["stranger.crt"],
                            "client_key_file": files["stranger.key"]}):
        with make_client(host=host, port=int(port), retries=0, **refused_client) as client:
            with pytest.raises(ServingClientError) as info:
                client.predict({"x": [2.0]}, "default")
            assert info.value.code == "UNAVAILABLE"
    with pytest.raises(ValueError, match="needs its private key"):
        make_client(host=host, port=int(port), client_cert_file=files["client.crt"])


# ------------------------------------------------------------------------------------- SSLConfig mistakes

def _start_with(start_server, model_store, tmp_path, **ssl):
    base = make_base_path(tmp_path, "default", model_store["half_plus_two"])
    config = write_ssl_config(tmp_path / "ssl.config", **ssl)
    with pytest.raises(ServingError) as info:
        start_server(model_name="default", model_base_path=base, ssl_config_file=config, rest_api_port=0)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    return info.value.message


def test_client_verify_without_custom_ca_is_refused_at_start(start_server, model_store, tmp_path, pki):
    message = _start_with(start_server, model_store, tmp_path, key=pki["server"].key_pem,
                          cert=pki["server"].cert_pem, client_verify=True)
    assert "client_verify: true needs custom_ca" in message


def test_a_key_that_is_not_the_certificates_is_refused_at_start(start_server, model_store, tmp_path, pki):
    message = _start_with(start_server, model_store, tmp_path, key=pki["client"].key_pem,
                          cert=pki["server"].cert_pem)
    assert "server_key is not the private key of the first certificate of server_cert" in message


@pytest.mark.parametrize("field", ["server_key", "server_cert", "custom_ca"])
def test_a_field_without_pem_is_named(start_server, model_store, tmp_path, pki, field):
    ssl = {"key": pki["server"].key_pem, "cert": pki["server"].cert_pem, "custom_ca": pki["ca"].cert_pem,
           "client_verify": True}
    ssl[{"server_key": "key", "server_cert": "cert"}.get(field, field)] = b"not a PEM block"
    assert f": {field} must hold" in _start_with(start_server, model_store, tmp_path, **ssl)


def test_a_certificate_chain_is_accepted_leaf_first(pki):
    from serving.options import check_ssl_config

    chain = (pki["server"].cert_pem + pki["ca"].cert_pem).decode()
    check_ssl_config(SSLConfig(server_key=pki["server"].key_pem.decode(), server_cert=chain))
    with pytest.raises(ServingError, match="not the private key of the first certificate"):
        check_ssl_config(SSLConfig(server_key=pki["server"].key_pem.decode(),
                                   server_cert=(pki["ca"].cert_pem + pki["server"].cert_pem).decode()))


# ----------------------------------------------------------------------------------------- listening address

# 127.0.0.1 as /proc/net/tcp spells it, and as /proc/net/tcp6 does when gRPC binds it on a dual-stack socket.
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F"}


def loopback_only(port):
    found = listening_addresses(port)
    return bool(found) and found <= LOOPBACK


def test_the_server_and_the_proxy_bind_loopback_unless_told_otherwise(start_server, model_store, tmp_path):
    from serving.proxy import ProxyServer

    assert ServerOptions().host == "127.0.0.1"
    base = make_base_path(tmp_path, "default", model_store["half_plus_two"])
    # Every option at its default but the ports (8500/8501 may be taken on a shared machine).
    endpoint = start_server(model_name="default", model_base_path=base)
    grpc_port, rest_port = int(endpoint.grpc_target.rsplit(":", 1)[1]), int(endpoint.rest_url.rsplit(":", 1)[1])
    assert loopback_only(grpc_port), listening_addresses(grpc_port)
    assert loopback_only(rest_port), listening_addresses(rest_port)
    proxy = ProxyServer(ServerOptions(port=0, rest_api_port=free_port(),
                                      proxy_to=f"127.0.0.1:{grpc_port}")).start()
    try:
        assert loopback_only(proxy.grpc_port), listening_addresses(proxy.grpc_port)
        assert loopback_only(proxy.rest_port), listening_addresses(proxy.rest_port)
    finally:
        proxy.stop(grace=0)
    # Every interface takes the explicit flag, and then the check above sees it.
    everywhere = start_server(model_name="default", model_base_path=base, host="0.0.0.0")
    port = int(everywhere.grpc_target.rsplit(":", 1)[1])
    assert listening_addresses(port) and not loopback_only(port), listening_addresses(port)


def test_every_interface_is_an_explicit_flag():
    from serving import cli

    [host] = [p for p in cli.serve.params if p.name == "host"]
    assert host.default == "127.0.0.1"
    # `mlops serve` is the same flags bound to a config; its default must not differ.
    from tfx_pipeline.cli.serving import serve as mlops_serve

    [host] = [p for p in mlops_serve.params if p.name == "host"]
    assert host.default == "127.0.0.1"


# ------------------------------------------------------------------------------- REST URLs and the registry

class FileAccess:
    """Python-level file system access (audit events open, os.listdir, os.scandir) whose path names one of the
    `targets`, recorded while `armed`. An audit hook cannot be removed, so it stays, disarmed, after the test."""

    EVENTS = ("open", "os.listdir", "os.scandir")

    def __init__(self):
        self.armed = False
        self.targets = ()
        self.seen = []
        sys.addaudithook(self._hook)

    def _hook(self, event, args):
        if not self.armed or event not in self.EVENTS or not args:
            return
        path = args[0]
        if isinstance(path, bytes):
            path = path.decode("utf-8", "replace")
        if isinstance(path, str) and any(target in path for target in self.targets):
            self.seen.append((event, path, threading.current_thread().name))


@pytest.fixture(scope="module")
def file_access():
    return FileAccess()


@pytest.fixture(scope="module")
def guarded(start_server, model_store, tmp_path_factory):
    """A server configured by a model config file with one model, `default`. Next to its base path lie folders
    it must never serve: `secret` (a valid SavedModel) and `outside` (another one, elsewhere)."""
    root = tmp_path_factory.mktemp("guarded")
    models = root / "models"
    base = make_base_path(models, "default", model_store["half_plus_two"])
    make_base_path(models, "secret", model_store["half_plus_three"])
    (models / "secret.txt").write_text("SECRET-CONTENT\n")
    config = write_model_config(root / "models.config", [("default", base, "")])
    endpoint = start_server(model_config_file=config, file_system_poll_wait_seconds=1)
    return {"endpoint": endpoint, "root": root, "models": models, "base": base}


def raw_request(rest_url, method, target, body=b""):
    """(status, content type, body) for a request line sent exactly as given (urllib would normalise it)."""
    host, port = rest_url.split("//", 1)[1].rsplit(":", 1)
    connection = http_client.HTTPConnection(host, int(port), timeout=RPC_TIMEOUT)
    try:
        connection.putrequest(method, target, skip_host=False, skip_accept_encoding=True)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


SECRET = "secret"
TRAVERSALS = [
    "/v1/models/..",
    "/v1/models/../secret",
    "/v1/models/default/../secret",
    "/v1/models/..%2Fsecret",
    "/v1/models/..%2fsecret",
    "/v1/models/%2e%2e",
    "/v1/models/%2e%2e%2fsecret",
    "/v1/models/%2E%2E%2Fsecret/metadata",
    "/v1/models/%252e%252e%252fsecret",
    "/v1/models/..%5Csecret",
    "/v1/models/..\\secret",
    "/v1/models//etc/passwd",
    "/v1/models/%2Fetc%2Fpasswd",
    "/v1/models/default%2F..%2F..%2Fsecret.txt",
    "/v1/models/default%00",
    "/v1/models/default%00/../secret",
    "/v1/models/secret",
    "/v1/models/secret/metadata",
    "/v1/models/secret/versions/123",
    "/v1/models/default/versions/..%2F..%2Fsecret",
    "/v1/models/default/versions/123/../../secret",
    "/v1/models/default/labels/..%2Fsecret",
    "/v1/models/default/labels/../../secret",
    "/v1/models/default/versions/99999999999999999999999999",
    "/v1/models/" + "a" * 10000,
    "/v1/models/default/labels/" + "b" * 10000,
    "/v1/../v1/models/secret",
    "/v1/models/%73ecret",
    "http://127.0.0.1/v1/models/secret",
]


def _assert_json_error(status, kind, body, target):
    import json

    assert status in (400, 404), (target, status, body[:300])
    assert "json" in kind, (target, kind, body[:300])
    payload = json.loads(body)
    assert set(payload) == {"error"} and isinstance(payload["error"], str), (target, payload)
    assert "SECRET-CONTENT" not in payload["error"] and "root:" not in payload["error"]


@pytest.mark.parametrize("target", TRAVERSALS, ids=lambda t: t[:60])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_rest_url_never_leaves_the_configured_models(guarded, file_access, target, method):
    endpoint = guarded["endpoint"]
    suffix = ":predict" if method == "POST" and not target.endswith("/metadata") else ""
    body = b'{"instances": [2.0]}' if method == "POST" else b""
    file_access.targets = (SECRET, "passwd", "/etc")
    file_access.seen.clear()
    file_access.armed = True
    try:
        status, kind, answer = raw_request(endpoint.rest_url, method, target + suffix, body)
    finally:
        file_access.armed = False
    _assert_json_error(status, kind, answer, target)
    assert file_access.seen == [], f"{target}: the server touched {file_access.seen}"
    # The server keeps serving, and still serves only `default`.
    assert http("POST", f"{endpoint.rest_url}/v1/models/default:predict", {"instances": [2.0]}) == \
        (200, {"predictions": [3.0]})


def test_a_request_line_too_long_for_the_server_is_refused_and_it_keeps_serving(guarded):
    endpoint = guarded["endpoint"]
    status, _, _ = raw_request(endpoint.rest_url, "GET", "/v1/models/" + "c" * 70000)
    assert status == 414  # http.server's limit on a request line (65536 bytes), before any routing
    assert http("GET", f"{endpoint.rest_url}/v1/models/default")[0] == 200


@pytest.mark.parametrize("name", ["secret", "../secret", "default/../secret", "/etc/passwd", "default\x00",
                                  "..", "%2e%2e", "x" * 5000])
def test_a_grpc_model_name_is_a_name_not_a_path(guarded, name):
    endpoint = guarded["endpoint"]
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(predict_request(name, 2.0), RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "SECRET-CONTENT" not in info.value.details()
    models = model_service_pb2_grpc.ModelServiceStub(endpoint.channel)
    with pytest.raises(grpc.RpcError) as info:
        models.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(model_spec={"name": name}), RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_grpc_label_is_a_name_not_a_path(guarded):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(guarded["endpoint"].channel)
    request = predict_request("default", 2.0)
    request.model_spec.version_label = "../../secret"
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "Unrecognized servable version label: ../../secret"


def test_only_the_configured_base_paths_are_served(guarded):
    """The server serves the base_path(s) of its flags or model config file and nothing else: a folder next to
    them, even one holding a valid SavedModel, is unknown; so are names that are not numbers inside a base path."""
    endpoint, base = guarded["endpoint"], guarded["base"]
    # Folders in the base path that are not version numbers are never versions.
    for name in ("latest", "124abc", ".125", "126.tmp", "-127"):
        shutil.copytree(os.path.join(base, "123"), os.path.join(base, name))
    models = model_service_pb2_grpc.ModelServiceStub(endpoint.channel)
    time.sleep(2.5)  # two polls of the base path (--file_system_poll_wait_seconds=1)
    status = models.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "default"}),
                                   RPC_TIMEOUT)
    assert [(s.version, s.state) for s in status.model_version_status] == [
        (123, get_model_status_pb2.ModelVersionStatus.AVAILABLE)]
    assert http("GET", f"{endpoint.rest_url}/v1/models/secret")[0] == 404
    # The config the server runs is the file's: one model, at the base path it names.
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(open(guarded["root"] / "models.config").read(), config)
    assert [(m.name, m.base_path) for m in config.model_config_list.config] == [("default", base)]


def test_a_symlinked_version_folder_is_followed_as_tf_serving_does(start_server, model_store, tmp_path):
    """Decision (SECURITY.md): like TF Serving, a version folder may be a symlink, and its target is served. Whoever
    can write in a base path decides what is served anyway; the boundary is write access to the base path, not the
    folders a version points at. A symlink to a folder that holds no SavedModel serves nothing of it."""
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(model_store["half_plus_three"], elsewhere / "model")
    base = make_base_path(tmp_path, "default", model_store["half_plus_two"])
    endpoint = start_server(model_name="default", model_base_path=base, file_system_poll_wait_seconds=1,
                            max_num_load_retries=0)
    os.symlink(elsewhere / "model", os.path.join(base, "124"))

    def answer():
        status, body = http("POST", f"{endpoint.rest_url}/v1/models/default/versions/124:predict",
                            {"instances": [2.0]})
        return body if status == 200 else None

    assert wait_until(answer, timeout=20) == {"predictions": [4.0]}  # 0.5 * 2 + 3: the symlink's target
    # A symlink to /etc: no SavedModel there, so the version fails to load and 124 keeps serving.
    os.symlink("/etc", os.path.join(base, "125"))
    models = model_service_pb2_grpc.ModelServiceStub(endpoint.channel)

    def state_125():
        try:
            status = models.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(
                model_spec={"name": "default", "version": {"value": 125}}), RPC_TIMEOUT)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND  # not polled yet
            return None
        [entry] = status.model_version_status
        return entry if entry.state == get_model_status_pb2.ModelVersionStatus.END else None

    entry = wait_until(state_125, timeout=20)
    assert entry.status.error_code != 0
    status, body = http("POST", f"{endpoint.rest_url}/v1/models/default:predict", {"instances": [2.0]})
    assert (status, body) == (200, {"predictions": [4.0]})
    status, body = http("GET", f"{endpoint.rest_url}/v1/models/default/versions/125/metadata")
    assert status in (400, 404) and "root:" not in str(body)


def _versions(endpoint, name="default"):
    models = model_service_pb2_grpc.ModelServiceStub(endpoint.channel)
    status = models.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(model_spec={"name": name}),
                                   RPC_TIMEOUT)
    return {s.version: get_model_status_pb2.ModelVersionStatus.State.Name(s.state)
            for s in status.model_version_status}


def test_a_folder_named_with_other_unicode_digits_is_not_a_version(start_server, model_store, tmp_path):
    """Versions are ASCII numbers, as TF Serving parses them: "١٢٤" (Arabic-Indic digits, which Python's
    str.isdigit() and int() accept as 124) is not version 124."""
    base = make_base_path(tmp_path, "default", model_store["half_plus_two"])
    endpoint = start_server(model_name="default", model_base_path=base, file_system_poll_wait_seconds=1)
    shutil.copytree(model_store["half_plus_three"], os.path.join(base, "\u0661\u0662\u0664"))
    time.sleep(2.5)  # two polls
    assert _versions(endpoint) == {123: "AVAILABLE"}
    assert http("POST", f"{endpoint.rest_url}/v1/models/default:predict", {"instances": [2.0]}) == \
        (200, {"predictions": [3.0]})


def test_a_folder_named_like_a_superscript_digit_does_not_stop_polling(start_server, model_store, tmp_path):
    """"²" is str.isdigit() but not int(): it must be skipped like any other non-version name, not break the
    poll that finds the next version."""
    base = make_base_path(tmp_path, "default", model_store["half_plus_two"])
    endpoint = start_server(model_name="default", model_base_path=base, file_system_poll_wait_seconds=1)
    shutil.copytree(model_store["half_plus_two"], os.path.join(base, "\u00b2"))
    shutil.copytree(model_store["half_plus_three"], os.path.join(base, "125"))

    def answered_by_125():
        status, body = http("POST", f"{endpoint.rest_url}/v1/models/default:predict", {"instances": [2.0]})
        return status == 200 and body == {"predictions": [4.0]}

    assert wait_until(answered_by_125, timeout=15)
