"""Bm25Encoder beyond English: NFC, CJK bigrams, and what ``language`` still means."""
# ruff: noqa: RUF001 - Greek capitals and full-width punctuation are the point here

from __future__ import annotations

import unicodedata

import pytest
import qdrant_edge as qe

from ragline.rag.bm25 import Bm25Encoder, bm25_text


def terms(encoder: Bm25Encoder, text: str) -> set[int]:
    return set(encoder.encode_document(text).indices)


def query_terms(encoder: Bm25Encoder, text: str) -> set[int]:
    return set(encoder.encode_query(text).indices)


@pytest.mark.parametrize("language", ["english", "none"])
@pytest.mark.parametrize(("query", "document"), [
    ("熊猫", "大熊猫是中国特有的动物，生活在四川的竹林里。"),
    ("富士山", "富士山は日本で一番高い山です。"),
    ("富士山の高さは？", "富士山は日本で一番高い山です。"),
    ("김치", "김치는 배추로 만든 한국의 전통 음식입니다."),
])
def test_a_cjk_query_shares_terms_with_the_text_that_contains_it(
        language: str, query: str, document: str) -> None:
    encoder = Bm25Encoder(language=language)
    shared = query_terms(encoder, query) & terms(encoder, document)
    assert shared and query_terms(encoder, query[:3]) <= terms(encoder, document)


def test_cjk_terms_are_overlapping_bigrams() -> None:
    encoder = Bm25Encoder(language="none")
    assert encoder.length("富士山") == 2  # 富士, 士山
    assert encoder.length("山") == 1
    assert encoder.length("熊猫 熊猫") == 2
    assert query_terms(encoder, "富士山") == query_terms(encoder, "富士 士山")
    assert not query_terms(encoder, "富士山") & terms(encoder, "士富 山士")  # order matters


@pytest.mark.parametrize("language", ["english", "none"])
def test_composed_and_decomposed_accents_are_the_same_term(language: str) -> None:
    encoder = Bm25Encoder(language=language)
    composed, decomposed = "café crème", unicodedata.normalize("NFD", "café crème")
    assert composed != decomposed
    assert encoder.encode_document(composed) == encoder.encode_document(decomposed)
    assert query_terms(encoder, composed) == query_terms(encoder, decomposed)
    assert encoder.length(decomposed) == 2


def test_language_keeps_its_meaning_for_words_and_bigrams_apply_in_both() -> None:
    english, plain = Bm25Encoder(language="english"), Bm25Encoder(language="none")
    mixed = "The dogs were running past 大熊猫 in café"
    # english: stopwords dropped, Snowball stems (dog, run, past, café) plus bigrams 大熊, 熊猫.
    assert english.length(mixed) == 6
    assert query_terms(english, "dog run") <= terms(english, mixed)
    assert query_terms(english, "熊猫") <= terms(english, mixed)
    # none: every lowercase word as written, no stemming, plus the same bigrams.
    assert plain.length(mixed) == 9
    assert not query_terms(plain, "dog") & terms(plain, mixed)
    assert query_terms(plain, "running 熊猫") <= terms(plain, mixed)


@pytest.mark.parametrize("language", ["english", "none"])
def test_cyrillic_greek_and_arabic_words_stay_whole(language: str) -> None:
    encoder = Bm25Encoder(language=language)
    for word, text in [("Москва", "Москва — столица России"),
                       ("Αθήνα", "Η Αθήνα είναι πρωτεύουσα"),
                       ("القاهرة", "القاهرة عاصمة مصر")]:
        assert bm25_text(text) == text
        assert query_terms(encoder, word) <= terms(encoder, text)
        assert encoder.length(text) == len(text.replace("—", "").split())


def test_ascii_english_is_encoded_exactly_as_qdrant_encodes_it() -> None:
    """Stored English-only collections keep their vectors: the tokeniser passes ASCII through."""
    text = "BM25 ranks documents by term frequency; Qdrant applies the IDF at query time."
    ours = Bm25Encoder(language="english", avg_len=20.0).encode_document(text)
    qdrant = qe.Bm25(qe.Bm25Config(k=1.2, b=0.75, avg_len=20.0, language="english"))
    theirs = qdrant.embed_document(text)
    assert (ours.indices, ours.values) == (list(theirs.indices), list(theirs.values))
    assert bm25_text(text) is text
