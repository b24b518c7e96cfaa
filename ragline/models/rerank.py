"""Second-stage ranking: rerankers, maximal marginal relevance and near-duplicate removal.

A :class:`Reranker` re-scores retrieved chunks against the query and returns
them best first. Two are provided:

* :class:`CrossEncoderReranker` runs a sentence-transformers ``CrossEncoder``
  (by default ``cross-encoder/ms-marco-MiniLM-L-6-v2``) strictly offline; use
  :meth:`CrossEncoderReranker.available` to learn whether the model is on disk
  before relying on it.
* :class:`LLMReranker` asks any :class:`~ragline.models.chat.ChatModel` to rate
  each passage from 0 to 10 (pointwise).

:func:`mmr` picks a relevant yet diverse subset, and
:func:`drop_near_duplicates` removes repeated passages; both work on vectors
from an :class:`~ragline.models.embedder.Embedder`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ragline.errors import InvalidInput, ProviderError
from ragline.models.st_loader import load_offline
from ragline.types import ChatRequest, Message, ScoredChunk

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

    from ragline.models.chat import ChatModel

RERANK_SOURCE = "rerank"
DEFAULT_CROSS_ENCODER = "cross-encoder/ms-marco-MiniLM-L-6-v2"

#: The pointwise relevance prompt of :class:`LLMReranker`. The static
#: instructions come first so providers can cache that prefix across chunks.
LLM_RERANK_PROMPT = """\
You judge how relevant a passage is to a search query.
Rate the passage on a scale from 0 to 10:
0 means unrelated, 5 means partly relevant, 10 means it directly answers the query.
Reply with the integer rating only, no other words.

Query: {query}

Passage:
{passage}

Rating (0-10):"""

_INTEGER = re.compile(r"\d+")


@runtime_checkable
class Reranker(Protocol):
    """Re-scores retrieved chunks against a query."""

    def rerank(self, query: str, chunks: Sequence[ScoredChunk], *,
               top_k: int | None = None) -> list[ScoredChunk]:
        """Return the chunks best first with the reranker's scores.

        Ties are broken by chunk id, ``retrievers`` gains ``"rerank"``, and at
        most ``top_k`` chunks are returned (all when ``None``).
        """
        ...


def _check_top_k(top_k: int | None) -> None:
    if top_k is not None and top_k < 0:
        raise InvalidInput(f"top_k must be >= 0, but got {top_k}")


def _ranked(chunks: Sequence[ScoredChunk], scores: Sequence[float],
            top_k: int | None) -> list[ScoredChunk]:
    """Attach ``scores`` to ``chunks``, sort best first (ties by id) and cut to ``top_k``."""
    rescored = [
        ScoredChunk(item.chunk, float(score),
                    item.retrievers if RERANK_SOURCE in item.retrievers
                    else (*item.retrievers, RERANK_SOURCE))
        for item, score in zip(chunks, scores, strict=True)
    ]
    rescored.sort(key=lambda item: (-item.score, item.chunk.id))
    return rescored if top_k is None else rescored[:top_k]


@cache
def _load_cross_encoder(path: str, device: str, max_length: int) -> CrossEncoder:
    model: CrossEncoder = load_offline(
        "CrossEncoder", path, device=device, max_length=max_length,
        needed_for="cross-encoder reranking", what="cross-encoder",
        fix="configure the reranker model as a local path or a model already in the "
            "Hugging Face cache")
    return model


class CrossEncoderReranker:
    """A :class:`Reranker` over a sentence-transformers ``CrossEncoder``, never downloading.

    The model is loaded on first use (or by :meth:`warm_up`) and shared per
    process. ``model`` is a local folder or a Hugging Face id already in the
    local cache; check with :meth:`available` first to skip reranking quietly
    when it is absent.
    """

    def __init__(self, model: str = DEFAULT_CROSS_ENCODER, *, batch_size: int = 32,
                 device: str = "cpu", max_length: int = 512) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, but got {batch_size}")
        if max_length <= 0:
            raise ValueError(f"max_length must be > 0, but got {max_length}")
        self.model_name = model
        self.batch_size = batch_size
        self.device = device
        self.max_length = max_length
        self._model: CrossEncoder | None = None

    @property
    def name(self) -> str:
        """``cross_encoder:<model>``, for logs and routes."""
        return f"cross_encoder:{self.model_name}"

    @staticmethod
    def available(model: str = DEFAULT_CROSS_ENCODER) -> bool:
        """Whether ``model`` loads without a network: a local path, or in the HF cache."""
        if Path(model).expanduser().exists():
            return True
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return False
        try:
            found = try_to_load_from_cache(model, "config.json")
        except Exception:  # an invalid repo id, an unreadable cache: not available
            return False
        return isinstance(found, str) and os.path.exists(found)

    def warm_up(self) -> None:
        """Load the model now instead of on first use.

        Raises :class:`ProviderNotInstalled` without sentence-transformers and
        :class:`ProviderError` when the model is not available offline.
        """
        if self._model is not None:
            return
        if not self.available(self.model_name):
            raise ProviderError(
                f"cross-encoder {self.model_name!r} is not available offline: configure the "
                "reranker model as a local path or put it in the Hugging Face cache",
                provider="sentence_transformers", model=self.model_name)
        path = str(Path(self.model_name).expanduser())
        if not Path(path).exists():
            path = self.model_name
        self._model = _load_cross_encoder(path, self.device, self.max_length)

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """The model's relevance score of each text for ``query``, in input order."""
        if not texts:
            return []
        self.warm_up()
        assert self._model is not None
        raw: Any = self._model.predict([(query, text) for text in texts],
                                       batch_size=self.batch_size, show_progress_bar=False,
                                       convert_to_numpy=True)
        scores = np.asarray(raw, dtype=np.float64)
        if scores.ndim == 2 and scores.shape[1] == 1:
            scores = scores[:, 0]
        if scores.ndim != 1:
            raise ProviderError(
                f"cross-encoder {self.model_name!r} returns {scores.shape[-1]} scores per pair; "
                "a reranker needs a model with a single relevance output",
                provider="sentence_transformers", model=self.model_name)
        return [float(value) for value in scores]

    def rerank(self, query: str, chunks: Sequence[ScoredChunk], *,
               top_k: int | None = None) -> list[ScoredChunk]:
        """Score every ``(query, chunk text)`` pair and return the chunks best first."""
        _check_top_k(top_k)
        if not chunks:
            return []
        return _ranked(chunks, self.score(query, [item.chunk.text for item in chunks]), top_k)


def parse_rating(reply: str) -> int:
    """The first integer in ``reply``, clamped to 0-10; 0 when there is none."""
    match = _INTEGER.search(reply)
    return min(int(match.group()), 10) if match else 0


class LLMReranker:
    """A pointwise :class:`Reranker`: a chat model rates each passage from 0 to 10.

    One request per chunk, built from :data:`LLM_RERANK_PROMPT` with the
    passage cut to ``max_passage_chars``. The score is ``rating / 10``; a reply
    without an integer counts as 0. Provider failures propagate as
    :class:`ProviderError`.
    """

    def __init__(self, model: ChatModel, *, max_passage_chars: int = 1500,
                 max_tokens: int = 8) -> None:
        if max_passage_chars <= 0:
            raise ValueError(f"max_passage_chars must be > 0, but got {max_passage_chars}")
        self.model = model
        self.max_passage_chars = max_passage_chars
        self.max_tokens = max_tokens

    @property
    def name(self) -> str:
        """``llm:<provider:model>``, for logs and routes."""
        return f"llm:{self.model.name}"

    def prompt(self, query: str, passage: str) -> str:
        """The rating prompt for one passage."""
        return LLM_RERANK_PROMPT.format(query=query.strip(),
                                        passage=passage[:self.max_passage_chars])

    def rate(self, query: str, passage: str) -> int:
        """Ask the model for the 0-10 relevance of ``passage`` to ``query``."""
        request = ChatRequest(messages=(Message("user", self.prompt(query, passage)),),
                              max_tokens=self.max_tokens, temperature=0.0)
        return parse_rating(self.model.generate(request).text)

    def rerank(self, query: str, chunks: Sequence[ScoredChunk], *,
               top_k: int | None = None) -> list[ScoredChunk]:
        """Rate every chunk and return them best first, scores in ``[0, 1]``."""
        _check_top_k(top_k)
        scores = [self.rate(query, item.chunk.text) / 10 for item in chunks]
        return _ranked(chunks, scores, top_k)


def _unit_rows(vectors: npt.ArrayLike, count: int) -> npt.NDArray[np.float64]:
    """``vectors`` as float64 rows of length 1 (zero rows stay zero); checks the row count."""
    matrix = np.asarray(vectors, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != count:
        raise InvalidInput(f"expected {count} vectors as a 2-d array, but got shape "
                           f"{matrix.shape}")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    result: npt.NDArray[np.float64] = matrix / np.where(norms == 0, 1.0, norms)
    return result


def mmr(query_vector: npt.ArrayLike, chunks: Sequence[ScoredChunk],
        chunk_vectors: npt.ArrayLike, *, k: int, lambda_: float = 0.7) -> list[ScoredChunk]:
    """Pick ``k`` chunks by maximal marginal relevance, in selection order.

    Each step takes the chunk maximising ``lambda_ * sim(query, c) - (1 - lambda_) *
    max sim(c, selected)`` with cosine similarity over normalised vectors; ties
    go to the smaller chunk id. ``lambda_ = 1`` is pure relevance, ``0`` pure
    diversity. The chunks are returned unchanged (scores and retrievers kept).
    """
    if k < 0:
        raise InvalidInput(f"k must be >= 0, but got {k}")
    if not 0.0 <= lambda_ <= 1.0:
        raise InvalidInput(f"lambda_ must be between 0 and 1, but got {lambda_}")
    if not chunks or k == 0:
        return []
    matrix = _unit_rows(chunk_vectors, len(chunks))
    query = _unit_rows(np.asarray(query_vector, dtype=np.float64).reshape(1, -1), 1)[0]
    if query.shape[0] != matrix.shape[1]:
        raise InvalidInput(f"query vector has {query.shape[0]} dimensions, chunk vectors "
                           f"{matrix.shape[1]}")
    relevance = matrix @ query
    redundancy = np.zeros(len(chunks))
    remaining = set(range(len(chunks)))
    selected: list[int] = []
    while remaining and len(selected) < k:
        values = lambda_ * relevance - (1 - lambda_) * redundancy
        best = min((-float(values[i]), chunks[i].chunk.id, i) for i in remaining)[2]
        selected.append(best)
        remaining.discard(best)
        similarity = matrix @ matrix[best]
        redundancy = similarity if len(selected) == 1 else np.maximum(redundancy, similarity)
    return [chunks[i] for i in selected]


def _text_key(text: str) -> str:
    return " ".join(text.split())


def drop_near_duplicates(chunks: Sequence[ScoredChunk], vectors: npt.ArrayLike | None = None,
                         *, threshold: float = 0.95) -> list[ScoredChunk]:
    """Drop chunks that repeat an earlier (better-ranked) one, keeping input order.

    A chunk is a duplicate when it has the same id or the same text (up to
    whitespace) as a kept chunk, or, when ``vectors`` (one row per chunk) are
    given, a cosine similarity of at least ``threshold`` with a kept chunk.
    """
    if not -1.0 <= threshold <= 1.0:
        raise InvalidInput(f"threshold must be between -1 and 1, but got {threshold}")
    matrix = None if vectors is None else _unit_rows(vectors, len(chunks))
    kept: list[int] = []
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    for i, item in enumerate(chunks):
        text = _text_key(item.chunk.text)
        if item.chunk.id in seen_ids or text in seen_texts:
            continue
        if matrix is not None and kept and float(np.max(matrix[kept] @ matrix[i])) >= threshold:
            continue
        kept.append(i)
        seen_ids.add(item.chunk.id)
        seen_texts.add(text)
    return [chunks[i] for i in kept]
