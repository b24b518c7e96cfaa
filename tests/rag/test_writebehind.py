"""write_behind: batches produced here are written in order by one other thread, bounded."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from ragline.rag.writebehind import write_behind

WAIT = 30.0  # seconds; only reached when the code under test is broken


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ragline-write-behind"]


def test_writes_every_batch_in_order_in_another_thread() -> None:
    written: list[int] = []
    threads: set[int] = set()

    def write(batch: int) -> None:
        threads.add(threading.get_ident())
        written.append(batch)

    write_behind(iter(range(10)), write, depth=2)
    assert written == list(range(10))
    assert threads and threading.get_ident() not in threads
    assert not writer_threads()


def test_producing_the_next_batch_overlaps_writing_the_previous() -> None:
    first_written = threading.Event()

    def batches() -> Iterator[int]:
        yield 1
        # Only a concurrent writer can set this while the producer waits here.
        assert first_written.wait(WAIT), "batch 1 was not written while batch 2 was produced"
        yield 2

    write_behind(batches(), lambda batch: first_written.set(), depth=1)


def test_the_producer_runs_at_most_depth_batches_ahead() -> None:
    produced = written = 0
    ahead: list[int] = []
    fourth_produced = threading.Event()

    def batches() -> Iterator[int]:
        nonlocal produced
        for n in range(8):
            produced += 1
            ahead.append(produced - written)
            if n == 3:
                fourth_produced.set()
            yield n

    def write(batch: int) -> None:
        nonlocal written
        if batch == 0:  # hold the first write until the queue has had a chance to fill
            assert fourth_produced.wait(WAIT)
        written += 1

    write_behind(batches(), write, depth=2)
    # at most: 2 queued + 1 being written + 1 just produced, waiting to be queued
    assert max(ahead) == 4
    assert written == 8


def test_a_producer_error_propagates_after_the_produced_batches_are_written() -> None:
    written: list[int] = []

    def batches() -> Iterator[int]:
        yield 0
        yield 1
        raise RuntimeError("embedding failed")

    with pytest.raises(RuntimeError, match="embedding failed"):
        write_behind(batches(), written.append, depth=4)
    assert written == [0, 1]
    assert not writer_threads()


def test_a_write_error_propagates_and_stops_the_producer() -> None:
    pulled: list[int] = []

    def batches() -> Iterator[int]:
        for n in range(1000):
            pulled.append(n)
            yield n

    def write(batch: int) -> None:
        if batch == 2:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_behind(batches(), write, depth=2)
    assert len(pulled) < 1000
    assert not writer_threads()


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth"):
        write_behind(iter([1]), lambda batch: None, depth=0)
