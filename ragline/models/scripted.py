"""An OpenAI chat model whose server is a script: for tests and offline demos.

``scripted_openai_model`` returns the real ``openai`` provider, real SDK client
included, whose HTTP layer is an in-process ``MockTransport`` that answers every
``/chat/completions`` request with the text ``reply`` gives for its JSON body.
Everything above the socket runs for real (request building, response parsing,
usage normalisation, error mapping), so code that uses a ChatModel can be tested
without a network or a key. Every request body is recorded in the returned list.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ragline.models.openai_chat import OpenAIChatModel

Reply = str | Callable[[dict[str, Any]], str]


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

    def answer(request: Any) -> Any:
        body: dict[str, Any] = json.loads(request.content)
        seen.append(body)
        text = reply(body) if callable(reply) else reply
        return httpx2.Response(200, json={
            "id": "scripted", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                      "total_tokens": sum(usage)}})

    client = openai.OpenAI(api_key="sk-scripted", base_url="https://scripted.invalid/v1",
                           max_retries=0,
                           http_client=httpx2.Client(transport=httpx2.MockTransport(answer)))
    return OpenAIChatModel(model=model, client=client), seen
