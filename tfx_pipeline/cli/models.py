"""`mlops models list|show|why|promote|rollback|history`: what is serving, why, from what; labels moved safely.

list, promote, rollback and history import no TFX or TensorFlow runtime (the protocol's protos only); show and
why read ML Metadata, and why reads the evaluation with TFMA.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import click

from tfx_pipeline.cli.common import config_option, load, sample_option, serving_root_option, workdir_option

_host_option = click.option("--host", default=None, help="The model server [default: serving.host].")
_port_option = click.option("--port", type=int, default=None, help="Its gRPC port [default: serving.grpc_port].")


def _stamp(seconds: Optional[float]) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) if seconds else "?"


def _server(config, host: Optional[str], port: Optional[int]):
    """The model server if one answers at the address, else None."""
    from serving.protos import load_protocol_only

    load_protocol_only()
    from tfx_pipeline.registry.labels import Server

    server = Server(host or config.serving.host, port or config.serving.grpc_port)
    if server.reachable():
        return server
    server.close()
    return None


@click.group("models")
def models() -> None:
    """The pushed versions of the config's model: list, show, why; promote, rollback, history of labels."""


def _context(config_path, sample, workdir, serving_root):
    return load(config_path, sample, workdir=workdir, serving_root=serving_root)


def _common(function):
    for option in reversed((config_option, sample_option, workdir_option, serving_root_option)):
        function = option(function)
    return function


@models.command("list")
@_common
@_host_option
@_port_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per version.")
def list_versions(config_path, sample, workdir, serving_root, host, port, as_json) -> None:
    """One row per pushed version: pushed at, run, spans, metrics, baseline, labels, state on the server."""
    from tfx_pipeline.registry import labels, versions

    config = _context(config_path, sample, workdir, serving_root)
    server = _server(config, host, port)
    states = server.states(config.serving.model_name) if server else None
    rows = versions.list_versions(config, labels.read_labels(config), states)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row.to_dict(), sort_keys=True))
        return
    if not rows:
        click.echo(f"no version of {config.serving.model_name} under {config.push_root}")
        return
    click.echo(f"{'version':<11} {'pushed at (UTC)':<19} {'accuracy':>8} {'macro_f1':>8} {'baseline':<10} "
               f"{'labels':<13} {'server':<10} {'spans':<14} run / decision")
    for row in rows:
        metrics = [f"{row.metrics[m]:.4f}" if m in row.metrics else "" for m in versions.METRICS]
        spans = ",".join(s.split(":")[0] for s in row.spans)
        click.echo(f"{row.version:<11} {_stamp(row.pushed_at):<19} {metrics[0]:>8} {metrics[1]:>8} "
                   f"{str(row.baseline_version or '-'):<10} {','.join(row.labels) or '-':<13} "
                   f"{(row.server_state or ('-' if server else 'no server')):<10} {spans or '-':<14} "
                   f"{row.run_id or ''} {row.decision}")


def _lineage(config, version: int):
    from tfx_pipeline.metadata.lineage import Lineage
    from tfx_pipeline.metadata.store import open_store

    store = open_store(config)
    return None if store is None else Lineage(store).version_lineage(version)


@models.command("show")
@_common
@click.argument("version", type=int)
def show(config_path, sample, workdir, serving_root, version) -> None:
    """The lineage of VERSION: examples, statistics, schema, transform graph, hyperparameters, evaluation,
    config and code; and whether the facts the version carries agree with ML Metadata."""
    from tfx_pipeline.metadata.lineage import property_value
    from tfx_pipeline.registry.versions import read_facts

    config = _context(config_path, sample, workdir, serving_root)
    folder = Path(config.push_root) / str(version)
    facts = read_facts(folder) if folder.is_dir() else None
    chain = _lineage(config, version)
    if chain is None and facts is None:
        state = "its folder is gone" if not folder.is_dir() else "its folder holds no mlops_model.json"
        raise click.ClickException(f"version {version} of {config.serving.model_name} is not in ML Metadata "
                                   f"({config.metadata_where}) and {state}")
    click.echo(f"version {version} of {config.serving.model_name}: "
               + (f"{folder}" if folder.is_dir() else f"gone (its folder {folder} was deleted)"))
    if chain is not None:
        pushed = chain.pushed_model
        click.echo(f"  pushed        {_stamp(property_value(pushed, 'pushed_at'))} UTC by run {chain.run_id}")
        click.echo(f"  model         {chain.model.uri if chain.model else '?'}")
        if chain.trainer is not None:
            custom = json.loads(str(property_value(chain.trainer.execution, "custom_config") or "{}"))
            hyperparameters = json.dumps(custom.get("hyperparameters", {}), sort_keys=True)
            click.echo(f"  trainer       hyperparameters {hyperparameters}")
        click.echo(f"  transform     graph {chain.transform_graph.uri if chain.transform_graph else '?'}")
        click.echo(f"  schema        {chain.schema.uri if chain.schema else '?'}")
        for examples in chain.examples:
            click.echo(f"  examples      span {property_value(examples, 'span')}: {examples.uri}")
        for statistics in chain.statistics:
            click.echo(f"  statistics    {statistics.uri}")
        click.echo(f"  evaluation    {chain.evaluation.uri if chain.evaluation else '?'}")
        spans = str(property_value(pushed, "spans") or "")
        for item in filter(None, spans.split(",")):
            span, digest = item.split(":", 1)
            click.echo(f"  span {span:<8} content sha256 {digest}")
        click.echo(f"  config        sha256 {property_value(pushed, 'config_sha256')}")
        commit, dirty = property_value(pushed, "git_commit"), property_value(pushed, "dirty")
        click.echo("  code          " + (f"git {commit}" + (" (uncommitted changes)" if dirty else "") if commit
                                         else f"package {property_value(pushed, 'package_version')}"))
        click.echo(f"  lock          sha256 {property_value(pushed, 'lock_sha256')}")
    if facts is not None:
        provenance = facts.get("provenance") or {}
        file_spans = ",".join(f"{s['span']}:{s['sha256']}" for s in provenance.get("spans", []))
        if chain is None:
            click.echo(f"  (not in ML Metadata; from {folder / 'assets.extra' / 'mlops_model.json'})")
            click.echo(f"  spans {file_spans}; config sha256 {provenance.get('config_sha256')}; code "
                       f"{provenance.get('code')}")
        else:
            pushed = chain.pushed_model
            agree = (file_spans == str(property_value(pushed, "spans") or "")
                     and provenance.get("config_sha256") == property_value(pushed, "config_sha256"))
            click.echo("  assets.extra/mlops_model.json " + ("agrees with ML Metadata" if agree else
                                                             "DIFFERS from ML Metadata"))


def _worst_slices(evaluation_uri: str, metric: str = "accuracy", count: int = 3):
    import tensorflow_model_analysis as tfma

    found = []
    for metrics in tfma.load_metrics(evaluation_uri):
        keys = metrics.slice_key.single_slice_keys
        if not keys:
            continue
        name = ", ".join(f"{k.column}={k.bytes_value.decode() or k.int64_value}" for k in keys)
        values = {m.key.name: m.value.double_value.value for m in metrics.metric_keys_and_values
                  if not m.key.HasField("sub_key") and not m.key.is_diff and m.key.model_name in ("", "candidate")}
        if metric in values:
            found.append((values[metric], name, values.get("example_count")))
    return sorted(found)[:count]


@models.command("why")
@_common
@click.argument("version", type=int)
def why(config_path, sample, workdir, serving_root, version) -> None:
    """Why VERSION was pushed: each metric against its bound and the baseline, and its worst slices."""
    from tfx_pipeline.metadata.lineage import property_value

    config = _context(config_path, sample, workdir, serving_root)
    chain = _lineage(config, version)
    if chain is None:
        raise click.ClickException(f"version {version} of {config.serving.model_name} is not in ML Metadata "
                                   f"({config.metadata_where}): its evaluation cannot be found")
    from tfx_pipeline.registry.versions import list_versions

    pushed = chain.pushed_model
    click.echo(f"version {version}: blessed and pushed by run {chain.run_id}")
    baseline_version = next(r.baseline_version for r in list_versions(config) if r.version == version)
    for name, threshold in config.evaluation.thresholds.items():
        value = property_value(pushed, name)
        baseline = property_value(pushed, f"baseline_{name}")
        line = f"  {name:<9} {value:.4f} >= lower bound {threshold.lower_bound:.4f}" if value is not None else \
            f"  {name:<9} not recorded"
        if baseline is not None:
            line += (f"; baseline (version {baseline_version or '?'}) {baseline:.4f}, change {value - baseline:+.4f}"
                     f" >= -{threshold.max_drop:.4f} allowed")
        else:
            line += "; no baseline (the first blessed model)"
        click.echo(line)
    if chain.evaluation is not None:
        click.echo("  worst slices by accuracy:")
        for value, name, count in _worst_slices(chain.evaluation.uri):
            click.echo(f"    {name:<24} {value:.4f} ({int(count or 0)} examples)")


def _command_line() -> str:
    """The command as the history records it: `mlops models promote 17 --label stable --config ...`."""
    context = click.get_current_context()
    options = " ".join(f"--{name.replace('_', '-')} {value}" for name, value in sorted(context.params.items())
                       if value is not None and name != "version" and value is not False)
    version = context.params.get("version")
    return " ".join(filter(None, (context.command_path, str(version) if version is not None else "", options)))


def _move(config, label: str, version: int, host, port, kind: str, command: str) -> None:
    from tfx_pipeline.registry import labels

    server = _server(config, host, port)
    try:
        move = labels.move_label(config, label, version, server, command, click.echo, kind=kind)
    except labels.LabelError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if server is not None:
            server.close()
    click.echo(f"{label}: {move.from_version or '-'} -> {move.to_version} ({labels.config_file(config)})")


@models.command("promote")
@_common
@click.argument("version", type=int)
@click.option("--label", type=click.Choice(["canary", "stable"]), required=True)
@_host_option
@_port_option
def promote(config_path, sample, workdir, serving_root, version, label, host, port) -> None:
    """Move LABEL to VERSION: the version is loaded first, then the label moves (a server is told with
    HandleReloadConfigRequest; without one, the config file is written for a polling server or the next start)."""
    config = _context(config_path, sample, workdir, serving_root)
    _move(config, label, version, host, port, "promote", _command_line())


@models.command("rollback")
@_common
@_host_option
@_port_option
def rollback(config_path, sample, workdir, serving_root, host, port) -> None:
    """Move stable back to the version it held before."""
    from tfx_pipeline.registry.labels import LabelError, previous_stable

    config = _context(config_path, sample, workdir, serving_root)
    try:
        version = previous_stable(config)
    except LabelError as exc:
        raise click.ClickException(str(exc)) from None
    _move(config, "stable", version, host, port, "rollback", _command_line())


@models.command("history")
@_common
def history(config_path, sample, workdir, serving_root) -> None:
    """Every label move: when, which label, from and to which version, by which command."""
    from tfx_pipeline.registry.labels import history as moves

    config = _context(config_path, sample, workdir, serving_root)
    recorded = moves(config)
    if not recorded:
        click.echo(f"no label of {config.serving.model_name} has moved yet")
    for move in recorded:
        click.echo(f"{_stamp(move.time)} UTC  {move.label:<7} {str(move.from_version or '-'):>11} -> "
                   f"{move.to_version:<11} {move.kind:<8} ({move.applied})  {move.command}")
