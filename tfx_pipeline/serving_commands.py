"""`mlops serve` and `mlops predict`: the serving package bound to a pipeline config.

serving/ knows nothing of configs; these commands fill in the model name and base path that Pusher writes
to (<serving_root>/<model_name>), and pass every TF Serving flag through unchanged.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional, Tuple

import click

from tfx_pipeline.config import DEFAULT_CONFIG, ConfigError, PipelineConfig, load_config
from tfx_pipeline.locations import is_remote

_MODEL_FLAGS = ("--model_name", "--model_base_path", "--model_config_file")


def _config(config_path: Path, sample: Optional[int]) -> PipelineConfig:
    try:
        return load_config(config_path).with_overrides(sample=sample)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


config_option = click.option("--config", "config_path", type=click.Path(path_type=Path), default=DEFAULT_CONFIG,
                              show_default=True, help="Pipeline config (YAML).")
sample_option = click.option("--sample", type=click.IntRange(min=30), default=None,
                             help="Use the model of the `mlops run --sample N` workspace.")


@click.command("serve", add_help_option=False,
               context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@config_option
@sample_option
@click.pass_context
def serve(ctx: click.Context, config_path: Path, sample: Optional[int]) -> None:
    """Serve pushed models with TF Serving's gRPC and REST APIs.

    Every TF Serving flag passes through (--port, --rest_api_port, --enable_batching, ...; `mlops serve --help`
    lists them). Without --model_name, --model_base_path or --model_config_file, the config's model is served
    from <serving_root>/<model_name>. Runs tensorflow_model_server when it is installed, unless --embedded.
    """
    from serving import cli as serving_cli

    args = list(ctx.args)
    if "--help" not in args and "-h" not in args and not any(a.split("=")[0] in _MODEL_FLAGS for a in args):
        config = _config(config_path, sample)
        if not is_remote(config.push_root):  # a server started before the first push polls an empty folder
            config.push_root.mkdir(parents=True, exist_ok=True)
        args = [f"--model_name={config.serving.model_name}", f"--model_base_path={config.push_root}", *args]
    serving_cli.serve.main(args, prog_name="mlops serve", standalone_mode=True)


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


@click.command("predict")
@click.argument("texts", nargs=-1, required=True)
@config_option
@sample_option
@click.option("--in-process", is_flag=True, help="Load the latest pushed version here instead of asking a server.")
@click.option("--rest", is_flag=True, help="Use the REST API instead of gRPC.")
@click.option("--model", default=None, help="Served model name [default: the config's serving.model_name].")
@click.option("--version", type=int, default=None, help="Exact model version.")
@click.option("--label", "version_label", default=None, help="Version label (e.g. stable, canary).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Server port [default: 8500 gRPC, 8501 REST].")
@click.option("--wait", type=float, default=0.0, help="Wait up to this many seconds for the model to be AVAILABLE.")
def predict(texts: Tuple[str, ...], config_path: Path, sample: Optional[int], in_process: bool, rest: bool,
            model: Optional[str], version: Optional[int], version_label: Optional[str], host: str,
            port: Optional[int], wait: float) -> None:
    """Label TEXTS with a served model (gRPC by default), printing the label and a score per class."""
    from tfx_pipeline.in_process_predict import format_predictions

    if version is not None and version_label:
        raise click.UsageError("--version and --label are mutually exclusive")
    config = _config(config_path, sample)
    if in_process:
        from tfx_pipeline.in_process_predict import latest_version_dir, predict as predict_here

        try:
            model_dir = latest_version_dir(config.push_root)
        except FileNotFoundError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(format_predictions(list(texts), predict_here(model_dir, list(texts)), model_dir.name))
        return

    from serving.client import ServingClientError, make_client

    model = model or config.serving.model_name
    with make_client(rest=rest, host=host, port=port) as client:
        if wait:
            _wait_until_available(client, model, wait)
        try:
            results = client.classify_text(list(texts), model, version=version, label=version_label)
        except ServingClientError as exc:
            raise click.ClickException(str(exc)) from None
    # REST predict responses do not say which version answered; gRPC ones do.
    versions = {r.model_version for r in results} - {None}
    click.echo(format_predictions(list(texts), [(r.label, r.scores) for r in results],
                                  str(versions.pop()) if len(versions) == 1 else None))
