"""Component ids, in dependency order: the names users see in ML Metadata, Airflow, Kubeflow and the reports.

Defined once here, in a module that imports nothing, so readers of ML Metadata (reports, the model registry)
name components without importing TFX.
"""

EXAMPLE_GEN = "csv_example_gen"
STATISTICS_GEN = "statistics_gen"
SCHEMA_IMPORTER = "curated_schema_importer"
EXAMPLE_VALIDATOR = "example_validator"
DATA_GATE = "data_gate"
SPAN_WINDOW_RESOLVER = "span_window_resolver"  # only with data.span_window > 1
TRANSFORM = "transform"
TUNER = "tuner"  # only with tuner.enabled
ENCODER_PRETRAINER = "encoder_pretrainer"  # only with pretraining.enabled
TRAINER = "trainer"
BASELINE_RESOLVER = "latest_blessed_model_resolver"
EVALUATOR = "evaluator"
PROVENANCE = "run_provenance"  # only with a Pusher: what the pushed model is made of
PUSHER = "pusher"
