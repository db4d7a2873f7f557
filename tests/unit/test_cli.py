"""Code tests for the `mlops` command line: every command's help, and what `serve` passes to the server."""
import pytest
from click.testing import CliRunner

from serving import cli as serving_cli
from tfx_pipeline.cli import mlops

COMMANDS = [["run"], ["report"], ["ingest"], ["schema", "propose"], ["serve"], ["predict"], ["airflow", "up"],
            ["airflow", "down"], ["airflow", "status"], ["compile"], ["doctor"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_every_command_has_help_under_both_spellings(command, flag):
    result = CliRunner().invoke(mlops, [*command, flag])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: mlops {' '.join(command)} ")


def test_serve_help_lists_the_config_options_and_tf_servings_flags():
    output = CliRunner().invoke(mlops, ["serve", "--help"]).output
    for option in ("--config", "--sample", "--verbose", "--embedded", "--port", "--rest_api_port",
                   "--model_config_file", "--enable_batching", "--monitoring_config_file"):
        assert f"{option} " in output or f"{option}=" in output or f"{option}\n" in output, option


def test_serve_fills_in_the_configs_model_unless_the_command_line_names_one(config_file, monkeypatch):
    started = []
    monkeypatch.setattr(serving_cli, "start", lambda options, embedded: started.append((options, embedded)))
    path = config_file()
    assert CliRunner().invoke(mlops, ["serve", "--config", str(path), "--port=9100", "--embedded"]).exit_code == 0
    options, embedded = started[-1]
    assert (options.model_name, options.port, embedded) == ("sentiment", 9100, True)
    assert options.model_base_path == str(path.parent / "serving" / "sentiment")
    result = CliRunner().invoke(mlops, ["serve", "--config", str(path), "--model_name=other",
                                        "--model_base_path=/models/other"])
    assert result.exit_code == 0, result.output
    assert (started[-1][0].model_name, started[-1][0].model_base_path) == ("other", "/models/other")


def test_an_unknown_flag_is_refused_as_tf_serving_would():
    result = CliRunner().invoke(mlops, ["serve", "--no_such_flag=1"])
    assert result.exit_code == 2 and "No such option: --no_such_flag" in result.output


def test_serve_logs_requests_by_default_where_monitor_reads_them(config_file, monkeypatch):
    from tfx_pipeline.config import load_config

    started = []
    monkeypatch.setattr(serving_cli, "start", lambda options, embedded: started.append(options))
    path = config_file(monitoring={"request_log": {"sampling_rate": 0.25, "max_file_megabytes": 2}})
    assert CliRunner().invoke(mlops, ["serve", "--config", str(path)]).exit_code == 0
    config = load_config(path)
    options = started[-1]
    assert options.request_log_dir == str(config.request_log_root) == str(path.parent / "work" / "request_logs")
    assert (options.request_log_sampling_rate, options.request_log_max_file_bytes) == (0.25, 2 << 20)
    assert options.monitoring_extra_file == str(config.monitoring_dir / "sentiment.prom")
    # Off in the config, off in the server; a flag on the command line wins over the config.
    off = config_file(name="off.yaml", monitoring={"request_log": {"enabled": False}})
    assert CliRunner().invoke(mlops, ["serve", "--config", str(off)]).exit_code == 0
    assert started[-1].request_log_dir == ""
    assert CliRunner().invoke(mlops, ["serve", "--config", str(path), "--request_log_dir=/elsewhere"]).exit_code == 0
    assert started[-1].request_log_dir == "/elsewhere"


def test_a_failure_tail_starts_where_the_failing_component_began_and_marks_what_it_left_out(tmp_path):
    from tfx_pipeline.cli.console import QuietOutput

    records = ["2026-12-02 09:00:00,000 INFO tfx: Component trainer is running."]
    records += [f"2026-12-02 09:00:01,{i:03d} INFO absl: step {i}" for i in range(40)]
    records += ["2026-12-02 09:00:02,000 ERROR tfx: it broke", "Traceback (most recent call last):", "  boom"]
    log = tmp_path / "run.log"
    log.write_text("2026-12-02 08:59:59,000 INFO tfx: Component transform is running.\n" + "\n".join(records) + "\n")
    with QuietOutput(log, verbose=True) as quiet:
        tail = quiet.tail(6, "Component trainer is running.")
        short = quiet.tail(50, "Component trainer is running.")
        unanchored = quiet.tail(3)
    assert tail == [records[0], "...", "2026-12-02 09:00:01,038 INFO absl: step 38",
                    "2026-12-02 09:00:01,039 INFO absl: step 39"] + records[-3:]
    assert short == records
    assert unanchored == records[-3:]
