"""The ``ragline`` command line: ingest, ask, chat, search, delete, costs, cache, eval,
demo, index, keys.

A thin layer over :class:`~ragline.app.pipeline.RAGPipeline`. User errors (any
:class:`~ragline.errors.RagLineError`) print one message and exit with status 2.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.table import Table

from ragline.app.notices import reranking_fact
from ragline.app.pipeline import RAGPipeline
from ragline.cli_cache import cache_app
from ragline.cli_chat import chat
from ragline.cli_common import (
    ConfigOption,
    cost_line,
    err,
    out,
    progress_bar,
    set_debug,
    settings_from,
    shown_path,
    source_line,
    user_errors,
)
from ragline.cli_costs import costs
from ragline.cli_eval import eval_app
from ragline.cli_index import index_app
from ragline.cli_keys import keys_app
from ragline.cli_route import route_app
from ragline.cli_serve import serve
from ragline.errors import CollectionNotFound, InvalidInput
from ragline.rag.ingest import IngestInterrupted, IngestReport
from ragline.types import Answer, ChunkerKind, ScoredChunk, SearchMode

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ragline: cited answers over your documents, offline by default.")


@app.callback()
def _options(debug: Annotated[bool, typer.Option(
        "--debug", help="Show the traceback of an error, not only its message.")] = False,
             ) -> None:
    set_debug(debug)

P = ParamSpec("P")
R = TypeVar("R")

CollectionOption = Annotated[str | None, typer.Option("--collection", "-c",
                                                      help="Collection name (default: config).")]
KOption = Annotated[int | None, typer.Option("--k", help="How many chunks to retrieve.")]
ModeOption = Annotated[SearchMode | None, typer.Option("--mode", help="dense, bm25 or hybrid.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

DEMO_QUESTIONS = (
    "How does ragline combine keyword and semantic search?",
    "Where does ragline keep its index data?",
    "What happens when the local model's answer is not supported by the sources?",
    "Who runs ragline's office in Lisbon?",
)
"""The demo's questions; the docs cannot answer the last one, which the demo declines."""


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
                     "retrievers": list(s.retrievers)}
                    for n, s in enumerate(answer.sources, start=1)],
        "route": answer.route,
        "query_id": answer.query_id,
        "cost": dataclasses.asdict(answer.cost),
        "support": None if answer.support is None else {
            **dataclasses.asdict(answer.support), "unsupported": answer.support.unsupported},
        "cache": answer.cache,
        "timings_ms": answer.timings,
    }


def _print_answer(answer: Answer) -> None:
    out.print(answer.text, highlight=False)
    out.print()
    cited = {c.marker for c in answer.citations}
    for number, item in enumerate(answer.sources, start=1):
        style = "bold" if number in cited else "dim"
        out.print(source_line(number, item), style=style, highlight=False, markup=False)
    timing = ", ".join(f"{stage} {ms:.0f} ms" for stage, ms in answer.timings.items())
    cache = "" if answer.cache == "off" else f"\ncache: {answer.cache}"
    out.print(f"\nroute: {answer.route}{cache}\n{cost_line(answer.cost)}\ntimings: {timing}",
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
        err.print(f"[yellow]skipped[/yellow] {shown_path(path)}: {reason}", highlight=False)


def _large_file(doc_id: str, written: int, planned: int) -> None:
    """A large file's own progress: one line per tenth of its chunks written."""
    err.print(f"{shown_path(doc_id)}: {written:,} of {planned:,} chunks written",
              highlight=False, markup=False)


@contextmanager
def _interruptible() -> Iterator[None]:
    """On Ctrl-C: say what the ingest completed and how to resume, then exit with status 130."""
    try:
        yield
    except KeyboardInterrupt as exc:
        report = exc.report if isinstance(exc, IngestInterrupted) else None
        if report is None or not report.files:  # before (or after) ingest_paths knew
            err.print("interrupted; run the same command again to ingest (chunks already "
                      "written are not embedded again)", highlight=False)
        else:
            err.print(f"interrupted: {report.complete_documents} of {report.files} documents "
                      f"complete, {report.chunks_added:,} of {report.chunks_planned:,} chunks "
                      "written", highlight=False)
            for doc_id in report.partial:
                err.print(f"  partly written, not searchable until finished: "
                          f"{shown_path(doc_id)}", highlight=False, markup=False)
            err.print("Run the same command again to resume: chunks already written are "
                      "not embedded again.", highlight=False)
        raise typer.Exit(130) from None


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
    with _interruptible(), RAGPipeline.from_settings(
            settings_from(config), collection=collection, generator=_no_generator(),
            rerank=False) as pipeline, progress_bar("embedding chunks") as progress:
        report = pipeline.ingest(paths, prune=prune, chunker=chunker, on_progress=progress,
                                 workers=workers, on_document=_large_file)
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
               "--queries", exists=True, dir_okay=False, readable=True,
               help="One query per line; writes one JSON line each.")] = None,
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
        out.print(source_line(number, item), style="bold", highlight=False, markup=False)
        out.print("    " + item.chunk.text.replace("\n", " ")[:300], highlight=False, markup=False)


@app.command()
@user_errors
def delete(documents: Annotated[list[str], typer.Argument(help="File paths or document ids.")],
           collection: CollectionOption = None, config: ConfigOption = None) -> None:
    """Remove documents (by path or id) and all their chunks from the index.

    Nothing is removed unless every document named is in the collection.
    """
    with RAGPipeline.from_settings(settings_from(config), collection=collection,
                                   generator=_no_generator(), rerank=False) as pipeline:
        index = pipeline.index
        if not index.exists():
            raise CollectionNotFound(index.name, index.where)
        ids = [str(Path(d).resolve()) if Path(d).exists() or "/" in d else d for d in documents]
        unknown = [doc_id for doc_id in ids if not index.chunk_ids(doc_id)]
        if unknown:
            raise InvalidInput(
                f"not in collection {index.name!r}: {', '.join(map(shown_path, unknown))}; "
                "nothing was removed. Name documents by the path they were ingested from or "
                "by the doc_id that `ragline search --json` shows")
        removed = pipeline.delete(ids)
    out.print(f"removed {removed} chunks of {len(ids)} document(s)")


@app.command()
@user_errors
def demo(docs: Annotated[Path | None, typer.Option(
             help="Folder to ingest (default: the project's docs/).")] = None,
         config: ConfigOption = None) -> None:
    """Ingest ragline's own user guide, answer three questions about ragline and decline
    a fourth that the guide cannot answer."""
    folder = docs or Path(__file__).resolve().parent.parent / "docs"
    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} is not a folder; pass --docs PATH")
    settings = settings_from(config)
    with RAGPipeline.from_settings(settings, collection="demo", notices=False) as pipeline:
        with _interruptible(), progress_bar("embedding chunks") as progress:
            report = pipeline.ingest([folder], on_progress=progress, on_document=_large_file)
        _print_report(report)
        out.print(reranking_fact(settings.rerank.model, pipeline.reranker is not None),
                  highlight=False, markup=False)  # a fact of the demo, not a warning
        with err.status(f"loading the answering model ({pipeline.model.name})"):
            warm_up = getattr(pipeline.model, "warm_up", None)
            if warm_up is not None:
                warm_up()
        for question in DEMO_QUESTIONS:
            out.rule(question, style="cyan")
            started = time.perf_counter()
            answer = pipeline.answer(question)
            _print_answer(answer)
            out.print(f"answered in {time.perf_counter() - started:.2f} s, of which "
                      f"generation {answer.timings.get('generate', 0.0) / 1000:.2f} s",
                      style="dim", highlight=False)


app.command("costs")(costs)
app.command("serve")(serve)
app.command("chat")(chat)
app.add_typer(index_app, name="index")
app.add_typer(eval_app, name="eval")
app.add_typer(route_app, name="route")
app.add_typer(cache_app, name="cache")
app.add_typer(keys_app, name="keys")


def main() -> None:
    """Entry point for ``python -m ragline``."""
    app()
