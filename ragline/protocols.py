"""Protocols that the data layer depends on and the model layer implements.

Keeping them here (cross-cutting, like ``types``) lets ``ragline.rag`` accept an
embedder without importing ``ragline.models``, so the layering of the package
holds: a lower layer never imports a higher one.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into fixed-size vectors; documents and queries may differ."""

    @property
    def dimension(self) -> int:
        """Length of every vector this embedder returns."""
        ...

    def embed_documents(self, texts: list[str]) -> Vectors:
        """Embed passages; returns an array of shape ``(len(texts), dimension)``."""
        ...

    def embed_query(self, text: str) -> Vectors:
        """Embed one search query; returns an array of shape ``(dimension,)``."""
        ...
