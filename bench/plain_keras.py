"""The pipeline's Keras model trained by a plain script, without TFX: the floor for the TFX overhead ratio.

Same split (the span's CSVs), same normalisation and tokenisation (trainer.preprocessing), same model
(trainer.model.build_model), same hyperparameters and early stopping. Prints one JSON line of results.

    python bench/plain_keras.py --config configs/sentiment.yaml --span work/.../data/span-1
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    started = time.time()
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--span", required=True)
    args = parser.parse_args()

    import pandas as pd
    import tensorflow as tf
    from sklearn.metrics import accuracy_score, f1_score

    from tfx_pipeline import features
    from tfx_pipeline.config import load_config
    from trainer.model import build_model
    from trainer.preprocessing import tokenize

    config = load_config(args.config)
    t = config.transform
    hp = config.trainer.hyperparameters.model_dump()
    splits = {s: pd.read_csv(os.path.join(args.span, s, "data.csv"), keep_default_na=False) for s in features.SPLITS}
    label_ids = {label: i for i, label in enumerate(config.labels)}

    tokens = {s: tokenize(tf.constant(df[features.TEXT].tolist()), t.max_tokens) for s, df in splits.items()}
    # Vocabulary as tft computes it: by frequency, at least min_frequency, top vocab_size; OOV hashed into buckets.
    counts = pd.Series(tokens["train"].flat_values.numpy()).value_counts()
    vocabulary = counts[counts >= t.min_frequency].index[:t.vocab_size].tolist()
    table = tf.lookup.StaticVocabularyTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(vocabulary), tf.range(len(vocabulary), dtype=tf.int64)),
        num_oov_buckets=t.oov_buckets)

    def ids(split):
        return (tf.ragged.map_flat_values(table.lookup, tokens[split]) + 1).to_tensor(0, shape=[None, t.max_tokens])

    def labels(split):
        return splits[split][features.LABEL].map(label_ids).to_numpy()

    model = build_model(1 + len(vocabulary) + t.oov_buckets, len(config.labels), t.max_tokens, hp)
    train_started = time.time()
    model.fit(ids("train"), labels("train"), validation_data=(ids("eval"), labels("eval")),
              epochs=hp["epochs"], batch_size=hp["batch_size"], verbose=0,
              callbacks=[tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=hp["patience"],
                                                          restore_best_weights=True)])
    predicted = model.predict(ids("test"), verbose=0).argmax(axis=1)
    print(json.dumps({
        "accuracy": accuracy_score(labels("test"), predicted),
        "macro_f1": f1_score(labels("test"), predicted, average="macro"),
        "train_seconds": time.time() - train_started,
        "script_seconds": time.time() - started,
    }))


if __name__ == "__main__":
    main()
