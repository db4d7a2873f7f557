"""Protocol semantics of Predict, Classify, Regress, MultiInference and
GetModelMetadata against one loaded Servable (validation, execution, response
building), shared by the gRPC and REST front ends and by warmup."""

import dataclasses

import numpy as np
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    predict_pb2,
    regression_pb2,
)

from serving import tensors
from serving.errors import failed_precondition, invalid_argument, unimplemented

DEFAULT_SIGNATURE = "serving_default"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSES_KEY = "classes"
SCORES_KEY = "scores"
REGRESS_OUTPUT_KEY = "outputs"


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one request may make the server allocate beyond its own bytes (which its transport bounds).

    padded_bytes: a tensor padded to its declared shape, or an Input's context merged into each example.
    rows: the first dimension of each input, or the examples of a Classify/Regress; beyond it the answer is
    TF Serving's batching error, since the same request to a batching TF Serving gets it too.
    """
    padded_bytes: int = tensors.DEFAULT_MAX_PADDED_BYTES
    rows: int = 100_000


DEFAULT_LIMITS = Limits()


def _check_rows(rows, limits):
    if rows > limits.rows:
        raise invalid_argument(f"Task size {rows} is larger than maximum input batch size {limits.rows}")


def fill_model_spec(spec, servable, signature_name=None):
    spec.name = servable.name
    spec.version.value = servable.version
    if signature_name is not None:
        spec.signature_name = signature_name


def _joined(keys):
    return ",".join(sorted(keys))


def predict_inputs(signature, request_inputs, limits=DEFAULT_LIMITS):
    """Numpy inputs checked against the signature the way TF Serving checks."""
    sent, wanted = set(request_inputs), set(signature.inputs)
    if sent != wanted:
        raise invalid_argument(
            f"input size does not match signature: {len(sent)}!={len(wanted)} "
            f"len({{{_joined(sent)}}}) != len({{{_joined(wanted)}}}). "
            f"Sent extra: {{{_joined(sent - wanted)}}}. "
            f"Missing but required: {{{_joined(wanted - sent)}}}.")
    arrays = {}
    for index, key in enumerate(sorted(wanted)):
        proto, info = request_inputs[key], signature.inputs[key]
        if proto.dtype != info.dtype:
            raise invalid_argument(
                f"Expects arg[{index}] to be {tensors.dtype_name(info.dtype)} but "
                f"{tensors.dtype_name(proto.dtype)} is provided")
        if proto.tensor_shape.dim:
            _check_rows(proto.tensor_shape.dim[0].size, limits)
        array = tensors.to_numpy(proto, key, limits.padded_bytes)
        if not tensors.shape_compatible(array.shape, info.tensor_shape):
            raise invalid_argument(
                f"input tensor alias: {key} has shape "
                f"{tensors.shape_string(array.shape)} which is incompatible with "
                f"the signature shape {tensors.shape_string(info.tensor_shape)}")
        arrays[key] = array
    return arrays


def output_keys(signature, output_filter):
    if not output_filter:
        return sorted(signature.outputs)
    seen = []
    for alias in output_filter:
        if alias not in signature.outputs:
            raise invalid_argument(
                f"output tensor alias not found in signature: {alias} Outputs "
                f"expected to be in the set {{{_joined(signature.outputs)}}}.")
        if alias in seen:
            raise invalid_argument(f"duplicate output tensor alias: {alias}")
        seen.append(alias)
    return seen


def prepare_predict(servable, request, limits=DEFAULT_LIMITS):
    """(signature name, SignatureDef, numpy inputs, output keys) of a valid
    PredictRequest; everything before the model runs."""
    name = request.model_spec.signature_name or DEFAULT_SIGNATURE
    signature = servable.signature_defs.get(name)
    if signature is None:
        raise failed_precondition(f'Serving signature key "{name}" not found.')
    inputs = predict_inputs(signature, request.inputs, limits)
    keys = output_keys(signature, request.output_filter)
    return name, signature, inputs, keys


def predict_response(servable, name, signature, keys, outputs):
    response = predict_pb2.PredictResponse()
    fill_model_spec(response.model_spec, servable, name)
    for key in keys:
        tensors.fill_tensor_proto(response.outputs[key], outputs[key],
                                  signature.outputs[key].dtype)
    return response


def predict(servable, request, runner, limits=DEFAULT_LIMITS):
    """`runner(signature_name, inputs, output_keys)` executes the signature;
    it is either servable.run or a batching queue in front of it."""
    name, signature, inputs, keys = prepare_predict(servable, request, limits)
    outputs = runner(name, inputs, keys)
    return predict_response(servable, name, signature, keys, outputs)


def serialized_examples(input_proto, limits=DEFAULT_LIMITS):
    """Serialized tf.Examples from an Input, context merged into each."""
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        _check_rows(len(input_proto.example_list.examples), limits)
        examples = [e.SerializeToString()
                    for e in input_proto.example_list.examples]
    elif kind == "example_list_with_context":
        with_context = input_proto.example_list_with_context
        count = len(with_context.examples)
        _check_rows(count, limits)
        # A large context merged into many small examples multiplies: refuse before merging.
        merged_bytes = count * with_context.context.ByteSize() + with_context.ByteSize()
        if count and merged_bytes > max(limits.padded_bytes, with_context.ByteSize()):
            raise invalid_argument(
                f"Input's context of {with_context.context.ByteSize()} bytes merged into {count} examples would "
                f"take {merged_bytes} bytes, above the limit of {limits.padded_bytes}")
        examples = []
        for example in with_context.examples:
            merged = example_pb2.Example()
            merged.CopyFrom(with_context.context)
            merged.MergeFrom(example)
            examples.append(merged.SerializeToString())
    else:
        examples = []
    if not examples:
        raise invalid_argument("Input is empty.")
    return examples


def _example_signature(servable, spec, method, label, check_method_name):
    name = spec.signature_name or DEFAULT_SIGNATURE
    signature = servable.signature_defs.get(name)
    if signature is None:
        raise invalid_argument(f"No signature was found with the name: {name}")
    # Off by default, as in TF Serving 2.x: TF2 exports cannot set a classify
    # or regress method_name, yet their signatures may fit those APIs.
    if check_method_name and signature.method_name != method:
        raise invalid_argument(
            f"Expected {label} signature method_name to be {method}. "
            f"Was: {signature.method_name}")
    if len(signature.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    input_key = next(iter(signature.inputs))
    if signature.inputs[input_key].dtype != types_pb2.DT_STRING:
        raise invalid_argument("Input tensor must be DT_STRING of serialized "
                               "tf.Example protos.")
    return name, signature, input_key


def _run_examples(servable, name, input_key, examples, keys, runner=None):
    batch = np.array(examples, dtype=object)
    return (runner or servable.run)(name, {input_key: batch}, keys)


def classification_result(servable, request, check_method_name=False, runner=None, limits=DEFAULT_LIMITS):
    name, signature, input_key = _example_signature(
        servable, request.model_spec, CLASSIFY_METHOD, "classification",
        check_method_name)
    keys = [k for k in (CLASSES_KEY, SCORES_KEY) if k in signature.outputs]
    if not keys:
        raise invalid_argument(
            "Expected classification signature outputs to contain at least one "
            f"of {{{CLASSES_KEY}, {SCORES_KEY}}}.")
    examples = serialized_examples(request.input, limits)
    outputs = _run_examples(servable, name, input_key, examples, keys, runner)
    classes, scores = outputs.get(CLASSES_KEY), outputs.get(SCORES_KEY)
    for label, tensor in (("classes", classes), ("scores", scores)):
        if tensor is not None and (tensor.ndim != 2 or tensor.shape[0] != len(examples)):
            raise invalid_argument(
                f"Expected Tensor shape: [{len(examples)} num_classes] but got "
                f"{tensors.shape_string(tensor.shape)} for output {label}")
    if classes is not None and scores is not None and classes.shape != scores.shape:
        raise invalid_argument("Tensors class and score should match in shape.")
    result = classification_pb2.ClassificationResult()
    width = (classes if classes is not None else scores).shape[1]
    for row in range(len(examples)):
        classifications = result.classifications.add()
        for column in range(width):
            entry = classifications.classes.add()
            if classes is not None:
                entry.label = _text(classes[row, column])
            if scores is not None:
                entry.score = float(scores[row, column])
    return name, result


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def regression_result(servable, request, check_method_name=False, runner=None, limits=DEFAULT_LIMITS):
    name, signature, input_key = _example_signature(
        servable, request.model_spec, REGRESS_METHOD, "regression",
        check_method_name)
    if REGRESS_OUTPUT_KEY not in signature.outputs:
        raise invalid_argument(
            f"No output tensor named {REGRESS_OUTPUT_KEY} in regression signature")
    examples = serialized_examples(request.input, limits)
    values = _run_examples(servable, name, input_key, examples,
                           [REGRESS_OUTPUT_KEY], runner)[REGRESS_OUTPUT_KEY]
    if values.shape not in ((len(examples),), (len(examples), 1)):
        raise invalid_argument(
            "Expected output Tensor shape to be either "
            f"[{len(examples)}] or [{len(examples)},1] but got "
            f"{tensors.shape_string(values.shape)}")
    result = regression_pb2.RegressionResult()
    for value in values.reshape(-1):
        result.regressions.add().value = float(value)
    return name, result


def classify(servable, request, check_method_name=False, runner=None, limits=DEFAULT_LIMITS):
    """`runner(signature_name, inputs, output_keys)` executes the signature (default servable.run)."""
    name, result = classification_result(servable, request, check_method_name, runner, limits)
    response = classification_pb2.ClassificationResponse(result=result)
    fill_model_spec(response.model_spec, servable, name)
    return response


def regress(servable, request, check_method_name=False, runner=None, limits=DEFAULT_LIMITS):
    name, result = regression_result(servable, request, check_method_name, runner, limits)
    response = regression_pb2.RegressionResponse(result=result)
    fill_model_spec(response.model_spec, servable, name)
    return response


def check_multi_inference(request):
    """Request-level checks that need no servable."""
    if not request.tasks:
        raise invalid_argument("MultiInferenceRequest must have at least one task.")
    model_name, signatures = request.tasks[0].model_spec.name, set()
    for task in request.tasks:
        if task.model_spec.name != model_name:
            raise invalid_argument(
                "All ModelSpecs in a MultiInferenceRequest must access the same "
                "model name.")
        signature = task.model_spec.signature_name or DEFAULT_SIGNATURE
        if signature in signatures:
            raise invalid_argument(f"Duplicate evaluation of signature: {signature}")
        signatures.add(signature)
        if task.method_name not in (CLASSIFY_METHOD, REGRESS_METHOD):
            raise unimplemented(
                f"Unsupported signature method_name: {task.method_name}")


def multi_inference(servable, request, check_method_name=False, runner=None, limits=DEFAULT_LIMITS):
    check_multi_inference(request)
    response = inference_pb2.MultiInferenceResponse()
    for task in request.tasks:
        result = response.results.add()
        if task.method_name == CLASSIFY_METHOD:
            sub = classification_pb2.ClassificationRequest(
                model_spec=task.model_spec, input=request.input)
            name, classification = classification_result(servable, sub,
                                                         check_method_name, runner, limits)
            result.classification_result.CopyFrom(classification)
        else:
            sub = regression_pb2.RegressionRequest(
                model_spec=task.model_spec, input=request.input)
            name, regression = regression_result(servable, sub, check_method_name,
                                                 runner, limits)
            result.regression_result.CopyFrom(regression)
        fill_model_spec(result.model_spec, servable, name)
    return response


def model_metadata(servable, request):
    if not request.metadata_field:
        raise invalid_argument(
            "GetModelMetadataRequest must specify at least one metadata_field")
    for field in request.metadata_field:
        if field != "signature_def":
            raise invalid_argument(f"Metadata field {field} is not supported")
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    fill_model_spec(response.model_spec, servable)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for key, signature in servable.signature_defs.items():
        signature_map.signature_def[key].CopyFrom(signature)
    response.metadata["signature_def"].Pack(signature_map)
    return response

