"""`mlops serve` and `mlops predict`: the serving package bound to a pipeline config.

serving/ knows nothing of configs; these commands fill in the model name and base path that Pusher writes to
(<serving_root>/<model_name>) and pass every TF Serving flag through. `predict` asks a server without importing
TensorFlow, so a call takes well under a second.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional, Tuple

import click

from serving import cli as serving_cli
from tfx_pipeline.cli.common import config_option, load, sample_option, verbose_option
from tfx_pipeline.cli.console import QuietOutput, log_file_path
from tfx_pipeline.locations import is_remote

_MODEL_FLAGS = ("model_name", "model_base_path", "model_config_file")


@click.command("serve", context_settings={"help_option_names": ["-h", "--help"]})
@config_option
@sample_option
@verbose_option
@serving_cli.server_options
@click.option("--embedded", is_flag=True, help="Use the Python server even if tensorflow_model_server is installed.")
@click.pass_context
def serve(ctx: click.Context, config_path: Path, sample: Optional[int], verbose: bool, embedded: bool,
          **flags) -> None:
    """Serve pushed models with TF Serving's gRPC and REST APIs.

    Without --model_name, --model_base_path or --model_config_file, the config's model is served from
    <serving_root>/<model_name>. Requests are logged under the config's monitoring.request_log folder (on by
    default). Runs tensorflow_model_server when it is installed, unless --embedded; it cannot log requests, so put
    `mlops serve --proxy-to HOST:PORT` in front of it. Every other flag is TF Serving's own. The server's events are
    shown; TensorFlow's output goes to a log file.
    """
    from serving.options import ServerOptions

    config = load(config_path, sample)
    given = {name for name in flags if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    if not given & set(_MODEL_FLAGS) and not flags["proxy_to"]:
        if not is_remote(config.push_root):  # a server started before the first push polls an empty folder
            config.push_root.mkdir(parents=True, exist_ok=True)
        flags.update(_model_flags(config))
    flags.update({k: v for k, v in _monitoring_flags(config).items() if k not in given})
    options = ServerOptions(**flags)
    with QuietOutput(log_file_path(config.logs_dir, "serve"), verbose, console_loggers=("serving",)) as quiet:
        click.echo(f"log: {quiet.log_path}", file=quiet.console)
        serving_cli.start(options, embedded)


def _model_flags(config) -> dict:
    """The config's model: from its labels file once `mlops models` (or the canary push policy) wrote one, so the
    labels are served; else the base path's newest version, as TF Serving serves a --model_base_path."""
    from tfx_pipeline.registry.labels import config_file

    labelled = None if is_remote(config.paths.serving_root) else config_file(config)
    if labelled is not None and labelled.is_file():
        # Labels name loaded versions (they are moved in two steps); TF Serving checks that before loading at
        # start-up (tensorflow/serving #1608), the embedded server after.
        return {"model_config_file": str(labelled), "model_config_file_poll_wait_seconds": 2,
                "allow_version_labels_for_unavailable_models": True}
    return {"model_name": config.serving.model_name, "model_base_path": str(config.push_root)}


def _monitoring_flags(config) -> dict:
    """The config's request log (on by default) and mlops monitor's gauges, as the embedded server's flags."""
    settings = config.monitoring.request_log
    flags = {"monitoring_extra_file": str(config.monitoring_dir / f"{config.serving.model_name}.prom")}
    if settings.enabled:
        flags.update(request_log_dir=str(config.request_log_root), request_log_sampling_rate=settings.sampling_rate,
                     request_log_max_file_bytes=int(settings.max_file_megabytes * 2 ** 20),
                     request_log_max_file_seconds=int(settings.max_file_minutes * 60),
                     request_log_queue_size=settings.queue_size)
    return flags


def _wait_until_available(client, model: str, seconds: float) -> None:
    from serving.client import ServingClientError

    deadline = time.monotonic() + seconds
    while True:
        try:
            if any(s["state"] == "AVAILABLE" for s in client.model_status(model)):
                return
        except ServingClientError:
            pass  # not up yet, or the model not loaded yet
        if time.monotonic() > deadline:
            raise click.ClickException(f"model '{model}' was not AVAILABLE within {seconds:g} s")
        time.sleep(0.5)


def format_predictions(results) -> str:
    lines = []
    for result in results:
        ranked = ", ".join(f"{c} {s:.3f}" for c, s in sorted(result.scores.items(), key=lambda kv: -kv[1]))
        version = f" (version {result.model_version})" if result.model_version else ""
        lines.append(f"{result.label:<10} {ranked}  <- {result.text!r}{version}")
    return "\n".join(lines)


def _not_found_hint(model: str, where: str, config_path: Path) -> str:
    return (f"\nno model '{model}' is served at {where}. The server serves what its --model_name or "
            f"--model_config_file says; start it with `mlops serve --config {config_path}`, or name the model "
            "with --model.")


@click.command("predict")
@click.argument("texts", nargs=-1, required=True)
@config_option
@sample_option
@click.option("--in-process", is_flag=True, help="Load the latest pushed version here instead of asking a server.")
@click.option("--rest", is_flag=True, help="Use the REST API instead of gRPC.")
@click.option("--model", default=None, help="Served model name [default: the config's serving.model_name].")
@click.option("--version", type=int, default=None, help="Exact model version.")
@click.option("--label", "version_label", default=None, help="Version label (e.g. stable, canary).")
@click.option("--signature", default="", help="Signature name [default: serving_default].")
@click.option("--example-feature", default=None,
              help="Send each text inside a serialized tf.Example under this feature name (for a tf.Example "
                   "signature such as serving_tf_example, with --example-feature text).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Server port [default: 8500 gRPC, 8501 REST].")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Per-call deadline in seconds.")
@click.option("--wait", type=float, default=0.0, help="Wait up to this many seconds for the model to be AVAILABLE.")
def predict(texts: Tuple[str, ...], config_path: Path, sample: Optional[int], in_process: bool, rest: bool,
            model: Optional[str], version: Optional[int], version_label: Optional[str], signature: str,
            example_feature: Optional[str], host: str, port: Optional[int], timeout: float, wait: float) -> None:
    """Label TEXTS with a served model (gRPC by default), printing the label and a score per class."""
    from serving.client import ServingClientError

    if version is not None and version_label:
        raise click.UsageError("--version and --label are mutually exclusive")
    config = load(config_path, sample)
    model = model or config.serving.model_name
    texts: List[str] = list(texts)
    call = dict(version=version, label=version_label, signature=signature, example_feature=example_feature)
    if in_process:
        from serving.client import LocalClient

        with QuietOutput(log_file_path(config.logs_dir, "predict")) as quiet:
            try:
                with LocalClient(str(config.push_root), model) as client:
                    results = client.classify_text(texts, model, **call)
            except ServingClientError as exc:
                raise click.ClickException(f"{exc} (in {config.push_root}: run `mlops run` first?)") from None
            click.echo(format_predictions(results), file=quiet.console)
        return

    from serving.client import make_client

    with make_client(rest=rest, host=host, port=port, timeout=timeout) as client:
        if wait:
            _wait_until_available(client, model, wait)
        try:
            results = client.classify_text(texts, model, **call)
        except ServingClientError as exc:
            where = f"{host}:{port or ('8501' if rest else '8500')}"
            hint = _not_found_hint(model, where, config_path) if exc.code == "NOT_FOUND" else ""
            raise click.ClickException(f"{exc}{hint}") from None
    click.echo(format_predictions(results))
