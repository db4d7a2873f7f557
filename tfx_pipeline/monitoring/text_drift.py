"""Has the text itself moved? A domain classifier, tested for chance.

TFDV compares histograms of whole string values, which says nothing when every text is unique (TFDV #215). Here a
classifier learns to tell the reference texts (the served version's held-out training data) from the window's,
on word uni- and bigrams (the tokens Transform makes); if the texts come from one distribution it cannot beat
chance. It is fitted on half of the texts and its ROC AUC on the other half is the score: 0.5 means
indistinguishable. The p-value is a permutation test when a side has few texts (the domain labels shuffled and
the fit redone), and otherwise the Mann-Whitney normal approximation of the held-out AUC, exact under chance
because the held-out scores come from a model that never saw those labels. The n-grams with the largest weights
on either side, in a model fitted on all the texts, say what moved.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import List, Sequence, Tuple

import numpy as np

from tfx_pipeline.data.cleaning import dedup_key
from tfx_pipeline.monitoring.request_features import tokens

MAX_PER_SIDE = 2000
SMALL_SIDE = 300  # below this, the permutation test
PERMUTATIONS = 200
FOLDS = 5  # the fewest texts a side the test accepts


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
    """Distinct texts only: a text repeated in the window (the same request sent again and again) would land in
    the classifier's training and test folds alike, and its memorised copies would pass for a shift."""
    distinct = list({dedup_key(text): text for text in texts}.values())
    return distinct if len(distinct) <= size else rng.sample(distinct, size)


def _held_out_auc(matrix, labels: np.ndarray, seed: int) -> Tuple[float, int, int]:
    """(ROC AUC on the held-out half, its window texts, its reference texts) of a classifier fitted on the other
    half. Under chance the held-out scores are independent of the held-out labels, so the AUC follows
    Mann-Whitney's null exactly; pooling cross-validation folds does not (their models differ), and made 22% of
    in-domain windows look like drift at p <= 0.03 (docs/benchmarks.md, "Monitoring")."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    fit_rows, test_rows = train_test_split(np.arange(len(labels)), test_size=0.5, stratify=labels, random_state=seed)
    model = LogisticRegression(C=1.0, solver="liblinear", max_iter=200).fit(matrix[fit_rows], labels[fit_rows])
    held = labels[test_rows]
    auc = float(roc_auc_score(held, model.decision_function(matrix[test_rows])))
    return auc, int(held.sum()), int(len(held) - held.sum())


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
    auc, positives, negatives = _held_out_auc(matrix, labels, seed)
    if min(len(reference), len(window)) < SMALL_SIDE:
        shuffled = labels.copy()
        generator = np.random.default_rng(seed)
        beaten = 0
        for _ in range(PERMUTATIONS):
            generator.shuffle(shuffled)
            beaten += _held_out_auc(matrix, shuffled, seed)[0] >= auc
        p_value, method = (1 + beaten) / (1 + PERMUTATIONS), f"permutation test ({PERMUTATIONS} permutations)"
    else:
        p_value, method = _mann_whitney_p(auc, positives, negatives), "Mann-Whitney normal approximation"
    weights = LogisticRegression(C=1.0, solver="liblinear", max_iter=200).fit(matrix, labels).coef_[0]
    names = vectorizer.get_feature_names_out()
    order = np.argsort(weights)
    return TextDrift(auc, p_value, method, len(reference), len(window),
                     more_in_window=[(str(names[i]), float(weights[i])) for i in order[::-1][:top] if weights[i] > 0],
                     more_in_reference=[(str(names[i]), float(weights[i])) for i in order[:top] if weights[i] < 0])
