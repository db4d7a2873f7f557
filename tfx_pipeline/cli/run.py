"""`mlops run`: ingest the configured source as a span (if it changed), run the pipeline on LocalDagRunner with live
progress, then print what the run did. TensorFlow's, absl's and Beam's output goes to a per-run log file."""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import click

from tfx_pipeline.cli.common import (config_option, load, pipeline_root_option, sample_option, serving_root_option,
                                     start_metadata_server, verbose_option, workdir_option)
from tfx_pipeline.cli.console import QuietOutput, log_file_path
from tfx_pipeline.cli.workspace import RunLock, WorkspaceBusy
from tfx_pipeline.config import ConfigError

# Exit codes a scheduler or a CI step can tell apart (2 is click's own for a usage error).
EXIT_RUN_FAILED = 1
EXIT_NOT_BLESSED = 3
_LOG_TAIL_LINES = 15

log = logging.getLogger(__name__)


@contextmanager
def _timed(phase: str):
    """Logs the phase's wall seconds ("phase seconds: ..." lines, which bench/pipeline.py reads for its breakdown)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        log.info("phase seconds: %s %.2f", phase, time.perf_counter() - started)


@click.command("run")
@config_option
@sample_option
@workdir_option
@pipeline_root_option
@serving_root_option
@verbose_option
@click.option("--html/--no-html", default=True, show_default=True, help="Write the run's HTML report.")
def run(config_path: Path, sample: Optional[int], workdir: Optional[str], pipeline_root: Optional[str],
        serving_root: Optional[str], verbose: bool, html: bool) -> None:
    """Ingest the configured source as a span (if changed) and run the pipeline on LocalDagRunner.

    Exit status: 0 when a model was pushed or the served one is unchanged, 1 when the run stopped (bad data, a
    failed component, or another run holds the workspace), 3 when the model was not blessed and nothing was
    pushed."""
    config = load(config_path, sample, workdir=workdir, pipeline_root=pipeline_root, serving_root=serving_root)
    try:
        config.require_metadata("mlops run")
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        with RunLock(config.logs_dir.parent), QuietOutput(log_file_path(config.logs_dir, "run"), verbose) as quiet:
            code = _run(config, sample, quiet, verbose, html)
    except WorkspaceBusy as exc:
        raise click.ClickException(str(exc)) from None
    if code:
        raise click.exceptions.Exit(code)


def _run(config, sample: Optional[int], quiet: QuietOutput, verbose: bool, html: bool = True) -> int:
    from tfx_pipeline.data.ingest import ingest

    def say(text: str = "") -> None:
        click.echo(text, file=quiet.console)

    import psutil

    log.info("phase seconds: start-up %.2f", time.time() - psutil.Process().create_time())  # imports, config

    try:
        started = start_metadata_server(config)
    except click.ClickException as exc:
        say(exc.message)
        return EXIT_RUN_FAILED
    if started:
        say(started)
    try:
        with _timed("ingestion"):
            result = ingest(config, sample=sample)
    except (ValueError, FileNotFoundError) as exc:
        say(f"ingestion failed: {exc}")
        return EXIT_RUN_FAILED
    say("ingestion:\n  " + "\n  ".join(result.lines()))
    say(f"log: {quiet.log_path}")
    from tfx_pipeline.metadata.orphans import close_orphaned_executions

    with _timed("orphaned executions"):
        closed = close_orphaned_executions(config)  # safe: this process holds the workspace's lock
    if closed:
        say(f"ML Metadata: closed {len(closed)} execution(s) that a killed run left running "
            f"(ids {', '.join(map(str, closed))}), as CANCELED")

    with _timed("imports of the pipeline"):
        from runners import local_runner
        from tfx_pipeline.cli.progress import RunProgress
        from tfx_pipeline.metadata.run_report import build_report
        from tfx_pipeline.pipeline import create_pipeline

    with _timed("pipeline definition"):
        component_ids = [c.id for c in create_pipeline(config).components]
    failure = None
    with RunProgress(quiet.console, component_ids, f"\npipeline {config.pipeline_name} on LocalDagRunner",
                     redraw=not verbose) as progress:
        try:
            with _timed("LocalDagRunner"):
                local_runner.run(config)
        except Exception as exc:  # the table below still says which component stopped the run
            failure = exc
    with _timed("run report"):
        report = build_report(config, component_ids)
    say(f"\npipeline run {report.run_id}\n{report.table()}")
    if html:
        from tfx_pipeline.reports.html import report_folder, write_report

        try:
            with _timed("html report"):
                written = write_report(config, report, report_folder(config))
            say(f"html report: {written}")
        except Exception as exc:  # the run's outcome stands whatever happens to its report
            log.exception("the HTML report could not be written")
            say(f"html report: not written ({type(exc).__name__}: {exc}; see the log)")
    if failure is not None:
        where = progress.failed_component or "the pipeline"
        say(f"\nthe run stopped at {where}: {type(failure).__name__}: {failure}")
        since = f"Component {where} is running." if progress.failed_component else ""
        say("last lines of the log:\n  " + "\n  ".join(quiet.tail(_LOG_TAIL_LINES, since)))
        log.error("the run stopped at %s", where, exc_info=failure)  # the traceback, for the log file only
        say(f"full log (with the traceback): {quiet.log_path}")
        return EXIT_RUN_FAILED
    if report.pushed_version is not None and config.serving.push_policy == "canary":
        _label_the_push(config, report.pushed_version, say)
    say(f"log: {quiet.log_path}")
    return EXIT_NOT_BLESSED if report.blessed is False else 0


def _label_the_push(config, version: int, say) -> None:
    """The canary push policy: the first version becomes stable, every later one canary (promote moves stable)."""
    from tfx_pipeline.cli.models import _server
    from tfx_pipeline.registry import labels

    label = "canary" if "stable" in labels.read_labels(config) else "stable"
    server = _server(config, None, None)
    try:
        labels.move_label(config, label, version, server, "mlops run (serving.push_policy: canary)", say, kind="push")
    except labels.LabelError as exc:
        say(f"the pushed version was not labelled {label}: {exc}")
    finally:
        if server is not None:
            server.close()
