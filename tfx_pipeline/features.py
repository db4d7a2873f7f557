"""Feature and label names, defined once for ingestion, schema, Transform, Trainer and Evaluator.

Ingestion renames the configured source columns to these canonical names, so everything downstream
is independent of how a particular CSV spells them.
"""

TEXT = "text"
LABEL = "label"
# Derived at ingestion for the Evaluator's slices; absent at serving (schema environment TRAINING only).
LENGTH_BUCKET = "length_bucket"
# Only in ingestion output when the source carries its published split.
SPLIT = "split"

# Transform outputs.
TOKEN_IDS = "token_ids_xf"
LABEL_ID = "label_xf"
VOCABULARY_NAME = "tokens"

# Split names as TFX sees them: Trainer fits on train, early-stops on eval, Evaluator blesses on test.
TRAIN_SPLIT = "train"
EVAL_SPLIT = "eval"
TEST_SPLIT = "test"
SPLITS = (TRAIN_SPLIT, EVAL_SPLIT, TEST_SPLIT)
# Source split spellings accepted for each TFX split.
SPLIT_ALIASES = {
    "train": TRAIN_SPLIT,
    "training": TRAIN_SPLIT,
    "validation": EVAL_SPLIT,
    "valid": EVAL_SPLIT,
    "dev": EVAL_SPLIT,
    "eval": EVAL_SPLIT,
    "test": TEST_SPLIT,
}

# Word-count buckets (upper bound inclusive, name) used to slice evaluation by text length.
LENGTH_BUCKETS = ((5, "01-05"), (15, "06-15"), (30, "16-30"), (None, "31+"))


def length_bucket(text: str) -> str:
    words = len(text.split())
    for upper, name in LENGTH_BUCKETS:
        if upper is None or words <= upper:
            return name
    raise AssertionError("unreachable: the last bucket is open-ended")


# Serving signatures exported by the Trainer.
SERVING_DEFAULT = "serving_default"
SERVING_TF_EXAMPLE = "serving_tf_example"
