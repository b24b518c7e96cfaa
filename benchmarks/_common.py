"""Helpers shared by the benchmark scripts: data folder, machine state, timing and tables.

A module of its own, never a script: a script imported by another one that runs as
``__main__`` would be loaded twice, with two copies of its state (``MEMORY`` here).
Scripts import it as ``_common``: running ``benchmarks/<script>.py`` puts ``benchmarks/``
first on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import platform
import resource
import subprocess
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

QUERY_BUDGET_S = 30.0  # a slow side is timed on a prefix of the queries that fits this budget
MIN_QUERIES = 20  # ... but on at least this many


def cache_dir() -> Path:
    """Where benchmarks keep what is slow to recompute (embeddings, peers' venvs):
    ``$RAGLINE_BENCH_CACHE``, or ``~/.cache/ragline-bench``."""
    env = os.environ.get("RAGLINE_BENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ragline-bench"


def embed_cached(embedder: Any, texts: Sequence[str], *, file: str, what: str = "texts",
                 batch: int = 512) -> Any:
    """Embeddings of ``texts`` (float32 rows), from ``cache_dir()/file`` where present,
    keyed by the SHA-256 of each text; the others are embedded ``batch`` at a time and
    saved after each batch, so an interrupted run keeps what it embedded."""
    import numpy as np

    path = cache_dir() / file
    known: dict[str, Any] = {}
    if path.exists():
        with np.load(path) as saved:
            known = dict(zip(saved["keys"].tolist(), saved["vectors"], strict=True))
    keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    missing = list({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
    if missing:
        print(f"... embedding {len(missing)} {what} (cached afterwards)", flush=True)
        started = time.perf_counter()
        for start in range(0, len(missing), batch):
            part = missing[start:start + batch]
            known.update(zip([k for k, _ in part],
                             embedder.embed_documents([t for _, t in part]), strict=True))
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, keys=np.array(list(known)), vectors=np.stack(list(known.values())))
            tmp.replace(path)
            print(f"    {start + len(part)}/{len(missing)} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    return np.stack([known[k] for k in keys]).astype(np.float32)


def data_root() -> Path:
    """The shared data folder: ``$RAGLINE_BENCH_DATA`` or ``../shared/data`` beside the project."""
    env = os.environ.get("RAGLINE_BENCH_DATA")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


class Memory:
    """Resident memory: now, peak since the last :meth:`reset`, and the process's peak.

    On Linux the peak (``VmHWM``) is reset per phase through ``/proc/self/clear_refs``,
    so each table can show its own peak; that also resets ``getrusage``'s ``ru_maxrss``,
    hence the running maximum kept here for the whole process.
    """

    def __init__(self) -> None:
        self.overall = 0.0

    @staticmethod
    def _status(field: str) -> float:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
        except (OSError, ValueError, IndexError):
            pass
        return float("nan")

    def now(self) -> float:
        """Current resident set size, in MiB."""
        return self._status("VmRSS")

    def rss(self) -> str:
        """Current RSS for a progress line, with its anonymous part when known.

        The rest is file-backed: mainly the Qdrant Edge shard's memory-mapped segments,
        which the kernel can drop and re-read (they count in ``MemAvailable``).
        """
        anon = self._status("RssAnon")
        extra = "" if math.isnan(anon) else f" ({anon:.0f} anonymous)"
        return f"rss {self.now():.0f} MiB{extra}"

    def peak(self) -> float:
        """Peak resident set size since the last reset, in MiB."""
        value = self._status("VmHWM")
        if math.isnan(value):  # not Linux: the process's peak, never reset
            value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.overall = max(self.overall, value)
        return value

    def reset(self) -> None:
        """Start a new phase: its peak starts from the current RSS."""
        self.peak()
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")

    def process_peak(self) -> float:
        """The largest RSS the process reached, over all phases, in MiB."""
        self.peak()
        return self.overall


MEMORY = Memory()  # the one instance: every script and helper module shares its peaks


def available_mb() -> float:
    """``MemAvailable`` from ``/proc/meminfo`` in MiB (nan when unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return float("nan")


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, to show whether the machine was shared."""
    try:
        return "/".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def print_header(title: str) -> None:
    """The first line of a benchmark's output: what, when, on which machine."""
    print(f"ragline {title}, {datetime.now():%Y-%m-%d %H:%M}, "
          f"{platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}")


def print_footer() -> None:
    """The process's peak RSS and the load average, before a script's summary line."""
    print(f"\npeak RSS {MEMORY.process_peak():.0f} MiB; load average {load_average()} "
          f"(1/5/15 min; above {os.cpu_count()} means other processes shared the cores)")


def ratio(a: float, b: float) -> str:
    """``a / b`` formatted, or ``-`` when undefined."""
    return f"{a / b:.2f}" if b and not math.isnan(a) and not math.isnan(b) else "-"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a plain fixed-width table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    print(f"\n{title}")
    print(fmt(header))
    print(line)
    for row in rows:
        print(fmt(row))


def timed_queries(run: Callable[[int], object], total: int, *, warm: int,
                  budget_s: float = QUERY_BUDGET_S) -> list[float]:
    """Latencies in ms of ``run(i)`` for queries ``i``, after ``warm`` untimed warm-up queries.

    When all ``total`` queries would take longer than ``budget_s`` by the warm-up's pace,
    only a prefix is timed: as many as fit the budget, at least ``MIN_QUERIES``.
    """
    t0 = time.perf_counter()
    for i in range(warm):
        run(i)
    per_query = (time.perf_counter() - t0) / max(warm, 1)
    count = total if per_query * total <= budget_s else max(
        MIN_QUERIES, min(total, int(budget_s / per_query)))
    samples: list[float] = []
    for i in range(count):
        t0 = time.perf_counter()
        run(i)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def run_checked(command: list[str], timeout_s: float,
                error: type[Exception] = RuntimeError) -> str:
    """``command``'s standard output; ``error`` saying why (its last lines of output) when
    it cannot start, runs past ``timeout_s`` or exits non-zero."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise error(f"{command[0]}: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise error(f"{' '.join(command[:4])} failed: {' | '.join(tail)}")
    return done.stdout
