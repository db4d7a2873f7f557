"""Histogram buckets: a value lands in the first bucket whose bound is >= it
(Prometheus `le`), values beyond the last bound only in +Inf."""

from serving import monitoring
from serving.monitoring import RUNTIME_LATENCY, Metrics


def bucket_counts(text):
    """{le: cumulative count} of the runtime latency histogram."""
    counts = {}
    for line in text.splitlines():
        if line.startswith(RUNTIME_LATENCY + "_bucket"):
            le = line.split('le="')[1].split('"')[0]
            counts[le] = int(line.rsplit(" ", 1)[1])
    return counts


def test_values_on_between_and_beyond_bounds():
    metrics = Metrics()
    bounds = monitoring._BUCKETS
    micros = [bounds[0], bounds[0] + 1e-3, bounds[3], bounds[-1] * 2, 0.0]
    for value in micros:
        metrics.observe_runtime("m", "Predict", value / 1e6)
    counts = bucket_counts(metrics.prometheus_text())
    values = list(counts.values())
    for index, bound in enumerate(bounds):
        expected = sum(1 for v in micros if v / 1e6 * 1e6 <= bound)  # as observed
        assert values[index] == expected, (bound, values[index], expected)
    assert counts["+Inf"] == len(micros)


def _histogram(server, name, api):
    """(count, sum in microseconds) of a latency histogram's series for model "default" and `api`."""
    text = server.metrics.prometheus_text()
    labels = f'model_name="default",API="{api}"'
    count = sum(int(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(f"{name}_count{{{labels}"))
    total = sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(f"{name}_sum{{{labels}"))
    return count, total


def test_classify_and_regress_record_the_runtime_latency(start_server, model_store, tmp_path):
    from serving_test_helpers import make_base_path
    from tensorflow_serving.apis import classification_pb2, prediction_service_pb2_grpc, regression_pb2

    endpoint = start_server(model_name="default",
                            model_base_path=make_base_path(tmp_path, "default", model_store["half_plus_two"]))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    for request_class, signature, call in ((classification_pb2.ClassificationRequest, "classify_x_to_y",
                                            stub.Classify),
                                           (regression_pb2.RegressionRequest, "regress_x_to_y", stub.Regress)):
        request = request_class()
        request.model_spec.name, request.model_spec.signature_name = "default", signature
        request.input.example_list.examples.add().features.feature["x"].float_list.value.append(2.0)
        call(request, timeout=30)
    assert _histogram(endpoint.server, monitoring.RUNTIME_LATENCY, "Classify")[0] == 1
    assert _histogram(endpoint.server, monitoring.RUNTIME_LATENCY, "Regress")[0] == 1


def test_with_batching_the_runtime_latency_leaves_out_the_wait_for_the_batch(start_server, model_store, tmp_path):
    from serving_test_helpers import make_base_path
    from tensorflow.core.framework import types_pb2
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    params = tmp_path / "batching.txt"
    # A lone request waits the whole timeout for company before its batch runs.
    params.write_text("max_batch_size { value: 64 }\nbatch_timeout_micros { value: 400000 }\n")
    endpoint = start_server(model_name="default", enable_batching=True, batching_parameters_file=str(params),
                            model_base_path=make_base_path(tmp_path, "default", model_store["half_plus_two"]))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(endpoint.channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].float_val.append(2.0)
    request.inputs["x"].tensor_shape.dim.add().size = 1
    for _ in range(3):
        stub.Predict(request, timeout=30)
    runs, runtime = _histogram(endpoint.server, monitoring.RUNTIME_LATENCY, "Predict")
    requests, latency = _histogram(endpoint.server, monitoring.REQUEST_LATENCY, "Predict")
    assert runs == requests == 3
    assert latency / 3 >= 400_000  # each request waited out the batch timeout...
    assert runtime / 3 < 100_000  # ...which is not time in the model
