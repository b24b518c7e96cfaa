"""Post-hoc citation attribution: markers for the sentences of an answer that carry none.

A model that answers in free form, without ``[n]`` markers, gives an answer the
answer check (:class:`~ragline.verify.guard.AnswerCheck`) rejects for want of a
valid citation. :func:`attribute` cites such an answer after the fact: each
sentence without a marker is judged against each passage on its own, and
``[n]`` (``n`` the 1-based passage number) is put before its closing
punctuation ("It is fast." becomes "It is fast [2].") for the passage that
supports it best:

- only passages whose verdict is ``supported`` qualify; of those the one with
  the highest support score wins, a tie going to the lower-numbered (higher-ranked)
  passage;
- a sentence no passage supports on its own stays as it is and is listed in
  :attr:`Attribution.unsupported`;
- a sentence that already carries a marker is left as it is, whatever the
  marker points at;
- everything between sentences (spaces, newlines, paragraph breaks) is kept.

Each passage is one batch for the judge (:func:`~ragline.verify.types.support_each`):
every uncited sentence is judged against it at once, and the offline judge embeds
each sentence once however many passages it is judged against.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ragline.models.extractive import cite
from ragline.text import sentences
from ragline.types import CITATION_MARKER
from ragline.verify.types import Judge, SupportVerdict, support_each

__all__ = ["Attribution", "attribute"]

_MARKER = re.compile(CITATION_MARKER)


@dataclass(frozen=True, slots=True)
class Attribution:
    """What :func:`attribute` did to an answer.

    ``text`` is the answer with the markers added (the answer unchanged when none
    was); ``added`` holds each attributed sentence, as it was in the answer, with
    the passage number it now cites, in answer order; ``unsupported`` the uncited
    sentences that no single passage supports, left without a marker, in answer order.
    """

    text: str
    added: tuple[tuple[str, int], ...]
    unsupported: tuple[str, ...]


def attribute(answer: str, passages: Sequence[str], *, judge: Judge) -> Attribution:
    """``answer`` with a ``[n]`` marker on each uncited sentence some passage supports.

    Sentences come from :func:`ragline.text.sentences`; one already holding a
    marker (:data:`ragline.types.CITATION_MARKER`) is kept as it is. Each other
    sentence is judged against every passage alone (``judge`` decides support)
    and cites the best-scoring passage whose verdict is ``supported``, ties to
    the lower number; the marker goes before the sentence's closing ``.``, ``!``
    or ``?`` (after closing quotes or brackets, or at the end when there is no
    such punctuation). With no passages, every uncited sentence is unsupported.
    """
    spans = [(start, end) for start, end in sentences(answer)
             if not _MARKER.search(answer, start, end)]
    uncited = [answer[start:end] for start, end in spans]
    if not uncited:
        return Attribution(answer, (), ())
    verdicts = [support_each(judge, uncited, [passage]) for passage in passages]
    parts: list[str] = []
    added: list[tuple[str, int]] = []
    unsupported: list[str] = []
    position = 0
    for index, ((start, end), sentence) in enumerate(zip(spans, uncited, strict=True)):
        marker = _best_passage([by_passage[index] for by_passage in verdicts])
        if marker is None:
            unsupported.append(sentence)
            continue
        parts += [answer[position:start], cite(sentence, marker)]
        position = end
        added.append((sentence, marker))
    parts.append(answer[position:])
    return Attribution("".join(parts), tuple(added), tuple(unsupported))


def _best_passage(verdicts: Sequence[SupportVerdict]) -> int | None:
    """The 1-based number of the verdict that is ``supported`` with the highest score,
    the lowest number among equal scores; None when none is supported."""
    supported = [(verdict.score, number) for number, verdict in enumerate(verdicts, start=1)
                 if verdict.supported]
    if not supported:
        return None
    return min(supported, key=lambda item: (-item[0], item[1]))[1]

