"""Server options (TF Serving's flag names and defaults) and the text-proto
files they point at."""

import dataclasses
import os
import re

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving.config_protos import BatchingParameters, MonitoringConfig, SSLConfig
from serving.errors import invalid_argument

DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024  # gRPC's own default receive limit
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclasses.dataclass
class ServerOptions:
    port: int = 8500
    grpc_socket_path: str = ""
    rest_api_port: int = 0
    rest_api_num_threads: int = 0
    rest_api_timeout_in_ms: int = 30000
    enable_batching: bool = False
    batching_parameters_file: str = ""
    model_name: str = "default"
    model_base_path: str = ""
    model_config_file: str = ""
    model_config_file_poll_wait_seconds: int = 0
    file_system_poll_wait_seconds: int = 1
    monitoring_config_file: str = ""
    ssl_config_file: str = ""
    enable_model_warmup: bool = True
    num_request_iterations_for_warmup: int = 1
    enable_signature_method_name_check: bool = False
    saved_model_tags: str = "serve"
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60 * 1000 * 1000
    allow_version_labels_for_unavailable_models: bool = False
    grpc_channel_arguments: str = ""
    grpc_max_threads: int = 0
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    # Not TF Serving flags: the real binary binds every interface and has no
    # single request-size knob; the embedded server needs both.
    host: str = "127.0.0.1"
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    # Rows (first dimension, or examples) one request may hold: a 4 MiB message holds a million short texts,
    # whose answer takes a minute and a gigabyte. Bulk scoring belongs in BulkInferrer / Beam.
    max_request_rows: int = 100_000
    # Request logging (serving/request_log.py), which the real binary cannot do.
    request_log_dir: str = ""
    request_log_sampling_rate: float = 1.0
    request_log_max_file_bytes: int = 64 << 20
    request_log_max_file_seconds: int = 3600
    request_log_queue_size: int = 10000
    # A Prometheus text file another process writes (mlops monitor's gauges), served with the server's metrics.
    monitoring_extra_file: str = ""
    # HOST:GRPC_PORT[:REST_PORT] of a server to forward to, logging requests (serving/proxy.py).
    proxy_to: str = ""


# Flags that only the embedded server understands; the launcher drops them
# before exec'ing tensorflow_model_server, which rejects unknown flags.
EMBEDDED_ONLY = ("host", "max_request_bytes", "max_request_rows", "request_log_dir", "request_log_sampling_rate",
                 "request_log_max_file_bytes", "request_log_max_file_seconds", "request_log_queue_size",
                 "monitoring_extra_file", "proxy_to")


def _read_text_proto(path, message, what):
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise invalid_argument(f"Cannot read {what} file {path}: {exc}") from None
    try:
        return text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise invalid_argument(f"Invalid {what} file {path}: {exc}") from None


def read_model_config_file(path):
    return _read_text_proto(path, model_server_config_pb2.ModelServerConfig(),
                            "model config")


def model_server_config(options):
    """The ModelServerConfig the server starts with."""
    if options.model_config_file:
        return read_model_config_file(options.model_config_file)
    if not options.model_base_path:
        raise invalid_argument(
            "Both server_model_config_file and model_base_path cannot be empty!")
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = options.model_name
    model.base_path = absolute_path(options.model_base_path)
    model.model_platform = "tensorflow"
    return config


def is_uri(path):
    """gs://, s3://, hdfs://...: a location TF Serving reads through its file systems, not a local path."""
    return bool(_URI.match(path))


def absolute_path(path):
    """A local path made absolute (the server may run elsewhere than the shell); a URI as given, since
    os.path.abspath would turn gs://b/m into <cwd>/gs:/b/m."""
    return path if is_uri(path) else os.path.abspath(path)


def batching_parameters(options):
    """Parameters with TF Serving's defaults filled in for unset fields."""
    params = BatchingParameters()
    if options.batching_parameters_file:
        params = _read_text_proto(options.batching_parameters_file, params,
                                  "batching parameters")
    return {
        "max_batch_size": _value(params, "max_batch_size", 1000),
        "batch_timeout_micros": _value(params, "batch_timeout_micros", 0),
        "max_enqueued_batches": _value(params, "max_enqueued_batches", 10),
        "num_batch_threads": _value(params, "num_batch_threads",
                                    os.cpu_count() or 1),
        "allowed_batch_sizes": list(params.allowed_batch_sizes),
    }


def _value(params, field, default):
    return getattr(params, field).value if params.HasField(field) else default


def monitoring_config(options):
    if not options.monitoring_config_file:
        return MonitoringConfig()
    return _read_text_proto(options.monitoring_config_file, MonitoringConfig(),
                            "monitoring config")


def ssl_config(options):
    """The --ssl_config_file's SSLConfig, checked (None without one): a key and a certificate in PEM, and with
    client_verify a custom_ca, so a mistake is an error that names the field rather than a failed bind."""
    if not options.ssl_config_file:
        return None
    config = _read_text_proto(options.ssl_config_file, SSLConfig(), "SSL config")
    check_ssl_config(config, options.ssl_config_file)
    return config


_PEM_KEY = re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")
_PEM_CERT = "-----BEGIN CERTIFICATE-----"


def check_ssl_config(config, path="SSL config"):
    """Raises INVALID_ARGUMENT naming the first unusable field of an SSLConfig."""
    if not _PEM_KEY.search(config.server_key):
        raise invalid_argument(f"{path}: server_key must hold a PEM private key (-----BEGIN PRIVATE KEY-----)")
    if _PEM_CERT not in config.server_cert:
        raise invalid_argument(f"{path}: server_cert must hold a PEM certificate (-----BEGIN CERTIFICATE-----)")
    if config.custom_ca and _PEM_CERT not in config.custom_ca:
        raise invalid_argument(f"{path}: custom_ca must hold PEM CA certificates (-----BEGIN CERTIFICATE-----)")
    if config.client_verify and not config.custom_ca:
        # TF Serving then verifies client certificates against gRPC's default roots (every public CA); Python's
        # gRPC cannot, and trusting any publicly issued certificate as a client is rarely what is meant.
        raise invalid_argument(f"{path}: client_verify: true needs custom_ca, the CA whose client certificates "
                               "are accepted")
    _check_key_matches_cert(config.server_key, config.server_cert, path)


def _check_key_matches_cert(key_pem, cert_pem, path):
    """With `cryptography` installed (it is in the lock), a key that is not the certificate's is refused here;
    gRPC would only say that it failed to bind."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
    except ImportError:  # serving/ runs without it: gRPC then reports a bad pair when binding
        return
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise invalid_argument(f"{path}: server_key is not a usable unencrypted PEM private key: {exc}") from None
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError as exc:
        raise invalid_argument(f"{path}: server_cert is not a PEM certificate: {exc}") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (key.public_key().public_bytes(serialization.Encoding.DER, public)
            != cert.public_key().public_bytes(serialization.Encoding.DER, public)):
        raise invalid_argument(f"{path}: server_key is not the private key of the first certificate of "
                               "server_cert")


def log_settings(options):
    from serving.request_log import LogSettings

    return LogSettings(directory=options.request_log_dir, sampling_rate=options.request_log_sampling_rate,
                       max_file_bytes=options.request_log_max_file_bytes,
                       max_file_seconds=options.request_log_max_file_seconds,
                       queue_size=options.request_log_queue_size)


def grpc_channel_arguments(options):
    """'key=value,key=value' into gRPC server options (ints where numeric)."""
    pairs = []
    for item in filter(None, options.grpc_channel_arguments.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise invalid_argument(f"Invalid grpc_channel_arguments entry: {item}")
        pairs.append((key.strip(),
                      int(value) if value.strip().lstrip("-").isdigit()
                      else value.strip()))
    return pairs


def flag_args(options, skip=EMBEDDED_ONLY):
    """Options as --name=value arguments, omitting values left at default."""
    defaults = ServerOptions()
    args = []
    for field in dataclasses.fields(ServerOptions):
        value = getattr(options, field.name)
        if field.name in skip or value == getattr(defaults, field.name):
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        args.append(f"--{field.name}={value}")
    return args
