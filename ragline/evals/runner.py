"""Run a suite against any system under test and a judge; resumable, cached, concurrent.

The system under test is an :class:`Answerer` (``RAGPipeline`` is one); the
runner never builds it. For each case it times ``answer(question)``, reads the
cost from ``Answer.cost``, applies every
:data:`~ragline.evals.case_metrics.CaseMetric` while tallying what the judge
spends (:mod:`ragline.evals.spend`), and appends the row to
``<run_dir>/cases.jsonl`` as soon as the case is done.
A rerun with the same ``run_dir`` skips the cases already there with the same
judge, metrics, config and unchanged content (a fingerprint is stored with each
row), so an interrupted run resumes and a changed setup redoes every case.
Judge answers are cached in ``<run_dir>/judge_cache.sqlite`` by a hash of their
input (:class:`CachedJudge`), so re-evaluating costs no judge call. The first
pending case runs alone (so models and indexes the answerer loads lazily are
loaded once), the rest on
``concurrency`` threads; results come back in suite order whatever the
completion order.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Protocol, runtime_checkable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ragline.evals.cache import CachedJudge
from ragline.evals.case_metrics import CaseMetric, Measured
from ragline.evals.results import CaseRow, RunResult
from ragline.evals.spend import judge_spend
from ragline.evals.suites import Suite
from ragline.evals.types import EvalCase
from ragline.types import Answer
from ragline.verify.types import Judge

CHECKPOINT = "cases.jsonl"
JUDGE_CACHE = "judge_cache.sqlite"


@runtime_checkable
class Answerer(Protocol):
    """The system under test: answers one question."""

    def answer(self, question: str) -> Answer:
        """Answer ``question``, with its sources, citations and cost."""
        ...


def _evaluate(case: EvalCase, answerer: Answerer, judge: Judge,
              metrics: Sequence[CaseMetric]) -> CaseRow:
    started = time.perf_counter()
    answer = answerer.answer(case.question)
    answered = time.perf_counter()
    values: dict[str, float] = {}
    details: dict[str, object] = {}
    with judge_spend() as spend:
        for metric in metrics:
            measured: Measured = metric(case, answer, judge)
            values.update(measured.values)
            details.update(measured.details)
    return CaseRow(id=case.id, question=case.question, answer=answer.text,
                   metrics=values, details=details,
                   answer_ms=(answered - started) * 1000,
                   eval_ms=(time.perf_counter() - answered) * 1000,
                   cost_usd=answer.cost.total_usd,
                   sources=[source.chunk.doc_id for source in answer.sources],
                   judge_cost_usd=spend.usd, reference_answer=case.reference_answer,
                   relevant_doc_ids=list(case.relevant_doc_ids))


def _fingerprint(case: EvalCase, setup: str) -> str:
    """What a checkpoint row was computed from: the run's ``setup`` and the case's content."""
    content = json.dumps([setup, case.question, case.reference_answer,
                          list(case.reference_contexts), list(case.relevant_doc_ids),
                          case.metadata], sort_keys=True, default=str)
    return hashlib.sha256(content.encode()).hexdigest()


def _setup(judge: Judge, metrics: Sequence[CaseMetric], config: str | None, extra: str) -> str:
    """The judge's fingerprint, the metrics' names, the config and ``extra``, as one string."""
    names = [getattr(m, "metric_id", getattr(m, "__qualname__", type(m).__name__))
             for m in metrics]
    return json.dumps([getattr(judge, "fingerprint", judge.name), names, config, extra])


def _done(checkpoint: Path, wanted: dict[str, str]) -> dict[str, CaseRow]:
    """Checkpoint rows whose fingerprint is still ``wanted[id]``; a torn line is ignored."""
    if not checkpoint.exists():
        return {}
    done: dict[str, CaseRow] = {}
    for line in checkpoint.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        fingerprint = record.pop("fingerprint", None)
        if fingerprint is not None and wanted.get(record.get("id")) == fingerprint:
            try:
                row = CaseRow.from_json(record)
            except TypeError:  # written by another ragline version: redo the case
                continue
            done[row.id] = row
    return done


def run_suite(suite: Suite, answerer: Answerer, judge: Judge, *,
              metrics: Sequence[CaseMetric], run_dir: Path | str, concurrency: int = 4,
              progress: bool = False, config: str | None = None,
              setup: str = "") -> RunResult:
    """Evaluate every case of ``suite``; see the module docstring.

    ``config`` is recorded in the result (default: the suite's config path).
    A checkpoint row is reused only when the judge's fingerprint, the metrics'
    names, ``config`` and ``setup`` (anything else the rows depend on, such as
    the settings' contents or metric options) are those of this run.
    An exception from the answerer or a metric stops the run after the cases
    in flight; what finished stays in the checkpoint for the next run.
    """
    if concurrency <= 0:
        raise ValueError(f"concurrency must be > 0, but got {concurrency}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / CHECKPOINT
    cached = CachedJudge(judge, run_dir / JUDGE_CACHE)
    recorded = config if config is not None else (
        None if suite.config is None else str(suite.config))
    identity = _setup(judge, metrics, recorded, setup)
    fingerprints = {case.id: _fingerprint(case, identity) for case in suite.cases}
    done = _done(checkpoint, fingerprints)
    pending = [case for case in suite.cases if case.id not in done]
    lock = threading.Lock()
    try:
        with checkpoint.open("a", encoding="utf-8") as out, _ProgressBar(
                progress, len(suite.cases), len(done)) as advance, \
                ThreadPoolExecutor(max_workers=concurrency) as pool:

            def one(case: EvalCase) -> None:
                row = _evaluate(case, answerer, cached, metrics)
                with lock:
                    record = {**row.to_json(), "fingerprint": fingerprints[case.id]}
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    out.flush()
                    done[row.id] = row
                    advance()

            _run_pending(pending, one, pool)
    finally:
        cached.close()
    # the references come from the suite: rows checkpointed by an older version lack them
    rows = [replace(done[case.id], reference_answer=case.reference_answer,
                    relevant_doc_ids=list(case.relevant_doc_ids)) for case in suite.cases]
    return RunResult.of(suite=suite.name, config=recorded, judge=judge.name, rows=rows)


def _run_pending(pending: Sequence[EvalCase], one: Callable[[EvalCase], None],
                 pool: ThreadPoolExecutor) -> None:
    """Run ``one`` on every pending case: the first alone, so what the answerer loads lazily
    loads once, the rest on ``pool``; at the first exception the cases not started are
    cancelled and it is raised."""
    if pending:
        one(pending[0])
    futures = [pool.submit(one, case) for case in pending[1:]]
    finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
    for future in futures:
        future.cancel()
    for future in finished:
        future.result()


class _ProgressBar:
    """A rich progress bar on stderr (or nothing); ``advance()`` counts one case."""

    def __init__(self, enabled: bool, total: int, completed: int) -> None:
        self._progress = Progress(TextColumn("eval"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), console=Console(stderr=True),
                                  transient=True, disable=not enabled)
        self._task = self._progress.add_task("eval", total=total, completed=completed)

    def __enter__(self) -> _ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self) -> None:
        self._progress.advance(self._task)
