"""The gRPC client: TF Serving's official stubs, a per-call deadline, and retries on UNAVAILABLE."""

from __future__ import annotations

import time
from typing import Mapping, Sequence

import numpy as np

from serving.client_base import DEFAULT_SIGNATURE, PredictResult, ServingClientError, TextClient

DEFAULT_GRPC_PORT = 8500


def status_name(code: int) -> str:
    """tensorflow.error.Code shares gRPC's numbering; its name, as the REST API spells it."""
    import grpc

    return next((c.name for c in grpc.StatusCode if c.value[0] == code), str(code))


def as_array(value) -> np.ndarray:
    """Plain Python numbers get tf.constant's dtypes (float32, int32), which is what signatures almost always
    declare; numpy arrays keep their own dtype."""
    if isinstance(value, np.ndarray):
        return value
    array = np.asarray(value)
    if array.dtype == np.float64:
        return array.astype(np.float32)
    if array.dtype == np.int64:
        return array.astype(np.int32)
    return array


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


def tls_credentials(root_cert_file: str | None = None, client_cert_file: str | None = None,
                    client_key_file: str | None = None):
    """grpc.ssl_channel_credentials from PEM files: the CA that signed the server's certificate (None: the
    system's roots), and for a server with client_verify: true (mutual TLS) this client's certificate chain and
    its private key."""
    import grpc

    if bool(client_cert_file) != bool(client_key_file):
        raise ValueError("a client certificate needs its private key and the other way round: give both "
                         "client_cert_file and client_key_file")
    return grpc.ssl_channel_credentials(
        root_certificates=_read(root_cert_file) if root_cert_file else None,
        private_key=_read(client_key_file) if client_key_file else None,
        certificate_chain=_read(client_cert_file) if client_cert_file else None)


class GrpcClient(TextClient):
    """`credentials` (a grpc.ChannelCredentials), or TLS from PEM files: `tls=True` alone trusts the system's
    roots, `root_cert_file` names the server's CA, `client_cert_file` + `client_key_file` are this client's
    identity for mutual TLS (each implies tls). `server_name` overrides the name checked against the server's
    certificate, for a certificate issued to a name other than `host`."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_GRPC_PORT, *,
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.2,
                 credentials=None, max_message_bytes: int = 64 << 20, tls: bool = False,
                 root_cert_file: str | None = None, client_cert_file: str | None = None,
                 client_key_file: str | None = None, server_name: str | None = None):
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self._grpc = grpc
        options = [("grpc.max_receive_message_length", max_message_bytes),
                   ("grpc.max_send_message_length", max_message_bytes)]
        files = (root_cert_file, client_cert_file, client_key_file)
        if credentials is not None and (tls or any(files)):
            raise ValueError("give either credentials or the TLS options (tls, root_cert_file, client_cert_file, "
                             "client_key_file), not both")
        if tls or any(files):
            credentials = tls_credentials(*files)
        if server_name:
            if credentials is None:
                raise ValueError("server_name is a TLS option: give tls=True or a certificate file")
            options.append(("grpc.ssl_target_name_override", server_name))
        target = f"{host}:{port}"
        self._channel = (grpc.secure_channel(target, credentials, options)
                         if credentials else grpc.insecure_channel(target, options))
        self._predict = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self.timeout, self.retries, self.backoff = timeout, retries, backoff

    def _call(self, method, request, request_id=None):
        """The response, and the request id the server returned (None from servers that send none)."""
        grpc = self._grpc
        metadata = [("x-request-id", request_id)] if request_id else None
        for attempt in range(self.retries + 1):
            try:
                response, call = method.with_call(request, timeout=self.timeout, metadata=metadata)
                return response, dict(call.initial_metadata() or ()).get("x-request-id")
            except grpc.RpcError as exc:
                # UNAVAILABLE means nothing ran (server starting, restarting or shedding load), so retrying
                # cannot apply a request twice.
                if exc.code() != grpc.StatusCode.UNAVAILABLE or attempt == self.retries:
                    raise ServingClientError(exc.code().name, exc.details()) from None
                time.sleep(self.backoff * (2 ** attempt))

    @staticmethod
    def _spec(spec, model, version, label, signature=""):
        spec.name = model
        if version is not None:
            spec.version.value = version
        elif label:
            spec.version_label = label
        spec.signature_name = signature

    def predict(self, inputs: Mapping[str, object], model: str, *, version: int | None = None,
                label: str | None = None, signature: str = "", output_filter: Sequence[str] = (),
                request_id: str | None = None) -> PredictResult:
        from tensorflow_serving.apis import predict_pb2

        from serving import tensors

        request = predict_pb2.PredictRequest(output_filter=list(output_filter))
        self._spec(request.model_spec, model, version, label, signature)
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tensors.to_tensor_proto(as_array(value)))
        response, returned_id = self._call(self._predict.Predict, request, request_id)
        return PredictResult(
            outputs={k: tensors.to_numpy(v, k) for k, v in response.outputs.items()},
            model_version=response.model_spec.version.value,
            signature_name=response.model_spec.signature_name, request_id=returned_id)

    def signature_inputs(self, model: str, signature: str = "", *, version: int | None = None,
                         label: str | None = None) -> list[str]:
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec, model, version, label)
        response, _ = self._call(self._predict.GetModelMetadata, request)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)
        name = signature or DEFAULT_SIGNATURE
        if name not in signatures.signature_def:
            raise ServingClientError("FAILED_PRECONDITION", f'Serving signature key "{name}" not found.')
        return sorted(signatures.signature_def[name].inputs)

    def model_status(self, model: str, version: int | None = None) -> list[dict]:
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, model, version, None)
        response, _ = self._call(self._models.GetModelStatus, request)
        return [{"version": s.version,
                 "state": get_model_status_pb2.ModelVersionStatus.State.Name(s.state),
                 "error_code": status_name(s.status.error_code),
                 "error_message": s.status.error_message}
                for s in response.model_version_status]

    def close(self) -> None:
        self._channel.close()
