"""Code tests: the Trainer refuses label ids Transform could not map (-1), and accepts the configured ones."""
import pytest
import tensorflow as tf

from trainer.run import check_labels


def _examples(label_ids):
    return tf.data.Dataset.from_tensor_slices(({"token_ids_xf": [[1, 2]] * len(label_ids)}, label_ids))


def test_configured_label_ids_pass():
    check_labels(_examples([0, 1, 2, 2]), num_labels=3, split="train")


@pytest.mark.parametrize("ids, bad", [([0, -1, 2, -1], 2), ([0, 3], 1)])
def test_a_label_outside_the_configured_set_stops_training(ids, bad):
    # By name: TFX's Trainer re-imports the run_fn module in the test session, so the class may be a fresh copy.
    with pytest.raises(ValueError) as raised:
        check_labels(_examples(ids), num_labels=3, split="eval")
    assert type(raised.value).__name__ == "UnknownLabelError"
    assert f"{bad} example(s) of the eval split have a label outside the configured labels" in str(raised.value)
