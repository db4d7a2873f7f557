"""The TFX pipeline definition, its configuration, data ingestion and the `mlops` CLI."""
import os

# See trainer/__init__.py: Keras 2 (tf-keras) for every process that builds or loads the model.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
