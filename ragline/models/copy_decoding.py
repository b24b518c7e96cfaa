"""Copy-constrained decoding: a causal LM may only write text that continues a source.

The decoder is greedy over a restricted vocabulary. At the first step the allowed
tokens are those that start a word in one of the source sentences (for a ``span``
answer: not a stop word and not a word of the question, which the answer rarely
repeats); at every later step only the tokens that continue one of the source
positions matched so far, plus end of answer where a word ends. The answer is
therefore always a verbatim slice of a source sentence, and the passage it came
from is known exactly: that is its citation.

``span`` answers are short phrases: the first token's score adds a proximity prior
(a word close to the question's words in the sentence is a likelier answer,
``PROXIMITY_WEIGHT`` times minus the log of one plus the distance in words), and
the answer ends at end of answer or before a comma, full stop, colon, semicolon or
bracket. ``sentence`` answers start at a sentence's first word and copy the
whole sentence; once a single source is left the rest is appended without asking
the model. The result carries the model's own log-probability of its first token
(over the whole vocabulary), which the abstention check reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ragline.text import content_terms

CopyStyle = Literal["span", "sentence"]

PROXIMITY_WEIGHT = 4.0
"""Weight of the proximity prior on a span's first token (log-probability units)."""
_SPACE = "\u0120"  # how byte-level BPE vocabularies spell a leading space
_DANGLING = "`'\"([{-\u2013\u2014/"  # an opening mark a span cut off from what it opens
_CLOSE_WITHIN = 40
_SPAN_STOPS = frozenset({",", ".", ";", ":", "(", ")", "[", "]", _SPACE + "(", _SPACE + "["})


@dataclass(frozen=True, slots=True)
class CopiedSpan:
    """A copied answer: ``text`` is ``sources[source][1][start:end]`` exactly.

    ``marker`` is the source's passage marker, ``first_logprob`` the model's
    log-probability of the answer's first token over its whole vocabulary, and
    ``tokens`` how many tokens the model chose.
    """

    text: str
    source: int
    marker: int
    start: int
    end: int
    first_logprob: float
    tokens: int


@dataclass(frozen=True, slots=True)
class _Source:
    marker: int
    text: str
    ids: list[int]
    offsets: list[tuple[int, int]]
    words: list[tuple[int, str]]
    proximity: list[float]


class _Vocabulary:
    """What the decoder asks of each token id: its text, whether it starts a word, and
    the id of the same word without its leading space (an answer's first word)."""

    def __init__(self, tokenizer: Any) -> None:
        self.pieces: list[str] = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        self.eos: int = tokenizer.eos_token_id
        index = {piece: i for i, piece in enumerate(self.pieces) if piece is not None}
        self.bare = {i: index[piece[1:]] for i, piece in enumerate(self.pieces)
                     if piece and piece.startswith(_SPACE) and piece[1:] in index}

    def starts_word(self, token: int) -> bool:
        """True when ``token`` begins a new word (a leading space, or not a letter/digit)."""
        piece = self.pieces[token] or ""
        return piece.startswith(_SPACE) or not piece[:1].isalnum()


def _asked(word: str, question_terms: frozenset[str]) -> bool:
    """Whether ``word`` is one of the question's words (its stemmed content terms)."""
    terms = content_terms(word)
    return bool(terms) and all(t in question_terms for t in terms)


class CopyDecoder:
    """Greedy copy-constrained decoding over one tokenizer and causal LM (torch)."""

    def __init__(self, tokenizer: Any, model: Any) -> None:
        self.tokenizer = tokenizer
        self.model = model
        self.vocabulary = _Vocabulary(tokenizer)

    def decode(self, prompt_ids: Any, sources: Sequence[tuple[int, str]], *,
               question_terms: frozenset[str], style: CopyStyle,
               max_new_tokens: int) -> CopiedSpan | None:
        """Copy an answer from ``sources`` (``(marker, sentence)`` pairs) after
        ``prompt_ids`` (a 1 x n tensor); None when no source offers a start."""
        import torch

        prepared = [self._source(m, t, question_terms) for m, t in sources]
        active = [(s, i) for s, source in enumerate(prepared)
                  for i in self._starts(source, question_terms, style)]
        if not active:
            return None
        with torch.inference_mode():
            logits, cache = self._forward(prompt_ids, None)
            chosen: list[int] = []
            first = 0.0
            for step in range(max_new_tokens):
                logprobs = torch.log_softmax(logits.float(), -1)
                token, options = self._choose(logprobs, prepared, active, step, style)
                if token is None:
                    break
                if step == 0:
                    first = float(logprobs[token])
                chosen.append(token)
                active = [(s, i + 1) for s, i in options]
                if style == "sentence" and len({s for s, _ in active}) == 1:
                    break  # one source left: the rest of its sentence follows
                logits, cache = self._forward(torch.tensor([[token]]), cache)
        return self._span(prepared, active, len(chosen), first, style)

    def _forward(self, ids: Any, cache: Any) -> tuple[Any, Any]:
        out = self.model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
        return out.logits[0, -1], out.cache

    def _source(self, marker: int, text: str, question_terms: frozenset[str]) -> _Source:
        encoded = self.tokenizer(" " + text, add_special_tokens=False,
                                 return_offsets_mapping=True)
        offsets = [(max(a - 1, 0), max(b - 1, 0)) for a, b in encoded["offset_mapping"]]
        ids = list(encoded["input_ids"])
        words = self._words(text, ids, offsets)
        return _Source(marker, text, ids, offsets, words,
                       self._proximity(words, len(ids), question_terms))

    def _words(self, text: str, ids: list[int],
               offsets: list[tuple[int, int]]) -> list[tuple[int, str]]:
        """Each word of the source: its first token's position and its text, lower case."""
        starts = [i for i in range(len(ids)) if i == 0 or self.vocabulary.starts_word(ids[i])]
        ends = [*starts[1:], len(ids)]
        return [(a, text[offsets[a][0]:offsets[b - 1][1]].strip().lower())
                for a, b in zip(starts, ends, strict=True)]

    def _proximity(self, words: list[tuple[int, str]], size: int,
                   question_terms: frozenset[str]) -> list[float]:
        """Per token: minus log(1 + words to the nearest question word), 0 without one."""
        near = [w for w, (_, word) in enumerate(words) if _asked(word, question_terms)]
        proximity = [0.0] * size
        if near:
            for w, (token, _) in enumerate(words):
                proximity[token] = -math.log(1 + min(abs(w - q) for q in near))
        return proximity

    def _starts(self, source: _Source, question_terms: frozenset[str],
                style: CopyStyle) -> list[int]:
        """Token positions an answer may start at: a sentence's first word, or (span) any
        word that is a number, or neither a stop word nor a word of the question."""
        if style == "sentence":
            return [0] if source.ids else []
        return [token for token, word in source.words if word[:1].isalnum() and (
            word[:1].isdigit() or (content_terms(word) and not _asked(word, question_terms)))]

    def _choose(self, logprobs: Any, sources: list[_Source], active: list[tuple[int, int]],
                step: int, style: CopyStyle) -> tuple[int | None, list[tuple[int, int]]]:
        """The best allowed token and the source positions it continues; None to stop."""
        allowed: dict[int, list[tuple[int, int]]] = {}
        bonus: dict[int, float] = {}
        for s, i in active:
            if i >= len(sources[s].ids):
                continue
            token = sources[s].ids[i]
            variants = [token, self.vocabulary.bare.get(token, token)] if step == 0 else [token]
            for variant in dict.fromkeys(variants):
                allowed.setdefault(variant, []).append((s, i))
                if step == 0 and style == "span":
                    bonus[variant] = max(bonus.get(variant, -math.inf),
                                         PROXIMITY_WEIGHT * sources[s].proximity[i])
        if step > 0 and self._may_end(sources, active, style):
            allowed.setdefault(self.vocabulary.eos, [])
        if not allowed:
            return None, []
        token = max(allowed, key=lambda t: float(logprobs[t]) + bonus.get(t, 0.0))
        if token == self.vocabulary.eos or (style == "span" and step > 0
                                            and self._ends_span(token, sources, allowed[token])):
            return None, []
        return token, allowed[token]

    def _ends_span(self, token: int, sources: list[_Source],
                   positions: list[tuple[int, int]]) -> bool:
        """Whether ``token`` is punctuation that ends a span: a comma, full stop, colon,
        semicolon or bracket followed by a new word or the end (not ".ragline/" or "3.5")."""
        if (self.vocabulary.pieces[token] or "") not in _SPAN_STOPS:
            return False
        return any(i + 1 >= len(sources[s].ids)
                   or self.vocabulary.starts_word(sources[s].ids[i + 1])
                   for s, i in positions)

    def _may_end(self, sources: list[_Source], active: list[tuple[int, int]],
                 style: CopyStyle) -> bool:
        """Whether the answer may end here: at a word's end (span) or a source's (sentence)."""
        for s, i in active:
            ids = sources[s].ids
            if i >= len(ids) or (style == "span" and self.vocabulary.starts_word(ids[i])):
                return True
        return False

    def _span(self, sources: list[_Source], active: list[tuple[int, int]], tokens: int,
              first: float, style: CopyStyle) -> CopiedSpan | None:
        """The copied text of the first source still matching, as character offsets."""
        if not tokens or not active:
            return None
        s, end_token = active[0]
        source = sources[s]
        if style == "sentence":
            end_token = len(source.ids)
        start_token = end_token - tokens if style == "span" else 0
        start, end = trimmed(source.text, source.offsets[start_token][0],
                             source.offsets[end_token - 1][1])
        return CopiedSpan(source.text[start:end], s, source.marker, start, end, first, tokens)


def trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """``text[start:end]`` as an answer: without surrounding spaces or an opening mark
    left dangling at its end, then with a code span or quotation it opens closed."""
    kept = text[start:end].strip().rstrip(_DANGLING).rstrip()
    if not kept:
        return start, start
    start = text.index(kept, start)
    return start, _closed(text, start, start + len(kept))


def _closed(text: str, start: int, end: int) -> int:
    """``end``, moved past the closing mark of a code span or quotation that
    ``text[start:end]`` opens and leaves open, when it closes within ``_CLOSE_WITHIN``
    characters."""
    for mark in ("`", '"'):
        if text.count(mark, start, end) % 2:
            closing = text.find(mark, end, end + _CLOSE_WITHIN)
            if closing >= 0:
                return closing + 1
    return end
