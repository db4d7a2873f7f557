"""Small inline SVG charts for the HTML report: bars, lines and a heatmap, drawn from numbers with no library and
no script, so the page renders offline and prints."""
from __future__ import annotations

from html import escape
from typing import Dict, List, Optional, Sequence, Tuple

PALETTE = ("#3b6ea8", "#d9822b", "#4f9a5c", "#b6465f", "#7b5ea7", "#8c8c3a")


def bars(values: Dict[str, float], title: str, width: int = 420, bar_height: int = 18,
         number_format: str = "{:,.0f}", maximum: Optional[float] = None) -> str:
    """Horizontal bars, one per label, with the value written beside each."""
    if not values:
        return f'<p class="empty">{escape(title)}: no data</p>'
    top = maximum if maximum is not None else max(values.values()) or 1.0
    label_width = 110
    height = bar_height * len(values) + 28
    rows = []
    for index, (label, value) in enumerate(values.items()):
        y = 22 + index * bar_height
        length = max(0.0, (width - label_width - 70) * value / top)
        rows.append(f'<text x="{label_width - 6}" y="{y + bar_height * 0.7}" text-anchor="end">'
                    f'{escape(str(label))}</text>'
                    f'<rect x="{label_width}" y="{y + 2}" width="{length:.1f}" height="{bar_height - 4}" '
                    f'fill="{PALETTE[0]}"/>'
                    f'<text x="{label_width + length + 4:.1f}" y="{y + bar_height * 0.7}">'
                    f'{escape(number_format.format(value))}</text>')
    return (f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><text x="0" y="14" class="title">{escape(title)}</text>'
            + "".join(rows) + "</svg>")


def lines(series: Dict[str, Sequence[float]], title: str, width: int = 420, height: int = 220) -> str:
    """One line per series over its index (epochs), with a legend and the y range written at the axis."""
    points = [v for values in series.values() for v in values]
    if not points:
        return f'<p class="empty">{escape(title)}: no data</p>'
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    left, right, top, bottom = 46, width - 10, 24, height - 40
    longest = max(len(v) for v in series.values())
    step = (right - left) / max(longest - 1, 1)
    paths, legend = [], []
    for index, (name, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        coordinates = [(left + i * step, bottom - (v - low) / span * (bottom - top)) for i, v in enumerate(values)]
        paths.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                     + " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates) + '"/>'
                     + "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in coordinates))
        legend.append(f'<rect x="{left + index * 120}" y="{height - 16}" width="10" height="10" fill="{colour}"/>'
                      f'<text x="{left + index * 120 + 14}" y="{height - 7}">{escape(name)}</text>')
    axis = (f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" class="axis"/>'
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" class="axis"/>'
            f'<text x="{left - 4}" y="{top + 4}" text-anchor="end">{high:.3g}</text>'
            f'<text x="{left - 4}" y="{bottom}" text-anchor="end">{low:.3g}</text>'
            f'<text x="{right}" y="{bottom + 14}" text-anchor="end">epoch {longest}</text>'
            f'<text x="{left}" y="{bottom + 14}">1</text>')
    return (f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><text x="0" y="14" class="title">{escape(title)}</text>'
            + axis + "".join(paths) + "".join(legend) + "</svg>")


def heatmap(labels: List[str], counts: List[List[float]], title: str, cell: int = 46) -> str:
    """A confusion matrix: rows actual, columns predicted, each cell's count written in it."""
    if not labels:
        return f'<p class="empty">{escape(title)}: no data</p>'
    top_value = max(max(row) for row in counts) or 1.0
    offset_x, offset_y = 96, 54
    size = len(labels)
    width, height = offset_x + cell * size + 10, offset_y + cell * size + 30
    parts = [f'<text x="0" y="14" class="title">{escape(title)}</text>',
             f'<text x="{offset_x}" y="30">predicted</text>',
             f'<text x="0" y="{offset_y + cell * size + 22}">rows: actual</text>']
    for column, label in enumerate(labels):
        parts.append(f'<text x="{offset_x + column * cell + cell / 2}" y="{offset_y - 4}" text-anchor="middle">'
                     f'{escape(label[:8])}</text>')
    for row, label in enumerate(labels):
        parts.append(f'<text x="{offset_x - 6}" y="{offset_y + row * cell + cell / 2 + 4}" text-anchor="end">'
                     f'{escape(label)}</text>')
        for column in range(size):
            value = counts[row][column]
            shade = value / top_value
            fill = f"rgba(59,110,168,{0.08 + 0.85 * shade:.2f})"
            text_class = "light" if shade > 0.55 else ""
            parts.append(f'<rect x="{offset_x + column * cell}" y="{offset_y + row * cell}" width="{cell - 2}" '
                         f'height="{cell - 2}" fill="{fill}"/><text x="{offset_x + column * cell + cell / 2 - 1}" '
                         f'y="{offset_y + row * cell + cell / 2 + 4}" text-anchor="middle" class="{text_class}">'
                         f'{value:,.0f}</text>')
    return (f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">' + "".join(parts) + "</svg>")


def table(header: Optional[Sequence[str]], rows: Sequence[Sequence[object]], classes: Tuple[str, ...] = ()) -> str:
    """A table; with header None, one whose first column names each row."""
    head = "<thead><tr>" + "".join(f"<th>{escape(str(h))}</th>" for h in header) + "</tr></thead>" if header else ""
    first = "td" if header else "th"
    body = []
    for row in rows:
        cells = [f"<{first}>{escape(str(row[0]))}</{first}>"] + [f"<td>{escape(str(c))}</td>" for c in row[1:]]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{" ".join(classes)}">{head}<tbody>{"".join(body)}</tbody></table>'
