"""`mlops monitor` and `mlops feedback`: is the served model still seeing what it was trained on, is it still
right, and should it retrain? The work is tfx_pipeline/monitoring/; this module prints it and starts retrains."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import click

from tfx_pipeline.cli.common import (config_option, load, sample_option, serving_root_option, verbose_option,
                                     workdir_option)
from tfx_pipeline.cli.console import QuietOutput, log_file_path
from tfx_pipeline.config import duration_seconds

# A window with nothing to monitor is not a success: a scheduler should see it (2 is click's usage error).
EXIT_NOTHING_TO_MONITOR = 4
FEEDBACK_WINDOW = "30d"


def _window_option(default_help: str):
    return click.option("--window", default=None, help=f"How far back to read the logs (90s, 30m, 24h, 7d) "
                                                       f"[default: {default_help}].")


def _check_duration(window: Optional[str]) -> None:
    if window is not None:
        try:
            duration_seconds(window)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--window") from None


def _format_report(report) -> str:
    start, end = (time.strftime("%Y-%m-%d %H:%M", time.gmtime(t)) for t in (report.window_start, report.window_end))
    lines = [f"model {report.model} version {report.version}: {report.requests} requests from {start} to {end} UTC "
             f"({report.previous_requests} in the window before)",
             f"reference: the training texts of spans {report.reference_spans} ({report.reference_source})",
             f"verdict: {report.verdict.upper()}"]
    lines += [f"  - {reason}" for reason in report.reasons]
    lines.append(f"{'feature':<16} {'comparison':<10} {'measure':<26} {'value':>8} {'threshold':>9}")
    for score in report.scores:
        mark = "  <- over" if score["exceeded"] else ""
        lines.append(f"{score['feature']:<16} {score['comparison']:<10} {score['measure']:<26} "
                     f"{score['value']:>8.4f} {score['threshold']:>9g}{mark}")
    if report.text:
        text = report.text
        lines.append(f"text: ROC AUC {text['auc']:.3f}, p = {text['p_value']:.3g} ({text['method']}; "
                     f"{text['window_texts']} window and {text['reference_texts']} reference texts)")
        lines.append("  more frequent now: " + ", ".join(f"'{g}'" for g, _ in text["more_in_window"][:8]))
        lines.append("  less frequent now: " + ", ".join(f"'{g}'" for g, _ in text["more_in_reference"][:8]))
    means = ", ".join(f"{name} {values['window']:.3g} (training {values['reference']:.3g})"
                      for name, values in report.summary.items())
    lines.append(f"means: {means}")
    return "\n".join(lines)


def _in_flight(config, runner: str, airflow_home: Optional[Path]) -> Optional[str]:
    from tfx_pipeline.cli.workspace import holder

    running = holder(config.logs_dir.parent)
    if running:
        return running
    if runner == "airflow":
        from runners.airflow import daemons

        return daemons.dag_runs_in_flight(airflow_home or daemons.DEFAULT_HOME, config.pipeline_name)
    return None


def _start_retrain(config, config_path: Path, sample: Optional[int], airflow_home: Optional[Path], wait: bool,
                   say) -> str:
    from tfx_pipeline.monitoring.policy import start_local_run

    if config.monitoring.retrain.runner == "airflow":
        from runners.airflow import daemons

        run_id = daemons.trigger_dag(airflow_home or daemons.DEFAULT_HOME, config.pipeline_name)
        say(f"retrain: triggered the Airflow DAG '{config.pipeline_name}' (run {run_id})")
        return f"airflow run {run_id}"
    process = start_local_run(config, config_path, sample)
    say(f"retrain: `mlops run` started (pid {process.pid}; its console in {config.logs_dir})")
    if wait:
        code = process.wait()
        say(f"retrain: the run ended with exit status {code}")
    return f"pid {process.pid}"


@click.command("monitor")
@config_option
@sample_option
@workdir_option
@serving_root_option
@_window_option("monitoring.window")
@click.option("--history", "show_history", is_flag=True, help="Show every retrain decision made so far, and why.")
@click.option("--wait", is_flag=True, help="When a retrain starts on LocalDagRunner, wait for it to end.")
@click.option("--airflow-home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="AIRFLOW_HOME of `mlops airflow up`, for monitoring.retrain.runner: airflow.")
@verbose_option
def monitor(config_path: Path, sample: Optional[int], workdir: Optional[str], serving_root: Optional[str],
            window: Optional[str], show_history: bool, wait: bool, airflow_home: Optional[Path], verbose: bool) -> None:
    """Drift and skew of the served model's requests over a window; the verdict, and the retrain decision.

    Reads the request logs, compares each request's features with the served version's training data (skew) and
    with the window before (drift), tests whether the texts themselves moved, and writes every score to
    <workdir>/monitoring/, to ML Metadata and to Prometheus gauges. Then applies monitoring.retrain."""
    from tfx_pipeline.monitoring import policy, record

    config = load(config_path, sample, workdir=workdir, serving_root=serving_root)
    if show_history:
        decisions = policy.history(config)
        if not decisions:
            click.echo(f"no decision recorded for {config.serving.model_name} in {record.model_dir(config)}")
        for decision in decisions:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(decision.time))
            click.echo(f"{stamp} UTC  version {decision.version}  {decision.summary()}"
                       + (f"  [started {decision.started}]" if decision.started else ""))
        return
    _check_duration(window)
    from tfx_pipeline.monitoring.monitor import MonitoringError, monitor as run_monitor

    with QuietOutput(log_file_path(config.logs_dir, "monitor"), verbose) as quiet:
        def say(text: str) -> None:
            click.echo(text, file=quiet.console)

        try:
            report = run_monitor(config, window)
        except (MonitoringError, FileNotFoundError) as exc:
            say(f"nothing to monitor: {exc}")
            raise click.exceptions.Exit(EXIT_NOTHING_TO_MONITOR) from None
        path = record.write_report(config, "monitor", report.to_dict())
        record.write_gauges(config)
        execution = record.record_in_metadata(config, record.MONITOR_EXECUTION, report.version, path, {
            "verdict": report.verdict, "requests": report.requests, "window_start": int(report.window_start),
            "window_end": int(report.window_end), "served_version": report.version})
        say(_format_report(report))
        say(f"report: {path}" + (f" (ML Metadata execution {execution})" if execution else ""))

        decision = policy.decide(config, report.to_dict(), record.latest_report(config, "feedback"),
                                 _in_flight(config, config.monitoring.retrain.runner, airflow_home))
        decision.report = str(path)
        if decision.retrain:
            decision.command = " ".join(policy.run_command(config_path, sample))
            decision.started = _start_retrain(config, config_path, sample, airflow_home, wait, say)
        policy.record(config, decision)
        say(decision.summary())


@click.command("feedback")
@config_option
@sample_option
@workdir_option
@serving_root_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_window_option(FEEDBACK_WINDOW)
@click.option("--no-span", is_flag=True, help="Report the live metrics only; add no span.")
def feedback(config_path: Path, sample: Optional[int], workdir: Optional[str], serving_root: Optional[str], file: Path,
             window: Optional[str], no_span: bool) -> None:
    """Labels for served requests: the live accuracy and macro-F1, and a new span of labelled texts.

    FILE is a CSV with request_id,label rows (the id each response returned) or labelled texts (text,label)."""
    from tfx_pipeline.monitoring import record
    from tfx_pipeline.monitoring.feedback import FeedbackError, add_span, live_metrics, read_feedback

    config = load(config_path, sample, workdir=workdir, serving_root=serving_root)
    _check_duration(window)
    try:
        kind, rows = read_feedback(file, config)
    except FeedbackError as exc:
        raise click.ClickException(str(exc)) from None
    end = time.time()
    report, texts = live_metrics(config, kind, rows, end - duration_seconds(window or FEEDBACK_WINDOW), end)
    if report.labelled:
        low, high = report.accuracy_interval
        f1_low, f1_high = report.macro_f1_interval
        click.echo(f"version {report.version}: {report.labelled} labelled requests ({report.unmatched} rows matched "
                   f"no logged request): live accuracy {report.accuracy:.4f} [{low:.4f}, {high:.4f}], "
                   f"macro-F1 {report.macro_f1:.4f} [{f1_low:.4f}, {f1_high:.4f}] (95%)")
    else:
        click.echo(f"no row of {file} matched a request of '{config.serving.model_name}' logged in the last "
                   f"{window or FEEDBACK_WINDOW}: no live metric")
    if texts and not no_span:
        try:
            result, span_rows, new_rows = add_span(config, texts)
        except (ValueError, FileNotFoundError) as exc:
            raise click.ClickException(f"ingestion of the labelled texts failed: {exc}") from None
        report.span, report.span_rows, report.new_rows = result.span, span_rows, new_rows if result.created else 0
        report.ingestion = result.lines()
        click.echo("\n".join(result.lines()))
    body = report.to_dict()
    body["created"] = end
    path = record.write_report(config, "feedback", body)
    record.write_gauges(config)
    if report.version is not None:
        record.record_in_metadata(config, record.FEEDBACK_EXECUTION, report.version, path, {
            "labelled": report.labelled, "accuracy": report.accuracy if report.accuracy is not None else -1.0,
            "macro_f1": report.macro_f1 if report.macro_f1 is not None else -1.0, "served_version": report.version})
    click.echo(f"report: {path}")
