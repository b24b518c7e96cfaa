"""Shared value types every layer speaks.

All types are frozen dataclasses: cheap to build, hashable where their fields
are, and safe to pass between threads. Ids are deterministic so that
re-ingesting the same content produces the same ids.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, get_args

Role = Literal["system", "user", "assistant"]
SearchMode = Literal["dense", "bm25", "hybrid"]
SEARCH_MODES: tuple[SearchMode, ...] = get_args(SearchMode)
"""Every search mode: ``dense``, ``bm25`` and ``hybrid`` (fused)."""
ChunkerKind = Literal["recursive", "markdown", "semantic"]
CHUNKER_KINDS: tuple[ChunkerKind, ...] = get_args(ChunkerKind)
AnswerStyle = Literal["span", "sentence", "free"]
"""How the local model answers a RAG request: a phrase or a sentence copied from the
passages (copy-constrained decoding), or free text."""
"""Every chunker: ``recursive``, ``markdown`` and ``semantic``."""
CITATION_MARKER = r"\[(?P<numbers>\d+(?:\s*,\s*\d+)*)\]"
"""The one regex of a citation marker, ``[n]`` or ``[n, m]``: 1-based passage numbers
(``[1]`` is ``ChatRequest.passages[0]``), comma-separated in group ``numbers``."""


def chunk_id_for(doc_id: str, position: int, text: str) -> str:
    """Return the deterministic id of a chunk: a hash of doc id, position and text."""
    digest = hashlib.sha256(f"{doc_id}\x1f{position}\x1f{text}".encode()).hexdigest()
    return digest[:32]


def point_id_for(chunk_id: str) -> str:
    """Return the UUID string Qdrant stores for a chunk id (Qdrant ids are UUIDs or ints)."""
    return str(uuid.UUID(hex=chunk_id[:32]))


@dataclass(frozen=True, slots=True)
class Document:
    """A loaded source document: its id, full text and metadata (source, title...)."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document that is embedded and indexed on its own.

    ``metadata`` carries at least ``start`` and ``end``, the chunk's character
    offsets in its document's text, so citations can point at exact spans.
    """

    id: str
    doc_id: str
    text: str
    metadata: dict[str, Any]
    position: int

    @classmethod
    def create(cls, doc_id: str, text: str, metadata: dict[str, Any],
               position: int) -> Chunk:
        """Build a chunk whose id is derived from its content and place (fields in order, no id)."""
        return cls(chunk_id_for(doc_id, position, text), doc_id, text, metadata, position)


@dataclass(frozen=True, slots=True)
class ScoredChunk:
    """A retrieved chunk, its score, and which retrievers found it.

    ``retrievers`` are ``dense``, ``bm25`` or ``hybrid`` (a fused hit not
    explained), plus the stages that reordered it (``multi-query``, ``rerank``).
    """

    chunk: Chunk
    score: float
    retrievers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class RouteSignals:
    """What a router may read besides the messages of a request.

    ``query_vector`` is the query's embedding, computed once per request and
    shared by retrieval and the router (None when nobody embedded it);
    ``embedder`` names the model that made it. The retrieval signals of a RAG
    request: ``top_score`` and ``margin`` (best minus second-best fused score),
    ``agreement`` (the share of the retrieved chunks that both the dense and the
    BM25 retriever found) and ``retrieved`` (how many chunks came back). They are
    None for a request that retrieved nothing.
    """

    query: str = ""
    query_vector: Any = field(default=None, compare=False, repr=False)
    embedder: str = ""
    top_score: float | None = None
    margin: float | None = None
    agreement: float | None = None
    retrieved: int = 0


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A request to a chat model.

    For a RAG request, ``question`` is the user's question and ``passages`` the
    packed context, ``passages[0]`` being marker ``[1]``: the extractive model
    answers from them and the answer check verifies against them. ``signals``
    carries the query embedding and retrieval signals a router may read.
    ``metadata`` is the escape hatch for anything else a provider may use.
    """

    messages: tuple[Message, ...]
    model: str | None = None
    max_tokens: int = 256
    temperature: float = 0.0
    stream: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    question: str | None = None
    passages: tuple[str, ...] = ()
    signals: RouteSignals | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one model call, the same way for every provider.

    The four counts are disjoint and each is billed at its own rate:
    ``input_tokens`` are prompt tokens read at the full input price (OpenAI's
    ``prompt_tokens`` minus its cached tokens; Anthropic's ``input_tokens`` as
    is), ``cache_read_tokens`` prompt tokens served from the provider's prompt
    cache, ``cache_write_tokens`` prompt tokens written into it (Anthropic),
    of which ``cache_write_1h_tokens`` were written with the 1-hour lifetime
    (the rest with the 5-minute one). ``estimated`` is True when the provider
    reported nothing and the counts come from a local tokenizer.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    estimated: bool = False

    @property
    def prompt_tokens(self) -> int:
        """Every prompt token, whatever its rate: input + cache reads + cache writes."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        """Prompt and output tokens together."""
        return self.prompt_tokens + self.output_tokens




@dataclass(frozen=True, slots=True)
class Citation:
    """A citation marker in an answer and the chunk span it points at."""

    marker: int
    chunk_id: str
    doc_id: str
    span: tuple[int, int]


@dataclass(frozen=True, slots=True)
class QueryCost:
    """What one query cost, in USD, in total and per stage (``generate``, ``embed``...).

    ``total_usd`` is None when any priced call had no known price: an unknown
    price is never reported as free; ``unpriced`` names those models. Token
    counts add up every call of the query. The amounts are floats: this is what
    an answer shows and writes as JSON, read back from the ledger's exact sums
    (:meth:`ragline.cost.ledger.Ledger.query_cost`); money that is added up or
    compared to a limit stays :class:`~decimal.Decimal` (see docs/costs.md).
    """

    total_usd: float | None = 0.0
    by_stage: dict[str, float | None] = field(default_factory=dict)
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    unpriced: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ClaimSupport:
    """One claim of an answer and the verdict of the support check on it.

    ``verdict`` is ``supported``, ``contradicted`` or ``not_found``; ``missing``
    lists what the sources lack (numbers, names, negations).
    """

    claim: str
    verdict: str
    score: float
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CitationSupport:
    """One sentence of an answer, the markers it cites, and how they fared (ALCE).

    ``recalled``: the cited passages together support the sentence; ``precise``:
    per marker, whether that citation is needed or supports the sentence alone.
    """

    sentence: str
    markers: tuple[int, ...]
    recalled: bool
    precise: tuple[bool, ...]


@dataclass(frozen=True, slots=True)
class AnswerSupport:
    """The support check of one answer against its sources.

    ``faithfulness`` is supported claims / claims; ``unsupported`` lists the
    others; citation recall and precision follow ALCE; ``judge`` names the judge
    and ``latency_ms`` what the check took.
    """

    faithfulness: float
    claims: tuple[ClaimSupport, ...]
    citation_recall: float
    citation_precision: float
    citations: tuple[CitationSupport, ...]
    judge: str
    latency_ms: float

    @property
    def unsupported(self) -> tuple[str, ...]:
        """The claims not judged ``supported``, in answer order."""
        return tuple(c.claim for c in self.claims if c.verdict != "supported")


@dataclass(frozen=True, slots=True)
class ChatResponse:
    """What a chat model returned; ``cost`` is None when the price is unknown.

    ``cost`` is exact USD (:class:`~decimal.Decimal`), set by the metering wrapper
    (``ragline.cost.metered``); providers leave it None.

    The orchestration wrappers (``ragline.routing``) fill the last three fields:
    ``route`` says which model answered and which wrapper decided why (empty when
    no wrapper decided anything), ``timings`` the ms of their steps (``generate``,
    ``check``, ``fallback``...), and ``support`` the answer check's verdict when
    one was run on this text. ``cache`` is set by the exact cache
    (``ragline.cache.chat``): ``hit`` (answered from the cache, nothing spent) or
    ``miss`` (answered upstream and stored); empty when no cache was asked.
    ``confidence`` is the model's own probability for its answer where it reports one
    (the local model's copy-constrained answers: the probability of the answer's first
    token); the abstention check reads it.
    """

    text: str
    model: str
    usage: Usage
    cost: Decimal | None
    latency_ms: float
    finish_reason: str = "stop"
    provider_raw: Any = None
    route: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    support: AnswerSupport | None = None
    cache: str = ""
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """What a RAG call returns.

    ``sources`` are the packed context chunks in marker order (``[1]`` is
    ``sources[0]``); ``route`` names the model that produced the text and why;
    ``cost`` totals every model call of the query, by stage; ``timings`` are
    in ms; ``query_id`` is the key of the query's rows in the cost ledger;
    ``support`` is the answer's support check (None when it is turned off).
    """

    text: str
    citations: tuple[Citation, ...]
    sources: tuple[ScoredChunk, ...]
    route: str
    cost: QueryCost
    cache: str
    timings: dict[str, float]
    query_id: str = ""
    support: AnswerSupport | None = None
