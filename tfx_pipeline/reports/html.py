"""`mlops report --html`: one self-contained HTML file per run, readable offline.

Everything is inline (CSS, SVG charts, no script, no font or image to fetch), so the file opens from a disk, an
e-mail or a CI artifact with no network: TFDV's HTML pulls Facets from a CDN, and TFMA's views need a notebook.
Sections (each an element with an id): summary, data, anomalies, evaluation, training, blessing, lineage,
model-card.
"""
from __future__ import annotations

import json
import time
from html import escape
from pathlib import Path

from tfx_pipeline.reports import svg
from tfx_pipeline.reports.content import Content, gather

SECTIONS = ("summary", "data", "anomalies", "evaluation", "training", "blessing", "lineage", "model-card")

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1f3b57;color:#fff;padding:18px 28px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;opacity:.85}nav{padding:8px 28px;background:#e8edf2}nav a{margin-right:14px;color:#1f3b57}
main{padding:8px 28px 40px;max-width:1180px}section{background:#fff;border:1px solid #dde3e9;border-radius:6px;
padding:6px 18px 14px;margin:14px 0}h2{font-size:17px;border-bottom:1px solid #eef1f4;padding-bottom:4px}
table{border-collapse:collapse;margin:6px 0 10px}th,td{border:1px solid #dde3e9;padding:3px 8px;text-align:left}
th{background:#f0f3f6}td.num{text-align:right}.grid{display:flex;flex-wrap:wrap;gap:18px}
.chart text{font-size:11px;fill:#333}.chart .title{font-size:12px;font-weight:600}.chart .axis{stroke:#999}
.chart text.light{fill:#fff}.ok{color:#2e7d32;font-weight:600}.fail{color:#c62828;font-weight:600}
.empty{color:#777;font-style:italic}code{background:#f0f3f6;padding:0 3px;border-radius:3px;word-break:break-all}
"""


def _section(identifier: str, title: str, body: str) -> str:
    return f'<section id="{identifier}"><h2>{escape(title)}</h2>{body}</section>'


def _summary(content: Content) -> str:
    run = content.run
    decision = {True: '<span class="ok">BLESSED</span>', False: '<span class="fail">NOT BLESSED</span>',
                None: "no decision"}[run.blessed]
    pushed = escape(run.pushed_path) if run.pushed_path else (
        f"nothing (version {run.already_serving_version} already holds this model)"
        if run.already_serving_version else "nothing")
    rows = [(c.component_id, c.state, f"{c.seconds:.1f}") for c in run.components]
    return (f"<p>Run <code>{escape(run.run_id)}</code> of pipeline <b>{escape(content.config.pipeline_name)}</b>, "
            f"recorded by {escape(run.launcher)}. Blessing: {decision}. Pushed: {pushed}.</p>"
            + svg.table(("component", "state", "seconds"), rows))


def _data(content: Content) -> str:
    if not content.statistics:
        return '<p class="empty">No statistics: StatisticsGen did not run.</p>'
    rows = [(split, f"{s.examples:,}", f"{s.text_average_characters:.1f}", f"{s.text_unique:,}", s.text_missing)
            for split, s in content.statistics.items()]
    charts = []
    for split, stats in content.statistics.items():
        charts.append(svg.bars(stats.labels, f"{split}: labels"))
        charts.append(svg.bars(stats.length_buckets, f"{split}: text length (words)"))
    return ("<p>TFDV's statistics of the examples each split holds (StatisticsGen).</p>"
            + svg.table(("split", "examples", "text: mean characters", "unique texts", "missing texts"), rows)
            + f'<div class="grid">{"".join(charts)}</div>')


def _anomalies(content: Content) -> str:
    if "anomalies" not in content.artifacts:
        return '<p class="empty">ExampleValidator did not run.</p>'
    if not content.anomalies:
        return '<p class="ok">None: every split matches the curated schema.</p>'
    return "<ul>" + "".join(f"<li>{escape(a)}</li>" for a in content.anomalies) + "</ul>"


def _evaluation(content: Content) -> str:
    if not content.overall:
        return '<p class="empty">No evaluation: the Evaluator did not run.</p>'
    labels = list(content.config.labels)
    overall = [(name, f"{value:,.0f}" if name == "example_count" else f"{value:.4f}")
               for name, value in sorted(content.overall.items())]
    per_class = [(label, *(f"{content.per_class.get(m, {}).get(label, float('nan')):.4f}"
                           for m in ("precision", "recall"))) for label in labels]
    by_column = {}
    for column, value, accuracy, count in content.slices:
        by_column.setdefault(column, {})[f"{value} (n={int(count)})"] = accuracy
    charts = [svg.bars(values, f"accuracy by {column}", number_format="{:.3f}", maximum=1.0)
              for column, values in by_column.items()]
    if content.confusion:
        charts.append(svg.heatmap(labels, content.confusion, "confusion matrix (test split)"))
    return ("<p>TFMA on the test split.</p>" + '<div class="grid">'
            + svg.table(("metric", "value"), overall) + svg.table(("class", "precision", "recall"), per_class)
            + "</div>" + f'<div class="grid">{"".join(charts)}</div>')


def _training(content: Content) -> str:
    if not content.curves:
        return '<p class="empty">No training curves: the Trainer did not run in this pipeline run.</p>'
    charts = [svg.lines(series, metric) for metric, series in content.curves.items()]
    return ("<p>Per epoch, from the Trainer's TensorBoard logs (its model_run artifact); early stopping keeps the "
            f"best epoch's weights.</p><div class=\"grid\">{''.join(charts)}</div>")


def _blessing(content: Content) -> str:
    run = content.run
    if not run.checks:
        return f"<p>{escape(run.blessing_reason or 'No decision was made.')}</p>"
    rows = []
    for check in run.checks:
        baseline = "none" if check.baseline is None else f"{check.baseline:.4f}"
        rows.append((check.name, "missing" if check.value is None else f"{check.value:.4f}",
                     f"{check.lower_bound:.4f}", baseline, f"{check.max_drop:.4f}",
                     "ok" if check.ok else "FAIL: " + "; ".join(check.failures)))
    reason = f" ({escape(run.blessing_reason)})" if run.blessing_reason else ""
    return (f"<p>Decision: {'BLESSED' if run.blessed else 'NOT BLESSED'}{reason}.</p>"
            + svg.table(("metric", "candidate", "lower bound", "baseline", "allowed drop", "verdict"), rows))


def _lineage(content: Content) -> str:
    rows = [(what, uri) for what, uri in content.artifacts.items()]
    provenance = content.provenance or {}
    facts = []
    if provenance:
        code = provenance.get("code", {})
        facts = [("code", f"git {code['git_commit']}" + (" (uncommitted changes)" if code.get("dirty") else "")
                  if code.get("git_commit") else f"package {code.get('package_version')}"),
                 ("config file", f"{provenance.get('config_file')} (sha256 {provenance.get('config_sha256')})"),
                 ("lock", f"sha256 {provenance.get('lock_sha256')}")]
        facts += [(f"span {s['span']}", f"sha256 {s['sha256']}, rows {json.dumps(s.get('rows_per_split'))}")
                  for s in provenance.get("spans", [])]
    return (svg.table(("fact", "value"), facts) if facts else "") + svg.table(("artifact", "uri"), rows)


def _model_card(content: Content) -> str:
    card, config = content.config.model_card, content.config
    train = content.statistics.get("train")
    data = (f"{config.data.source} (text column '{config.data.text_column}', label column "
            f"'{config.data.label_column}'); this run: " +
            ", ".join(f"{split} {s.examples:,}" for split, s in content.statistics.items())
            if content.statistics else str(config.data.source))
    metrics = ", ".join(f"{name} {value:.4f}" for name, value in sorted(content.overall.items())
                        if name in ("accuracy", "macro_f1")) or "not evaluated"
    rows = [("model", f"{config.serving.model_name}: labels {', '.join(config.labels)}"),
            ("intended use", card.intended_use or "(not stated in the config's model_card.intended_use)"),
            ("data", data),
            ("metrics (test split)", metrics),
            ("limitations", card.limitations or "(not stated in model_card.limitations)"),
            ("ethical considerations", card.ethical_considerations or "(not stated)"),
            ("owners", ", ".join(card.owners) or "(not stated)")]
    if train and train.labels:
        total = sum(train.labels.values()) or 1.0
        rows.insert(3, ("class balance (train)", ", ".join(f"{k} {v / total:.0%}" for k, v in train.labels.items())))
    return svg.table(None, rows, classes=("card",))


def render(content: Content) -> str:
    config = content.config
    body = [_section("summary", "Summary", _summary(content)), _section("data", "Data", _data(content)),
            _section("anomalies", "Anomalies", _anomalies(content)),
            _section("evaluation", "Evaluation", _evaluation(content)),
            _section("training", "Training", _training(content)),
            _section("blessing", "Blessing", _blessing(content)), _section("lineage", "Lineage", _lineage(content)),
            _section("model-card", "Model card", _model_card(content))]
    nav = "".join(f'<a href="#{s}">{s.replace("-", " ")}</a>' for s in SECTIONS)
    created = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(config.pipeline_name)}: run {escape(content.run.run_id)}</title>"
            f"<style>{_STYLE}</style></head><body><header><h1>{escape(config.pipeline_name)}: run "
            f"{escape(content.run.run_id)}</h1><p>Model {escape(config.serving.model_name)} · written {created}</p>"
            f"</header><nav>{nav}</nav><main>{''.join(body)}</main></body></html>")


def write_report(config, run, folder: Path) -> Path:
    """Writes <folder>/run-<run id>.html and returns its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run.run_id)
    path = folder / f"run-{safe}.html"
    partial = path.with_suffix(".tmp")
    partial.write_text(render(gather(config, run)), encoding="utf-8")
    partial.replace(path)
    return path


def report_folder(config) -> Path:
    return config.logs_dir.parent / "reports"

