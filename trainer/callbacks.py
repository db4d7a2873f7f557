"""Keras callbacks of the Trainer that are not about the model: progress records for whoever runs the pipeline.

Each record goes to this module's logger with a `progress` attribute: {"epoch", "epochs", "step", "steps"} while
an epoch runs (at most every half second), plus "metrics" when it ends. `mlops run` draws them
(tfx_pipeline/cli/progress.py); under Airflow or Kubeflow they are plain lines of the task's log.
"""
from __future__ import annotations

import logging
import time
from typing import Optional

import tensorflow as tf

log = logging.getLogger(__name__)
_STEP_INTERVAL_SECONDS = 0.5


class ProgressLog(tf.keras.callbacks.Callback):

    def __init__(self, epochs: int):
        super().__init__()
        self._epochs = epochs
        self._epoch = 0
        self._steps: Optional[int] = None  # unknown until the first epoch has been counted
        self._step = 0
        self._last = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1
        self._steps = self._steps or self.params.get("steps")

    def on_train_batch_end(self, batch, logs=None):
        self._step = batch + 1
        now = time.monotonic()
        if now - self._last >= _STEP_INTERVAL_SECONDS:
            self._last = now
            self._emit(self._step)

    def on_epoch_end(self, epoch, logs=None):
        self._steps = self._steps or self._step
        self._emit(self._steps, metrics={k: float(v) for k, v in (logs or {}).items()})

    def _emit(self, step: Optional[int], metrics: Optional[dict] = None) -> None:
        progress = {"epoch": self._epoch, "epochs": self._epochs, "step": step, "steps": self._steps}
        if metrics is not None:
            progress["metrics"] = metrics
        text = f"epoch {self._epoch}/{self._epochs}" + (
            " " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items()) if metrics else f" step {step}")
        log.info(text, extra={"progress": progress})
