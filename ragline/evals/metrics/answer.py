"""Answer metrics against reference answers: SQuAD exact match and token F1, and
semantic similarity (cosine of sentence embeddings).

Normalisation is the official SQuAD script's: lower case, punctuation and the
articles a/an/the removed, whitespace collapsed. With several references the
best score counts; with none (an unanswerable SQuAD 2.0 question) a prediction
scores 1 only when it normalises to nothing, as in the official script.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from ragline.protocols import Embedder

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _exact(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def _f1(prediction: str, reference: str) -> float:
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not predicted or not gold:
        return float(predicted == gold)
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def _best(prediction: str, references: Sequence[str],
          score: Callable[[str, str], float]) -> float:
    if not references:
        return float(not normalize_answer(prediction))
    return max(score(prediction, reference) for reference in references)


def exact_match(prediction: str, references: Sequence[str]) -> float:
    """1.0 when ``prediction`` equals a reference after normalisation, else 0.0."""
    return _best(prediction, references, _exact)


def token_f1(prediction: str, references: Sequence[str]) -> float:
    """SQuAD token F1 (bag of normalised words) against the best reference."""
    return _best(prediction, references, _f1)


def semantic_similarity(text: str, reference: str, embedder: Embedder) -> float:
    """Cosine similarity of the two texts' embeddings, in [-1, 1] (MiniLM: mostly [0, 1])."""
    vectors = np.asarray(embedder.embed_documents([text, reference]), dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    if not norms.all():
        return 0.0
    return float(vectors[0] @ vectors[1] / (norms[0] * norms[1]))
