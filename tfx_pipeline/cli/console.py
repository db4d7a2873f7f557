"""Where a command's output goes: the person at the console gets progress and results; TensorFlow, absl, Beam and
Keras write to a log file.

The noise comes from two levels. Python code (absl, Beam, Keras' epoch lines) writes through logging and
sys.stdout/sys.stderr; TensorFlow's C++ runtime writes straight to file descriptors 1 and 2 (the cuFFT/cuDNN
factory errors at import). Both are sent to the log file while a QuietOutput is active, and the console keeps a
stream of its own on a duplicate of the original stdout.
"""
from __future__ import annotations

import io
import logging
import os
import re
import sys
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import List, Optional, TextIO, Tuple

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The first line of a record in LOG_FORMAT, and its level.
_RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (\w+) ")


def log_file_path(logs_dir: Path, command: str) -> Path:
    return Path(logs_dir) / f"{command}-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}.log"


def _real_fd(stream) -> Optional[int]:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None  # click's CliRunner and pytest's capture replace the streams with in-memory ones


class QuietOutput:
    """A context: stdout, stderr and Python logging go to `log_path` unless `verbose`; `.console` is the person's.

    Verbose leaves every stream alone and logs INFO to the console as well as to the file. The loggers named in
    `console_loggers` (and their children) also reach the console, in short: a server's own events, say."""

    def __init__(self, log_path: Path, verbose: bool = False, console_loggers: Tuple[str, ...] = ()):
        self.log_path = Path(log_path)
        self.verbose = verbose
        self.console_loggers = console_loggers
        self.console: TextIO = sys.stdout
        self._console_handler: Optional[logging.Handler] = None
        self._log: Optional[TextIO] = None
        self._saved_fds: List[int] = []
        self._saved_streams = None
        self._saved_logging = None

    def __enter__(self) -> "QuietOutput":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "a", buffering=1, encoding="utf-8", errors="replace")
        root = logging.getLogger()
        self._saved_logging = (list(root.handlers), root.level)
        handler = logging.StreamHandler(self._log)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.handlers = [handler] + ([logging.StreamHandler(sys.stderr)] if self.verbose else [])
        root.setLevel(logging.INFO)
        _absl_through_python_logging()
        if self.verbose:
            return self
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved_streams = (sys.stdout, sys.stderr)
        stdout_fd = _real_fd(sys.stdout)
        if stdout_fd is not None:
            # The console's own copy of the terminal, before fd 1 is pointed at the log.
            self.console = os.fdopen(os.dup(stdout_fd), "w", buffering=1, encoding="utf-8", errors="replace")
        for fd in (1, 2):
            self._saved_fds.append(os.dup(fd))
            os.dup2(self._log.fileno(), fd)
        sys.stdout = sys.stderr = self._log
        if self.console_loggers:
            self._console_handler = logging.StreamHandler(self.console)
            self._console_handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
            for name in self.console_loggers:
                logging.getLogger(name).addHandler(self._console_handler)
        return self

    def __exit__(self, *exc) -> None:
        if self._console_handler is not None:
            for name in self.console_loggers:
                logging.getLogger(name).removeHandler(self._console_handler)
        if self._saved_streams is not None:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            for fd, saved in zip((1, 2), self._saved_fds):
                os.dup2(saved, fd)
                os.close(saved)
            sys.stdout, sys.stderr = self._saved_streams
            if self.console is not sys.stdout:
                self.console.close()
        root = logging.getLogger()
        root.handlers, level = self._saved_logging
        root.setLevel(level)
        self._log.close()

    def tail(self, lines: int = 15, since: str = "") -> List[str]:
        """The log's last lines after the last one holding `since`, for a failure message. That line comes first
        (it says where the failing part began), and "..." marks lines left out between it and the end. The many-line
        dumps of INFO records (TFX prints whole execution protos) are left out; warnings, errors and tracebacks stay."""
        self._log.flush()
        kept: deque = deque(maxlen=lines)
        anchor, dropped = None, False
        keep_continuations = True
        with open(self.log_path, encoding="utf-8", errors="replace") as log:
            for line in log:
                line = line.rstrip("\n")
                record = _RECORD_START.match(line)
                if record:
                    keep_continuations = record.group(1) != "INFO"
                elif not keep_continuations:
                    continue
                if since and since in line:
                    anchor, dropped = line, False
                    kept.clear()
                    continue
                dropped = dropped or len(kept) == kept.maxlen
                kept.append(line)
        if anchor is None:
            return list(kept)
        return [anchor] + (["..."] if dropped else []) + list(kept)[1 if dropped else 0:]


def _absl_through_python_logging() -> None:
    """absl logs at WARNING until its flags are parsed; TFX's progress messages are INFO."""
    try:
        from absl import logging as absl_logging
    except ImportError:
        return
    absl_logging.set_verbosity(absl_logging.INFO)
