"""Cost exactness: provider payloads -> real SDK -> ragline usage -> catalogue price.

Each row is a response body shaped like the provider's documented JSON or SSE
stream, served to the real ``openai`` / ``anthropic`` SDK over a MockTransport.
The expected cost was computed by hand from the catalogue's per-million prices
(shown in each row's comment) and must match to the last decimal: OpenAI's
``prompt_tokens`` include the cached ones, Anthropic's ``input_tokens`` exclude
cache reads and writes, and Anthropic's 1-hour cache writes cost 2x input
against 1.25x for 5-minute ones.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from ragline.cost.prices import PriceCatalogue
from ragline.testing import (
    SAMPLE_REQUEST,
    ScriptedServer,
    anthropic_chat_model,
    anthropic_events,
    anthropic_message,
    json_reply,
    openai_chat_model,
    openai_chunks,
    openai_completion,
    sse_body,
    stream_reply,
)
from ragline.types import ChatResponse


def openai_usage(prompt: int, completion: int, cached: int | None = None) -> dict[str, Any]:
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached, "audio_tokens": 0}
    return usage


def anthropic_usage(input_tokens: int, output: int, read: int = 0, write_5m: int = 0,
                    write_1h: int = 0) -> dict[str, Any]:
    return {"input_tokens": input_tokens, "output_tokens": output,
            "cache_read_input_tokens": read, "cache_creation_input_tokens": write_5m + write_1h,
            "cache_creation": {"ephemeral_5m_input_tokens": write_5m,
                               "ephemeral_1h_input_tokens": write_1h}}


# (provider, streaming, model, usage payload, expected USD computed by hand)
CASES = [
    # gpt-4o-mini $0.15 in / $0.60 out / $0.075 cached: 1000*0.15 + 200*0.60
    ("openai", False, "gpt-4o-mini", openai_usage(1000, 200), "0.000270"),
    # 176*0.15 + 1024*0.075 + 7*0.60 = 26.4 + 76.8 + 4.2
    ("openai", False, "gpt-4o-mini", openai_usage(1200, 7, cached=1024), "0.0001074"),
    # gpt-4o $2.50 / $10 / $1.25: 904*2.5 + 4096*1.25 + 300*10 = 2260 + 5120 + 3000
    ("openai", False, "gpt-4o", openai_usage(5000, 300, cached=4096), "0.01038"),
    # gpt-4.1 $2 / $8: 2048*2 + 512*8, cached_tokens reported as 0
    ("openai", False, "gpt-4.1", openai_usage(2048, 512, cached=0), "0.008192"),
    # gpt-4.1-mini $0.40 / $1.60 / $0.10: 1808*0.4 + 8192*0.1 + 1000*1.6
    ("openai", False, "gpt-4.1-mini", openai_usage(10000, 1000, cached=8192), "0.0031424"),
    # gpt-5 $1.25 / $10 / $0.125: 952*1.25 + 2048*0.125 + 1500*10
    ("openai", False, "gpt-5", openai_usage(3000, 1500, cached=2048), "0.016446"),
    # a dated snapshot is priced as its base model: 100*2.5 + 50*10
    ("openai", False, "gpt-4o-2024-08-06", openai_usage(100, 50), "0.00075"),
    # the first gpt-4o snapshot has its own, higher price: 100*5 + 50*15
    ("openai", False, "gpt-4o-2024-05-13", openai_usage(100, 50), "0.00125"),
    # gpt-4.1-nano $0.10 / $0.40 / $0.025: 512*0.1 + 1024*0.025 + 64*0.4
    ("openai", False, "gpt-4.1-nano", openai_usage(1536, 64, cached=1024), "0.0001024"),
    # streamed, usage in the last chunk (stream_options.include_usage)
    ("openai", True, "gpt-4o-mini", openai_usage(1200, 7, cached=1024), "0.0001074"),
    ("openai", True, "gpt-4o", openai_usage(800, 120), "0.0032"),
    # gpt-5-mini $0.25 / $2 / $0.025: 1024*0.25 + 3072*0.025 + 256*2
    ("openai", True, "gpt-5-mini", openai_usage(4096, 256, cached=3072), "0.0008448"),
    # claude-sonnet-4-5 $3 / $15 / read $0.30 / 5m write $3.75 / 1h write $6
    # 50*3 + 2000*3.75 + 300*15: a 5-minute cache write
    ("anthropic", False, "claude-sonnet-4-5", anthropic_usage(50, 300, write_5m=2000),
     "0.01215"),
    # 50*3 + 2000*0.3 + 300*15: the same prompt read back from the cache
    ("anthropic", False, "claude-sonnet-4-5", anthropic_usage(50, 300, read=2000), "0.00525"),
    # 20*3 + 3000*6 + 100*15: a 1-hour cache write
    ("anthropic", False, "claude-sonnet-4-5", anthropic_usage(20, 100, write_1h=3000),
     "0.01956"),
    # claude-haiku-4-5 $1 / $5 / $0.10 / $1.25 / $2: 100*1 + 500*1.25 + 1000*2 + 4000*0.1 + 200*5
    ("anthropic", False, "claude-haiku-4-5",
     anthropic_usage(100, 200, read=4000, write_5m=500, write_1h=1000), "0.004125"),
    # claude-opus-4-1 $15 / $75: 1000*15 + 500*75
    ("anthropic", False, "claude-opus-4-1", anthropic_usage(1000, 500), "0.0525"),
    # claude-3-5-haiku $0.80 / $4 / $0.08: 2000*0.8 + 10000*0.08 + 400*4
    ("anthropic", False, "claude-3-5-haiku", anthropic_usage(2000, 400, read=10000), "0.004"),
    # a dated snapshot: 10*3 + 10*15
    ("anthropic", False, "claude-sonnet-4-5-20250929", anthropic_usage(10, 10), "0.00018"),
    # streamed: message_start carries the prompt counts, message_delta the output count
    # 25*3 + 1800*0.3 + 240*15
    ("anthropic", True, "claude-sonnet-4-5", anthropic_usage(25, 240, read=1800), "0.004215"),
    # 12*1 + 2500*2 + 150*5: a 1-hour write while streaming
    ("anthropic", True, "claude-haiku-4-5", anthropic_usage(12, 150, write_1h=2500),
     "0.005762"),
    # claude-opus-4-5 $5 / $25 / 5m write $6.25: 300*5 + 1000*6.25 + 800*25
    ("anthropic", True, "claude-opus-4-5", anthropic_usage(300, 800, write_5m=1000),
     "0.02775"),
]


def respond(provider: str, streaming: bool, model: str,
            usage: dict[str, Any]) -> ChatResponse:
    """Serve one payload to the real SDK and return ragline's normalised response."""
    if provider == "openai":
        reply = (stream_reply(sse_body(*openai_chunks("Hel", "lo.", usage=usage, model=model)))
                 if streaming else json_reply(200, openai_completion(
                     "Hello.", usage=usage, model=model)))
        chat: Any = openai_chat_model(ScriptedServer(reply), model=model)
    else:
        reply = (stream_reply(sse_body(*anthropic_events(
                     "Hel", "lo.", output_tokens=usage["output_tokens"],
                     usage={**usage, "output_tokens": 1}, model=model)))
                 if streaming else json_reply(200, anthropic_message(
                     "Hello.", usage=usage, model=model)))
        chat = anthropic_chat_model(ScriptedServer(reply), model=model)
    if not streaming:
        response: ChatResponse = chat.generate(SAMPLE_REQUEST)
        return response
    stream = chat.stream(SAMPLE_REQUEST)
    assert "".join(stream) == "Hello."
    assert stream.response is not None
    return stream.response


@pytest.fixture(scope="module")
def catalogue() -> PriceCatalogue:
    return PriceCatalogue.load()


@pytest.mark.parametrize("provider, streaming, model, usage, expected", CASES,
                         ids=[f"{c[0]}-{'stream' if c[1] else 'json'}-{c[2]}-{n}"
                              for n, c in enumerate(CASES)])
def test_cost_matches_the_hand_computed_value(catalogue: PriceCatalogue, provider: str,
                                              streaming: bool, model: str,
                                              usage: dict[str, Any], expected: str) -> None:
    response = respond(provider, streaming, model, usage)
    assert not response.usage.estimated
    assert catalogue.cost(response.model, response.usage) == Decimal(expected)


def test_the_table_covers_what_the_issue_asks_for() -> None:
    assert len(CASES) >= 20
    kinds = {(c[0], c[1]) for c in CASES}
    assert kinds == {("openai", False), ("openai", True), ("anthropic", False),
                     ("anthropic", True)}
    assert any(c[3].get("prompt_tokens_details", {}).get("cached_tokens") for c in CASES)
    assert any(c[3].get("cache_creation", {}).get("ephemeral_5m_input_tokens") for c in CASES)
    assert any(c[3].get("cache_creation", {}).get("ephemeral_1h_input_tokens") for c in CASES)
