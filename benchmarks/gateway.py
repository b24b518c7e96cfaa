"""Gateway benchmark: the latency ragline's gateway adds over calling the upstream directly,
beside LiteLLM's proxy, in the same run.

Three sides answer the same open-loop load (``gateway_load.py``: requests scheduled at
fixed times, latency from the scheduled send time), all in front of one instant local
upstream (``gateway_upstream.py``):

- **direct**: the load generator calls the upstream itself. This is the baseline; its
  maximum rate is also the generator's own ceiling (generator and upstream share a core);
- **LiteLLM**: LiteLLM's proxy (``litellm[proxy]``, in a virtual environment of its own
  under ``benchmarks/.venvs/litellm``, created on first run), one worker, its master key
  set so authentication is on, no database;
- **ragline**: ``ragline serve`` with ``POST /v1/chat/completions``: an API key (``ragline
  keys create``) required, the model named as ``openai:gpt-4o-mini`` and routed to the
  upstream, the exact cache on, every call recorded in the cost ledger (SQLite in a
  temporary home).

Core layout on two cores: the upstream and the load generator (this process) share core
0, the system under test is alone on core 1 (``taskset``). Overhead = a side's latency
percentile minus the direct one at the same rate. Direct is measured twice, first and last,
and each of its percentiles is the lower of the two passes: noise from the rest of the
machine only adds latency, and one disturbed baseline once made an overhead negative.

Every request carries a different user message (a counter), so ragline's exact cache
misses on every request: the tables measure the full path. One more row, ragline at
200 RPS sending the same message every time, measures exact-cache hits.

For each rate (``--rates``, default 50, 200, 500 RPS): ``--duration`` counted seconds after
``--warmup`` seconds. Then the highest sustained rate of each side: the highest rate at
which a ``--step-s`` run has no error, a p99 under ``--p99-bound-ms`` (100 ms) and an
achieved rate of at least 95 % of the target; found by raising the rate 1.5x from the
fixed-rate results until a run fails, then bisecting to within 5 %.

Run from the project root::

    .venv/bin/python benchmarks/gateway.py [--rates 50,200,500] [--duration 10] [--quick]

When LiteLLM cannot be installed its column is ``nan`` (``skipped: LiteLLM ...``); when
ragline's endpoint is not there yet (404 on a probe) its column is pending and ``nan``.
The last line is::

    overhead_p50_ms_200rps=<a> overhead_p99_ms_200rps=<b> litellm_overhead_p50_ms_50rps=<c> \
max_rps=<d> litellm_max_rps=<e>
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from _common import load_average, print_footer, print_header, print_table, run_checked
from gateway_load import LoadResult, chat_request_factory, pin_to_core, run_load

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
LITELLM_VENV = BENCH / ".venvs" / "litellm"
LITELLM_SPEC = "litellm[proxy]==1.108.7"
MASTER_KEY = "sk-bench-litellm-master"
UPSTREAM_KEY = "sk-bench-upstream"
TARGET_P50_MS, TARGET_P99_MS, TARGET_MAX_RATIO = 1.0, 5.0, 5.0  # the targets
STEP_UP = 1.5  # max-rate search: the ramp factor, then bisection to within PRECISION
PRECISION = 1.05


# ----------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(command: list[str], core: int | None) -> list[str]:
    """``command`` run on ``core`` only (through ``taskset``), or as it is."""
    if core is None or not shutil.which("taskset"):
        return command
    return ["taskset", "-c", str(core), *command]


@dataclass
class Service:
    """A server this benchmark started, in a session of its own, its output in a log."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    handle: IO[bytes]

    @classmethod
    def start(cls, name: str, command: list[str], core: int | None, log: Path,
              env: dict[str, str] | None = None, cwd: Path | None = None) -> Service:
        handle = log.open("wb")
        process = subprocess.Popen(pinned(command, core), stdout=handle,
                                   stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                   start_new_session=True)
        return cls(name, process, log, handle)

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 5) -> str:
        with contextlib.suppress(OSError):
            text = self.log.read_text(errors="replace").strip().splitlines()
            return " | ".join(text[-lines:])
        return ""

    def stop(self) -> None:
        """SIGTERM to the service's process group, SIGKILL after 10 s."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.handle.close()


def cpu_seconds(group: int) -> float:
    """User + system CPU seconds of the live processes of process group ``group``."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group:  # pgrp; utime and stime follow at 11 and 12
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def http_call(port: int, method: str, path: str, body: dict[str, Any] | None = None,
              token: str | None = None, timeout_s: float = 5.0) -> tuple[int, bytes]:
    """One plain HTTP request on a fresh connection: (status, body); (0, reason) on failure."""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        connection.request(method, path, None if body is None else json.dumps(body), headers)
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        return 0, f"{type(exc).__name__}: {exc}".encode()
    finally:
        connection.close()


def wait_until(service: Service, ready: Callable[[], bool], timeout_s: float) -> bool:
    """Poll ``ready`` until it is true, the service exits, or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not service.alive():
            return False
        if ready():
            return True
        time.sleep(0.25)
    return False


def chat_body(model: str, text: str = "Say hello. Probe") -> dict[str, Any]:
    return {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": text}]}


# ----------------------------------------------------------------------- sides


@dataclass
class Side:
    """One system answering the load: where, with which model name and key."""

    name: str
    port: int
    model: str
    token: str | None = None
    note: str = ""
    path: str = "/v1/chat/completions"
    group: int | None = None  # the process group whose CPU time is its cost
    results: dict[float, LoadResult] = field(default_factory=dict)  # fixed rates
    again: dict[float, LoadResult] = field(default_factory=dict)  # direct's second pass
    cpu_ms: dict[float, float] = field(default_factory=dict)  # CPU ms a request, by rate
    steps: list[LoadResult] = field(default_factory=list)  # max-rate search
    max_rps: float = math.nan
    max_capped: bool = False  # passed at the search's ceiling
    first_fail: LoadResult | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"


def litellm_python(spec: str = LITELLM_SPEC, venv: Path = LITELLM_VENV) -> Path:
    """The LiteLLM venv's ``litellm`` executable, made on first use (``python -m venv`` +
    ``pip install``); a stamp records ``spec`` so changing it reinstalls. Raises
    RuntimeError saying why when it cannot be made."""
    litellm = venv / "bin" / "litellm"
    stamp = venv / "ragline-spec.txt"
    if litellm.exists() and stamp.exists() and stamp.read_text() == spec:
        return litellm
    print(f"... installing {spec} into {venv} (once; a few minutes)", flush=True)

    venv.parent.mkdir(parents=True, exist_ok=True)
    if not (venv / "bin" / "python").exists():
        run_checked([sys.executable, "-m", "venv", str(venv)], 300)
    run_checked([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", spec], 1800)
    if not litellm.exists():
        raise RuntimeError(f"{spec} installed no {litellm}")
    stamp.write_text(spec)
    return litellm


def litellm_version(venv: Path = LITELLM_VENV) -> str:
    done = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "import importlib.metadata as m; print(m.version('litellm'))"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or "?"


def start_litellm(upstream: int, core: int | None, work: Path,
                  spec: str) -> tuple[Side, Service] | str:
    """LiteLLM's proxy in front of the upstream, ready; or why it could not start."""
    try:
        litellm = litellm_python(spec)
    except RuntimeError as exc:
        return f"cannot be installed ({exc})"
    config = work / "litellm.yaml"
    config.write_text(json.dumps({  # JSON is YAML
        "model_list": [{"model_name": "gpt-4o-mini", "litellm_params": {
            "model": "openai/gpt-4o-mini", "api_base": f"http://127.0.0.1:{upstream}/v1",
            "api_key": UPSTREAM_KEY}}],
        "general_settings": {"master_key": MASTER_KEY}}, indent=2))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VIRTUAL_ENV")}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR",
               NO_DOCS="True", DISABLE_ADMIN_UI="True")
    service = Service.start("litellm", [str(litellm), "--config", str(config), "--host",
                                        "127.0.0.1", "--port", str(port), "--num_workers", "1"],
                            core, work / "litellm.log", env=env, cwd=work)
    side = Side("LiteLLM", port, "gpt-4o-mini", MASTER_KEY,
                f"LiteLLM {litellm_version()} proxy, 1 worker, master key, no database")
    if not wait_until(service, lambda: http_call(port, "GET", "/health/liveliness")[0] == 200,
                      180):
        service.stop()
        return f"did not start ({service.tail()})"
    status, body = http_call(port, "POST", side.path, chat_body(side.model), MASTER_KEY, 30)
    if status != 200:
        service.stop()
        return f"probe answered {status}: {body[:200]!r}"
    return side, service


def ragline_config(upstream: int, home: Path) -> dict[str, Any]:
    """ragline's settings for the run: generation on the upstream (provider ``openai``
    with its ``base_url``), a routing tier for ``openai:gpt-4o-mini``, the exact cache,
    keys required; the cost ledger is on by default (SQLite under ``home``)."""
    return {
        "home": str(home),
        "generation": {"provider": "openai", "model": "gpt-4o-mini",
                       "base_url": f"http://127.0.0.1:{upstream}/v1",
                       "api_key": UPSTREAM_KEY, "fallback": "none", "verify": "none",
                       "max_retries": 0, "timeout_s": 5},
        "routing": {"tiers": [{"name": "small", "model": "openai:gpt-4o-mini",
                               "context_window": 128000}]},
        "cache": {"mode": "exact", "backend": "sqlite"},
        "gateway": {"require_keys": True},
    }


def start_ragline(upstream: int, core: int | None, work: Path) -> tuple[Side, Service] | str:
    """``ragline serve`` in front of the upstream with a fresh API key; or why not."""
    venv_bin = ROOT / ".venv" / "bin"
    ragline = venv_bin / "ragline" if (venv_bin / "ragline").exists() else None
    command = [str(ragline)] if ragline else [sys.executable, "-m", "ragline"]
    home = work / "ragline-home"
    home.mkdir()
    config = work / "ragline.yaml"
    config.write_text(json.dumps(ragline_config(upstream, home), indent=2))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    done = subprocess.run([*command, "keys", "create", "--tenant", "bench", "--json",
                           "--config", str(config)], capture_output=True, text=True,
                          env=env, cwd=work, check=False)
    try:
        token = str(json.loads(done.stdout.strip().splitlines()[-1])["token"])
    except (ValueError, IndexError, KeyError):
        return f"`ragline keys create` failed: {(done.stderr or done.stdout).strip()[-300:]}"
    port = free_port()
    service = Service.start("ragline", [*command, "serve", "--port", str(port), "--config",
                                        str(config)], core, work / "ragline.log", env=env,
                            cwd=work)
    side = Side("ragline", port, "openai:gpt-4o-mini", token,
                "ragline serve, 1 worker: API key, routing, exact cache (misses), cost ledger")
    if not wait_until(service, lambda: http_call(port, "GET", "/v1/models", token=token)[0] > 0,
                      180):
        service.stop()
        return f"did not start ({service.tail()})"
    status, body = http_call(port, "POST", side.path, chat_body(side.model), token, 30)
    if status != 200 or b"choices" not in body:
        service.stop()
        why = "not there yet" if status == 404 else "not working"
        return (f"pending: POST /v1/chat/completions answered {status} ({why}): "
                f"{body[:160]!r}")
    return side, service


def ledger_rows(path: Path) -> str:
    """The ledger's calls by stage and cache outcome, e.g. ``generate/miss 1234``: shows
    that every request was recorded, and how many the exact cache answered."""
    if not path.exists():
        return f"no ledger at {path.name}"
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            tables = [name for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%calls'")]
            if not tables:
                return "no calls table"
            rows = db.execute(f"SELECT stage, cache, count(*) FROM {tables[0]} "
                              "GROUP BY stage, cache ORDER BY stage, cache").fetchall()
    except sqlite3.Error as exc:
        return f"unreadable ({exc})"
    return ", ".join(f"{stage}/{cache} {count}" for stage, cache, count in rows) or "empty"


# ----------------------------------------------------------------------- measuring


@dataclass
class Plan:
    rates: list[float]
    duration_s: float
    warmup_s: float
    step_s: float
    p99_bound_ms: float
    timeout_s: float
    connections: int
    ceiling: float  # the max-rate search's highest rate


def passes(result: LoadResult, bound_ms: float) -> bool:
    """The sustained-rate rule: no error, p99 under the bound, >= 95 % of the rate done."""
    return (result.errors == 0 and result.p(99) < bound_ms
            and result.achieved_rps >= 0.95 * result.target_rps)


def settle(side: Side, overloaded: bool) -> None:
    """Let the system under test drain: a pause, longer and checked after an overload."""
    time.sleep(1.0)
    if not overloaded:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(1.0)
        started = time.monotonic()
        status, _ = http_call(side.port, "POST", side.path, chat_body(side.model),
                              side.token, 5)
        if status == 200 and time.monotonic() - started < 0.2:
            return


def measure(side: Side, rate: float, duration_s: float, plan: Plan, *,
            unique: bool = True) -> tuple[LoadResult, float]:
    """One run at ``rate``; (its result, the CPU ms the side spent a request, warm-up
    included)."""
    make = chat_request_factory(side.url, side.model, side.token, unique=unique)
    before = cpu_seconds(side.group) if side.group else math.nan
    result = run_load(side.url, make, rate, duration_s, warmup_s=plan.warmup_s,
                      timeout_s=plan.timeout_s, max_connections=plan.connections)
    after = cpu_seconds(side.group) if side.group else math.nan
    cpu = (after - before) * 1000 / max(1, round((plan.warmup_s + duration_s) * rate))
    print(f"    {side.name:8} {result.summary()}; {side.name} cpu {fmt(cpu)} ms a request",
          flush=True)
    settle(side, not passes(result, plan.p99_bound_ms))
    return result, cpu


def fixed_rates(side: Side, plan: Plan) -> None:
    print(f"  {side.name}: {side.note}; load average {load_average()}", flush=True)
    for rate in plan.rates:
        side.results[rate], side.cpu_ms[rate] = measure(side, rate, plan.duration_s, plan)


def max_rate(side: Side, plan: Plan, ceiling: float) -> None:
    """The highest sustained rate (see :func:`passes`) up to ``ceiling``: from the
    fixed-rate runs, up by ``STEP_UP`` until a step fails (down by halves while none has
    passed), then bisection until the two rates are within ``PRECISION``."""
    good = [r for r, res in side.results.items() if passes(res, plan.p99_bound_ms)]
    bad = [r for r, res in side.results.items() if not passes(res, plan.p99_bound_ms)]
    low = max(good, default=0.0)
    high = min((r for r in bad if r > low), default=math.inf)
    first_fail = side.results.get(high)
    print(f"  {side.name}: max-rate search ({plan.step_s:g} s steps); load average "
          f"{load_average()}", flush=True)

    def step(rate: float) -> bool:
        nonlocal low, high, first_fail
        result, _ = measure(side, rate, plan.step_s, plan)
        side.steps.append(result)
        if passes(result, plan.p99_bound_ms):
            low = max(low, rate)
            return True
        if rate < high:
            high, first_fail = rate, result
        return False

    while not low and high > 5:  # nothing passed yet: halve
        step(round(high / 2))
    while high == math.inf:  # ramp up
        if low >= ceiling:
            side.max_rps, side.max_capped = low, True
            return
        step(min(round(low * STEP_UP), ceiling))
    while low and high / low > PRECISION:  # bisect
        mid = round(math.sqrt(low * high))
        if mid in (round(low), round(high)):
            break
        step(mid)
    side.max_rps, side.first_fail = low, first_fail


# ----------------------------------------------------------------------- report


def fmt(value: float, digits: int = 2) -> str:
    return "nan" if math.isnan(value) else f"{value:.{digits}f}"


def baseline(base: Side, rate: float, q: float) -> float:
    """Direct's percentile ``q`` at ``rate``: the lower of its two passes (before and after
    the gateways), since noise from the rest of the machine can only add latency."""
    runs = [r for r in (base.results.get(rate), base.again.get(rate)) if r is not None]
    return min((r.p(q) for r in runs), default=math.nan)


def overhead(side: Side | None, base: Side, rate: float, q: float) -> float:
    if side is None or rate not in side.results or rate not in base.results:
        return math.nan
    result = side.results[rate]
    if result.ok == 0:
        return math.nan
    return result.p(q) - baseline(base, rate, q)


def over_ratio(a: float, b: float) -> str:
    """``a / b`` for two positive overheads, else ``-``."""
    return f"{a / b:.1f}" if a > 0 and b > 0 and not (math.isnan(a) or math.isnan(b)) else "-"


def rate_table(rate: float, direct: Side, litellm: Side | None, ragline: Side | None,
               pending: dict[str, str], p99_bound_ms: float) -> None:
    rows: list[list[str]] = []
    for label, side in (("direct (baseline)", direct), ("LiteLLM proxy", litellm),
                        ("ragline gateway", ragline)):
        if side is None or rate not in side.results:
            why = pending.get(label.split()[0], "not run")
            rows.append([label, *["nan"] * 9, why[:40]])
            continue
        r = side.results[rate]
        plus = ["-", "-"] if side is direct else [
            fmt(overhead(side, direct, rate, 50)), fmt(overhead(side, direct, rate, 99))]
        rows.append([label, fmt(r.p(50)), fmt(r.p(95)), fmt(r.p(99)), str(r.errors),
                     fmt(r.achieved_rps, 1), fmt(r.lag(99)), *plus,
                     fmt(side.cpu_ms.get(rate, math.nan)),
                     "ok" if passes(r, p99_bound_ms) else "not sustained"])
    cpu = [side.cpu_ms.get(rate, math.nan) if side else math.nan for side in (litellm, ragline)]
    rows.append(["LiteLLM / ragline", "-", "-", "-", "-", "-", "-",
                 over_ratio(overhead(litellm, direct, rate, 50),
                            overhead(ragline, direct, rate, 50)),
                 over_ratio(overhead(litellm, direct, rate, 99),
                            overhead(ragline, direct, rate, 99)), over_ratio(*cpu), ""])
    print_table(f"Open loop at {rate:g} RPS: latency ms from the scheduled send time "
                f"(unique messages: exact-cache misses)",
                ["side", "p50", "p95", "p99", "errors", "achieved rps", "lag p99",
                 "+p50 vs direct", "+p99 vs direct", "cpu ms/req", "note"], rows)


def max_table(sides: Sequence[Side | None], labels: Sequence[str], plan: Plan,
              pending: dict[str, str]) -> None:
    rows = []
    for label, side in zip(labels, sides, strict=True):
        if side is None or math.isnan(side.max_rps):
            rows.append([label, "nan", "-", "-", "-", pending.get(label.split()[0], "not run")])
            continue
        at = [s for s in [*side.steps, *side.results.values()]
              if s.target_rps == side.max_rps and passes(s, plan.p99_bound_ms)]
        best = at[-1] if at else None
        fail = side.first_fail
        why = "-"
        if side.max_capped:
            why = f"not reached (search ceiling {plan.ceiling:g})"
        elif fail is not None:
            reasons = []
            if fail.errors:
                reasons.append(f"{fail.errors} errors")
            if not fail.p(99) < plan.p99_bound_ms:
                reasons.append(f"p99 {fmt(fail.p(99), 0)} ms")
            if fail.achieved_rps < 0.95 * fail.target_rps:
                reasons.append(f"achieved {fmt(fail.achieved_rps, 0)}")
            why = f"{fail.target_rps:g}: {', '.join(reasons)}"
        rows.append([label, f"{side.max_rps:g}{'+' if side.max_capped else ''}",
                     fmt(best.p(50)) if best else "-", fmt(best.p(99)) if best else "-",
                     fmt(best.achieved_rps, 1) if best else "-", why])
    print_table(f"Highest sustained rate: no error, p99 < {plan.p99_bound_ms:g} ms, achieved "
                f">= 95 % of the target over a {plan.step_s:g} s step (after "
                f"{plan.warmup_s:g} s warm-up); ramp x{STEP_UP}, then bisection to "
                f"{(PRECISION - 1) * 100:.0f} %",
                ["side", "max rps", "p50 there", "p99 there", "achieved", "first failing rate"],
                rows)


# ----------------------------------------------------------------------- main


def cores() -> tuple[int | None, int | None]:
    """(core of the generator and upstream, core of the system under test), or None, None
    when fewer than two cores are available."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(available) < 2:
        return None, None
    return available[0], available[1]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="50,200,500", help="fixed rates, comma-separated")
    parser.add_argument("--duration", type=float, default=10.0, help="counted seconds a rate")
    parser.add_argument("--warmup", type=float, default=2.0, help="uncounted seconds first")
    parser.add_argument("--step-s", type=float, default=6.0,
                        help="counted seconds of each max-rate step")
    parser.add_argument("--p99-bound-ms", type=float, default=100.0,
                        help="a sustained rate keeps p99 under this")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds a request")
    parser.add_argument("--connections", type=int, default=128, help="client pool at most")
    parser.add_argument("--ceiling", type=float, default=4000.0,
                        help="highest rate the max-rate search tries")
    parser.add_argument("--skip-litellm", action="store_true")
    parser.add_argument("--skip-ragline", action="store_true")
    parser.add_argument("--skip-max", action="store_true", help="no max-rate search")
    parser.add_argument("--litellm-spec", default=LITELLM_SPEC,
                        help="what pip installs into the LiteLLM venv")
    parser.add_argument("--quick", action="store_true",
                        help="3 s rates, 3 s steps, 1 s warm-up: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.step_s, args.warmup = 3.0, 3.0, 1.0
    if not [r for r in args.rates.split(",") if r.strip()]:
        parser.error("--rates needs at least one rate")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan(rates=[float(r) for r in args.rates.split(",") if r.strip()],
                duration_s=args.duration, warmup_s=args.warmup, step_s=args.step_s,
                p99_bound_ms=args.p99_bound_ms, timeout_s=args.timeout,
                connections=args.connections, ceiling=args.ceiling)
    gen_core, sut_core = cores()
    pin_to_core(gen_core)
    print_header("gateway benchmark")
    layout = (f"upstream + load generator on core {gen_core}, system under test alone on "
              f"core {sut_core}" if gen_core is not None else
              "fewer than 2 cores available: nothing pinned")
    print(f"{layout}; load average {load_average()}")
    print(f"open loop, latency from the scheduled send time; {plan.duration_s:g} s counted "
          f"after {plan.warmup_s:g} s warm-up per rate; request timeout {plan.timeout_s:g} s; "
          f"client pool up to {plan.connections} keep-alive connections")
    pending: dict[str, str] = {}
    litellm = ragline = None
    services: list[Service] = []
    with tempfile.TemporaryDirectory(prefix="ragline-gateway-bench-") as tmp:
        work = Path(tmp)
        up_port = free_port()
        upstream = Service.start("upstream", [sys.executable, str(BENCH / "gateway_upstream.py"),
                                              "--port", str(up_port)], gen_core,
                                 work / "upstream.log")
        services.append(upstream)
        try:
            if not wait_until(upstream, lambda: http_call(up_port, "GET", "/v1/models")[0]
                              == 200, 30):
                print(f"upstream did not start: {upstream.tail()}")
                return 1
            direct = Side("direct", up_port, "gpt-4o-mini", None,
                          "the load generator calls the instant upstream itself",
                          group=upstream.process.pid)
            print("\n[1/4] direct to the upstream (baseline; also the generator's ceiling)")
            fixed_rates(direct, plan)
            if not args.skip_max:
                max_rate(direct, plan, plan.ceiling)
            sut_ceiling = min(plan.ceiling, direct.max_rps) if not math.isnan(
                direct.max_rps) else plan.ceiling

            print("\n[2/4] LiteLLM proxy")
            got = ("skipped (--skip-litellm)" if args.skip_litellm else
                   start_litellm(up_port, sut_core, work, args.litellm_spec))
            if isinstance(got, str):
                print(f"skipped: LiteLLM {got}")
                pending["LiteLLM"] = "skipped"
            else:
                litellm, service = got
                litellm.group = service.process.pid
                services.append(service)
                fixed_rates(litellm, plan)
                if not args.skip_max:
                    max_rate(litellm, plan, sut_ceiling)
                service.stop()

            print("\n[3/4] ragline gateway")
            hits: LoadResult | None = None
            ledger = "not run"
            hits_rate = 200.0 if 200.0 in plan.rates else plan.rates[len(plan.rates) // 2]
            got = ("skipped (--skip-ragline)" if args.skip_ragline else
                   start_ragline(up_port, sut_core, work))
            if isinstance(got, str):
                print(f"ragline column pending: {got}")
                pending["ragline"] = "pending"
            else:
                ragline, service = got
                ragline.group = service.process.pid
                services.append(service)
                fixed_rates(ragline, plan)
                print(f"  ragline, the same message every time (exact-cache hits) at "
                      f"{hits_rate:g} RPS:")
                hits, hits_cpu = measure(ragline, hits_rate, plan.duration_s, plan,
                                         unique=False)
                if not args.skip_max:
                    max_rate(ragline, plan, sut_ceiling)
                service.stop()
                ledger = ledger_rows(work / "ragline-home" / "ledger.sqlite")
            print("\n[4/4] direct again (the baseline's second pass)")
            for rate in plan.rates:
                direct.again[rate], _ = measure(direct, rate, plan.duration_s, plan)
        finally:
            for service in reversed(services):
                service.stop()

    print(f"\n{direct.note}; LiteLLM: {litellm.note if litellm else pending['LiteLLM']}; "
          f"ragline: {ragline.note if ragline else pending['ragline']}")
    for rate in plan.rates:
        rate_table(rate, direct, litellm, ragline, pending, plan.p99_bound_ms)
    print("(lag p99 = the generator's send lag, actual minus scheduled send time, included "
          "in every latency; +p50 / +p99 = the side's percentile minus direct's at the same "
          "rate, direct's being the lower of its passes before and after the gateways; "
          "cpu ms/req = CPU time of the side's processes (for direct: the upstream's) "
          "over the run, warm-up included, per request sent; LiteLLM / ragline = ratio of "
          "the overheads and of the CPU; note: 'not sustained' = fails the max-rate rule "
          "below)")
    if hits is not None:
        plus50 = hits.p(50) - baseline(direct, hits_rate, 50)
        plus99 = hits.p(99) - baseline(direct, hits_rate, 99)
        print(f"\nragline at {hits_rate:g} RPS, exact-cache hits (one message repeated): p50 "
              f"{fmt(hits.p(50))} p95 {fmt(hits.p(95))} p99 {fmt(hits.p(99))} ms, errors "
              f"{hits.errors}, achieved {fmt(hits.achieved_rps, 1)} rps; +p50 {fmt(plus50)} "
              f"+p99 {fmt(plus99)} ms vs direct; ragline cpu {fmt(hits_cpu)} ms a request")
        print(f"ragline's cost ledger after the run (stage, cache: calls): {ledger}")
    if not args.skip_max:
        max_table([direct, litellm, ragline],
                  ["direct (generator + upstream on one core)", "LiteLLM proxy",
                   "ragline gateway"], plan, pending)
        if litellm is not None and ragline is not None and litellm.max_rps > 0:
            print(f"ragline / LiteLLM sustained rate: {ragline.max_rps / litellm.max_rps:.1f}x "
                  f"(target >= {TARGET_MAX_RATIO:g}x)")
        if not math.isnan(direct.max_rps):
            print(f"(the generator and the upstream together sustain {direct.max_rps:g}"
                  f"{'+' if direct.max_capped else ''} rps on one core: a gateway's maximum "
                  f"is searched up to {min(plan.ceiling, direct.max_rps):g})")
    a, b = overhead(ragline, direct, 200.0, 50), overhead(ragline, direct, 200.0, 99)
    print(f"target (gateway issue): overhead p50 <= {TARGET_P50_MS:g} ms and p99 <= "
          f"{TARGET_P99_MS:g} ms at 200 RPS on one core (measured: {fmt(a)} / {fmt(b)}); "
          f"sustained rate >= {TARGET_MAX_RATIO:g}x LiteLLM's")
    print_footer()
    c = overhead(litellm, direct, 50.0, 50)
    d = ragline.max_rps if ragline is not None else math.nan
    e = litellm.max_rps if litellm is not None else math.nan
    print(f"overhead_p50_ms_200rps={fmt(a, 3)} overhead_p99_ms_200rps={fmt(b, 3)} "
          f"litellm_overhead_p50_ms_50rps={fmt(c, 3)} max_rps={fmt(d, 0)} "
          f"litellm_max_rps={fmt(e, 0)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
