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


def test_weight_averaging_leaves_the_epoch_with_the_optimizers_average():
    from trainer.callbacks import AveragedWeights
    from trainer.model import compile_model

    def trained(averaging):
        tf.keras.utils.set_random_seed(0)
        model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(3, activation="softmax")])
        compile_model(model, 3, {"learning_rate": 0.05, "weight_averaging": averaging})
        x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
        seen = []

        class Record(tf.keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                seen.append([w.numpy().copy() for w in self.model.trainable_variables])
        model.fit(x, np.arange(64) % 3, batch_size=8, epochs=2, verbose=0, callbacks=[AveragedWeights(), Record()])
        return model, seen

    model, seen = trained(0.9)
    averages = model.optimizer._model_variables_moving_average
    for weights, average in zip(seen[-1], averages):
        np.testing.assert_allclose(weights, average.numpy())
    _, plain = trained(0.0)
    assert not np.allclose(seen[0][0], plain[0][0]), "the averaged weights are the last step's"


def test_weight_averaging_takes_the_initial_weights_out_of_a_short_first_epoch():
    """Four steps at momentum 0.9 would leave the initial weights 0.9 ** 4 = 0.66 of Keras' average."""
    from trainer.callbacks import AveragedWeights
    from trainer.model import compile_model

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(3, activation="softmax")])
    compile_model(model, 3, {"learning_rate": 0.05, "weight_averaging": 0.9})
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    steps, kept = [], []

    class Record(tf.keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            steps.append(self.model.get_weights())

        def on_epoch_end(self, epoch, logs=None):
            kept.append(self.model.get_weights())
    model.fit(x, np.arange(32) % 3, batch_size=8, epochs=1, verbose=0, callbacks=[AveragedWeights(), Record()])

    m, t = 0.9, len(steps)
    for i, weights in enumerate(kept[0]):
        expected = sum((1 - m) * m ** (t - 1 - j) * step[i] for j, step in enumerate(steps)) / (1 - m ** t)
        np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-6)
