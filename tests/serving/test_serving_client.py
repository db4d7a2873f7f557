"""The typed gRPC and REST clients against the embedded server."""

import threading
import time

import pytest

from serving_test_helpers import free_port, make_base_path, write_model_config

import numpy as np

from serving.client import GrpcClient, LocalClient, RestClient, ServingClientError, make_client


@pytest.fixture(scope="module")
def endpoint(start_server, model_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("client")
    base = make_base_path(root, "text", model_store["text"], (1,))
    make_base_path(root, "text", model_store["text"], (2,))
    ROOTS["text"] = base
    config = write_model_config(root / "models.config", [
        ("text", base, 'model_version_policy { all {} } '
                       'version_labels { key: "stable" value: 1 }'),
        ("half_plus_two", make_base_path(root, "hp2", model_store["half_plus_two"]), ""),
        ("tfx_style", make_base_path(root, "tfx", model_store["text_examples"], (1,)), ""),
    ])
    return start_server(model_config_file=config)


ROOTS = {}


def ports(endpoint):
    return (int(endpoint.grpc_target.rsplit(":", 1)[1]),
            int(endpoint.rest_url.rsplit(":", 1)[1]))


@pytest.mark.parametrize("rest", [False, True], ids=["grpc", "rest"])
def test_classify_text(endpoint, rest):
    grpc_port, rest_port = ports(endpoint)
    with make_client(rest=rest, port=rest_port if rest else grpc_port) as client:
        good, bad = client.classify_text(["Really GOOD", "meh"], "text")
        pinned = client.classify_text(["good"], "text", label="stable")[0]
    assert (good.label, bad.label) == ("positive", "negative")
    assert good.scores == pytest.approx({"negative": 0.1, "positive": 0.9})
    assert good.text == "Really GOOD"
    assert good.model_version == (None if rest else 2)
    assert pinned.model_version == (None if rest else 1)


@pytest.mark.parametrize("rest", [False, True], ids=["grpc", "rest"])
def test_classify_text_through_tf_example_signature(endpoint, rest):
    grpc_port, rest_port = ports(endpoint)
    with make_client(rest=rest, port=rest_port if rest else grpc_port) as client:
        results = client.classify_text(["good", "bad"], "tfx_style",
                                       example_feature="text")
    assert [r.label for r in results] == ["positive", "negative"]


@pytest.mark.parametrize("client_class", [GrpcClient, RestClient])
def test_predict_and_status(endpoint, client_class):
    grpc_port, rest_port = ports(endpoint)
    port = rest_port if client_class is RestClient else grpc_port
    with client_class("127.0.0.1", port) as client:
        result = client.predict({"x": [2.0, 4.0]}, "half_plus_two")
        status = client.model_status("text")
        with pytest.raises(ServingClientError) as info:
            client.predict({"x": [1.0]}, "missing")
    assert list(result.outputs.values())[0].tolist() == [3.0, 4.0]
    assert [(s["version"], s["state"]) for s in status] == \
        [(1, "AVAILABLE"), (2, "AVAILABLE")]
    assert info.value.code == "NOT_FOUND"


def test_grpc_retries_until_server_is_up(start_server, model_store, tmp_path):
    base = make_base_path(tmp_path, "hp2", model_store["half_plus_two"])
    port = free_port()
    starter = threading.Timer(
        0.5, start_server, kwargs=dict(port=port, model_name="half_plus_two",
                                       model_base_path=base, rest_api_port=0))
    started = time.monotonic()
    starter.start()
    try:
        with GrpcClient("127.0.0.1", port, timeout=2.0, retries=6, backoff=0.1) as client:
            result = client.predict({"x": [2.0]}, "half_plus_two")
    finally:
        starter.join()
    assert result.outputs["y"].tolist() == [3.0]
    assert time.monotonic() - started >= 0.5


def test_unavailable_after_retries_is_reported():
    with GrpcClient("127.0.0.1", free_port(), timeout=1.0, retries=1,
                    backoff=0.05) as client:
        with pytest.raises(ServingClientError) as info:
            client.predict({"x": [1.0]}, "m")
    assert info.value.code == "UNAVAILABLE"


def _three_clients(endpoint):
    grpc_port, rest_port = ports(endpoint)
    return {"grpc": GrpcClient("127.0.0.1", grpc_port), "rest": RestClient("127.0.0.1", rest_port),
            "local": LocalClient(ROOTS["text"], "text")}


def test_the_three_clients_return_the_same_types_for_the_same_call(endpoint):
    clients = _three_clients(endpoint)
    results, statuses, texts = {}, {}, {}
    for kind, client in clients.items():
        with client:
            results[kind] = client.predict({"text": np.array(["so good", "bad"], dtype=object)}, "text",
                                           version=2)
            texts[kind] = client.classify_text(["so good"], "text", version=2)[0]
            statuses[kind] = client.model_status("text", version=2)
    for kind, result in results.items():
        outputs = result.outputs
        assert sorted(outputs) == ["classes", "label", "scores"], kind
        assert outputs["scores"].dtype == np.float32 and outputs["scores"].shape == (2, 2), kind
        assert outputs["label"].tolist() == [b"positive", b"negative"], kind
        assert outputs["classes"].tolist() == [[b"negative", b"positive"]] * 2, kind
        np.testing.assert_array_equal(outputs["scores"], results["grpc"].outputs["scores"])
    assert {kind: t.scores for kind, t in texts.items()} == {kind: texts["grpc"].scores for kind in texts}
    assert all(type(v) is float for t in texts.values() for v in t.scores.values())
    assert statuses["grpc"] == statuses["rest"] == [{"version": 2, "state": "AVAILABLE", "error_code": "OK",
                                                     "error_message": ""}]
    assert statuses["local"][0]["error_code"] == "OK" and statuses["local"][0]["version"] == 2


@pytest.mark.parametrize("rest", [False, True], ids=["grpc", "rest"])
def test_a_request_id_goes_to_the_server_and_comes_back(endpoint, rest):
    grpc_port, rest_port = ports(endpoint)
    with make_client(rest=rest, port=rest_port if rest else grpc_port) as client:
        [given] = client.classify_text(["so good"], "text", request_id="mine-42")
        made = client.classify_text(["so good", "bad"], "text")
    assert given.request_id == "mine-42"
    base = made[0].request_id.split("#")[0]
    assert len(base) == 32 and [m.request_id for m in made] == [f"{base}#0", f"{base}#1"]
