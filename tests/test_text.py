"""Text helpers: sentence spans, content terms."""

from __future__ import annotations

from ragline.text import content_terms, sentences, stem


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
