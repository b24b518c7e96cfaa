"""Text helpers: sentence spans, content terms, NFC and CJK bigrams."""

from __future__ import annotations

import unicodedata

from ragline.text import cjk_bigrams, content_terms, nfc, sentences, split_cjk, stem


def spans(text: str) -> list[str]:
    return [text[a:b] for a, b in sentences(text)]


def test_sentences_keep_their_citation_markers() -> None:
    text = "Qdrant is fast. [1] It is written in Rust [2]. Done!"
    assert spans(text) == ["Qdrant is fast. [1]", "It is written in Rust [2].", "Done!"]


def test_sentences_split_on_blank_lines_and_ignore_abbreviation_like_lowercase() -> None:
    text = "# Title\n\nThe value is 3.5 e.g. small. Next one\nwraps here.\n\n  Last"
    assert spans(text) == ["# Title", "The value is 3.5 e.g. small.", "Next one\nwraps here.",
                           "Last"]


def test_spans_index_the_original_text() -> None:
    text = "  First sentence here.   Second one follows.  "
    for start, end in sentences(text):
        assert text[start:end].strip() == text[start:end]


def test_content_terms_drop_stopwords_and_stem() -> None:
    assert content_terms("Where are the chunks stored?") == ["chunk", "stor"]
    assert stem("queries") == "query"
    assert stem("is") == "is"


def test_initials_and_titles_do_not_end_a_sentence() -> None:
    text = "Mark L. Lester met Mr. Burns in St. Louis. Glassroth v. Moore was decided. It ended."
    assert [text[s:e] for s, e in sentences(text)] == [
        "Mark L. Lester met Mr. Burns in St. Louis.", "Glassroth v. Moore was decided.",
        "It ended."]


def test_nfc_composes_a_decomposed_accent() -> None:
    decomposed = "cafe\u0301"
    assert nfc(decomposed) == "caf\u00e9" == nfc("caf\u00e9")
    assert nfc("\u1100\u1161") == "\uac00"  # Hangul jamo compose into a syllable
    plain = "plain ASCII text"
    assert nfc(plain) is plain  # already composed: returned as it is


def test_cjk_bigrams_overlap_and_a_single_character_stays() -> None:
    assert cjk_bigrams("富士山") == ["富士", "士山"]
    assert cjk_bigrams("熊猫") == ["熊猫"]
    assert cjk_bigrams("山") == ["山"]
    assert cjk_bigrams("") == []


def test_split_cjk_bigrams_each_run_of_han_kana_and_hangul() -> None:
    assert split_cjk("富士山は日本").split() == ["富士", "士山", "山は", "は日", "日本"]
    assert split_cjk("김치는 한국 음식").split() == ["김치", "치는", "한국", "음식"]
    assert split_cjk("カタカナ").split() == ["カタ", "タカ", "カナ"]
    # Punctuation and the katakana middle dot end a run; Latin next to Han is its own word.
    assert split_cjk("熊猫。山・川 iPhone手机").split() == [
        "熊猫", "。", "山", "・", "川", "iPhone", "手机"]


def test_split_cjk_leaves_other_scripts_as_they_are() -> None:
    for text in ("The café, the bar", "Москва — столица", "Η Αθήνα",  # noqa: RUF001
                 "القاهرة عاصمة مصر",
                 unicodedata.normalize("NFD", "café")):
        assert split_cjk(text) == text
