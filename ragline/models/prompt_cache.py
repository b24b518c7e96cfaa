"""Provider prompt caching: where Anthropic's ``cache_control`` breakpoints go, and the
``prompt_cache_key`` OpenAI routes by. Pure functions over a request's messages.

Prompts are assembled static-prefix-first (a template's ``system()`` block, then the
packed passages, then the question), so the prompt up to the end of the system prompt,
and up to the end of the passages, recurs across requests: the system prompt in every
request of a template, the passages block in every request over the same passages
(retries, follow-up turns, several claims checked against one evidence set).

**Anthropic** caches a prefix only where a request marks it: a ``cache_control``
breakpoint at the end of a content block, at most :data:`MAX_BREAKPOINTS` (4) per
request, and only a prefix of at least the model's minimum cacheable length (shorter
ones are processed without caching, no error). :func:`place_breakpoints` marks the ends
of the longest stable prefixes that reach that minimum: the system prompt, the passages
block (the user message is split there into two text blocks), and in a conversation
(a request with an assistant turn) the end of the last message, so that the next turn
reads it back. Lengths are estimated with :func:`ragline.models.tokens.count_tokens`
(tiktoken; Claude's tokenizers give as many tokens or more, so the estimate errs toward
placing no breakpoint). A prompt with no qualifying prefix is sent exactly as before.

**OpenAI** caches prefixes of 1,024 tokens or more by itself; requests are routed by a
hash of the prompt's first ~256 tokens plus ``prompt_cache_key``. :func:`openai_cache_key`
names the static prefix (the leading system messages) and the model, so requests sharing
it are routed together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import accumulate
from typing import Any

from ragline.models.tokens import count_tokens
from ragline.types import Message

EPHEMERAL: dict[str, str] = {"type": "ephemeral"}
"""The ``cache_control`` value of a breakpoint (the 5-minute lifetime)."""

MAX_BREAKPOINTS = 4
"""Anthropic's limit on ``cache_control`` breakpoints in one request."""

DEFAULT_MIN_TOKENS = 1024
"""The minimum cacheable prompt length assumed for a model not in the table."""

SYSTEM = -1
"""The :attr:`Segment.slot` of the system prompt."""

_MIN_TOKENS: dict[str, int] = {
    "claude-fable-5": 512, "claude-mythos-5": 512, "claude-opus-5": 512,
    "claude-sonnet-5-5": 512, "claude-sonnet-5": 1024, "claude-mythos-preview": 2048,
    "claude-opus-4-8": 1024, "claude-opus-4-7": 2048, "claude-opus-4-6": 4096,
    "claude-opus-4-5": 4096, "claude-opus-4": 1024, "claude-sonnet-4": 1024,
    "claude-haiku-4-5": 4096, "claude-3-7-sonnet": 1024, "claude-3-5-sonnet": 1024,
    "claude-3-5-haiku": 2048, "claude-3-haiku": 2048, "claude-3-opus": 1024,
}


def min_cacheable_tokens(model: str) -> int:
    """The shortest prompt prefix, in tokens, that ``model`` caches.

    Figures from Anthropic's prompt-caching guide, "Cache limitations"
    (https://platform.claude.com/docs/en/build-with-claude/prompt-caching#cache-limitations,
    as of late 2026): 512 for Claude Opus 5 / 5.5, Sonnet 5.5, Fable 5 / 5.1 and Mythos 5 /
    5.1; 1,024 for Opus 4.8, Sonnet 5, Sonnet 4.x, Opus 4 / 4.1 and the 3.x Sonnets; 2,048
    for Opus 4.7, Mythos Preview and Haiku 3 / 3.5; 4,096 for Opus 4.5 / 4.6 and Haiku 4.5.
    The longest matching model-id prefix wins (dated ids and ``provider/`` or Bedrock
    ``anthropic.`` prefixes are fine); an unknown model gets :data:`DEFAULT_MIN_TOKENS`.
    """
    name = model.lower().rsplit("/", 1)[-1]
    name = name[name.find("claude"):] if "claude" in name else name
    matches = [prefix for prefix in _MIN_TOKENS if name.startswith(prefix)]
    return _MIN_TOKENS[max(matches, key=len)] if matches else DEFAULT_MIN_TOKENS


@dataclass(frozen=True, slots=True)
class Segment:
    """One text block of a prompt, in the order the provider reads it.

    ``slot`` is :data:`SYSTEM` for the system prompt, else the index of the block's
    message among the non-system messages; ``stable`` says the prompt up to the block's
    end is expected to recur in other requests; ``cached`` says a breakpoint marks it.
    """

    slot: int
    text: str
    stable: bool = False
    cached: bool = False


def _passages_end(text: str, passages: Sequence[str]) -> int | None:
    """Where the passages block of ``text`` ends (after its trailing whitespace): the
    passages are found in order; None when one is missing or there are none."""
    end = 0
    for passage in (p.strip() for p in passages):
        if passage:
            found = text.find(passage, end)
            if found < 0:
                return None
            end = found + len(passage)
    return len(text) - len(text[end:].lstrip()) if end else None


def prompt_segments(system: str, messages: Sequence[Message],
                    passages: Sequence[str] = ()) -> list[Segment]:
    """The prompt as blocks, their ``stable`` ends marked: the system prompt; the passages
    block of the latest user message that holds all of ``passages`` (split from what
    follows it, when something non-blank does); and, when ``messages`` are a conversation
    (they have an assistant turn), the last message. ``messages`` are the non-system ones;
    joining a slot's segments gives its message back exactly."""
    split: tuple[int, int] | None = None
    for index in reversed(range(len(messages))):
        end = (_passages_end(messages[index].content, passages)
               if passages and messages[index].role == "user" else None)
        if end is not None:
            split = (index, end)
            break
    conversation = any(m.role == "assistant" for m in messages)
    segments = [Segment(SYSTEM, system, stable=True)] if system else []
    for index, message in enumerate(messages):
        last = conversation and index == len(messages) - 1
        if split is not None and split[0] == index:
            head, tail = message.content[:split[1]], message.content[split[1]:]
            if tail.strip():
                segments += [Segment(index, head, stable=True), Segment(index, tail, last)]
                continue
            last = True
        segments.append(Segment(index, message.content, last))
    return segments


def place_breakpoints(segments: Sequence[Segment], model: str, *,
                      count: Callable[[str, str], int] = count_tokens,
                      limit: int = MAX_BREAKPOINTS) -> list[Segment]:
    """``segments`` with ``cached`` set on the ends of the longest stable prefixes whose
    length reaches ``model``'s :func:`min_cacheable_tokens`, at most ``limit`` of them
    (never on a blank block: Anthropic cannot cache one).

    Tokens are counted (``count(text, model)``) only when the UTF-8 size of the stable
    prompt could reach the minimum: a token is at least one byte, so short prompts cost
    no tokenizing.
    """
    minimum = min_cacheable_tokens(model)
    last = max((i for i, s in enumerate(segments) if s.stable), default=-1)
    if limit <= 0 or sum(len(s.text.encode()) for s in segments[:last + 1]) < minimum:
        return list(segments)
    lengths = list(accumulate(count(s.text, model) for s in segments[:last + 1]))
    chosen = [i for i, n in enumerate(lengths)
              if segments[i].stable and segments[i].text.strip() and n >= minimum][-limit:]
    return [replace(s, cached=True) if i in chosen else s for i, s in enumerate(segments)]


def _blocks(segments: Sequence[Segment]) -> list[dict[str, Any]]:
    """Anthropic text blocks of ``segments``, ``cache_control`` on the cached ones."""
    return [{"type": "text", "text": s.text, **({"cache_control": EPHEMERAL} if s.cached else {})}
            for s in segments]


def anthropic_prompt(system: str, messages: Sequence[Message], *, model: str,
                     passages: Sequence[str] = ()) -> tuple[str | list[dict[str, Any]],
                                                             list[dict[str, Any]]]:
    """The ``system`` and ``messages`` parameters of a Messages API call, with breakpoints
    placed by :func:`place_breakpoints` (never more than :data:`MAX_BREAKPOINTS`).

    ``messages`` are the non-system ones. A system prompt or message with no breakpoint
    stays a plain string, so a prompt with none is sent exactly as without caching; one
    with a breakpoint becomes a list of text blocks whose texts join to the original.
    """
    segments = place_breakpoints(prompt_segments(system, messages, passages), model)
    by_slot: dict[int, list[Segment]] = {}
    for segment in segments:
        by_slot.setdefault(segment.slot, []).append(segment)

    def content(slot: int, text: str) -> str | list[dict[str, Any]]:
        parts = by_slot.get(slot, [])
        return _blocks(parts) if any(s.cached for s in parts) else text

    return content(SYSTEM, system), [{"role": m.role, "content": content(i, m.content)}
                                     for i, m in enumerate(messages)]


def openai_cache_key(messages: Sequence[Message], model: str) -> str | None:
    """A ``prompt_cache_key`` for OpenAI: ``ragline-`` and 16 hex digits of the SHA-256 of
    ``model`` and the leading system messages, the prompt's static prefix. Requests with
    the same model and system prompt get the same key whatever follows; None when the
    prompt does not start with a system message (nothing static to name)."""
    prefix: list[str] = []
    for message in messages:
        if message.role != "system":
            break
        prefix.append(message.content)
    if not prefix:
        return None
    digest = hashlib.sha256("\x00".join([model, *prefix]).encode()).hexdigest()
    return f"ragline-{digest[:16]}"
