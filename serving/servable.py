"""One loaded version of a SavedModel: its SignatureDefs and a way to run them."""

import logging
import os

import grpc

from serving.errors import ServingError, internal, not_found

log = logging.getLogger(__name__)

SERVE_TAG = "serve"
# Rows per call of a signature. A request of a million short texts fits in a 4 MiB message; run at once, the
# model would hold the activations of all of them (hundreds of MB). Larger requests run in slices of this many
# rows, stitched back together, as TF Serving's batching splits large tasks.
MAX_ROWS_PER_CALL = 1024


def has_saved_model(path):
    return os.path.isfile(os.path.join(path, "saved_model.pb")) or os.path.isfile(
        os.path.join(path, "saved_model.pbtxt")
    )


def read_signature_defs(path, tags=(SERVE_TAG,)):
    """SignatureDefs exactly as exported, with their method_name.

    The loaded Python object drops method_name, which Classify/Regress need, so
    the MetaGraphDef is read from the file itself.
    """
    from tensorflow.python.saved_model import loader_impl

    saved_model = loader_impl.parse_saved_model(path)
    for meta_graph in saved_model.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == set(tags):
            return dict(meta_graph.signature_def)
    raise not_found(
        "Could not find meta graph def matching supplied tags: "
        f"{{ {' '.join(tags)} }}. in SavedModel at {path}")


def _status_from_tf_error(exc):
    # tf.errors codes share gRPC's numbering, so the code carries over as is.
    try:
        code = grpc.StatusCode[_TF_CODE_NAMES[exc.error_code]]
    except KeyError:
        code = grpc.StatusCode.INTERNAL
    return ServingError(code, exc.message)


_TF_CODE_NAMES = {
    1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND", 6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION", 10: "ABORTED",
    11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}


class Servable:
    """A SavedModel version ready to run; immutable once loaded."""

    def __init__(self, name, version, path, signature_defs, loaded):
        self.name = name
        self.version = version
        self.path = path
        self.signature_defs = signature_defs
        self._loaded = loaded

    @classmethod
    def load(cls, name, version, path, tags=(SERVE_TAG,)):
        if not has_saved_model(path):
            raise not_found(
                "Could not find SavedModel .pb or .pbtxt at supplied export "
                f"directory path: {path}"
            )
        import tensorflow as tf

        signature_defs = read_signature_defs(path, tags)
        try:
            loaded = tf.saved_model.load(path, tags=list(tags))
        except tf.errors.OpError as exc:
            raise _status_from_tf_error(exc) from None
        return cls(name, version, path, signature_defs, loaded)

    def run(self, signature_name, inputs, output_keys=None):
        """Runs a signature on validated numpy inputs; returns numpy outputs. Inputs that share a first dimension
        longer than MAX_ROWS_PER_CALL run in slices when the outputs are batch-major."""
        rows = {value.shape[0] if getattr(value, "ndim", 0) else None for value in inputs.values()}
        if len(rows) != 1 or None in rows or next(iter(rows)) <= MAX_ROWS_PER_CALL:
            return self._run_once(signature_name, inputs, output_keys)
        total = next(iter(rows))
        parts = []
        for start in range(0, total, MAX_ROWS_PER_CALL):
            piece = {key: value[start:start + MAX_ROWS_PER_CALL] for key, value in inputs.items()}
            outputs = self._run_once(signature_name, piece, output_keys)
            size = min(MAX_ROWS_PER_CALL, total - start)
            if any(getattr(o, "ndim", 0) == 0 or o.shape[0] != size for o in outputs.values()):
                # Not one output row per input row: the slices cannot be stitched, so it runs whole.
                return self._run_once(signature_name, inputs, output_keys)
            parts.append(outputs)
        import numpy as np

        return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}

    def _run_once(self, signature_name, inputs, output_keys=None):
        import tensorflow as tf

        function = self._loaded.signatures[signature_name]
        signature = self.signature_defs[signature_name]
        feeds = {
            key: tf.constant(value, dtype=tf.as_dtype(signature.inputs[key].dtype))
            for key, value in inputs.items()
        }
        try:
            outputs = function(**feeds)
        except tf.errors.OpError as exc:
            raise _status_from_tf_error(exc) from None
        except (TypeError, ValueError) as exc:
            # Raised by function tracing when shapes or dtypes cannot bind.
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        keys = output_keys if output_keys else list(outputs)
        try:
            return {key: outputs[key].numpy() for key in keys}
        except KeyError as exc:
            raise internal(f"signature output {exc} missing from result") from None
