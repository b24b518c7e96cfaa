"""Hedged requests: when the primary model is slow, ask a backup too; the first answer wins.

:class:`HedgedChatModel` sends a request to ``primary``; if no answer came
within ``after_s`` seconds, it sends the same request to ``backup`` and returns
whichever answers first (route ``"... (hedged: <backup> answered first)"``).
A failure of one waits for the other. Both calls are metered, so the ledger
shows what hedging cost; a losing async call is cancelled, a losing thread
runs to its end. Streams are not hedged: they go to the primary.
"""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from ragline.errors import ProviderError
from ragline.models.chat import ChatModel
from ragline.models.wrapper import ChatModelWrapper, decided, route_of
from ragline.types import ChatRequest, ChatResponse


class HedgedChatModel(ChatModelWrapper):
    """``primary`` with ``backup`` racing it after ``after_s`` seconds."""

    def __init__(self, primary: ChatModel, backup: ChatModel, *, after_s: float) -> None:
        super().__init__(primary)
        self.backup = backup
        self.after_s = after_s

    def _won(self, response: ChatResponse, model: ChatModel) -> ChatResponse:
        if model is self.inner:
            return response
        return decided(response, f"{route_of(response, model)} (hedged: "
                                 f"{self.inner.name} slower than {self.after_s:g} s)")

    def generate(self, request: ChatRequest) -> ChatResponse:
        """The first answer of the primary and, once it is late, the backup."""
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ragline-hedge")
        try:
            calls: dict[Future[ChatResponse], ChatModel] = {
                pool.submit(contextvars.copy_context().run, self.inner.generate,
                            request): self.inner}
            done, _ = wait(calls, timeout=self.after_s)
            if not done:
                calls[pool.submit(contextvars.copy_context().run, self.backup.generate,
                                  request)] = self.backup
            return self._first(calls)
        finally:
            pool.shutdown(wait=False)

    def _first(self, calls: dict[Future[ChatResponse], ChatModel]) -> ChatResponse:
        """The first successful answer; the last error when every call failed."""
        pending = set(calls)
        error: ProviderError | None = None
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    return self._won(future.result(), calls[future])
                except ProviderError as exc:
                    error = exc
        assert error is not None
        raise error

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        """Async twin of :meth:`generate`; the losing call is cancelled."""
        tasks = {asyncio.ensure_future(self.inner.agenerate(request)): self.inner}
        done, _ = await asyncio.wait(tasks, timeout=self.after_s)
        if not done:
            tasks[asyncio.ensure_future(self.backup.agenerate(request))] = self.backup
        pending = set(tasks)
        error: BaseException | None = None
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.exception() is None:
                        return self._won(task.result(), tasks[task])
                    error = task.exception()
        finally:
            for task in pending:
                task.cancel()
        assert error is not None
        raise error
