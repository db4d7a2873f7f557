"""Click commands `serve` and `predict`, meant to be attached to the project's
`mlops` group and also runnable as `python -m serving`."""

import dataclasses
import json
import logging
import signal
import sys
import threading

import click

from serving.options import ServerOptions

log = logging.getLogger(__name__)

_HELP = {
    "port": "gRPC port (0 picks a free one in embedded mode).",
    "grpc_socket_path": "Also serve gRPC on this UNIX socket.",
    "rest_api_port": "REST port; 0 disables REST.",
    "rest_api_num_threads": "REST worker threads (0 = 4 x cores).",
    "rest_api_timeout_in_ms": "REST request timeout.",
    "enable_batching": "Batch concurrent Predict calls.",
    "batching_parameters_file": "Text BatchingParameters proto.",
    "model_name": "Model name when serving one model from --model_base_path.",
    "model_base_path": "Directory whose numeric subdirectories are versions.",
    "model_config_file": "Text ModelServerConfig proto (several models, "
                         "version policies, labels, request logging).",
    "model_config_file_poll_wait_seconds": "Re-read the model config file this "
                                           "often; 0 = never.",
    "file_system_poll_wait_seconds": "Look for new versions this often; 0 = once.",
    "monitoring_config_file": "Text MonitoringConfig proto (Prometheus endpoint).",
    "ssl_config_file": "Text SSLConfig proto; enables TLS on gRPC.",
    "enable_model_warmup": "Replay assets.extra/tf_serving_warmup_requests.",
    "num_request_iterations_for_warmup": "Times each warmup record is replayed.",
    "enable_signature_method_name_check": "Require classify/regress method_name "
                                          "on signatures used by Classify/Regress.",
    "grpc_channel_arguments": "Comma-separated key=value gRPC server arguments.",
    "grpc_max_threads": "gRPC worker threads (0 = max(8, 4 x cores)).",
    "tensorflow_intra_op_parallelism": "TF intra-op threads (0 = TF default).",
    "tensorflow_inter_op_parallelism": "TF inter-op threads (0 = TF default).",
    "saved_model_tags": "Comma-separated MetaGraphDef tags to load.",
    "max_num_load_retries": "Retries of a failed version load.",
    "load_retry_interval_micros": "Wait between load retries.",
    "allow_version_labels_for_unavailable_models": "Accept labels that point at "
                                                   "versions not yet loaded.",
    "host": "Interface to bind (embedded server only).",
    "max_request_bytes": "Largest accepted request, gRPC and REST (embedded only).",
    "max_request_rows": "Most rows (first dimension, or examples) in one request (embedded only).",
    "request_log_dir": "Log sampled requests as PredictionLog TFRecords under DIR/<model>/<version>/ "
                       "(embedded and proxy only; empty = off).",
    "request_log_sampling_rate": "Share of requests logged (0 to 1).",
    "request_log_max_file_bytes": "Start a new log file past this size.",
    "request_log_max_file_seconds": "Start a new log file past this age.",
    "request_log_queue_size": "Records waiting to be written; beyond, they are dropped and counted.",
    "monitoring_extra_file": "A Prometheus text file served with the metrics (mlops monitor's gauges).",
    "proxy_to": "HOST:GRPC_PORT[:REST_PORT]: do not load models; forward every call to that server and log the "
                "requests (for tensorflow_model_server, which cannot log).",
}


_OWN_FLAGS = ("proxy_to", "request_log_dir", "request_log_sampling_rate", "monitoring_extra_file")


def _server_option(field):
    default = field.default
    if isinstance(default, bool):
        # Accepts TF Serving's spellings: --flag, --flag=true, --flag=false.
        return click.option(f"--{field.name}", type=click.BOOL, default=default,
                            is_flag=False, flag_value=True, show_default=True,
                            help=_HELP[field.name])
    # TF Serving's flags are spelt with underscores; our own also answer to dashes (--proxy-to).
    names = [f"--{field.name}"] + ([f"--{field.name.replace('_', '-')}"] if field.name in _OWN_FLAGS else [])
    return click.option(*names, field.name, type=type(default), default=default,
                        show_default=True, help=_HELP[field.name])


def server_options(function):
    """Adds every ServerOptions field as a TF Serving flag (--port=8500, --enable_batching=true, ...)."""
    for field in reversed(dataclasses.fields(ServerOptions)):
        function = _server_option(field)(function)
    return function


def run_embedded(options, stop_event=None):
    """Runs the embedded server, or with --proxy_to the logging proxy, until SIGINT/SIGTERM or stop_event is set
    (it logs where it listens)."""
    if options.proxy_to:
        from serving.proxy import ProxyServer as server_class
    else:
        from serving.server import ModelServer as server_class

    stop_event = stop_event or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop_event.set())
    server = server_class(options).start()
    try:
        stop_event.wait()
    finally:
        server.stop()


@click.command("serve")
@server_options
@click.option("--embedded", is_flag=True,
              help="Use the Python server even if tensorflow_model_server is "
                   "installed.")
def serve(embedded, **flags):
    """Serve SavedModels over TF Serving's gRPC and REST APIs.

    Execs tensorflow_model_server (from PATH or $TF_SERVING_BINARY) with the
    same flags when available, else runs the embedded Python server.
    """
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    start(ServerOptions(**flags), embedded)


def start(options, embedded=False):
    """Execs tensorflow_model_server with `options` when it is installed (unless `embedded`), else runs the
    embedded server until a signal stops it."""
    from serving import launcher
    from serving.errors import ServingError

    binary = None if embedded or options.proxy_to else launcher.find_binary()
    if binary:
        launcher.exec_binary(binary, options)
    try:
        run_embedded(options)
    except ServingError as exc:
        raise click.ClickException(f"Failed to start server. Error: {exc}") from None


@click.command("predict")
@click.argument("texts", nargs=-1, required=True)
@click.option("--rest", is_flag=True, help="Use the REST API instead of gRPC.")
@click.option("--model", default="default", show_default=True, help="Model name.")
@click.option("--version", type=int, default=None, help="Exact model version.")
@click.option("--label", default=None, help="Version label (e.g. stable, canary).")
@click.option("--signature", default="", help="Signature (default serving_default).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None,
              help="Server port [default: 8500 gRPC, 8501 REST].")
@click.option("--timeout", type=float, default=10.0, show_default=True,
              help="Per-call deadline in seconds.")
@click.option("--example-feature", default=None,
              help="Send each text inside a serialized tf.Example under this "
                   "feature name (TFX-style serving signatures).")
def predict(texts, rest, model, version, label, signature, host, port, timeout,
            example_feature):
    """Classify TEXTS with a served text model; prints one JSON line per text."""
    from serving.client import ServingClientError, make_client

    if version is not None and label:
        raise click.UsageError("--version and --label are mutually exclusive")
    with make_client(rest=rest, host=host, port=port, timeout=timeout) as client:
        try:
            results = client.classify_text(texts, model, version=version,
                                           label=label, signature=signature,
                                           example_feature=example_feature)
        except ServingClientError as exc:
            raise click.ClickException(str(exc)) from None
    for result in results:
        click.echo(json.dumps(dataclasses.asdict(result)))


def main(argv=None):
    """`python -m serving [serve] ...` or `python -m serving predict ...`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "predict":
        from serving.protos import load_protocol_only

        # A process that only asks a server needs TensorFlow's protos, not its runtime (10 s).
        load_protocol_only()
        return predict.main(argv[1:], prog_name="python -m serving predict")
    if argv and argv[0] == "serve":
        argv = argv[1:]
    return serve.main(argv, prog_name="python -m serving")
