"""Single-flight, threads and asyncio: one execution per key at a time."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ragline.cache.singleflight import AsyncSingleFlight, SingleFlight


def test_fifty_threads_share_one_execution() -> None:
    flight: SingleFlight[str] = SingleFlight()
    calls = []
    barrier = threading.Barrier(50)

    def work() -> str:
        calls.append(1)
        time.sleep(0.3)
        return "answer"

    def caller(_: int) -> tuple[str, bool]:
        barrier.wait()
        return flight.do("k", work)

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(caller, range(50)))
    assert len(calls) == 1
    assert {text for text, _ in results} == {"answer"}
    assert sum(led for _, led in results) == 1
    assert flight.in_flight() == 0


def test_followers_receive_the_leaders_error_and_the_key_is_freed() -> None:
    flight: SingleFlight[str] = SingleFlight()
    started = threading.Event()

    def fail() -> str:
        started.set()
        time.sleep(0.2)
        raise RuntimeError("upstream down")

    with ThreadPoolExecutor(2) as pool:
        leader = pool.submit(flight.do, "k", fail)
        started.wait()
        follower = pool.submit(flight.do, "k", lambda: "never run")
        for future in (leader, follower):
            with pytest.raises(RuntimeError, match="upstream down"):
                future.result()
    assert flight.do("k", lambda: "fresh") == ("fresh", True)


def test_different_keys_run_separately() -> None:
    flight: SingleFlight[int] = SingleFlight()
    assert flight.do("a", lambda: 1) == (1, True)
    assert flight.do("b", lambda: 2) == (2, True)


def test_fifty_coroutines_share_one_execution() -> None:
    flight: AsyncSingleFlight[str] = AsyncSingleFlight()
    calls = []

    async def work() -> str:
        calls.append(1)
        await asyncio.sleep(0.1)
        return "answer"

    async def main() -> list[tuple[str, bool]]:
        return await asyncio.gather(*(flight.do("k", work) for _ in range(50)))

    results = asyncio.run(main())
    assert len(calls) == 1
    assert [text for text, _ in results] == ["answer"] * 50
    assert sum(led for _, led in results) == 1


def test_async_followers_receive_the_leaders_error() -> None:
    flight: AsyncSingleFlight[str] = AsyncSingleFlight()

    async def fail() -> str:
        await asyncio.sleep(0.05)
        raise RuntimeError("upstream down")

    async def main() -> list[object]:
        return await asyncio.gather(*(flight.do("k", fail) for _ in range(5)),
                                    return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, RuntimeError) for r in results)


def test_a_cancelled_leader_hands_the_call_to_its_followers() -> None:
    flight: AsyncSingleFlight[str] = AsyncSingleFlight()
    runs = 0

    async def work() -> str:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)
        return f"run {runs}"

    async def main() -> tuple[bool, list[tuple[str, bool]]]:
        leader = asyncio.ensure_future(flight.do("k", work))
        await asyncio.sleep(0)  # the leader starts its run
        followers = [asyncio.ensure_future(flight.do("k", work)) for _ in range(3)]
        await asyncio.sleep(0.01)
        leader.cancel()  # its client went away
        results = await asyncio.gather(*followers)
        return leader.cancelled(), results

    cancelled, results = asyncio.run(main())
    assert cancelled and runs == 2  # one follower led a second run, the others shared it
    assert sorted(led for _, led in results) == [False, False, True]
    assert {text for text, _ in results} == {"run 2"}


def test_a_cancelled_follower_leaves_the_leader_running() -> None:
    flight: AsyncSingleFlight[str] = AsyncSingleFlight()

    async def work() -> str:
        await asyncio.sleep(0.05)
        return "done"

    async def main() -> tuple[str, bool]:
        leader = asyncio.ensure_future(flight.do("k", work))
        await asyncio.sleep(0)
        follower = asyncio.ensure_future(flight.do("k", work))
        await asyncio.sleep(0.01)
        follower.cancel()
        text, _ = await leader
        return text, follower.cancelled()

    assert asyncio.run(main()) == ("done", True)
