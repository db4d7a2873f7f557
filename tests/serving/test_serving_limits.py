"""What one request may make the server allocate: padding, rows, merged contexts; and large requests run in
slices of the model, stitched back to the answer a single call gives."""
import tracemalloc

import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import classification_pb2, predict_pb2

from serving import inference, servable as servable_module, tensors
from serving.errors import ServingError
from serving.servable import Servable


@pytest.fixture(scope="module")
def text_model(model_store):
    return Servable.load("text", 1, model_store["text"])


def _strings(count, shape=None):
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING)
    proto.string_val.extend([b"good"] * count)
    for size in shape or [count]:
        proto.tensor_shape.dim.add().size = size
    return proto


def test_a_huge_declared_shape_is_refused_before_anything_is_allocated():
    tracemalloc.start()
    with pytest.raises(ServingError) as info:
        tensors.to_numpy(_strings(1, [200_000_000]), "text")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert info.value.code.name == "INVALID_ARGUMENT"
    assert info.value.message == (
        "tensor parsing error: text (shape [200000000] declares 200000000 values and carries 1; padding it "
        "would take 6400000000 bytes, above the limit of 4194304)")
    assert peak < 1 << 20


def test_padding_within_the_limit_still_follows_tensorflow():
    array = tensors.to_numpy(_strings(1, [1000]), "text")
    assert array.shape == (1000,) and set(array.tolist()) == {b"good"}


def test_a_full_tensor_larger_than_the_padding_limit_is_accepted():
    # The limit is on padding: values the request itself carries are bounded by its transport, not here.
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    proto.float_val.extend(np.ones(300_000, np.float32))
    proto.tensor_shape.dim.add().size = 300_000
    assert tensors.to_numpy(proto, "x", max_padded_bytes=1000).shape == (300_000,)


def test_more_rows_than_the_limit_get_tf_servings_batching_error(text_model):
    request = predict_pb2.PredictRequest()
    request.inputs["text"].CopyFrom(_strings(11))
    with pytest.raises(ServingError) as info:
        inference.predict(text_model, request, text_model.run, inference.Limits(rows=10))
    assert info.value.code.name == "INVALID_ARGUMENT"
    assert info.value.message == "Task size 11 is larger than maximum input batch size 10"


def test_a_context_that_would_multiply_past_the_limit_is_refused_before_merging(text_model):
    request = classification_pb2.ClassificationRequest()
    with_context = request.input.example_list_with_context
    with_context.context.features.feature["pad"].bytes_list.value.append(b"p" * 10_000)
    for _ in range(200):
        with_context.examples.add().features.feature["text"].bytes_list.value.append(b"good")
    with pytest.raises(ServingError) as info:
        inference.classify(text_model, request, limits=inference.Limits(padded_bytes=1 << 20))
    assert info.value.code.name == "INVALID_ARGUMENT"
    assert "merged into 200 examples would take" in info.value.message
    with_context.context.features.feature["pad"].bytes_list.value[0] = b"p" * 100
    assert len(inference.classify(text_model, request).result.classifications) == 200


def test_a_large_request_runs_in_slices_and_answers_as_one_call_would(text_model, monkeypatch):
    texts = np.array([b"good" if i % 3 else b"bad" for i in range(2500)], dtype=object)
    whole = text_model._run_once("serving_default", {"text": texts})  # one call, no slicing
    calls = []
    run_once = text_model._run_once
    monkeypatch.setattr(text_model, "_run_once", lambda *a, **k: calls.append(len(a[1]["text"])) or run_once(*a, **k))
    monkeypatch.setattr(servable_module, "MAX_ROWS_PER_CALL", 1000)
    sliced = text_model.run("serving_default", {"text": texts})
    assert calls == [1000, 1000, 500]
    assert sorted(sliced) == sorted(whole)
    for key in whole:
        assert np.array_equal(sliced[key], whole[key]), key
