"""Live progress of a pipeline run on the console: each component's state and elapsed seconds, and the Trainer's
epochs with a progress bar and its validation metrics.

It reads the messages TFX's LocalDagRunner and launcher log anyway ("Component X is running.", "A cached
execution N is used.") and the Trainer's progress records (trainer/run.py logs one per epoch and, rate-limited,
per step, with a `progress` attribute), so the pipeline and the model code know nothing of the console. On a
terminal the table redraws in place; elsewhere (CI logs, pipes) each finished component and epoch is one line.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

_RUNNING = re.compile(r"^Component (\S+) is running\.$")
_FINISHED = re.compile(r"^Component (\S+) is finished\.$")
_SKIPPED = re.compile(r"^Skipping component (\S+)\.$")
_CACHED = re.compile(r"^A cached execution \d+ is used\.$")
_STYLES = {"waiting": "dim", "running": "bold yellow", "ran": "green", "cached": "cyan", "failed": "bold red",
           "skipped": "dim"}


@dataclass
class _Component:
    component_id: str
    state: str = "waiting"
    started: Optional[float] = None
    seconds: Optional[float] = None
    cached: bool = False
    epoch: Optional[dict] = None  # the Trainer's latest progress record
    metrics: Dict[str, float] = field(default_factory=dict)

    def elapsed(self) -> float:
        if self.seconds is not None:
            return self.seconds
        return time.monotonic() - self.started if self.started is not None else 0.0


def _metrics_text(metrics: Dict[str, float]) -> str:
    return "  ".join(f"{name} {value:.4f}" for name, value in metrics.items())


class RunProgress(logging.Handler):
    """A logging handler that draws the run; use as a context around the run."""

    def __init__(self, console: TextIO, component_ids: List[str], title: str, redraw: bool = True):
        super().__init__(level=logging.INFO)
        self._console = Console(file=console, highlight=False, soft_wrap=True)
        # Redrawing in place needs a terminal, and a console that nothing else writes to (not --verbose).
        self._interactive = redraw and self._console.is_terminal
        self._components = {c: _Component(c) for c in component_ids}
        self._title = title
        self._current: Optional[_Component] = None
        self._live: Optional[Live] = None

    def __enter__(self) -> "RunProgress":
        for name in ("absl", "trainer"):
            logging.getLogger(name).addHandler(self)
        logging.getLogger("trainer").setLevel(logging.INFO)
        if self._interactive:
            # Transient: once the run ends, the run's table (read back from ML Metadata) takes its place.
            self._live = Live(self._render(), console=self._console, refresh_per_second=4,
                              get_renderable=self._render, transient=True)
            self._live.__enter__()
        else:
            self._console.print(self._title)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # TFX logs a component's end only when it succeeds: one still running when the run is over failed.
        if self._current is not None and self._current.state == "running":
            self._finish(self._current, "failed")
        for component in self._components.values():
            if component.state == "waiting":
                component.state = "skipped"
        for name in ("absl", "trainer"):
            logging.getLogger(name).removeHandler(self)
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(None, None, None)

    @property
    def failed_component(self) -> Optional[str]:
        return next((c.component_id for c in self._components.values() if c.state == "failed"), None)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            progress = getattr(record, "progress", None)
            if progress is not None:
                self._on_trainer_progress(progress)
                return
            message = record.getMessage()
            if match := _RUNNING.match(message):
                self._start(match.group(1))
            elif match := _FINISHED.match(message):
                component = self._components.get(match.group(1))
                if component is not None:
                    self._finish(component, "cached" if component.cached else "ran")
            elif match := _SKIPPED.match(message):
                component = self._components.get(match.group(1))
                if component is not None:
                    self._finish(component, "skipped")
            elif _CACHED.match(message) and self._current is not None:
                self._current.cached = True
        except Exception:  # a drawing problem must never stop the run
            self.handleError(record)

    def _start(self, component_id: str) -> None:
        component = self._components.setdefault(component_id, _Component(component_id))
        component.state, component.started = "running", time.monotonic()
        self._current = component

    def _finish(self, component: _Component, state: str) -> None:
        component.state, component.seconds = state, component.elapsed()
        self._line(f"  {component.component_id:<30} {state:<8} {component.seconds:6.1f} s")

    def _on_trainer_progress(self, progress: dict) -> None:
        trainer = self._current
        if trainer is None:
            return
        trainer.epoch = progress
        if progress.get("metrics"):
            trainer.metrics = dict(progress["metrics"])
            self._line(f"  {trainer.component_id:<30} epoch {progress['epoch']}/{progress['epochs']}  "
                       + _metrics_text(trainer.metrics))

    def _line(self, text: str) -> None:
        if not self._interactive:
            self._console.print(text)

    def _render(self):
        table = Table(title=self._title, title_justify="left", show_edge=False, pad_edge=False, box=None)
        table.add_column("component", no_wrap=True)
        table.add_column("state", no_wrap=True)
        table.add_column("seconds", justify="right", no_wrap=True)
        table.add_column("", overflow="fold")
        for component in self._components.values():
            seconds = f"{component.elapsed():.1f}" if component.started is not None else ""
            table.add_row(component.component_id, Text(component.state, style=_STYLES.get(component.state, "")),
                          seconds, self._detail(component))
        return Group(table)

    @staticmethod
    def _detail(component: _Component):
        progress = component.epoch
        if progress is None:
            return ""
        epoch, epochs = progress["epoch"], progress["epochs"]
        steps, step = progress.get("steps"), progress.get("step")
        done = (epoch - 1 + (step / steps if steps and step is not None else 0.0)) if component.state == "running" \
            else epochs
        bar = ProgressBar(total=float(epochs), completed=min(float(done), float(epochs)), width=16)
        label = Text(f" epoch {epoch}/{epochs} ")
        validation = {k[len("val_"):]: v for k, v in component.metrics.items() if k.startswith("val_")}
        if validation:
            label.append("val " + " ".join(f"{name} {value:.3f}" for name, value in validation.items()))
        table = Table.grid()
        table.add_row(bar, label)
        return table
