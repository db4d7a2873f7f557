"""Per-request features for monitoring: what the model saw (characters, tokens, the share of tokens outside the
served version's vocabulary) and what it said (the predicted label, its score, the margin over the runner-up).

Tokens are made as Transform makes them: features.TEXT_RULES, the rules trainer/preprocessing.py applies with
tf.strings, applied here with the `regex` package (same RE2 syntax); the vocabulary is the served version's own,
the file Transform wrote into the SavedModel's assets.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Sequence

import regex

from tfx_pipeline import features

NUMERIC = ("characters", "tokens", "oov_rate", "top_score", "margin")
CATEGORICAL = ("predicted_label",)
_RULES = [(regex.compile(pattern), replacement) for pattern, replacement in features.TEXT_RULES]
_SPACES = regex.compile(r"\s+")


def tokens(text: str) -> List[str]:
    text = text.lower()
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return _SPACES.sub(" ", text).strip().split()


def vocabulary(version_dir: Path) -> FrozenSet[str]:
    """The served version's vocabulary (assets/<features.VOCABULARY_NAME>, one token per line)."""
    path = Path(version_dir) / "assets" / features.VOCABULARY_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the served version has no vocabulary asset, so its out-of-vocabulary "
                                "rate cannot be measured")
    return frozenset(line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines())


def request_features(text: str, label: str, scores: Dict[str, float], known: FrozenSet[str]) -> Dict[str, object]:
    words = tokens(text)
    ranked = sorted(scores.values(), reverse=True) or [0.0]
    return {
        "characters": float(len(text)),
        "tokens": float(len(words)),
        "oov_rate": (sum(1 for w in words if w not in known) / len(words)) if words else 0.0,
        "top_score": float(ranked[0]),
        "margin": float(ranked[0] - (ranked[1] if len(ranked) > 1 else 0.0)),
        "predicted_label": label,
    }


def feature_columns(rows: Iterable[Dict[str, object]]) -> Dict[str, list]:
    columns: Dict[str, list] = {name: [] for name in (*NUMERIC, *CATEGORICAL)}
    for row in rows:
        for name in columns:
            columns[name].append(row[name])
    return columns


def features_of(texts: Sequence[str], labels: Sequence[str], scores: Sequence[Dict[str, float]],
                known: FrozenSet[str]) -> Dict[str, list]:
    return feature_columns(request_features(t, l, s, known) for t, l, s in zip(texts, labels, scores))
