"""Runs the real tensorflow_model_server with the same flags when it is
installed; the embedded server is the fallback, not a replacement."""

import logging
import os
import shutil

from serving.options import DEFAULT_MAX_REQUEST_BYTES, EMBEDDED_ONLY, ServerOptions, absolute_path, flag_args

log = logging.getLogger(__name__)

BINARY_NAME = "tensorflow_model_server"
BINARY_ENV = "TF_SERVING_BINARY"


def find_binary():
    """TF_SERVING_BINARY if set (must be executable), else PATH lookup."""
    named = os.environ.get(BINARY_ENV)
    if named:
        path = named if os.path.sep in named else shutil.which(named)
        if path and os.access(path, os.X_OK):
            return path
        log.warning("%s=%s is not an executable; ignoring it", BINARY_ENV, named)
    return shutil.which(BINARY_NAME)


def binary_command(binary, options: ServerOptions):
    """argv for the real server. Embedded-only flags have no equivalent there,
    except the request-size bound, which becomes a gRPC channel argument."""
    adjusted = ServerOptions(**vars(options))
    if options.model_base_path:
        adjusted.model_base_path = absolute_path(options.model_base_path)
    if options.max_request_bytes != DEFAULT_MAX_REQUEST_BYTES:
        extra = f"grpc.max_receive_message_length={options.max_request_bytes}"
        adjusted.grpc_channel_arguments = ",".join(
            filter(None, [options.grpc_channel_arguments, extra]))
    if options.request_log_dir:
        log.warning("tensorflow_model_server cannot log requests (--request_log_dir is ignored): serve it behind "
                    "the logging proxy, `serve --proxy-to HOST:PORT`")
    if options.host not in ("0.0.0.0", ""):
        # The embedded server's default is loopback; the binary's is every interface, so say so loudly.
        log.warning("tensorflow_model_server cannot bind a single interface: it listens on every interface, "
                    "not on --host=%s; firewall its ports or run the embedded server (--embedded)", options.host)
    return [binary] + flag_args(adjusted, skip=EMBEDDED_ONLY)


def exec_binary(binary, options: ServerOptions):
    """Replaces this process, so signals and exit codes are the binary's own."""
    argv = binary_command(binary, options)
    log.info("exec %s", " ".join(argv))
    os.execv(binary, argv)
