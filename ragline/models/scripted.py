"""An OpenAI chat model whose server is a script: for tests and offline demos.

``scripted_openai_model`` returns the real ``openai`` provider, real SDK clients
(sync and async) included, whose HTTP layer is an in-process ``MockTransport``
that answers every ``/chat/completions`` request with the text ``reply`` gives
for its JSON body: as one completion, or, when the request asks to stream, as
server-sent chunks of one word each followed by the usage chunk. Everything
above the socket runs for real (request building, response parsing, usage
normalisation, error mapping), so code that uses a ChatModel can be tested
without a network or a key. Every request body is recorded in the returned list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ragline.models.openai_chat import OpenAIChatModel

Reply = str | Callable[[dict[str, Any]], str]


def _sse(text: str, model: str, usage: dict[str, int]) -> bytes:
    """The chunks OpenAI streams for ``text``: one per word, a finish chunk, the usage one."""
    head = {"id": "scripted", "object": "chat.completion.chunk", "created": 0, "model": model}
    chunks = [{**head, "choices": [{"index": 0, "delta": {"content": word},
                                    "finish_reason": None}]}
              for word in re.findall(r"\S+\s*", text)]
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append({**head, "choices": [], "usage": usage})
    events = [*(json.dumps(chunk) for chunk in chunks), "[DONE]"]
    return "".join(f"data: {event}\n\n" for event in events).encode()


def scripted_openai_model(reply: Reply, *, model: str = "gpt-4o-mini",
                          usage: tuple[int, int] = (100, 20),
                          ) -> tuple[OpenAIChatModel, list[dict[str, Any]]]:
    """The ``openai`` provider over a scripted server, and the request bodies it receives.

    ``reply`` is the answer text, or a function from the request's JSON body to
    it; ``usage`` is the (prompt, completion) token counts the server reports.
    """
    import httpx2  # the transport layer of the openai SDK
    import openai

    seen: list[dict[str, Any]] = []
    counts = {"prompt_tokens": usage[0], "completion_tokens": usage[1],
              "total_tokens": sum(usage)}

    def answer(request: Any) -> Any:
        body: dict[str, Any] = json.loads(request.content)
        seen.append(body)
        text = reply(body) if callable(reply) else reply
        if body.get("stream"):
            return httpx2.Response(200, content=_sse(text, model, counts),
                                   headers={"content-type": "text/event-stream"})
        return httpx2.Response(200, json={
            "id": "scripted", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": counts})

    transport = httpx2.MockTransport(answer)
    options: dict[str, Any] = {"api_key": "sk-scripted", "max_retries": 0,
                               "base_url": "https://scripted.invalid/v1"}
    client = openai.OpenAI(**options, http_client=httpx2.Client(transport=transport))
    async_client = openai.AsyncOpenAI(**options,
                                      http_client=httpx2.AsyncClient(transport=transport))
    return OpenAIChatModel(model=model, client=client, async_client=async_client), seen
