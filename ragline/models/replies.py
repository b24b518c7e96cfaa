"""Assembling a streamed reply from a provider's events.

A provider's stream parser feeds a :class:`ReplyBuilder` the text deltas, the
usage the provider reports and the finish reason as they arrive; the builder
then gives the final :class:`~ragline.types.ChatResponse`, or, when the stream
breaks off, the partial one that rides on the raised error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from ragline.errors import ProviderUnavailable
from ragline.models.tokens import count_tokens, estimate_usage
from ragline.types import ChatRequest, ChatResponse, Usage


@dataclass
class ReplyBuilder:
    """Collects one streamed reply: text, reported usage and finish reason.

    ``prompt_usage`` holds the input-side counts the provider reported (input and
    cache tokens) and ``output_tokens`` the output count; whichever is still None
    when the reply is built is counted with the model's tokenizer and the usage
    is marked ``estimated``.
    """

    request: ChatRequest
    provider: str
    model: str
    started: float = field(default_factory=time.perf_counter)
    parts: list[str] = field(default_factory=list)
    prompt_usage: Usage | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None

    def add(self, text: str) -> str:
        """Record a text delta and return it."""
        self.parts.append(text)
        return text

    def usage(self) -> Usage:
        """Reported counts where the provider gave them, estimated ones elsewhere."""
        text = "".join(self.parts)
        prompt = self.prompt_usage or estimate_usage(self.request.messages, "", self.model)
        output = self.output_tokens
        if output is None:
            output = count_tokens(text, self.model)
        estimated = self.prompt_usage is None or self.output_tokens is None
        return replace(prompt, output_tokens=output, estimated=estimated)

    def _build(self, finish_reason: str) -> ChatResponse:
        return ChatResponse(text="".join(self.parts), model=self.model, usage=self.usage(),
                            cost=None, latency_ms=(time.perf_counter() - self.started) * 1000,
                            finish_reason=finish_reason)

    def partial(self) -> ChatResponse | None:
        """The reply so far, finish reason ``error``; None when nothing arrived yet."""
        if not self.parts and self.prompt_usage is None:
            return None
        return self._build("error")

    def response(self) -> ChatResponse:
        """The complete reply; raises :class:`ProviderUnavailable` (with the partial reply)
        when the stream ended without a finish reason, i.e. it was cut off."""
        if self.finish_reason is None:
            raise ProviderUnavailable(
                f"the {self.provider} stream for {self.model} ended before the reply was "
                "complete; retry the request", provider=self.provider, model=self.model,
                partial=self.partial())
        return self._build(self.finish_reason)
