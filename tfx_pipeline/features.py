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
# Hashed character n-grams of each word (with "<" and ">" marking its ends), when transform.char_ngrams is on:
# they let the model read misspellings and words the vocabulary does not hold.
CHAR_NGRAM_IDS = "char_ngram_ids_xf"
LABEL_ID = "label_xf"
VOCABULARY_NAME = "tokens"

# How Transform turns a text into tokens (trainer/preprocessing.py applies them with tf.strings, after
# lower-casing), and how monitoring counts tokens and out-of-vocabulary words in live requests: one definition,
# so both see the same words. RE2 syntax, which the `regex` package reads the same way.
URL_TOKEN = "xxurl"
USER_TOKEN = "xxuser"
NUMBER_TOKEN = "xxnum"
TEXT_RULES = (
    (r"https?://\S+|www\.\S+", f" {URL_TOKEN} "),
    (r"@\w+", f" {USER_TOKEN} "),
    (r"\d+(?:[.,:]\d+)*", f" {NUMBER_TOKEN} "),
    # Punctuation that carries sentiment becomes tokens of its own; the rest (the "#" of hashtags
    # included, so #fail reads as fail) separates words. \p{L}: letters of any script, not ASCII only.
    (r"([!?])", r" \1 "),
    (r"[^\p{L}\p{N}_!?' ]+", " "),
    (r"(^|\s)'+|'+(\s|$)", " "),
)

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
