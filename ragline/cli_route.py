"""``ragline route``: train a router on outcome files, calibrate its threshold, score prompts.

Mounted in :mod:`ragline.cli` as the ``route`` sub-app; also runnable alone as
``python -m ragline.cli_route``. Prompts are embedded by the configured embedder
(``embedder.model``, the bundled MiniLM by default); a saved router records that
model's name and refuses to run with another. Exit status: 0 on success, 2 on a
user error (any :class:`~ragline.errors.RagLineError`: a bad file or line, a router
trained with another embedder), which prints one red line on stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt
import typer
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ragline.cli_common import err, out, settings_from, user_errors
from ragline.config import Settings
from ragline.cost.prices import PriceCatalogue
from ragline.errors import InvalidInput
from ragline.models.embedder import SentenceTransformerEmbedder, embedder_from_settings
from ragline.models.tokens import count_tokens
from ragline.protocols import Vectors
from ragline.routing.calibrate import (
    apgr,
    threshold_for_budget,
    threshold_for_min_pgr,
    threshold_for_strong_fraction,
)
from ragline.routing.learned import TrainedRouter, train_router
from ragline.routing.outcomes import (
    Outcomes,
    jsonl_rows,
    load_contaminated_prompts,
    load_outcomes,
)
from ragline.types import ChatRequest, Message, RouteSignals

route_app = typer.Typer(no_args_is_help=True, add_completion=False,
                        help="Train, calibrate and apply routers that decide which prompts "
                             "need the strong model.")

P = ParamSpec("P")
R = TypeVar("R")
Floats = npt.NDArray[np.float64]
RouterKind = Literal["knn", "logreg", "lgbm", "mf", "rag"]

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", help="YAML merged over the defaults (its embedder embeds the prompts, its "
                     "cost.prices_file prices the models).")]
RouterOption = Annotated[Path, typer.Option("--router", help="A router saved by "
                                                              "`ragline route train`.")]

ExcludeOption = Annotated[list[Path] | None, typer.Option(
    help="JSON lines of prompts to drop (eval_prompt or prompt), e.g. RouteLLM's "
         "contaminated_prompts.jsonl; repeatable.")]


def _embed(embedder: SentenceTransformerEmbedder, texts: Sequence[str]) -> Vectors:
    """Embed ``texts`` in the embedder's batches, with a progress bar on stderr."""
    batch = embedder.batch_size
    parts: list[Vectors] = []
    with Progress(TextColumn("embedding prompts"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True) as progress:
        task = progress.add_task("embed", total=len(texts))
        for start in range(0, len(texts), batch):
            parts.append(embedder.embed_documents(list(texts[start:start + batch])))
            progress.update(task, completed=min(start + batch, len(texts)))
    return np.vstack(parts) if parts else embedder.embed_documents([])


def _load_router(path: Path, settings: Settings) -> tuple[TrainedRouter,
                                                           SentenceTransformerEmbedder]:
    embedder = embedder_from_settings(settings.embedder)
    router = TrainedRouter.load(path, embedder=embedder, embedder_name=settings.embedder.model)
    return router, embedder


def _outcomes(paths: list[Path], exclude: list[Path] | None) -> Outcomes:
    """The outcome files' rows, less the prompts the ``exclude`` files list."""
    dropped: frozenset[str] = frozenset().union(
        *(load_contaminated_prompts(path) for path in exclude or ()))
    return load_outcomes(paths, exclude_prompts=dropped)


def _qualities(outcomes: Outcomes, router: TrainedRouter, source: str) -> tuple[Floats, Floats]:
    """The weak and strong model's qualities in ``outcomes``; both must be there."""
    missing = [m for m in (router.weak, router.strong) if m not in outcomes.quality]
    if missing:
        raise InvalidInput(f"{source}: no column for {', '.join(map(repr, missing))}, which the "
                           f"router routes between (columns: {', '.join(outcomes.models)})")
    return outcomes.quality[router.weak], outcomes.quality[router.strong]


def _pgr(routed: npt.NDArray[np.bool_], weak: Floats, strong: Floats) -> float | None:
    """PGR of sending the prompts where ``routed`` is true to strong; None without a gap."""
    gap = float(strong.mean() - weak.mean())
    if gap == 0.0:
        return None
    return float((np.where(routed, strong, weak).mean() - weak.mean()) / gap)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a (the two models' mean qualities are equal)" if value is None \
        else f"{value:.{digits}f}"


def _summary(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, box=box.SIMPLE_HEAD, min_width=40)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    for label, value in rows:
        table.add_row(label, value)
    return table


@route_app.command("train")
@user_errors
def train(files: Annotated[list[Path], typer.Argument(
              help="Outcome files (CSV or JSONL): a prompt column and one correctness or "
                   "quality column per model.")],
          weak: Annotated[str, typer.Option(help="The weak (cheap) model's column.")],
          strong: Annotated[str, typer.Option(help="The strong (expensive) model's column.")],
          router: Annotated[RouterKind, typer.Option(
              "--router", help="knn, logreg, lgbm, mf or rag.")],
          out_path: Annotated[Path, typer.Option(
              "--out", help="Where to save the router.")] = Path("router.joblib"),
          exclude: ExcludeOption = None,
          seed: Annotated[int, typer.Option(help="Seed of folds and initialisations.")] = 0,
          config: ConfigOption = None) -> None:
    """Fit a router on per-prompt outcomes of a weak and a strong model, and save it.

    Its default threshold sends half the training prompts to the strong
    model; set another with `ragline route calibrate`.
    """
    settings = settings_from(config)
    outcomes = _outcomes(files, exclude)
    embedder = embedder_from_settings(settings.embedder)
    vectors = _embed(embedder, outcomes.prompts)
    with err.status(f"training the {router} router on {len(outcomes)} prompts"):
        trained = train_router(outcomes, weak=weak, strong=strong, kind=router,
                               embedder=embedder, embedder_name=settings.embedder.model,
                               vectors=vectors, seed=seed)
    trained.save(out_path)
    scores = trained.strong_scores(outcomes.prompts, vectors)
    weak_q, strong_q = outcomes.quality[weak], outcomes.quality[strong]
    in_sample = None if weak_q.mean() == strong_q.mean() else apgr(scores, weak_q, strong_q)
    out.print(_summary("trained router", [
        ("file", str(out_path)),
        ("kind", trained.kind),
        ("weak / strong", f"{weak} / {strong}"),
        ("rows", f"{len(outcomes):,}"),
        ("quality weak / strong", f"{weak_q.mean():.3f} / {strong_q.mean():.3f}"),
        ("data hash", trained.data_hash),
        ("embedder", trained.embedder_name),
        ("threshold", f"{trained.threshold:.4f} (sends "
                      f"{np.mean(scores >= trained.threshold):.0%} of these prompts to strong)"),
        ("APGR (in-sample)", _fmt(in_sample)),
    ]))


def _per_prompt_cost(outcomes: Outcomes, model: str, price: float | None,
                     catalogue: PriceCatalogue, output_tokens: int, option: str) -> Floats:
    """USD per prompt on ``model``: the prompt's tokens in, the model's response (or
    ``output_tokens`` without one) out, at ``price`` per million tokens when given, else at
    the catalogue's input and output rates."""
    responses = outcomes.responses.get(model)
    tokens_in = np.array([count_tokens(p, model) for p in outcomes.prompts], dtype=np.float64)
    tokens_out = np.full(len(outcomes), float(output_tokens)) if responses is None else \
        np.array([count_tokens(r, model) for r in responses], dtype=np.float64)
    if price is not None:
        return (tokens_in + tokens_out) * price / 1e6
    listed = catalogue.lookup(model)
    if listed is None:
        raise InvalidInput(f"no price for {model!r} in the price catalogue; give {option} "
                           "(USD per million tokens) or add it to cost.prices_file")
    return (tokens_in * float(listed.input) + tokens_out * float(listed.output)) / 1e6


def _tier_costs(outcomes: Outcomes, router: TrainedRouter, catalogue: PriceCatalogue,
                prices: tuple[float | None, float | None],
                output_tokens: int) -> tuple[Floats, Floats]:
    """USD per prompt on the router's weak and strong models (``prices``: --weak-price and
    --strong-price, None for the catalogue's rates)."""
    return (_per_prompt_cost(outcomes, router.weak, prices[0], catalogue, output_tokens,
                             "--weak-price"),
            _per_prompt_cost(outcomes, router.strong, prices[1], catalogue, output_tokens,
                             "--strong-price"))


def _require_one_goal(strong_fraction: float | None, min_pgr: float | None,
                      budget_usd: float | None) -> None:
    """Calibration takes exactly one goal: --strong-fraction, --min-pgr or --budget-usd."""
    chosen = [name for name, value in (("--strong-fraction", strong_fraction),
                                       ("--min-pgr", min_pgr), ("--budget-usd", budget_usd))
              if value is not None]
    if len(chosen) != 1:
        raise InvalidInput("give exactly one of --strong-fraction, --min-pgr and --budget-usd"
                           + (f" (got {', '.join(chosen)})" if chosen else ""))


def _print_calibration(target: Path, router: TrainedRouter, outcomes: Outcomes,
                       threshold: float, routed: npt.NDArray[np.bool_],
                       qualities: tuple[Floats, Floats],
                       cost: tuple[Floats, Floats] | None) -> None:
    """The summary table of ``route calibrate`` on stdout (with the cost rows for a budget),
    and a note on stderr when the data is the router's training data."""
    rows = [("file", str(target)), ("kind", router.kind), ("rows", f"{len(outcomes):,}"),
            ("threshold", f"{threshold:.4f}"), ("strong fraction", f"{routed.mean():.3f}"),
            ("PGR", _fmt(_pgr(routed, *qualities)))]
    if cost is not None:
        per_request = float(np.where(routed, cost[1], cost[0]).mean())
        rows += [("cost per request", f"${per_request:.6g}"),
                 ("all weak / all strong", f"${cost[0].mean():.6g} / ${cost[1].mean():.6g}")]
    out.print(_summary("calibrated router", rows))
    if outcomes.data_hash() == router.data_hash:
        err.print("note: calibrated on the router's training data; its PGR is in-sample",
                  style="yellow", highlight=False)


@route_app.command("calibrate")
@user_errors
def calibrate(router_path: RouterOption,
              data: Annotated[list[Path], typer.Option(
                  "--data", help="Outcome file(s) to calibrate on; repeatable.")],
              exclude: ExcludeOption = None,
              strong_fraction: Annotated[float | None, typer.Option(
                  min=0.0, max=1.0, help="Send this fraction of the prompts to strong.")] = None,
              min_pgr: Annotated[float | None, typer.Option(
                  max=1.0, help="Fewest strong calls that recover this share of the quality "
                                "gap (PGR).")] = None,
              budget_usd: Annotated[float | None, typer.Option(
                  min=0.0, help="Most strong calls whose mean cost per request fits this "
                                "many USD.")] = None,
              out_path: Annotated[Path | None, typer.Option(
                  "--out", help="Save the calibrated router here (default: in place).")] = None,
              weak_price: Annotated[float | None, typer.Option(
                  help="--budget-usd: the weak model's USD per million tokens (default: the "
                       "price catalogue's input and output rates).")] = None,
              strong_price: Annotated[float | None, typer.Option(
                  help="--budget-usd: the strong model's USD per million tokens (default: "
                       "the price catalogue's).")] = None,
              output_tokens: Annotated[int, typer.Option(
                  min=0, help="--budget-usd: output tokens per call of a model whose "
                              "responses the data lacks.")] = 256,
              config: ConfigOption = None) -> None:
    """Set a router's threshold from outcome data, and save it.

    Give exactly one goal: --strong-fraction, --min-pgr or --budget-usd.
    Calibrate on data the router was not trained on: PGR on its own
    training data is optimistic.
    """
    _require_one_goal(strong_fraction, min_pgr, budget_usd)
    settings = settings_from(config)
    router, embedder = _load_router(router_path, settings)
    outcomes = _outcomes(data, exclude)
    weak_q, strong_q = _qualities(outcomes, router, ", ".join(map(str, data)))
    scores = router.strong_scores(outcomes.prompts, _embed(embedder, outcomes.prompts))
    cost: tuple[Floats, Floats] | None = None
    if strong_fraction is not None:
        threshold = threshold_for_strong_fraction(scores, strong_fraction)
    elif min_pgr is not None:
        threshold = threshold_for_min_pgr(scores, weak_q, strong_q, min_pgr)
    else:
        assert budget_usd is not None
        cost = _tier_costs(outcomes, router, PriceCatalogue.from_settings(settings.cost),
                           (weak_price, strong_price), output_tokens)
        threshold = threshold_for_budget(scores, cost[0], cost[1], budget_usd)
    target = out_path or router_path
    router.with_threshold(threshold).save(target)
    _print_calibration(target, router, outcomes, threshold, scores >= threshold,
                       (weak_q, strong_q), cost)


def _prompt_of(row: dict[str, Any], where: str) -> str:
    """The text a line routes on: ``prompt``, or the last user turn of ``turns`` (strings
    are user turns; messages are ``{role, content}`` and only ``role: user`` counts)."""
    if "prompt" in row:
        prompt = row["prompt"]
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidInput(f"{where}: 'prompt' must be a non-empty string")
        return prompt
    turns = row.get("turns")
    if not isinstance(turns, list) or not turns:
        raise InvalidInput(f"{where}: give 'prompt' (a string) or 'turns' (a non-empty list)")
    users: list[str] = []
    for number, turn in enumerate(turns, start=1):
        if isinstance(turn, str):
            users.append(turn)
        elif isinstance(turn, dict) and isinstance(turn.get("content"), str) \
                and turn.get("role") in ("system", "user", "assistant"):
            if turn["role"] == "user":
                users.append(turn["content"])
        else:
            raise InvalidInput(f"{where}: turn {number} is neither a string nor a "
                               "{role, content} message (role system, user or assistant)")
    if not users or not users[-1].strip():
        raise InvalidInput(f"{where}: 'turns' has no non-empty user turn to route")
    return users[-1]


def _read_prompts(path: Path) -> list[tuple[int, str]]:
    """``(line number, prompt)`` of each non-blank line of a JSON-lines file."""
    try:
        prompts = [(number, _prompt_of(row, f"{path}:{number}"))
                   for number, row in jsonl_rows(path)]
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read prompts ({exc})") from exc
    if not prompts:
        raise InvalidInput(f"{path}: no prompts")
    return prompts


@route_app.command("score")
@user_errors
def score(prompts_file: Annotated[Path, typer.Argument(
              help="JSON lines of {\"prompt\": ...} or {\"turns\": [...]}.")],
          router_path: RouterOption,
          as_json: Annotated[bool, typer.Option(
              "--json", help="One JSON line per input line.")] = False,
          config: ConfigOption = None) -> None:
    """Route each prompt of a JSON-lines file, in order, without calling a model.

    A line is {"prompt": TEXT} or {"turns": [...]}. Of turns (strings, which
    are user turns, or {role, content} messages) the last user turn is
    routed, as the pipeline routes a chat request. Blank lines are skipped;
    any other bad line stops the command before anything is scored.
    """
    prompts = _read_prompts(prompts_file)
    settings = settings_from(config)
    router, embedder = _load_router(router_path, settings)
    vectors = _embed(embedder, [text for _, text in prompts])
    decisions = [
        (number, router.route(
            ChatRequest(messages=(Message(role="user", content=text),)),
            RouteSignals(query=text, query_vector=vector, embedder=router.embedder_name)))
        for (number, text), vector in zip(prompts, vectors, strict=True)]
    if as_json:
        for number, decision in decisions:
            sys.stdout.write(json.dumps(
                {"line": number, "strong_score": round(decision.score, 6),
                 "tier": decision.tier, "model": decision.model, "reason": decision.reason},
                ensure_ascii=False) + "\n")
        return
    table = Table(title=f"{router.kind} router, threshold {router.threshold:.4f}",
                  box=box.SIMPLE_HEAD)
    for column in ("line", "strong_score", "tier", "prompt"):
        table.add_column(column, justify="right" if column != "prompt" else "left",
                         no_wrap=column != "prompt")
    for (number, decision), (_, text) in zip(decisions, prompts, strict=True):
        table.add_row(str(number), f"{decision.score:.3f}", decision.tier,
                      " ".join(text.split())[:80])
    out.print(table)


if __name__ == "__main__":
    route_app()
