"""Helpers shared by the end-to-end tests: running the CLI, reading MLMD, fingerprinting the serving tree."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

from click.testing import CliRunner, Result

from tfx_pipeline.cli import mlops
from tfx_pipeline.config import PipelineConfig, load_config
from tfx_pipeline.pipeline import create_pipeline
from tfx_pipeline.metadata.run_report import RunReport, build_report

# Thresholds a small sample clears; the point of these runs is the machinery.
SAMPLE_THRESHOLDS = {"accuracy": {"lower_bound": 0.30, "max_drop": 0.05},
                     "macro_f1": {"lower_bound": 0.10, "max_drop": 0.05}}
FAST_TRAINER = {"hyperparameters": {"embedding_dim": 32, "conv_filters": 32, "epochs": 12, "patience": 3,
                                    "batch_size": 32, "learning_rate": 0.01}}


def small_corpus_config(folder: Path, rows: int, **sections) -> Path:
    """A sentiment config on the default corpus's first `rows` cleaned rows (published 70/15/15 split), trained
    fast and gated by SAMPLE_THRESHOLDS; `sections` are merged in (tuner=..., pretraining=...). Not --sample,
    for which the Tuner is off. Needs tests/ and tests/orchestration/ on sys.path."""
    from orchestration_helpers import corpus_rows, with_splits, write_source
    from pipeline_configs import write_config

    source = write_source(folder / "corpus.csv", with_splits(corpus_rows()[:rows]))
    return write_config(folder / "config.yaml", "sentiment", data={"source": str(source), "split_column": "split"},
                        trainer=FAST_TRAINER, evaluation={"thresholds": SAMPLE_THRESHOLDS}, **sections)


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(mlops, list(args), catch_exceptions=False)


def run_mlops_process(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """`mlops ARGS` in a process of its own, as a person runs it: real stdout and stderr, which TensorFlow's C++
    runtime writes to directly, and no TF_CPP_MIN_LOG_LEVEL from the test session."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([str(Path(sys.executable).parent / "mlops"), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def effective_config(config_path: Path, sample: int) -> PipelineConfig:
    return load_config(config_path).with_overrides(sample=sample)


def report(config: PipelineConfig) -> RunReport:
    return build_report(config, [c.id for c in create_pipeline(config).components])


def states(run: RunReport) -> Dict[str, str]:
    return {c.component_id: c.state for c in run.components}


def predict_in_process(version_dir: Path, texts: List[str]) -> List[Tuple[str, Dict[str, float]]]:
    """(label, {class: score}) per text from a pushed version, through serving's in-process client."""
    from serving.client import LocalClient

    with LocalClient(str(version_dir.parent), version_dir.parent.name) as client:
        results = client.classify_text(texts, version_dir.parent.name, version=int(version_dir.name))
    return [(r.label, r.scores) for r in results]


def tree_digest(root: Path) -> Dict[str, str]:
    """Relative path -> sha256 of every file under root: 'byte-for-byte unchanged' made checkable."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def version_dirs(push_root: Path) -> List[Path]:
    return sorted((p for p in push_root.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)) \
        if push_root.exists() else []
