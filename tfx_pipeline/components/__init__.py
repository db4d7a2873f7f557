"""Custom TFX components and executors used by the pipeline."""
