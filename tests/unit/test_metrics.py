"""Code tests for the argmax-based per-class and macro figures, checked against scikit-learn."""
import numpy as np
from sklearn.metrics import f1_score, precision_score, recall_score

from tfx_pipeline.evaluation.metrics import PRECISION, RECALL, scores_from_matrix


def test_scores_match_scikit_learn_including_a_class_never_predicted():
    actual = np.array([0, 0, 1, 1, 1, 2, 2, 0, 1, 2])
    predicted = np.array([0, 1, 1, 1, 0, 1, 1, 0, 1, 1])  # class 2 is never predicted
    matrix = {}
    for a, p in zip(actual, predicted):
        matrix[(a, p)] = matrix.get((a, p), 0) + 1.0
    scores = scores_from_matrix(matrix, 3)
    np.testing.assert_allclose([scores[PRECISION][c] for c in range(3)],
                               precision_score(actual, predicted, average=None, zero_division=0))
    np.testing.assert_allclose([scores[RECALL][c] for c in range(3)],
                               recall_score(actual, predicted, average=None, zero_division=0))
    np.testing.assert_allclose(sum(scores["f1"].values()) / 3, f1_score(actual, predicted, average="macro"))


def test_a_majority_class_model_scores_its_f1_not_zero():
    # TFMA's binarised F1 at p > 0.5 gives 0.0 here when the winning probability is below 0.5.
    matrix = {(0, 0): 6.0, (1, 0): 3.0, (2, 0): 1.0}
    scores = scores_from_matrix(matrix, 3)
    assert scores["f1"][0] == 2 * 0.6 * 1.0 / 1.6 and scores["f1"][1] == scores["f1"][2] == 0.0
