"""Serving errors carrying a gRPC status code, and their HTTP mapping."""

import grpc

# TF Serving cuts long messages so a huge tensor dump cannot bloat a response.
_MAX_MESSAGE = 1024
_TRUNCATED = "...TRUNCATED"

# Same mapping as TF Serving's REST layer (ToHTTPStatusCode in http_server.cc).
_HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


def truncate(message):
    if len(message) <= _MAX_MESSAGE:
        return message
    return message[: _MAX_MESSAGE - len(_TRUNCATED)] + _TRUNCATED


class ServingError(Exception):
    """An error that must reach the client with a specific status code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = truncate(message)

    @property
    def http_status(self):
        return http_status(self.code)

    def __str__(self):
        return f"{self.code.name}: {self.message}"


def http_status(code):
    return _HTTP_STATUS.get(code, 500)


def invalid_argument(message):
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message):
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def failed_precondition(message):
    return ServingError(grpc.StatusCode.FAILED_PRECONDITION, message)


def unimplemented(message):
    return ServingError(grpc.StatusCode.UNIMPLEMENTED, message)


def unavailable(message):
    return ServingError(grpc.StatusCode.UNAVAILABLE, message)


def internal(message):
    return ServingError(grpc.StatusCode.INTERNAL, message)
