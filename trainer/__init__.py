"""Model code for the pipeline: Transform's preprocessing_fn and the Trainer's run_fn, named by entry point."""
import os

# tensorflow-transform switches tf.keras to Keras 2 when imported; fixing it here makes model code behave the
# same whatever was imported first.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
