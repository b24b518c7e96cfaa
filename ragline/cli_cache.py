"""``ragline cache stats|clear|warm|lookup``: look into and manage the answer cache."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ragline.app.answer_caching import cacheable
from ragline.app.pipeline import RAGPipeline
from ragline.cache.answers import CacheLookup
from ragline.cli_common import ConfigOption, out, progress_bar, settings_from, user_errors
from ragline.config import Settings
from ragline.errors import ConfigError, InvalidInput

cache_app = typer.Typer(no_args_is_help=True, help="Look into and manage the answer cache.")

CollectionOption = Annotated[str | None, typer.Option(
    help="Collection whose answers (default: config collection).")]
TenantOption = Annotated[str | None, typer.Option(
    help="Tenant whose entries (default: config cost.tenant).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _cache_on(settings: Settings) -> Settings:
    """``settings``, or :class:`ConfigError` when the answer cache is off."""
    if settings.cache.mode == "off":
        raise ConfigError("the answer cache is off (cache.mode: off); set cache.mode to exact "
                          "or semantic in your config, or RAGLINE_CACHE__MODE=exact")
    return settings


def read_questions(path: Path) -> list[str]:
    """The questions in ``path``: one per line (blank lines and ``#`` comments skipped), or
    a ``.jsonl`` file of objects with a ``question`` (or ``query``) field."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 text ({exc.reason})") from exc
    lines = [line.strip() for line in text.splitlines()]
    if path.suffix != ".jsonl":
        return [line for line in lines if line and not line.startswith("#")]
    questions = []
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        try:
            row = json.loads(line)
            questions.append(str(row.get("question") or row["query"]))
        except (json.JSONDecodeError, KeyError, AttributeError) as exc:
            raise InvalidInput(f"{path}:{number}: expected a JSON object with a "
                               f"'question' field") from exc
    return questions


def _pipeline(config: Path | None, collection: str | None) -> RAGPipeline:
    return RAGPipeline.from_settings(_cache_on(settings_from(config)), collection=collection,
                                     notices=False)


def _stats_json(pipeline: RAGPipeline, tenant: str | None) -> dict[str, Any]:
    """Entries, this run's counters, and what the ledger says the cache served and saved."""
    from ragline.cost.report import cost_report

    cache = pipeline.answer_cache
    assert cache is not None
    exact, semantic_entries = cache.stats(tenant)
    settings = pipeline.settings
    ledger = pipeline.meter.ledger
    served = {row.key: row for row in cost_report(ledger, by="cache")}
    queries = sum(row.queries for row in cost_report(ledger, by="tenant"))  # disjoint
    hits = {how: served[how].calls if how in served else 0 for how in ("exact", "semantic")}
    saved = sum((served[how].savings_usd for how in hits if how in served), start=0)
    threshold = cache.semantic.threshold if cache.semantic is not None else None
    return {"mode": settings.cache.mode, "backend": settings.cache.backend,
            "tenant": tenant or "all", "exact_entries": exact.entries,
            "semantic_entries": semantic_entries, "semantic_threshold": threshold,
            "ledger": {"queries": queries, "exact_hits": hits["exact"],
                       "semantic_hits": hits["semantic"], "saved_usd": str(saved)}}


@cache_app.command("stats")
@user_errors
def cache_stats(tenant: TenantOption = None, as_json: JsonOption = False,
                config: ConfigOption = None) -> None:
    """Entries in the cache and, from the cost ledger, the answers it served and saved."""
    with _pipeline(config, None) as pipeline:
        stats = _stats_json(pipeline, tenant)
    if as_json:
        sys.stdout.write(json.dumps(stats) + "\n")
        return
    ledger = stats["ledger"]
    share = (ledger["exact_hits"] + ledger["semantic_hits"]) / ledger["queries"] \
        if ledger["queries"] else 0.0
    threshold = stats["semantic_threshold"]
    out.print(f"answer cache: {stats['mode']}, {stats['backend']} store "
              f"(tenant: {stats['tenant']})\n"
              f"entries: {stats['exact_entries']:,} answers, {stats['semantic_entries']:,} "
              f"questions indexed by meaning"
              + (f" (threshold {threshold:.3f})" if threshold is not None else "") + "\n"
              f"served from the ledger: {ledger['exact_hits']:,} exact and "
              f"{ledger['semantic_hits']:,} semantic hits of {ledger['queries']:,} queries "
              f"({share:.0%}), saving ${float(ledger['saved_usd']):.6g}",
              highlight=False, markup=False)


@cache_app.command("clear")
@user_errors
def cache_clear(tenant: TenantOption = None, config: ConfigOption = None) -> None:
    """Remove cached answers: one tenant's, or every tenant's."""
    with _pipeline(config, None) as pipeline:
        assert pipeline.answer_cache is not None
        removed = pipeline.answer_cache.clear(tenant)
    out.print(f"removed {removed:,} cached answers"
              + (f" of tenant {tenant}" if tenant else ""), highlight=False, markup=False)


@cache_app.command("warm")
@user_errors
def cache_warm(questions: Annotated[Path, typer.Argument(
                   exists=True, dir_okay=False, readable=True,
                   help="Questions, one per line (or .jsonl with a 'question' field).")],
               collection: CollectionOption = None, tenant: TenantOption = None,
               config: ConfigOption = None) -> None:
    """Answer each question once so that later askers are served from the cache."""
    asked = read_questions(questions)
    counts = {"miss": 0, "hit": 0, "not kept": 0}
    with _pipeline(config, collection) as pipeline, progress_bar("warming") as progress:
        for done, question in enumerate(asked, start=1):
            answer = pipeline.answer(question, tenant=tenant)
            if answer.cache != "miss":
                counts["hit"] += 1
            elif not cacheable(answer):
                counts["not kept"] += 1
            else:
                counts["miss"] += 1
            progress(done, len(asked))
    out.print(f"{len(asked):,} questions: {counts['miss']:,} answered and cached, "
              f"{counts['hit']:,} already cached, {counts['not kept']:,} not kept (no passages, "
              "a fallback or a budget downgrade)", highlight=False, markup=False)


def _lookup_json(question: str, found: CacheLookup) -> dict[str, Any]:
    """One ``lookup`` line: hit or miss, the matched question, and the rejected candidates."""
    hit = found.hit
    return {"query": question, "hit": None if hit is None else hit.how,
            "question": None if hit is None else hit.question,
            "similarity": None if hit is None else round(hit.similarity, 4),
            "rejected": [{"question": r.entry.question, "similarity": round(r.similarity, 4),
                          "reason": r.reason} for r in found.rejected]}


@cache_app.command("lookup")
@user_errors
def cache_lookup(queries: Annotated[Path, typer.Option(
                     "--queries", exists=True, dir_okay=False, readable=True,
                     help="Questions, one per line (or .jsonl with a 'question' field).")],
                 collection: CollectionOption = None, tenant: TenantOption = None,
                 as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """Say, per question, whether the cache would answer it and why not (nothing is asked)."""
    asked = read_questions(queries)
    with _pipeline(config, collection) as pipeline:
        for question in asked:
            line = _lookup_json(question, pipeline.cache_lookup(question, tenant=tenant))
            if as_json:
                sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
                continue
            verdict = (f"{line['hit']} hit ({line['similarity']:.3f}): {line['question']}"
                       if line["hit"] else "miss")
            out.print(f"{question}\n  {verdict}", highlight=False, markup=False)
            for rejected in line["rejected"]:
                out.print(f"  rejected {rejected['question']!r} ({rejected['similarity']:.3f}): "
                          f"{rejected['reason']}", highlight=False, markup=False)
