"""Helpers for the orchestration tests: the shared test helpers made importable, an isolated Airflow
environment, span sources cut from the default corpus, and the embedded model server."""
from __future__ import annotations

import csv
import random
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
# `import serving` must be the package, not tests/serving/ as a namespace; pipeline_helpers lives in tests/e2e,
# pipeline_configs in tests/.
for _path in (str(TESTS), str(TESTS / "e2e"), str(ROOT)):
    if _path in sys.path:
        sys.path.remove(_path)
    sys.path.insert(0, _path)

from pipeline_configs import write_config  # noqa: E402,F401  (the tests' config writer, re-exported)

# Wide enough that two honest models on different spans pass, narrow enough that a model trained on
# scrambled labels fails (its macro-F1 falls to about that of always answering the majority class).
CT_THRESHOLDS = {"accuracy": {"lower_bound": 0.30, "max_drop": 0.10},
                 "macro_f1": {"lower_bound": 0.10, "max_drop": 0.10}}
SOURCE_COLUMNS = ("text", "sentiment", "split")


def sample_airflow_config(folder: Path, sample: int, airflow: Optional[dict] = None,
                          metadata: Optional[dict] = None) -> Path:
    """A config whose pipeline can push from a small sample, its first span ingested (ML Metadata's project-local
    MariaDB started first when `metadata` names one). No retries: with the shipped retry delay a failing task
    would hold a run for minutes."""
    from pipeline_helpers import FAST_TRAINER, SAMPLE_THRESHOLDS
    from runners.services import mariadb
    from tfx_pipeline.config import load_config
    from tfx_pipeline.data.ingest import ingest

    extra = {"metadata": metadata} if metadata else {}
    config_path = write_config(folder / "config.yaml", "sentiment", trainer=FAST_TRAINER,
                               evaluation={"thresholds": SAMPLE_THRESHOLDS}, airflow={"retries": 0, **(airflow or {})},
                               **extra)
    config = load_config(config_path)
    if mariadb.for_config(config) is not None:
        mariadb.for_config(config).start()
    assert ingest(config, sample=sample).created
    return config_path


def airflow_env(home: Path, config_path: Path) -> Dict[str, str]:
    """The environment of an Airflow CLI process of this project, with a home of its own."""
    from runners.airflow import daemons

    daemons.prepare_home(home, port=8080)
    return daemons.environment(home, config_path)


def airflow(env: Dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    from runners.airflow import daemons

    return subprocess.run([daemons.airflow_bin(), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=env["AIRFLOW_HOME"])


def corpus_rows() -> List[Tuple[str, str]]:
    """(text, label) of the default corpus, cleaned as ingestion cleans it, in a fixed pseudo-random order."""
    from tfx_pipeline.data.cleaning import clean_rows
    from tfx_pipeline.config import DEFAULT_CONFIG, load_config

    config = load_config(DEFAULT_CONFIG)
    rows, _ = clean_rows(config.source_path().read_bytes(), config.data.text_column, config.data.label_column, None)
    pairs = [(r[config.data.text_column], r[config.data.label_column]) for r in rows]
    random.Random(7).shuffle(pairs)
    return pairs


def with_splits(pairs: Sequence[Tuple[str, str]]) -> List[Tuple[str, str, str]]:
    """70/15/15 train/validation/test, so each span's test split has enough rows to judge a model."""
    n = len(pairs)
    return [(t, l, "train" if i < 0.7 * n else "validation" if i < 0.85 * n else "test")
            for i, (t, l) in enumerate(pairs)]


def write_source(path: Path, rows: Sequence[Tuple[str, str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(SOURCE_COLUMNS)
        writer.writerows(rows)
    return path


def scrambled_training_labels(rows: Sequence[Tuple[str, str, str]], seed: int = 3) -> List[Tuple[str, str, str]]:
    """A broken labelling job: train and validation labels permuted among themselves; the test split is real."""
    fit = [i for i, r in enumerate(rows) if r[2] != "test"]
    labels = [rows[i][1] for i in fit]
    random.Random(seed).shuffle(labels)
    out = list(rows)
    for i, label in zip(fit, labels):
        out[i] = (rows[i][0], label, rows[i][2])
    return out


def start_model_server(model_name: str, base_path: Path):
    """The project's embedded TF Serving-protocol server, polling base_path every second; (server, client)."""
    from serving.client import GrpcClient
    from serving.options import ServerOptions
    from serving.server import ModelServer

    server = ModelServer(ServerOptions(port=0, model_name=model_name, model_base_path=str(base_path),
                                       file_system_poll_wait_seconds=1)).start()
    # No client-side retries: a request the server refused counts as failed.
    return server, GrpcClient("127.0.0.1", server.grpc_port, retries=0, timeout=30.0)


def available_versions(client, model_name: str) -> List[int]:
    return sorted(s["version"] for s in client.model_status(model_name) if s["state"] == "AVAILABLE")
