"""REST conformance: TF Serving's JSON formats and status mapping, on the
half_plus_two fixture and the text model, plus the Prometheus endpoint."""

import pytest

from serving_test_helpers import http, make_base_path, write_model_config


@pytest.fixture(scope="module", params=["embedded", "binary"])
def rest(request, start_server, model_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("rest")
    config = write_model_config(root / "models.config", [
        ("default", make_base_path(root, "default", model_store["half_plus_two"]), ""),
        ("text", make_base_path(root, "text", model_store["text"], (1,)), ""),
    ])
    monitoring = root / "monitoring.config"
    monitoring.write_text('prometheus_config { enable: true, '
                          'path: "/monitoring/prometheus/metrics" }')
    endpoint = start_server(request.param, model_config_file=config,
                            monitoring_config_file=str(monitoring))
    return endpoint.rest_url


def test_predict_row_format(rest):
    status, body = http("POST", f"{rest}/v1/models/default:predict",
                        {"instances": [2.0, 3.0, 4.0]})
    assert (status, body) == (200, {"predictions": [3.0, 3.5, 4.0]})


def test_predict_columnar_format(rest):
    status, body = http("POST", f"{rest}/v1/models/default:predict",
                        {"inputs": {"x": [2.0, 3.0, 4.0]}})
    assert (status, body) == (200, {"outputs": [3.0, 3.5, 4.0]})


def test_predict_on_version_path(rest):
    status, body = http("POST", f"{rest}/v1/models/default/versions/123:predict",
                        {"signature_name": "serving_default", "instances": [6.0]})
    assert (status, body) == (200, {"predictions": [5.0]})


def test_predict_text_model_rows(rest):
    status, body = http("POST", f"{rest}/v1/models/text:predict",
                        {"instances": ["A good film", "dull"]})
    assert status == 200
    first, second = body["predictions"]
    assert first["label"] == "positive" and second["label"] == "negative"
    assert first["classes"] == ["negative", "positive"]
    assert first["scores"] == pytest.approx([0.1, 0.9])


def test_classify(rest):
    status, body = http("POST", f"{rest}/v1/models/default:classify",
                        {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]})
    assert (status, body) == (200, {"results": [[["", 3.0]]]})


def test_regress(rest):
    status, body = http("POST", f"{rest}/v1/models/default:regress",
                        {"signature_name": "regress_x_to_y",
                         "context": {"x": 4.0}, "examples": [{}, {"x": 2.0}]})
    assert (status, body) == (200, {"results": [4.0, 3.0]})


def test_status_json(rest):
    status, body = http("GET", f"{rest}/v1/models/default")
    assert status == 200
    assert body == {"model_version_status": [{
        "version": "123", "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""}}]}
    assert http("GET", f"{rest}/v1/models/default/versions/123")[1] == body


def test_metadata_json(rest):
    status, body = http("GET", f"{rest}/v1/models/default/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "default", "signature_name": "",
                                  "version": "123"}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert signatures["classify_x_to_y"]["method_name"] == \
        "tensorflow/serving/classify"
    assert signatures["serving_default"]["inputs"]["x"]["dtype"] == "DT_FLOAT"


def test_prometheus_metrics(rest):
    http("POST", f"{rest}/v1/models/default:predict", {"instances": [1.0]})
    status, text = http("GET", f"{rest}/monitoring/prometheus/metrics")
    assert status == 200
    assert "# TYPE" in text
    assert ':tensorflow:serving:request_count{model_name="default",status="OK"}' in text


@pytest.mark.parametrize("path, body, code, message", [
    ("/v1/models/nope:predict", {"instances": [1.0]}, 404, "Servable not found for request: Latest(nope)"),
    ("/v1/models/default/versions/99:predict", {"instances": [1.0]}, 404,
     "Servable not found for request: Specific(default, 99)"),
    ("/v1/models/default/labels/canary:predict", {"instances": [1.0]}, 400,
     "Unrecognized servable version label: canary"),
    ("/v1/models/default:predict", {"signature_name": "nope", "instances": [1.0]}, 400,
     'Serving signature name: "nope" not found in signature def'),
    ("/v1/models/default:predict", {"signature_name": 100}, 400,
     "not formatted correctly. 'signature_name' key must be a string value."),
    ("/v1/models/default:predict", {"instances": ["two"]}, 400,
     'JSON Value: "two" Type: String is not of expected type: float'),
    ("/v1/models/default:predict", {"instances": [[1.0], [2.0, 3.0]]}, 400,
     "Failed to process element: 1 of 'instances' list. Error: "),
    ("/v1/models/default:predict", {"instances": [[1.0], [2.0, 3.0]]}, 400, "Expecting tensor size: 1 but got: 2"),
    ("/v1/models/default:predict", {"nothing": 1}, 400, "Missing 'inputs' or 'instances' key"),
    ("/v1/models/default:predict", {"instances": []}, 400, "No values in 'instances' array"),
    ("/v1/models/default:predict", {"instances": 2.0}, 400, "Excepting 'instances' to be an list/array"),
    ("/v1/models/default:classify", {"signature_name": "classify_x_to_y", "examples": []}, 400,
     "'examples' value is an empty array"),
    ("/v1/models/default:classify", {"signature_name": "classify_x_to_y"}, 400,
     "key 'examples' is expected and was not found"),
    ("/v1/models/default:classify", {"signature_name": "classify_x_to_y", "examples": [{"x": {"b64": "!!x"}}]},
     400, "Unable to base64 decode"),
    ("/v1/models/default:regress", {"signature_name": "classify_x_to_y", "examples": [{"x": 1.0}]}, 400,
     "No output tensor named outputs in regression signature"),
    ("/v1/models/default:explain", {"instances": [1.0]}, 400, "Malformed request: POST /v1/models/default:explain"),
])
def test_rest_errors(rest, path, body, code, message):
    status, payload = http("POST", rest + path, body)
    assert (status, message in payload["error"]) == (code, True), payload


@pytest.mark.parametrize("raw, message", [
    (b'{"instances": [1e999999]}', "JSON Parse error: Number too big to be stored in double. at offset: 15"),
    (b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "JSON Parse error"),
    (b'{"instances": [1.0', "JSON Parse error"),
    (b"\xff\xfe", "JSON Parse error: Invalid encoding in string. at offset: 0"),
])
def test_malformed_json_bodies_are_invalid_arguments(rest, raw, message):
    status, payload = http("POST", f"{rest}/v1/models/default:predict", raw=raw)
    assert (status, message in payload["error"]) == (400, True), payload


def test_unknown_model_status(rest):
    status, payload = http("GET", f"{rest}/v1/models/nope")
    assert status == 404 and "nope" in payload["error"]
