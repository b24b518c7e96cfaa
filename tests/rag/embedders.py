"""A real embedder that fails on purpose, for the ingest tests that stop a run part-way."""

from __future__ import annotations

from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.protocols import Vectors


class FailingEmbedder:
    """The real embedder, except that its ``fail_on``-th ``embed_documents`` call raises
    ``error`` (0: never): a crash, or Ctrl-C when ``error`` is a KeyboardInterrupt."""

    def __init__(self, inner: SentenceTransformerEmbedder, fail_on: int,
                 error: BaseException) -> None:
        self.inner = inner
        self.fail_on = fail_on
        self.error = error
        self.calls = 0

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed_documents(self, texts: list[str]) -> Vectors:
        self.calls += 1
        if self.calls == self.fail_on:
            raise self.error
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> Vectors:
        return self.inner.embed_query(text)
