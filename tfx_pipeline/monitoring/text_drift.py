"""Has the text itself moved? A domain classifier, tested for chance.

TFDV compares histograms of whole string values, which says nothing when every text is unique (TFDV #215). Here a
classifier learns to tell the reference texts (the served version's training data) from the window's, on word
uni- and bigrams (the tokens Transform makes); if the texts come from one distribution it cannot beat chance. Its
out-of-fold ROC AUC is the score: 0.5 means indistinguishable. The p-value is a permutation test when a side has
few texts (the domain labels shuffled and the whole cross-validation redone), and otherwise the Mann-Whitney
normal approximation of the out-of-fold AUC, which is exact in the limit because each fold's scores come from a
model that never saw that fold's labels. The n-grams with the largest weights on either side say what moved.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import List, Sequence, Tuple

import numpy as np

from tfx_pipeline.monitoring.request_features import tokens

MAX_PER_SIDE = 2000
SMALL_SIDE = 300  # below this, the permutation test
PERMUTATIONS = 200
FOLDS = 5


@dataclass
class TextDrift:
    auc: float
    p_value: float
    method: str
    reference_texts: int
    window_texts: int
    more_in_window: List[Tuple[str, float]] = field(default_factory=list)
    more_in_reference: List[Tuple[str, float]] = field(default_factory=list)


def _sample(texts: Sequence[str], size: int, rng: random.Random) -> List[str]:
    texts = list(texts)
    return texts if len(texts) <= size else rng.sample(texts, size)


def _out_of_fold_auc(matrix, labels: np.ndarray, seed: int) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = StratifiedKFold(n_splits=min(FOLDS, int(labels.sum()), int(len(labels) - labels.sum())), shuffle=True,
                            random_state=seed)
    scores = cross_val_predict(LogisticRegression(C=1.0, solver="liblinear", max_iter=200), matrix, labels, cv=folds,
                               method="decision_function")
    return float(roc_auc_score(labels, scores))


def _mann_whitney_p(auc: float, positives: int, negatives: int) -> float:
    """One-sided p-value of an AUC this high under chance (normal approximation of Mann-Whitney's U)."""
    sigma = math.sqrt((positives + negatives + 1) / (12.0 * positives * negatives))
    return 0.5 * math.erfc(((auc - 0.5) / sigma) / math.sqrt(2.0))


def text_drift(reference: Sequence[str], window: Sequence[str], seed: int = 0, top: int = 10) -> TextDrift:
    """Needs at least 5 texts a side (one per fold)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    rng = random.Random(seed)
    reference, window = _sample(reference, MAX_PER_SIDE, rng), _sample(window, MAX_PER_SIDE, rng)
    if min(len(reference), len(window)) < FOLDS:
        raise ValueError(f"the text test needs at least {FOLDS} texts on each side, has {len(reference)} reference "
                         f"and {len(window)} window texts")
    vectorizer = TfidfVectorizer(tokenizer=tokens, lowercase=False, token_pattern=None, ngram_range=(1, 2),
                                 min_df=2, sublinear_tf=True)
    matrix = vectorizer.fit_transform(list(reference) + list(window))
    labels = np.array([0] * len(reference) + [1] * len(window))
    auc = _out_of_fold_auc(matrix, labels, seed)
    if min(len(reference), len(window)) < SMALL_SIDE:
        shuffled = labels.copy()
        generator = np.random.default_rng(seed)
        beaten = 0
        for _ in range(PERMUTATIONS):
            generator.shuffle(shuffled)
            beaten += _out_of_fold_auc(matrix, shuffled, seed) >= auc
        p_value, method = (1 + beaten) / (1 + PERMUTATIONS), f"permutation test ({PERMUTATIONS} permutations)"
    else:
        p_value, method = _mann_whitney_p(auc, len(window), len(reference)), "Mann-Whitney normal approximation"
    weights = LogisticRegression(C=1.0, solver="liblinear", max_iter=200).fit(matrix, labels).coef_[0]
    names = vectorizer.get_feature_names_out()
    order = np.argsort(weights)
    return TextDrift(auc, p_value, method, len(reference), len(window),
                     more_in_window=[(str(names[i]), float(weights[i])) for i in order[::-1][:top] if weights[i] > 0],
                     more_in_reference=[(str(names[i]), float(weights[i])) for i in order[:top] if weights[i] < 0])
