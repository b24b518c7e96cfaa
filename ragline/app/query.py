"""The query side: multi-query expansion fused by RRF, and a conversational condenser.

``expand_query`` asks any :class:`ChatModel` for alternative phrasings of a
question; :class:`MultiQuerySearch` searches every phrasing and fuses the
per-phrasing result lists with :func:`fuse_rankings`. Each list is already a
hybrid result fused inside Qdrant, so the cross-query fusion happens here, in
Python, with the same reciprocal-rank formula. ``condense_question`` turns a
follow-up plus chat history into a standalone query for retrieval.

The prompts put their static instructions first (the system message), so the
variable part stays at the end where it does not spoil provider prompt caches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragline.errors import InvalidInput
from ragline.models.chat import ChatModel
from ragline.protocols import Filters, Index
from ragline.types import ChatRequest, Message, ScoredChunk, SearchMode

MULTI_QUERY_SOURCE = "multi-query"

EXPAND_PROMPT = (
    "You help a search engine find passages that answer a question. Rewrite the "
    "user's question in different words: use synonyms, spell out abbreviations, and "
    "name the concepts the question is about, so that passages worded differently "
    "from the question are found too. Keep the meaning of the question; do not answer "
    "it and do not add facts. Write each rewrite on its own line, with no numbering, "
    "no commentary and nothing else."
)

CONDENSE_PROMPT = (
    "You rewrite follow-up questions for a search engine. Given a conversation and a "
    "follow-up question, write one standalone question that means the same as the "
    "follow-up but can be understood without the conversation: replace pronouns and "
    "references such as 'it', 'that' or 'the second one' with what they refer to. "
    "If the follow-up already stands on its own, repeat it unchanged. Do not answer "
    "the question. Reply with the standalone question only, on one line."
)

_BULLET = re.compile(r"^\s*(?:[-*\u2022\u2013]+|\d+[.):]|\(\d+\)|[a-z]\))(?:\s+|$)")
_PREFIX = re.compile(
    r"^\s*(?:(?:the\s+)?(?:standalone|rewritten|rephrased|reformulated)\s+)?"
    r"(?:question|query)\s*:\s*", re.IGNORECASE)
_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb"
_ROLE_NAMES = {"user": "User", "assistant": "Assistant", "system": "System"}


def _clean_line(line: str) -> str:
    """A reply line without list markers, "Question:" style prefixes and quotes."""
    text = line.strip()
    text = _BULLET.sub("", text, count=1)
    text = _PREFIX.sub("", text, count=1)
    text = text.strip().strip(_QUOTES).strip()
    text = text.strip("*_").strip()  # markdown emphasis around the whole line
    return text if any(c.isalnum() for c in text) else ""


def expand_query(model: ChatModel, question: str, *, n: int = 3) -> list[str]:
    """Return ``[question, *alternatives]``: the question and up to ``n`` rephrasings.

    One model call (:data:`EXPAND_PROMPT` as the system message). Lines of the reply
    lose their numbering, bullets and quotes; empty lines, lines that introduce a
    list (ending in ``:``) and case-insensitive duplicates (of the question or of
    each other) are dropped. When nothing usable remains, returns ``[question]``.
    """
    if n < 0:
        raise InvalidInput(f"n must be >= 0, but got {n}")
    if n == 0 or not question.strip():
        return [question]
    request = ChatRequest(
        messages=(Message("system", EXPAND_PROMPT),
                  Message("user", f"Write up to {n} rewrites of this question:\n{question}")),
        max_tokens=64 * n + 64, temperature=0.0)
    reply = model.generate(request).text
    seen = {question.strip().casefold()}
    queries = [question]
    for line in reply.splitlines():
        if line.strip().endswith(":"):
            continue
        text = _clean_line(line)
        key = text.casefold()
        if not text or key in seen:
            continue
        seen.add(key)
        queries.append(text)
    return queries[: n + 1]


def fuse_rankings(rankings: Sequence[Sequence[ScoredChunk]], *, k: int,
                  rrf_k: int = 60) -> list[ScoredChunk]:
    """Reciprocal-rank fusion of several result lists; the ``k`` best, best first.

    A chunk scores ``sum(1 / (rrf_k + rank - 1))`` over the lists it appears in,
    rank counted from 1 (Qdrant's convention with weight 1; a chunk repeated within
    one list counts at its first rank). ``retrievers`` is the union of the inputs'
    retrievers, in first-seen order, plus ``"multi-query"``. Ties are broken by
    chunk id.
    """
    if k <= 0:
        raise InvalidInput(f"k must be > 0, but got {k}")
    if rrf_k < 1:
        raise InvalidInput(f"rrf_k must be >= 1, but got {rrf_k}")
    scores: dict[str, float] = {}
    first: dict[str, ScoredChunk] = {}
    retrievers: dict[str, dict[str, None]] = {}
    for ranking in rankings:
        counted: set[str] = set()
        for rank, hit in enumerate(ranking, start=1):
            cid = hit.chunk.id
            if cid in counted:
                continue
            counted.add(cid)
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (rrf_k + rank - 1)
            first.setdefault(cid, hit)
            retrievers.setdefault(cid, {}).update(dict.fromkeys(hit.retrievers))
    order = sorted(scores, key=lambda cid: (-scores[cid], cid))[:k]
    return [ScoredChunk(first[cid].chunk, scores[cid],
                        (*(r for r in retrievers[cid] if r != MULTI_QUERY_SOURCE),
                         MULTI_QUERY_SOURCE))
            for cid in order]


class MultiQuerySearch:
    """Search an index with a question and its model-written rephrasings, fused by RRF.

    ``n`` is how many rephrasings to ask for; each phrasing is searched ``depth``
    deep (at least ``k``; ``2 * k`` when None) before fusion keeps the ``k`` best.
    """

    def __init__(self, index: Index, model: ChatModel, *, n: int = 3,
                 depth: int | None = None, rrf_k: int = 60) -> None:
        if n < 0:
            raise ValueError(f"n must be >= 0, but got {n}")
        if depth is not None and depth <= 0:
            raise ValueError(f"depth must be > 0, but got {depth}")
        self.index = index
        self.model = model
        self.n = n
        self.depth = depth
        self.rrf_k = rrf_k

    def search(self, question: str, k: int = 5, filters: Filters | None = None,
               mode: SearchMode = "hybrid") -> list[ScoredChunk]:
        """Expand ``question``, search each phrasing, return the ``k`` best fused chunks."""
        if not question.strip():
            raise InvalidInput("the query is empty; pass some text to search for")
        if k <= 0:
            raise InvalidInput(f"k must be > 0, but got {k}")
        depth = max(k, self.depth or k * 2)
        queries = expand_query(self.model, question, n=self.n)
        rankings = [self.index.search(q, depth, filters, mode) for q in queries]
        return fuse_rankings(rankings, k=k, rrf_k=self.rrf_k)


def transcript(history: Sequence[Message]) -> str:
    """``history`` as ``User: ...`` / ``Assistant: ...`` lines, one per message."""
    return "\n".join(f"{_ROLE_NAMES.get(m.role, m.role)}: {m.content.strip()}"
                     for m in history)


def condense_question(model: ChatModel, history: Sequence[Message], question: str, *,
                      max_turns: int = 6) -> str:
    """Rewrite a follow-up ``question`` into a standalone one, using the chat ``history``.

    With no history the question is returned unchanged and the model is not
    called. Otherwise the last ``max_turns`` messages (system messages left out)
    are sent as a ``User:``/``Assistant:`` transcript, with the follow-up, under
    :data:`CONDENSE_PROMPT`. Returns the first non-empty line of the reply without
    quotes or a "Standalone question:" prefix; the original question when the
    reply is empty.
    """
    if max_turns <= 0:
        raise InvalidInput(f"max_turns must be > 0, but got {max_turns}")
    turns = [m for m in history if m.role != "system" and m.content.strip()][-max_turns:]
    if not turns:
        return question
    request = ChatRequest(
        messages=(Message("system", CONDENSE_PROMPT),
                  Message("user", f"Conversation:\n{transcript(turns)}\n\n"
                                  f"Follow-up question: {question}\n\n"
                                  "Standalone question:")),
        max_tokens=128, temperature=0.0)
    reply = model.generate(request).text
    for line in reply.splitlines():
        text = _clean_line(line)
        if text:
            return text
    return question
