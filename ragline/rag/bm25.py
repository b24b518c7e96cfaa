"""BM25 sparse vectors, computed with Qdrant Edge's own BM25 model.

Qdrant stores a document's BM25 term weights, ``tf·(k1+1) / (tf + k1·(1-b+b·len/avg_len))``,
as a sparse vector; the collection's ``Idf`` modifier multiplies in the IDF at
query time, so fused ranking runs inside Qdrant. The weights depend on the
collection's real mean chunk length, so :class:`Bm25Encoder` also measures a
text's length in the model's own tokens, and the index keeps ``avg_len`` in
step with the collection.

Intended differences from ``rank_bm25.BM25Okapi`` (documented in docs/retrieval.md):
the IDF is Lucene's ``ln(1 + (N-n+0.5)/(n+0.5))``, which is never negative, and
with ``language: english`` tokens are stemmed and stopwords dropped. With
``language: none`` and the same IDF, scores equal ``BM25Okapi``'s exactly.

Before Qdrant's word tokeniser sees a text (document or query), :func:`bm25_text`
puts it in Unicode NFC, so a decomposed "café" in a file matches a composed one
in a query, and turns each run of Han, kana or Hangul, scripts written without
spaces, into overlapping character bigrams, whatever the ``language``. Words in
other scripts go through ``language``'s rules (stopwords, Snowball stemmer) as
before; pure ASCII text is passed on unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import qdrant_edge as qe

from ragline.errors import ConfigError
from ragline.text import nfc, split_cjk

# The text preparation Bm25Encoder applies, recorded in collection metadata: a collection
# encoded by another version has its BM25 vectors rebuilt when the index opens it.
TOKENIZER = "nfc+cjk-bigrams"


@dataclass(frozen=True, slots=True)
class SparseVector:
    """A transport-neutral sparse vector: parallel index and weight lists."""

    indices: list[int]
    values: list[float]


def bm25_text(text: str) -> str:
    """``text`` as the BM25 model reads it: NFC, with CJK runs split into bigram words."""
    return split_cjk(nfc(text))


def _config(language: str, *, k: float, b: float, avg_len: float | None) -> qe.Bm25Config:
    if language == "none":
        return qe.Bm25Config(k=k, b=b, avg_len=avg_len, stemmer=qe.DisabledStemmer(),
                             stopwords=qe.StopwordsSet(custom=set()), lowercase=True)
    return qe.Bm25Config(k=k, b=b, avg_len=avg_len, language=language)


class Bm25Encoder:
    """Encodes documents and queries as BM25 sparse vectors for one ``avg_len``."""

    tokenizer = TOKENIZER

    def __init__(self, *, language: str = "english", k1: float = 1.2, b: float = 0.75,
                 avg_len: float = 256.0) -> None:
        self.language = language
        self.k1 = k1
        self.b = b
        self.avg_len = avg_len
        try:
            self._model = qe.Bm25(_config(language, k=k1, b=b, avg_len=avg_len))
            # With b = 0 a weight is tf·(k1+1)/(tf+k1): invertible to tf, hence to length.
            self._counter = qe.Bm25(_config(language, k=k1, b=0.0, avg_len=None))
        except ValueError as exc:
            raise ConfigError(f"index.bm25: {exc}") from exc

    def with_avg_len(self, avg_len: float) -> Bm25Encoder:
        """Return an encoder identical to this one but for ``avg_len``."""
        return Bm25Encoder(language=self.language, k1=self.k1, b=self.b,
                           avg_len=max(avg_len, 1.0))

    def length(self, text: str) -> int:
        """Number of tokens BM25 sees in ``text`` (after stopwords and stemming)."""
        k = self.k1
        vector = self._counter.embed_document(bm25_text(text))
        if k == 0:  # weights carry no tf information; fall back to unique terms
            return len(vector.indices)
        return sum(round(w * k / (k + 1.0 - w)) for w in vector.values)

    def encode_document(self, text: str) -> SparseVector:
        """Term weights of ``text`` as an indexed document."""
        vector = self._model.embed_document(bm25_text(text))
        return SparseVector(list(vector.indices), list(vector.values))

    def encode_query(self, text: str) -> SparseVector:
        """Query terms of ``text``, each with weight 1 (IDF is applied by Qdrant)."""
        vector = self._model.embed_query(bm25_text(text))
        return SparseVector(list(vector.indices), list(vector.values))
