"""Typed clients for a TF Serving-protocol server: gRPC (official stubs), REST, or in-process; the same methods
and the same result types on all three (see client_base.py)."""

from __future__ import annotations

from serving.client_base import PredictResult, ServingClientError, TextPrediction, example_bytes
from serving.client_grpc import DEFAULT_GRPC_PORT, GrpcClient
from serving.client_local import LocalClient
from serving.client_rest import DEFAULT_REST_PORT, RestClient

__all__ = ["DEFAULT_GRPC_PORT", "DEFAULT_REST_PORT", "GrpcClient", "LocalClient", "PredictResult", "RestClient",
           "ServingClientError", "TextPrediction", "example_bytes", "make_client"]


def make_client(rest: bool = False, host: str = "127.0.0.1", port: int | None = None,
                **kwargs) -> GrpcClient | RestClient:
    """GrpcClient on 8500 or RestClient on 8501 unless a port is given."""
    if rest:
        return RestClient(host, port or DEFAULT_REST_PORT, **kwargs)
    return GrpcClient(host, port or DEFAULT_GRPC_PORT, **kwargs)
