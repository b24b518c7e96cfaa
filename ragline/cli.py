"""The ``ragline`` command line: ingest, ask, search, delete, costs, eval, demo, index.

A thin layer over :class:`~ragline.app.pipeline.RAGPipeline`. User errors (any
:class:`~ragline.errors.RagLineError`) print one message and exit with status 2.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

import typer
from rich import box
from rich.table import Table

from ragline.app.pipeline import RAGPipeline
from ragline.cli_common import ConfigOption, err, out, progress_bar, settings_from, user_errors
from ragline.cli_eval import eval_app
from ragline.cli_index import index_app
from ragline.cli_route import route_app
from ragline.cost.ledger import Ledger
from ragline.cost.prices import PriceCatalogue
from ragline.cost.report import (
    GroupBy,
    ReportRow,
    RoutingSaving,
    cost_report,
    plot_cost_per_day,
    routing_saving,
)
from ragline.errors import InvalidInput
from ragline.rag.ingest import IngestReport
from ragline.types import Answer, QueryCost, ScoredChunk

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ragline: cited answers over your documents, offline by default.")

P = ParamSpec("P")
R = TypeVar("R")
Mode = Literal["dense", "bm25", "hybrid"]
ChunkerKind = Literal["recursive", "markdown", "semantic"]

CollectionOption = Annotated[str | None, typer.Option("--collection", "-c",
                                                      help="Collection name (default: config).")]
KOption = Annotated[int | None, typer.Option("--k", help="How many chunks to retrieve.")]
ModeOption = Annotated[Mode | None, typer.Option("--mode", help="dense, bm25 or hybrid.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

DEMO_QUESTIONS = (
    "How does ragline combine keyword and semantic search?",
    "Where does ragline keep its index data?",
    "What happens when the local model's answer is not supported by the sources?",
)


def _shown_path(source: str) -> str:
    try:
        return str(Path(source).relative_to(Path.cwd()))
    except ValueError:
        return source


def _source_line(number: int, item: ScoredChunk) -> str:
    meta = item.chunk.metadata
    heading = " > ".join(meta.get("heading_path") or [])
    place = f"{_shown_path(str(meta.get('source', item.chunk.doc_id)))}"
    if meta.get("page"):
        place += f" p.{meta['page']}"
    if heading:
        place += f" § {heading}"
    return f"[{number}] {place}  (score {item.score:.3f})"


def _source_json(item: ScoredChunk) -> dict[str, Any]:
    return {"chunk_id": item.chunk.id, "doc_id": item.chunk.doc_id,
            "source": item.chunk.metadata.get("source", item.chunk.doc_id),
            "score": round(item.score, 6), "text": item.chunk.text}


def answer_json(answer: Answer) -> dict[str, Any]:
    """The ``--json`` object of ``ragline ask``."""
    return {
        "answer": answer.text,
        "citations": [{"marker": c.marker, "chunk_id": c.chunk_id, "doc_id": c.doc_id,
                       "span": list(c.span)} for c in answer.citations],
        "sources": [{"marker": n, **_source_json(s),
                     "heading_path": s.chunk.metadata.get("heading_path", []),
                     "retrievers": list(s.sources)}
                    for n, s in enumerate(answer.sources, start=1)],
        "route": answer.route,
        "query_id": answer.query_id,
        "cost": dataclasses.asdict(answer.cost),
        "support": None if answer.support is None else {
            **dataclasses.asdict(answer.support), "unsupported": answer.support.unsupported},
        "cache": answer.cache,
        "timings_ms": answer.timings,
    }


def _cost_line(cost: QueryCost) -> str:
    """``cost: $0.000123 (generate $0.00012, embed $0)`` — unknown prices say so."""
    def usd(value: float | None) -> str:
        return "unknown" if value is None else f"${value:.6g}"

    stages = ", ".join(f"{stage} {usd(value)}" for stage, value in cost.by_stage.items())
    unpriced = f"; no price for {', '.join(cost.unpriced)}" if cost.unpriced else ""
    return f"cost: {usd(cost.total_usd)} ({stages}){unpriced}"


def _print_answer(answer: Answer) -> None:
    out.print(answer.text, highlight=False)
    out.print()
    cited = {c.marker for c in answer.citations}
    for number, item in enumerate(answer.sources, start=1):
        style = "bold" if number in cited else "dim"
        out.print(_source_line(number, item), style=style, highlight=False, markup=False)
    timing = ", ".join(f"{stage} {ms:.0f} ms" for stage, ms in answer.timings.items())
    out.print(f"\nroute: {answer.route}\n{_cost_line(answer.cost)}\ntimings: {timing}",
              style="dim", highlight=False)
    if answer.support is not None:
        support = answer.support
        out.print(f"support: faithfulness {support.faithfulness:.2f}, citation recall "
                  f"{support.citation_recall:.2f}, precision {support.citation_precision:.2f} "
                  f"({support.judge} judge, {support.latency_ms:.0f} ms)", style="dim",
                  highlight=False)
        for claim in support.unsupported:
            out.print(f"  unsupported: {claim}", style="yellow", highlight=False, markup=False)


def _print_report(report: IngestReport) -> None:
    table = Table(title="ingest summary", show_header=False, min_width=36)
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, value in (("files", report.files), ("new documents", report.new_documents),
                         ("changed documents", report.changed_documents),
                         ("unchanged documents", report.unchanged_documents),
                         ("removed documents", report.removed_documents),
                         ("chunks added", report.chunks_added),
                         ("chunks removed", report.chunks_removed),
                         ("skipped files", len(report.skipped)),
                         ("seconds", f"{report.seconds:.1f}")):
        table.add_row(label, str(value))
    out.print(table)
    for path, reason in report.skipped:
        err.print(f"[yellow]skipped[/yellow] {_shown_path(path)}: {reason}", highlight=False)


@app.command()
@user_errors
def ingest(paths: Annotated[list[Path], typer.Argument(help="Files or folders to index.")],
           collection: CollectionOption = None, config: ConfigOption = None,
           prune: Annotated[bool, typer.Option(
               help="Remove documents of ingested folders whose files were deleted.")] = True,
           chunker: Annotated[ChunkerKind | None, typer.Option(
               help="recursive, markdown or semantic (default: config chunker.kind).")] = None,
           workers: Annotated[int | None, typer.Option(
               min=1, help="Processes that load and chunk files "
                           "(default: config ingest.workers).")] = None,
           ) -> None:
    """Index .txt, .md, .html and .pdf files (re-running only indexes what changed).

    An interrupted run is resumed by running the same command again.
    """
    with RAGPipeline.from_settings(settings_from(config), collection=collection,
                                   generator=_no_generator(), rerank=False) as pipeline, \
            progress_bar("embedding chunks") as progress:
        report = pipeline.ingest(paths, prune=prune, chunker=chunker, on_progress=progress,
                                 workers=workers)
    _print_report(report)


def _no_generator() -> Any:
    """Ingest and search never generate: skip building (and key-checking) a chat model."""
    from ragline.models.extractive import ExtractiveModel

    return ExtractiveModel()


@app.command()
@user_errors
def ask(question: Annotated[str, typer.Argument(help="The question to answer.")],
        collection: CollectionOption = None, k: KOption = None, mode: ModeOption = None,
        as_json: JsonOption = False, config: ConfigOption = None,
        tenant: Annotated[str | None, typer.Option(
            help="Tenant charged in the cost ledger (default: config cost.tenant).")] = None,
        session: Annotated[str | None, typer.Option(
            help="Session id recorded in the cost ledger.")] = None,
        key_id: Annotated[str | None, typer.Option(
            "--key-id", help="API key id (a label, not the secret) recorded in the ledger "
                             "and checked against its budgets.")] = None) -> None:
    """Answer a question from the index, citing the passages it used, and show its cost."""
    with RAGPipeline.from_settings(settings_from(config), collection=collection) as pipeline:
        answer = pipeline.answer(question, k=k, mode=mode, tenant=tenant, session=session,
                                 api_key=key_id)
    if as_json:
        sys.stdout.write(json.dumps(answer_json(answer), ensure_ascii=False) + "\n")
    else:
        _print_answer(answer)


@app.command()
@user_errors
def search(query: Annotated[str | None, typer.Argument(help="Text to search for.")] = None,
           queries: Annotated[Path | None, typer.Option(
               "--queries", help="One query per line; writes one JSON line each.")] = None,
           collection: CollectionOption = None, k: KOption = None, mode: ModeOption = None,
           as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """Retrieve chunks without generating an answer."""
    if (query is None) == (queries is None):
        raise typer.BadParameter("give either a QUERY or --queries FILE")
    with RAGPipeline.from_settings(settings_from(config), collection=collection,
                                   generator=_no_generator(), rerank=False) as pipeline:
        if queries is not None:
            lines = [line.strip() for line in queries.read_text(encoding="utf-8").splitlines()]
            for line in filter(None, lines):
                results = pipeline.retrieve(line, k=k, mode=mode)
                sys.stdout.write(json.dumps({"query": line, "results": [
                    _source_json(r) for r in results]}, ensure_ascii=False) + "\n")
            return
        assert query is not None
        results = pipeline.retrieve(query, k=k, mode=mode)
    if as_json:
        sys.stdout.write(json.dumps({"query": query, "results": [
            _source_json(r) for r in results]}, ensure_ascii=False) + "\n")
        return
    for number, item in enumerate(results, start=1):
        out.print(_source_line(number, item), style="bold", highlight=False, markup=False)
        out.print("    " + item.chunk.text.replace("\n", " ")[:300], highlight=False, markup=False)


@app.command()
@user_errors
def delete(documents: Annotated[list[str], typer.Argument(help="File paths or document ids.")],
           collection: CollectionOption = None, config: ConfigOption = None) -> None:
    """Remove documents (by path or id) and all their chunks from the index."""
    with RAGPipeline.from_settings(settings_from(config), collection=collection,
                                   generator=_no_generator(), rerank=False) as pipeline:
        ids = [str(Path(d).resolve()) if Path(d).exists() or "/" in d else d for d in documents]
        removed = pipeline.index.delete(ids)
    out.print(f"removed {removed} chunks of {len(ids)} document(s)")


@app.command()
@user_errors
def demo(docs: Annotated[Path | None, typer.Option(
             help="Folder to ingest (default: the project's docs/).")] = None,
         config: ConfigOption = None) -> None:
    """Ingest ragline's own user guide and answer three questions about ragline."""
    folder = docs or Path(__file__).resolve().parent.parent / "docs"
    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} is not a folder; pass --docs PATH")
    settings = settings_from(config)
    with RAGPipeline.from_settings(settings, collection="demo") as pipeline:
        with progress_bar("embedding chunks") as progress:
            report = pipeline.ingest([folder], on_progress=progress)
        _print_report(report)
        with err.status(f"loading the answering model ({pipeline.model.name})"):
            warm_up = getattr(pipeline.model, "warm_up", None)
            if warm_up is not None:
                warm_up()
        for question in DEMO_QUESTIONS:
            out.rule(question, style="cyan")
            _print_answer(pipeline.answer(question))


def parse_since(value: str | None, *, now: datetime | None = None) -> datetime | None:
    """``--since``: an ISO date or time (UTC unless it says), or a span back from now: 24h, 7d."""
    if value is None:
        return None
    now = now or datetime.now(UTC)
    units = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
    number, unit = value[:-1], value[-1:].lower()
    if unit in units and number.isdigit():
        return now - int(number) * units[unit]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"--since {value!r}: give a date (2026-11-01), a time "
                           "(2026-11-01T09:00) or a span back from now (24h, 7d, 2w)") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _usd(value: Decimal | None) -> str:
    """``$0.0001074``, ``$12.5``, ``$0``: six decimals at most, trailing zeros dropped."""
    if value is None:
        return "-"
    text = f"{value:,.6f}".rstrip("0").rstrip(".")
    return f"${text}" if text not in ("", "-0") else "$0"


def _plain_decimal(value: object) -> str:
    """JSON for report money: a plain decimal string, never exponent form (``1.6E-7``)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _cost_table(rows: list[ReportRow], by: str) -> Table:
    """The report as a table; the ``unpriced`` column only when some call had no price."""
    unpriced = any(row.unpriced_calls for row in rows)
    caption = "in / out / cached: tokens; per 1k q: cost per 1,000 queries; saved: by " \
              "provider prompt caching"
    if unpriced:
        caption += "; unpriced: calls of models with no price, left out of cost (not free)"
    table = Table(title=f"cost by {by}", box=box.SIMPLE_HEAD, padding=(0, 0, 0, 1),
                  caption=caption)
    table.add_column(by, no_wrap=True)
    headers = ["calls", "queries", "in", "out", "cached", "cost", "per 1k q", "saved"]
    for column in [*headers, *(["unpriced"] if unpriced else [])]:
        table.add_column(column, justify="right", min_width=len(column))
    for row in rows:
        unknown = row.unpriced_calls == row.calls  # no call of the group had a price
        cells = [row.key, f"{row.calls:,}", f"{row.queries:,}", f"{row.input_tokens:,}",
                 f"{row.output_tokens:,}", f"{row.cache_read_tokens:,}",
                 "unknown" if unknown else _usd(row.cost_usd),
                 "unknown" if unknown else _usd(row.cost_per_1k_queries),
                 _usd(row.savings_usd)]
        table.add_row(*cells, *([f"{row.unpriced_calls:,}"] if unpriced else []))
    return table


@app.command()
@user_errors
def costs(since: Annotated[str | None, typer.Option(
              help="Only calls from then on: 2026-11-01, 2026-11-01T09:00, 24h, 7d.")] = None,
          by: Annotated[GroupBy, typer.Option(help="Group by model, route, tenant, stage "
                                                   "or day.")] = "model",
          plot: Annotated[Path | None, typer.Option(
              help="Also draw the cost per day, stacked by --by (by model for --by day), "
                   "into this PNG file.")] = None,
          as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """Report what model calls cost, from the cost ledger.

    Unpriced calls (models missing from the price catalogue) are counted apart,
    never as free; cache savings are what provider prompt caching saved. When
    queries were routed (routing.tiers), a last line says what they would have
    cost on the strongest (last) tier.
    """
    settings = settings_from(config)
    start = parse_since(since)
    strongest = settings.routing.tiers[-1].model.partition(":")[2]
    with Ledger.from_settings(settings) as ledger:
        rows = cost_report(ledger, since=start, by=by)
        saving = routing_saving(ledger, PriceCatalogue.from_settings(settings.cost),
                                strongest, since=start) if strongest else None
        if plot is not None:
            plot_cost_per_day(ledger, plot, since=start, by="model" if by == "day" else by)
    if as_json:
        sys.stdout.write(json.dumps([
            {**dataclasses.asdict(row), "cost_per_1k_queries": row.cost_per_1k_queries}
            for row in rows], default=_plain_decimal) + "\n")
    elif not rows:
        out.print(f"no model calls recorded{' since ' + str(start) if start else ''}.")
    else:
        out.print(_cost_table(rows, by))
        if saving is not None and saving.queries:
            out.print(_saving_line(saving), highlight=False)
    if plot is not None:
        err.print(f"cost per day drawn in {plot}", highlight=False)


def _saving_line(saving: RoutingSaving) -> str:
    """One line: routed queries, their cost, the strongest tier's, and the saving."""
    share = "" if saving.saving_share is None else f" ({saving.saving_share:.0%})"
    skipped = f"; {saving.unpriced} unpriced left out" if saving.unpriced else ""
    queries = "query" if saving.queries == 1 else "queries"
    return (f"routing: {saving.queries} routed {queries} cost {_usd(saving.actual_usd)}; "
            f"always {saving.strongest} would have cost {_usd(saving.strongest_usd)}: "
            f"saved {_usd(saving.saving_usd)}{share}{skipped}")


app.add_typer(index_app, name="index")
app.add_typer(eval_app, name="eval")
app.add_typer(route_app, name="route")


def main() -> None:
    """Entry point for ``python -m ragline``."""
    app()
