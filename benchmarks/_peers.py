"""The systems the retrieval benchmarks compare: ragline's index and its peers.

Shared by ``retrieval.py`` (quality) and ``retrieval_speed.py`` (latency, ingest):
ragline's index as the benchmarks build it (:func:`make_index`, :func:`fusion_label`),
the building blocks LangChain-style stacks put together in Python (``rank_bm25``,
brute-force cosine, reciprocal-rank fusion) and LangChain's real ``EnsembleRetriever``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from ragline.models.embedder import SentenceTransformerEmbedder
    from ragline.rag.index import QdrantIndex

Matrix = npt.NDArray[np.float32]
Ranking = list[str]  # doc ids, best first

RRF_K = 60  # LangChain EnsembleRetriever's default constant
WORD = re.compile(r"\w+")


# -- ragline --------------------------------------------------------------------------------


def make_index(home: Path, collection: str, embedder: SentenceTransformerEmbedder,
               **index_settings: object) -> QdrantIndex:
    """A ragline index (embedded Qdrant Edge shard) under ``home`` with the default settings."""
    from ragline.config import load_settings
    from ragline.rag.index import QdrantIndex

    settings = (load_settings(home=str(home), index=dict(index_settings)) if index_settings
                else load_settings(home=str(home)))
    return QdrantIndex.from_settings(settings, collection=collection, embedder=embedder)


def fusion_label(index: QdrantIndex) -> str:
    """ragline's hybrid setting in words: fusion method, depth and feedback, from the index."""
    fusion = index.fusion
    if fusion.method == "rrf":
        label = f"rrf k={fusion.rrf_k}"
    elif fusion.method == "convex":
        label = "convex, weights dense {:g} : bm25 {:g}".format(*fusion.convex_weights)
    else:
        label = fusion.method
    if fusion.weights is not None and fusion.method == "rrf":
        label += ", weights dense {:g} : bm25 {:g}".format(*fusion.weights)
    feedback: Any = getattr(index, "feedback", None)  # pseudo-relevance feedback, if any
    if feedback is not None and feedback.docs:
        label += f" + feedback {feedback.docs} docs x {feedback.weight:g}"
    return f"{label} over the top-{index.candidates} of each retriever"


# -- peers' building blocks -----------------------------------------------------------------


def split_tokens(text: str) -> list[str]:
    """LangChain ``BM25Retriever``'s default preprocessing: ``text.split()``."""
    return text.split()


def word_tokens(text: str) -> list[str]:
    """The fairer variant: lowercase, then regex ``\\w+`` words."""
    return WORD.findall(text.lower())


def top_indices(scores: npt.NDArray[np.floating], depth: int) -> npt.NDArray[np.intp]:
    """Indices of the ``depth`` highest scores, best first (ties by lower index)."""
    depth = min(depth, len(scores))
    part = np.argpartition(-scores, depth - 1)[:depth]
    return part[np.lexsort((part, -scores[part]))]


def rrf(rankings: Sequence[Ranking], k: int = RRF_K) -> Ranking:
    """Weighted reciprocal-rank fusion as in LangChain's ``EnsembleRetriever`` (equal weights).

    Each list adds ``weight / (rank + k)`` (rank from 1) to a document's score; documents
    are then sorted by score, ties kept in order of first appearance.
    """
    weight = 1.0 / len(rankings)
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + weight / (rank + k)
    return sorted(scores, key=lambda doc: -scores[doc])


class PeerBm25:
    """``rank_bm25.BM25Okapi`` over a corpus, with a tokeniser."""

    def __init__(self, texts: Sequence[str], tokenize: Callable[[str], list[str]]) -> None:
        from rank_bm25 import BM25Okapi

        self.tokenize = tokenize
        self.model = BM25Okapi([tokenize(t) for t in texts])

    def top(self, query: str, depth: int) -> npt.NDArray[np.intp]:
        """Corpus positions of the ``depth`` best documents for ``query``."""
        return top_indices(self.model.get_scores(self.tokenize(query)), depth)


def dense_top(doc_vectors: Matrix, query_vector: Matrix, depth: int) -> npt.NDArray[np.intp]:
    """Brute-force cosine (vectors are normalised, so a dot product) top ``depth``."""
    return top_indices(doc_vectors @ query_vector, depth)


# -- LangChain's EnsembleRetriever (optional) -----------------------------------------------


def langchain_missing() -> str | None:
    """Why the LangChain row cannot run (a ``skipped:`` reason), or None when it can."""
    for module in ("langchain_classic", "langchain_community", "langchain_core"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # langchain_community warns that it is sunset
                __import__(module)
        except ImportError:
            return f"{module} not installed"
    return None


class LangChainEnsemble:
    """LangChain's real ``EnsembleRetriever`` over ``BM25Retriever`` + ``InMemoryVectorStore``.

    Both retrievers and the fusion are LangChain's own code with their defaults
    (``text.split()`` BM25 preprocessing, equal weights, ``c`` = 60, documents
    deduplicated by ``page_content``). The vector store gets precomputed vectors
    through a small ``Embeddings`` that looks them up by text, so no model runs
    here and embedding time is excluded, as on ragline's side.
    """

    def __init__(self, texts: Sequence[str], ids: Sequence[str], doc_vectors: Matrix,
                 queries: Sequence[str], query_vectors: Matrix, depth: int) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from langchain_classic.retrievers import EnsembleRetriever
            from langchain_community.retrievers import BM25Retriever
        from langchain_core.embeddings import Embeddings
        from langchain_core.vectorstores import InMemoryVectorStore

        class Precomputed(Embeddings):
            """Vectors computed beforehand with the same MiniLM, looked up by text."""

            def __init__(self, docs: dict[str, list[float]],
                         queries: dict[str, list[float]]) -> None:
                self.docs = docs
                self.queries = queries

            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return [self.docs[t] for t in texts]

            def embed_query(self, text: str) -> list[float]:
                return self.queries[text]

        # lists of floats, as a real Embeddings returns them (the store keeps them as is)
        embeddings = Precomputed(dict(zip(texts, doc_vectors.tolist(), strict=True)),
                                 dict(zip(queries, query_vectors.tolist(), strict=True)))
        metadatas = [{"doc_id": i} for i in ids]
        self.bm25 = BM25Retriever.from_texts(list(texts), metadatas=metadatas, ids=list(ids),
                                             k=depth)
        self.store = InMemoryVectorStore(embedding=embeddings)
        self.store.add_texts(list(texts), metadatas=metadatas, ids=list(ids))
        self.dense = self.store.as_retriever(search_kwargs={"k": depth})
        self.ensemble = EnsembleRetriever(retrievers=[self.bm25, self.dense],
                                          weights=[0.5, 0.5])  # the default, spelled out
        self.depth = depth

    def set_depth(self, depth: int) -> None:
        """How many documents each retriever hands to the fusion."""
        self.bm25.k = depth
        self.dense.search_kwargs = {"k": depth}
        self.depth = depth

    def search(self, query: str, k: int) -> Ranking:
        """The fused ranking's first ``k`` doc ids (``invoke`` returns the whole fusion)."""
        return [d.metadata["doc_id"] for d in self.ensemble.invoke(query)[:k]]

