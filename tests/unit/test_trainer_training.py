"""Code tests of the Trainer's training choices: the macro-F1 that picks the epoch kept, class weights and the
smoothed loss."""
import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import f1_score

from trainer.callbacks import macro_f1
from trainer.model import sparse_cross_entropy
from trainer.run import class_weights


@pytest.mark.parametrize("seed", range(5))
def test_macro_f1_is_sklearns(seed):
    rng = np.random.default_rng(seed)
    labels, predicted = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    predicted[:3] = 3  # and a class the labels may lack
    assert macro_f1(labels, predicted, 4) == pytest.approx(
        f1_score(labels, predicted, average="macro", labels=range(4), zero_division=0))


def _dataset(labels):
    return tf.data.Dataset.from_tensor_slices((np.zeros((len(labels), 2)), np.array(labels))).batch(3)


def test_class_weights_balance_the_train_split():
    train = _dataset([0] * 6 + [1] * 3 + [2] * 1)
    assert class_weights(train, 3, "none") is None
    balanced = class_weights(train, 3, "balanced")
    assert balanced == pytest.approx({0: 10 / 18, 1: 10 / 9, 2: 10 / 3})
    assert class_weights(train, 3, "sqrt") == pytest.approx({k: np.sqrt(v) for k, v in balanced.items()})


def test_a_class_absent_from_train_gets_a_finite_weight():
    assert np.isfinite(list(class_weights(_dataset([0, 0, 1]), 3, "balanced").values())).all()


def test_the_smoothed_loss_on_ids_is_the_smoothed_loss_on_one_hots():
    probabilities = tf.constant([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    ids = tf.constant([[0], [2]], tf.int64)
    expected = tf.keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(tf.one_hot([0, 2], 3), probabilities)
    assert float(sparse_cross_entropy(3, 0.1)(ids, probabilities)) == pytest.approx(float(expected))
    plain = tf.keras.losses.SparseCategoricalCrossentropy()(ids, probabilities)
    assert float(sparse_cross_entropy(3, 0.0)(ids, probabilities)) == pytest.approx(float(plain))
