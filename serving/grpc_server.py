"""The gRPC listener: ports, TLS, channel arguments, and its front end.

Without batching it is grpc.server: a pool thread runs each call from start
to end. With batching it is grpc.aio on an event loop of its own: a batched
Predict waits for its batch as a coroutine instead of parking a pool thread,
and one loop wake-up completes every call of a batch. With threads, 32
clients needed 32 pool threads for their requests to meet in one batch, and
all of them woke up after every batch to fight over the GIL (figures in
docs/benchmarks.md, "Serving"). Blocking calls (Classify, Regress, status,
reloads, a request too big to batch) run on a pool of grpc_max_threads
threads either way.
"""

import asyncio
import os
import threading
from concurrent import futures

import grpc

from serving import options as opts
from serving.errors import ServingError
from serving.grpc_service import add_async_services, add_services


def _workers(options):
    return options.grpc_max_threads or max(8, 4 * (os.cpu_count() or 1))


def _channel_args(options):
    return [
        ("grpc.max_receive_message_length", options.max_request_bytes),
        ("grpc.max_send_message_length", -1),
    ] + opts.grpc_channel_arguments(options)


def server_credentials(options):
    """TF Serving's credentials for an --ssl_config_file (None: plaintext): the server's key and certificate, and
    with client_verify: true mutual TLS, where a client must present a certificate that custom_ca signed."""
    ssl = opts.ssl_config(options)
    if ssl is None:
        return None
    return grpc.ssl_server_credentials(
        [(ssl.server_key.encode(), ssl.server_cert.encode())],
        root_certificates=ssl.custom_ca.encode() or None,
        require_client_auth=ssl.client_verify)


def _bind(server, options):
    """Adds the TCP and UNIX socket ports, both with the same credentials as in TF Serving (so with mutual TLS no
    port takes a client without a certificate); returns the TCP port."""
    credentials = server_credentials(options)

    def add(address):
        try:
            return (server.add_secure_port(address, credentials) if credentials is not None
                    else server.add_insecure_port(address))
        except RuntimeError:  # newer grpc raises where older returned 0
            return 0

    address = f"{options.host}:{options.port}"
    port = add(address)
    if not port:
        raise ServingError(grpc.StatusCode.UNAVAILABLE,
                           f"Failed to bind gRPC port {address}")
    if options.grpc_socket_path and not add(f"unix:{options.grpc_socket_path}"):
        raise ServingError(grpc.StatusCode.UNAVAILABLE,
                           f"Failed to bind gRPC socket {options.grpc_socket_path}")
    return port


class ThreadedGrpcServer:
    def __init__(self, core, options):
        pool = futures.ThreadPoolExecutor(max_workers=_workers(options))
        self._server = grpc.server(pool, options=_channel_args(options))
        add_services(self._server, core)
        self.port = _bind(self._server, options)
        self._server.start()

    def stop(self, grace):
        self._server.stop(grace).wait()


class AsyncGrpcServer:
    def __init__(self, core, options):
        self._pool = futures.ThreadPoolExecutor(max_workers=_workers(options),
                                                thread_name_prefix="grpc-blocking")
        self._server = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="grpc-aio")
        self._thread.start()
        try:
            self.port = self._run(self._start(core, options))
        except BaseException:
            self._close()
            raise

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _start(self, core, options):
        server = grpc.aio.server(options=_channel_args(options))
        add_async_services(server, core, self._pool)
        try:
            port = _bind(server, options)
        except BaseException:
            await server.stop(None)
            raise
        await server.start()
        self._server = server
        return port

    def stop(self, grace):
        if self._server is not None:
            self._run(self._server.stop(grace))
        self._close()

    def _close(self):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()
        self._pool.shutdown(wait=False)


def start(core, options):
    """The front end for these options, listening; has .port and .stop(grace)."""
    if options.enable_batching:
        return AsyncGrpcServer(core, options)
    return ThreadedGrpcServer(core, options)
