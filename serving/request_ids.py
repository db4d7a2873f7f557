"""Request ids: the client's x-request-id (gRPC metadata or HTTP header) when it sends a usable one, else a new one.
The id is returned to the client (initial metadata, response header) and goes into the request log, so labels
that arrive later can be joined to the prediction they judge (`mlops feedback`)."""

import re
import uuid

HEADER = "x-request-id"
# What a client may choose: ids end up in log files and file listings, so no spaces, quotes or control bytes.
_USABLE = re.compile(r"^[A-Za-z0-9._:/+=@-]{1,128}$")


def choose(given=None):
    return given if given and _USABLE.match(given) else uuid.uuid4().hex


def from_grpc(context):
    for key, value in context.invocation_metadata() or ():
        if key == HEADER:
            return choose(value)
    return choose()
