"""Int8 MiniLM (the judge's where int8 is fast): close to the float model, loaded apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ragline.models.embedder import (
    BUNDLED_MINILM,
    SentenceTransformerEmbedder,
    _read_sentence_transformer,
    int8_is_fast,
    resolve_model_path,
)

TEXTS = ["The Eiffel Tower was completed in 1889.",
         "Gustave Eiffel's company built the tower for the World's Fair.",
         "Qdrant is a vector database written in Rust.",
         "Cats sleep for most of the day."]


def test_int8_vectors_are_normalised_and_close_to_the_float_ones(
        embedder: SentenceTransformerEmbedder) -> None:
    exact = embedder.embed_documents(TEXTS)
    quick = SentenceTransformerEmbedder(BUNDLED_MINILM, int8=True).embed_documents(TEXTS)
    assert quick.dtype == np.float32
    assert np.allclose(np.linalg.norm(quick, axis=1), 1.0, atol=1e-5)
    assert not np.array_equal(exact, quick)  # really quantised
    assert np.all(np.sum(exact * quick, axis=1) > 0.99)
    assert np.abs(exact @ exact.T - quick @ quick.T).max() < 0.03


def test_loading_int8_leaves_the_float_model_untouched(
        embedder: SentenceTransformerEmbedder) -> None:
    SentenceTransformerEmbedder(BUNDLED_MINILM, int8=True).embed_documents(TEXTS)  # int8 loaded
    fresh = _read_sentence_transformer(resolve_model_path(BUNDLED_MINILM), "cpu")
    expected = fresh.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert np.allclose(embedder.embed_documents(TEXTS), expected, atol=1e-6)


def test_int8_is_fast_only_with_int8_dot_product_instructions(tmp_path: Path) -> None:
    avx2 = tmp_path / "avx2"
    avx2.write_text("processor : 0\nflags : fpu sse2 avx avx2 fma\n")
    vnni = tmp_path / "vnni"
    vnni.write_text("processor : 0\nflags : fpu avx2 avx512f avx512_vnni\n")
    assert not int8_is_fast(avx2)
    assert int8_is_fast(vnni)
    assert not int8_is_fast(tmp_path / "missing")
