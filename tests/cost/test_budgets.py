"""Budgets: limits per tenant and API key, periods in UTC, and atomic admission under races."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ragline.config import BudgetLimit, Settings
from ragline.cost.budgets import BudgetGuard
from ragline.cost.ledger import Ledger
from ragline.errors import BudgetExceeded


class Clock:
    """A settable clock for crossing day and month boundaries."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def limit(scope: str = "tenant", key: str = "*", period: str = "day",
          usd: float | None = None, tokens: int | None = None) -> BudgetLimit:
    return BudgetLimit(scope=scope, key=key, period=period, usd=usd, tokens=tokens)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))


def guard_for(ledger: Ledger, clock: Clock, *limits: BudgetLimit) -> BudgetGuard:
    return BudgetGuard(ledger, limits, clock=clock)


def test_a_call_over_the_limit_is_rejected_and_books_nothing(ledger: Ledger,
                                                              clock: Clock) -> None:
    guard = guard_for(ledger, clock, limit(usd=1.0))
    guard.reserve("acme", None, Decimal("0.60"), 100)
    with pytest.raises(BudgetExceeded) as refused:
        guard.reserve("acme", None, Decimal("0.41"), 100)
    assert (refused.value.scope, refused.value.key, refused.value.period) == (
        "tenant", "acme", "day")
    assert refused.value.http_status == 402
    message = str(refused.value)
    assert "$0.6000 of its $1.0000 per day" in message
    assert "resets at 2026-11-27 00:00 UTC" in message
    assert guard.spent("tenant", "acme", "day") == (Decimal("0.6"), 100)
    guard.reserve("acme", None, Decimal("0.40"), 100)  # exactly up to the limit fits
    assert guard.spent("tenant", "acme", "day") == (Decimal("1"), 200)


def test_a_token_limit_is_enforced_like_a_dollar_limit(ledger: Ledger, clock: Clock) -> None:
    guard = guard_for(ledger, clock, limit(scope="api_key", key="team-a", period="month",
                                           tokens=1000))
    guard.reserve("acme", "team-a", 0, 900)
    with pytest.raises(BudgetExceeded, match="used 900 of its 1,000 tokens per month") as refused:
        guard.reserve("acme", "team-a", 0, 101)
    assert (refused.value.scope, refused.value.key, refused.value.period) == (
        "api_key", "team-a", "month")


def test_a_keyed_limit_applies_to_that_key_only(ledger: Ledger, clock: Clock) -> None:
    guard = guard_for(ledger, clock, limit(scope="api_key", key="team-a", usd=1.0))
    guard.reserve("acme", "team-a", 1.0, 0)
    with pytest.raises(BudgetExceeded):
        guard.reserve("acme", "team-a", 0.01, 0)
    guard.reserve("acme", "team-b", 50.0, 0)  # another key: no limit
    guard.reserve("acme", None, 50.0, 0)      # no key: an api_key limit cannot apply


def test_a_star_limit_gives_each_tenant_its_own_budget(ledger: Ledger, clock: Clock) -> None:
    guard = guard_for(ledger, clock, limit(key="*", usd=1.0))
    guard.reserve("acme", None, 1.0, 0)
    guard.reserve("globex", None, 1.0, 0)
    for tenant in ("acme", "globex"):
        with pytest.raises(BudgetExceeded, match=repr(tenant)):
            guard.reserve(tenant, None, 0.01, 0)
    assert guard.spent("tenant", "initech", "day") == (Decimal(0), 0)


def test_the_tightest_of_several_limits_wins_and_a_refusal_books_on_none(
        ledger: Ledger, clock: Clock) -> None:
    guard = guard_for(ledger, clock, limit(key="*", usd=5.0), limit(key="acme", usd=2.0),
                      limit(scope="api_key", key="*", usd=1.0))
    guard.reserve("acme", "team-a", 0.9, 10)
    with pytest.raises(BudgetExceeded) as refused:  # the key's $1 limit, not the tenant's
        guard.reserve("acme", "team-a", 0.2, 10)
    assert refused.value.scope == "api_key"
    assert guard.spent("tenant", "acme", "day") == (Decimal("0.9"), 10)  # not 1.1
    guard.reserve("acme", "team-b", 0.9, 0)
    with pytest.raises(BudgetExceeded, match=r"\$2\.0000 per day") as refused:
        guard.reserve("acme", "team-c", 0.3, 0)
    assert refused.value.key == "acme"


def test_a_day_limit_starts_again_at_midnight_utc(ledger: Ledger, clock: Clock) -> None:
    clock.now = datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC)
    guard = guard_for(ledger, clock, limit(period="day", usd=1.0))
    guard.reserve("acme", None, 1.0, 0)
    # 19:30 in New York is still the 26th there, but already the 27th in UTC
    clock.now = datetime(2026, 11, 26, 19, 30, tzinfo=timezone(timedelta(hours=-5)))
    guard.reserve("acme", None, 1.0, 0)
    assert guard.spent("tenant", "acme", "day", at=datetime(2026, 11, 26, 12, tzinfo=UTC)) == (
        Decimal(1), 0)
    with pytest.raises(BudgetExceeded, match="resets at 2026-11-28 00:00 UTC"):
        guard.reserve("acme", None, 0.5, 0)


def test_a_month_limit_spans_days_and_starts_again_next_month(ledger: Ledger,
                                                              clock: Clock) -> None:
    clock.now = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    guard = guard_for(ledger, clock, limit(period="month", usd=1.0), limit(period="day", usd=0.6))
    guard.reserve("acme", None, 0.6, 0)
    clock.now = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    guard.reserve("acme", None, 0.4, 0)  # a new day, same month
    with pytest.raises(BudgetExceeded, match=r"per month.*resets at 2027-01-01 00:00 UTC"):
        guard.reserve("acme", None, 0.1, 0)
    clock.now = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
    guard.reserve("acme", None, 0.6, 0)


def test_settle_replaces_the_estimate_with_the_actual_spend(ledger: Ledger,
                                                            clock: Clock) -> None:
    guard = guard_for(ledger, clock, limit(usd=1.0, tokens=10_000))
    first = guard.reserve("acme", None, Decimal("0.80"), 4000)
    guard.settle(first, Decimal("0.25"), 1200)
    assert guard.spent("tenant", "acme", "day") == (Decimal("0.25"), 1200)
    guard.reserve("acme", None, Decimal("0.75"), 100)  # the freed room is usable again


def test_settle_with_an_unknown_price_keeps_the_estimated_dollars(ledger: Ledger,
                                                                  clock: Clock) -> None:
    guard = guard_for(ledger, clock, limit(usd=1.0))
    reservation = guard.reserve("acme", None, Decimal("0.30"), 500)
    guard.settle(reservation, None, 700)
    assert guard.spent("tenant", "acme", "day") == (Decimal("0.3"), 700)


def test_settle_books_actual_spend_past_the_limit(ledger: Ledger, clock: Clock) -> None:
    guard = guard_for(ledger, clock, limit(usd=1.0))
    reservation = guard.reserve("acme", None, Decimal("0.50"), 0)
    guard.settle(reservation, Decimal("1.50"), 0)  # the call overran its estimate
    assert guard.spent("tenant", "acme", "day")[0] == Decimal("1.5")
    with pytest.raises(BudgetExceeded):
        guard.reserve("acme", None, 0.01, 0)


def test_release_returns_the_whole_reservation(ledger: Ledger, clock: Clock) -> None:
    guard = guard_for(ledger, clock, limit(usd=1.0, tokens=100))
    reservation = guard.reserve("acme", None, Decimal("0.9"), 90)
    guard.release(reservation)
    assert guard.spent("tenant", "acme", "day") == (Decimal(0), 0)


def test_a_reservation_is_settled_in_the_period_it_was_booked(ledger: Ledger,
                                                               clock: Clock) -> None:
    clock.now = datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC)
    guard = guard_for(ledger, clock, limit(usd=1.0))
    reservation = guard.reserve("acme", None, Decimal("0.5"), 0)
    clock.now = datetime(2026, 11, 27, 0, 0, 5, tzinfo=UTC)
    guard.settle(reservation, Decimal("0.2"), 0)
    day_26 = datetime(2026, 11, 26, tzinfo=UTC)
    assert guard.spent("tenant", "acme", "day", at=day_26) == (Decimal("0.2"), 0)
    assert guard.spent("tenant", "acme", "day") == (Decimal(0), 0)


def test_a_reservation_is_settled_or_released_once(ledger: Ledger, clock: Clock) -> None:
    guard = guard_for(ledger, clock, limit(usd=1.0))
    reservation = guard.reserve("acme", None, 0.5, 0)
    guard.settle(reservation, 0.5, 0)
    with pytest.raises(ValueError, match="already settled or released"):
        guard.release(reservation)


def test_without_applicable_limits_nothing_is_booked(ledger: Ledger, clock: Clock) -> None:
    guard = guard_for(ledger, clock, limit(key="globex", usd=1.0))
    reservation = guard.reserve("acme", None, 100, 10**9)
    assert reservation.counters == ()
    guard.settle(reservation, 200, 10**9)


def test_negative_estimates_are_refused(ledger: Ledger, clock: Clock) -> None:
    guard = guard_for(ledger, clock, limit(usd=1.0))
    with pytest.raises(ValueError, match="usd >= 0"):
        guard.reserve("acme", None, -1, 0)


def test_the_guard_is_built_from_settings(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(budgets={"limits": [{"scope": "tenant", "key": "*",
                                                  "period": "day", "usd": 0.5}]})
    with Ledger.from_settings(settings) as ledger:
        guard = BudgetGuard.from_settings(settings, ledger)
        guard.reserve("acme", None, 0.5, 0)
        with pytest.raises(BudgetExceeded):
            guard.reserve("acme", None, 0.01, 0)


# --- races ----------------------------------------------------------------------------------

def test_racing_threads_never_overspend(ledger: Ledger) -> None:
    guard = BudgetGuard(ledger, [limit(usd=1.0)])
    admitted: list[Decimal] = []
    refused: list[BudgetExceeded] = []
    failed: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def spend() -> None:
        start.wait()
        for _ in range(6):  # 72 attempts of $0.03: only 33 fit in $1.00
            try:
                guard.reserve("acme", None, Decimal("0.03"), 1)
            except BudgetExceeded as exc:
                with lock:
                    refused.append(exc)
            except Exception as exc:  # reported below: a race must not fail any other way
                with lock:
                    failed.append(exc)
            else:
                with lock:
                    admitted.append(Decimal("0.03"))

    threads = [threading.Thread(target=spend) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == []
    assert len(admitted) == 33 and len(refused) == 72 - 33
    assert guard.spent("tenant", "acme", "day") == (Decimal("0.99"), 33)


RACING_PROCESS = textwrap.dedent("""
    import sys
    from decimal import Decimal
    from ragline.config import BudgetLimit
    from ragline.cost.budgets import BudgetGuard
    from ragline.cost.ledger import Ledger
    from ragline.errors import BudgetExceeded

    ledger = Ledger(sys.argv[1])
    guard = BudgetGuard(ledger, [BudgetLimit(scope="tenant", key="*", period="day", usd=1.0)])
    admitted = 0
    for _ in range(15):
        try:
            guard.reserve("acme", None, Decimal("0.05"), 1)
            admitted += 1
        except BudgetExceeded:
            pass
    print(admitted)
""")


def test_racing_processes_never_overspend(ledger: Ledger) -> None:
    url = ledger.engine.url.render_as_string(hide_password=False)
    BudgetGuard(ledger, [limit(usd=1.0)]).spent("tenant", "acme", "day")  # create the table
    workers = [subprocess.Popen([sys.executable, "-c", RACING_PROCESS, url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(4)]
    outputs = [worker.communicate(timeout=120) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), [err for _, err in outputs]
    admitted = sum(int(out) for out, _ in outputs)
    assert admitted == 20  # 60 attempts of $0.05 against $1.00
    guard = BudgetGuard(ledger, [limit(usd=1.0)])
    assert guard.spent("tenant", "acme", "day") == (Decimal("1"), 20)


def test_a_limit_is_exact_decimal_money(ledger: Ledger, clock: Clock) -> None:
    tenth = limit(usd=0.3)  # as a float, 0.1 + 0.1 + 0.1 > 0.3
    assert tenth.usd == Decimal("0.3") and isinstance(tenth.usd, Decimal)
    guard = guard_for(ledger, clock, tenth)
    for _ in range(3):
        guard.reserve("acme", None, Decimal("0.1"), 1)
    assert guard.spent("tenant", "acme", "day") == (Decimal("0.3"), 3)
    with pytest.raises(BudgetExceeded, match=r"has spent \$0.3000 of its \$0.3000"):
        guard.reserve("acme", None, Decimal("0.000000001"), 1)


def test_a_float_amount_is_booked_at_its_exact_value(ledger: Ledger, clock: Clock) -> None:
    guard = guard_for(ledger, clock, limit(usd=1.0))
    reservation = guard.reserve("acme", None, 0.1 + 0.2, 1)  # 0.30000000000000004...
    assert guard.spent("tenant", "acme", "day") == (Decimal("0.3"), 1)  # nano-dollars
    guard.settle(reservation, 0.1, 1)
    assert guard.spent("tenant", "acme", "day") == (Decimal("0.1"), 1)
