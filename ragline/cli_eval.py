"""``ragline eval``: run an eval suite against the RAG pipeline, gate it, compare runs.

Mounted in :mod:`ragline.cli` as the ``eval`` sub-app; also runnable alone as
``python -m ragline.cli_eval``. It is the one place that wires
:class:`~ragline.app.pipeline.RAGPipeline` into the eval runner. Exit status:
0 on success, 1 when a ``--fail-under`` or ``--baseline`` gate fails, 2 on a
user error (any :class:`~ragline.errors.RagLineError`, through
:func:`~ragline.cli_common.user_errors`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ragline.app.pipeline import RAGPipeline
from ragline.cli_common import err, out, settings_from, user_errors
from ragline.cost.metered import CostMeter
from ragline.errors import InvalidInput
from ragline.evals.case_metrics import standard_metrics
from ragline.evals.compare import compare
from ragline.evals.gates import GateReport, check_gates, parse_thresholds
from ragline.evals.llm_judge import LLMJudge
from ragline.evals.report import write_html
from ragline.evals.results import RunResult
from ragline.evals.runner import run_suite
from ragline.evals.suites import load_suite
from ragline.models.embedder import embedder_from_settings
from ragline.verify.types import Judge

eval_app = typer.Typer(no_args_is_help=True, add_completion=False,
                       help="Evaluate answers and retrieval on a suite of questions.")


def _judge(spec: str, *, meter: CostMeter) -> Judge:
    """``offline`` or ``provider:model``; either's calls recorded under stage ``judge``."""
    if spec == "offline":
        from ragline.models.embedder import BUNDLED_MINILM
        from ragline.verify.offline_judge import OfflineJudge, default_judge_embedder

        return OfflineJudge(meter.embedder(default_judge_embedder(), model=BUNDLED_MINILM,
                                           stage="judge"))
    provider, sep, model = spec.partition(":")
    if not sep or not model:
        raise InvalidInput(f"--judge {spec!r}: give offline or provider:model, "
                           "e.g. openai:gpt-4o-mini")
    from ragline.models.chat import create_chat_model

    return LLMJudge(meter.chat(create_chat_model(provider, model=model), stage="judge"))


def _usd(amount: float | None) -> str:
    return "unknown (unpriced model)" if amount is None else f"${amount:.6f}"


def _means_table(run: RunResult) -> Table:
    table = Table(title=f"eval {run.suite} (judge {run.judge})")
    table.add_column("metric")
    table.add_column("mean", justify="right")
    for name, mean in run.means.items():
        table.add_row(name, f"{mean:.3f}")
    return table


def _print_run(result: RunResult, gate: GateReport, target: Path, html: Path | None) -> None:
    """The means, the cost and where the run went on stdout; each failed gate on stderr."""
    out.print(_means_table(result))
    out.print(f"cost: answering {_usd(result.total_cost_usd)}, "
              f"judge {_usd(result.total_judge_cost_usd)}", highlight=False)
    out.print(f"run saved in {target}" + (f", report in {html}" if html else ""),
              highlight=False)
    for failure in gate.failures:
        err.print(f"[red]gate failed:[/red] {failure}", highlight=False)


@eval_app.command("run")
@user_errors
def run(suite: Annotated[Path, typer.Argument(help="Suite file (.yaml or .jsonl).")],
        judge: Annotated[str, typer.Option(
            help="offline, or provider:model for an LLM judge.")] = "offline",
        out_path: Annotated[Path | None, typer.Option(
            "--out", help="Run JSON (default runs/<suite>.json); its checkpoint and judge "
                          "cache go in the folder of the same name.")] = None,
        html: Annotated[Path | None, typer.Option(help="Also write an HTML report.")] = None,
        baseline: Annotated[Path | None, typer.Option(
            help="Fail when a metric regressed against this earlier run.")] = None,
        fail_under: Annotated[str | None, typer.Option(
            help="Minimum means, e.g. faithfulness=0.9,citation_recall=0.8.")] = None,
        config: Annotated[Path | None, typer.Option(
            "--config", help="Pipeline config (default: the suite's config).")] = None,
        collection: Annotated[str | None, typer.Option(
            "--collection", "-c", help="Collection to answer from.")] = None,
        concurrency: Annotated[int, typer.Option(
            min=1, help="Cases answered at once (threads).")] = 1,
        k: Annotated[int, typer.Option(min=1, help="Cut-off of the retrieval metrics.")] = 5,
        ) -> None:
    """Answer every case of SUITE with the pipeline, score it, and save the run.

    A rerun with the same --out resumes and reuses the judge's cached answers.
    """
    thresholds = parse_thresholds(fail_under) if fail_under else {}
    loaded = load_suite(suite)
    config_path = config or loaded.config
    settings = settings_from(config_path)
    target = out_path or Path("runs") / f"{loaded.name}.json"
    embedder = embedder_from_settings(settings.embedder)
    with RAGPipeline.from_settings(settings, collection=collection) as pipeline:
        chosen = _judge(judge, meter=pipeline.meter)
        writer = chosen.generate_questions if isinstance(chosen, LLMJudge) else None
        result = run_suite(
            loaded, pipeline, chosen,
            metrics=standard_metrics(embedder=embedder, k=k, question_writer=writer),
            run_dir=target.with_suffix(""), concurrency=concurrency, progress=True,
            config=None if config_path is None else str(config_path),
            setup=json.dumps([settings.model_dump(mode="json"), collection],
                             sort_keys=True))
    result.save(target)
    if html is not None:
        write_html(result, html)
    gate = check_gates(result, thresholds,
                       baseline=None if baseline is None else RunResult.load(baseline))
    _print_run(result, gate, target, html)
    if not gate.passed:
        raise typer.Exit(1)


@eval_app.command("compare")
@user_errors
def compare_runs(a: Annotated[Path, typer.Argument(help="Earlier run JSON.")],
                 b: Annotated[Path, typer.Argument(help="Later run JSON.")],
                 seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0) -> None:
    """Per-metric change from run A to run B, with paired bootstrap 95 % intervals."""
    deltas = compare(RunResult.load(a), RunResult.load(b), seed=seed)
    table = Table(title=f"{a.name} -> {b.name}")
    for column in ("metric", "A", "B", "delta", "95% CI", "cases"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for d in deltas:
        table.add_row(d.metric, f"{d.a_mean:.3f}", f"{d.b_mean:.3f}", f"{d.delta:+.3f}",
                      f"[{d.ci_low:+.3f}, {d.ci_high:+.3f}]", str(d.pairs))
    out.print(table)


if __name__ == "__main__":
    eval_app()
