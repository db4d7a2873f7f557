"""CLI: `predict` against a running server, `serve` flag handling, the
real-binary launcher (with a stand-in executable) and `python -m serving`."""

import json
import os
import subprocess
import sys
import threading

import pytest
from click.testing import CliRunner

from serving_test_helpers import make_base_path, wait_until

from serving import cli, launcher
from serving.options import ServerOptions


@pytest.fixture(scope="module")
def endpoint(start_server, model_store, tmp_path_factory):
    base = make_base_path(tmp_path_factory.mktemp("cli"), "text", model_store["text"], (3,))
    return start_server(model_name="text", model_base_path=base)


@pytest.mark.parametrize("rest", [False, True], ids=["grpc", "rest"])
def test_predict_command(endpoint, rest):
    url = endpoint.rest_url if rest else f"http://{endpoint.grpc_target}"
    port = url.rsplit(":", 1)[1]
    args = ["so good", "awful", "--model", "text", "--port", port]
    result = CliRunner().invoke(cli.predict, args + (["--rest"] if rest else []))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["label"] for line in lines] == ["positive", "negative"]
    assert set(lines[0]["scores"]) == {"negative", "positive"}
    assert lines[0]["model_version"] == (None if rest else 3)


def test_module_entry_point_routes_predict(endpoint, capsys):
    """`python -m serving predict ...` goes through cli.main."""
    port = endpoint.grpc_target.rsplit(":", 1)[1]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["predict", "good stuff", "--model", "text", "--port", port])
    assert exit_info.value.code == 0
    assert json.loads(capsys.readouterr().out)["label"] == "positive"


def test_predict_rejects_version_and_label(endpoint):
    result = CliRunner().invoke(cli.predict, ["x", "--version", "1", "--label", "a"])
    assert result.exit_code == 2
    assert "mutually exclusive" in result.output


def test_predict_reports_server_errors(endpoint):
    port = endpoint.grpc_target.rsplit(":", 1)[1]
    result = CliRunner().invoke(cli.predict, ["x", "--model", "nope", "--port", port])
    assert result.exit_code == 1
    assert "NOT_FOUND" in result.output


def test_serve_parses_tf_serving_flags(monkeypatch):
    captured = {}
    monkeypatch.setattr(cli, "run_embedded", lambda options: captured.update(o=options))
    monkeypatch.setattr(launcher, "find_binary", lambda: None)
    result = CliRunner().invoke(cli.serve, [
        "--port=9000", "--rest_api_port=9001", "--model_name=m",
        "--model_base_path=/models/m", "--enable_batching",
        "--enable_model_warmup=false", "--file_system_poll_wait_seconds=5"])
    assert result.exit_code == 0, result.output
    options = captured["o"]
    assert (options.port, options.rest_api_port, options.model_name) == (9000, 9001, "m")
    assert options.enable_batching is True and options.enable_model_warmup is False
    assert options.file_system_poll_wait_seconds == 5


def test_serve_embedded_flag_skips_binary(monkeypatch):
    captured = {}
    monkeypatch.setattr(cli, "run_embedded", lambda options: captured.update(o=options))
    monkeypatch.setattr(launcher, "find_binary", lambda: "/bin/false")
    monkeypatch.setattr(launcher, "exec_binary", lambda *a: pytest.fail("exec'd"))
    result = CliRunner().invoke(cli.serve, ["--embedded", "--model_base_path=/m"])
    assert result.exit_code == 0 and "o" in captured


def test_serve_bad_config_exits_nonzero(monkeypatch, tmp_path):
    monkeypatch.setattr(launcher, "find_binary", lambda: None)
    bad = tmp_path / "bad.config"
    bad.write_text("model_config_list { nonsense")
    result = CliRunner().invoke(cli.serve, [f"--model_config_file={bad}", "--port=0"])
    assert result.exit_code == 1
    assert "Failed to start server" in result.output


def test_run_embedded_serves_until_stopped(model_store, tmp_path):
    from serving.client import GrpcClient
    from serving_test_helpers import free_port

    base = make_base_path(tmp_path, "text", model_store["text"], (1,))
    port, stop = free_port(), threading.Event()
    options = ServerOptions(port=port, model_name="text", model_base_path=base)
    thread = threading.Thread(target=cli.run_embedded, args=(options, stop))
    thread.start()
    try:
        with GrpcClient("127.0.0.1", port, retries=8, backoff=0.1) as client:
            assert client.classify_text(["good"], "text")[0].label == "positive"
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


FAKE_BINARY = """#!/bin/sh
printf '%s\\n' "$0" "$@" > "{record}"
"""


def test_python_m_serving_execs_real_binary_with_same_flags(tmp_path):
    record = tmp_path / "argv.txt"
    binary = tmp_path / "tensorflow_model_server"
    binary.write_text(FAKE_BINARY.format(record=record))
    binary.chmod(0o755)
    env = dict(os.environ, TF_SERVING_BINARY=str(binary))
    completed = subprocess.run(
        [sys.executable, "-m", "serving", "--model_name=m", "--model_base_path=models/m",
         "--rest_api_port=8501", "--enable_batching", "--host=127.0.0.1",
         "--max_request_bytes=1048576", "--enable_model_warmup=false"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    argv = wait_until(lambda: record.exists() and record.read_text().split("\n")[:-1])
    assert argv[0] == str(binary)
    assert sorted(argv[1:]) == sorted([
        "--rest_api_port=8501", "--enable_batching=true", "--model_name=m",
        f"--model_base_path={tmp_path / 'models' / 'm'}",
        "--enable_model_warmup=false",
        "--grpc_channel_arguments=grpc.max_receive_message_length=1048576"])


def test_find_binary_prefers_environment(monkeypatch, tmp_path):
    binary = tmp_path / "my_server"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("TF_SERVING_BINARY", str(binary))
    assert launcher.find_binary() == str(binary)
    monkeypatch.setenv("TF_SERVING_BINARY", str(tmp_path / "missing"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert launcher.find_binary() is None
