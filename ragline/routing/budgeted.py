"""Budgets around a chat model: reserve the worst case, settle the real spend.

:class:`BudgetedChatModel` books a call's estimated cost (its prompt plus
``max_tokens`` out, priced by the catalogue) against the tenant's and API key's
limits of the current :func:`~ragline.cost.metered.query_scope` before calling
the wrapped model, then settles the booking with what the call really cost (or
what a broken stream had produced). When a limit is reached it raises
:class:`~ragline.errors.BudgetExceeded`, or, given a ``downgrade`` model, answers
with that one instead (route ``"<downgrade> (budget: <why>)"``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

from ragline.cost.budgets import BudgetGuard, Reservation
from ragline.cost.metered import current_scope
from ragline.cost.prices import PriceCatalogue
from ragline.errors import BudgetExceeded, ProviderError
from ragline.models.chat import ChatModel
from ragline.models.streaming import AsyncChatStream, ChatStream, Delta
from ragline.models.tokens import count_tokens
from ragline.models.wrapper import ChatModelWrapper, decided
from ragline.offload import off_loop
from ragline.types import ChatRequest, ChatResponse, Usage


class BudgetedChatModel(ChatModelWrapper):
    """``inner`` within the budgets ``guard`` enforces; see the module docstring."""

    def __init__(self, inner: ChatModel, guard: BudgetGuard, catalogue: PriceCatalogue, *,
                 downgrade: ChatModel | None = None, default_tenant: str = "default") -> None:
        super().__init__(inner)
        self.guard = guard
        self.catalogue = catalogue
        self.downgrade = downgrade
        self.default_tenant = default_tenant

    def estimate(self, request: ChatRequest) -> tuple[int, Decimal]:
        """Tokens and USD ``request`` may spend at most: its prompt plus ``max_tokens`` out.

        A model without a known price reserves no dollars (its tokens still count).
        """
        model = request.model or self.inner.model
        prompt = count_tokens("\n".join(m.content for m in request.messages), model)
        usage = Usage(input_tokens=prompt, output_tokens=request.max_tokens, estimated=True)
        cost = self.catalogue.cost(model, usage)
        return usage.total_tokens, Decimal(0) if cost is None else cost

    def _reserve(self, request: ChatRequest) -> Reservation | BudgetExceeded:
        """Book the estimate; the refusal is returned (not raised) when a downgrade exists."""
        scope = current_scope()
        tenant = scope.tenant if scope else self.default_tenant
        tokens, usd = self.estimate(request)
        try:
            return self.guard.reserve(tenant, scope.api_key if scope else None, usd=usd,
                                      tokens=tokens)
        except BudgetExceeded as exc:
            if self.downgrade is None:
                raise
            return exc

    def _settle(self, reservation: Reservation, response: ChatResponse | None) -> None:
        self.guard.settle(reservation, usd=response.cost if response else Decimal(0),
                          tokens=response.usage.total_tokens if response else 0)

    def _settle_failure(self, reservation: Reservation, exc: BaseException) -> None:
        """A provider error is charged for what it produced; anything else books nothing."""
        if isinstance(exc, ProviderError):
            spent = exc.partial if isinstance(exc.partial, ChatResponse) else None
            self._settle(reservation, spent)
        else:
            self.guard.release(reservation)

    def _downgraded(self, response: ChatResponse, exc: BudgetExceeded) -> ChatResponse:
        assert self.downgrade is not None
        return decided(response, f"{self.downgrade.name} (budget: {exc})")

    def generate(self, request: ChatRequest) -> ChatResponse:
        """The wrapped model's answer within budget, or the downgrade's over it."""
        booked = self._reserve(request)
        if isinstance(booked, BudgetExceeded):
            assert self.downgrade is not None
            return self._downgraded(self.downgrade.generate(request), booked)
        try:
            response = self.inner.generate(request)
        except BaseException as exc:
            self._settle_failure(booked, exc)
            raise
        self._settle(booked, response)
        return response

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        """Async twin of :meth:`generate`; counters on a database server are booked from a
        worker thread, so the event loop never waits on them."""
        booked = await off_loop(self.guard.in_process, self._reserve, request)
        if isinstance(booked, BudgetExceeded):
            assert self.downgrade is not None
            return self._downgraded(await self.downgrade.agenerate(request), booked)
        try:
            response = await self.inner.agenerate(request)
        except BaseException as exc:
            await off_loop(self.guard.in_process, self._settle_failure, booked, exc)
            raise
        await off_loop(self.guard.in_process, self._settle, booked, response)
        return response

    def stream(self, request: ChatRequest) -> ChatStream:
        """Stream within budget: booked when iteration starts, settled when it ends."""

        def deltas() -> Iterator[Delta]:
            booked = self._reserve(request)
            if isinstance(booked, BudgetExceeded):
                assert self.downgrade is not None
                inner = self.downgrade.stream(request)
                yield from inner
                if inner.response is not None:
                    yield self._downgraded(inner.response, booked)
                return
            inner = self.inner.stream(request)
            try:
                yield from inner
            except BaseException as exc:
                inner.close()
                self._settle_failure(booked, exc)
                raise
            self._settle(booked, inner.response)
            if inner.response is not None:
                yield inner.response

        return ChatStream(deltas())

    def astream(self, request: ChatRequest) -> AsyncChatStream:
        """Async twin of :meth:`stream`."""

        async def deltas() -> AsyncIterator[Delta]:
            booked = self._reserve(request)
            if isinstance(booked, BudgetExceeded):
                assert self.downgrade is not None
                down = self.downgrade.astream(request)
                async for delta in down:
                    yield delta
                if down.response is not None:
                    yield self._downgraded(down.response, booked)
                return
            inner = self.inner.astream(request)
            try:
                async for delta in inner:
                    yield delta
            except BaseException as exc:
                await inner.aclose()
                self._settle_failure(booked, exc)
                raise
            self._settle(booked, inner.response)
            if inner.response is not None:
                yield inner.response

        return AsyncChatStream(deltas())
