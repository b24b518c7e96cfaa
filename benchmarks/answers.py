"""Answers of the bundled local model: right, cited, declined when unanswerable, fast.

SQuAD-500 (../shared/data/squad2-500: 500 SQuAD 2.0 dev questions, 258 unanswerable)
end to end through ``RAGPipeline``: each of the 411 paragraphs is ingested as a
document, every question is asked of the whole collection. Side by side in one run:

- ragline's default local route (SmolLM2-135M, copy-constrained span answers,
  calibrated abstention, yes/no by the offline judge);
- ragline ``extractive`` (no model: the best sentence);
- a LangChain "stuff" chain (LCEL: the top-k passages stuffed into one prompt, in the
  manner of LangChain's default stuff QA prompt) on the same SmolLM2 model and the same
  retrieved passages, free decoding of up to 96 tokens (timed on a subset: ~8 s each).

Scores follow the official SQuAD 2.0 script: answers normalised (lower case, no
punctuation or articles), an unanswerable question scores 1 only for an empty answer,
so a declined answer counts as empty. The paragraphs are split in two halves by a
hash of their text; the abstention weights and threshold were fitted on the ``tune``
half (``--calibrate`` prints them), and the headline figures are the ``held-out``
half's. Citation precision is the offline judge's (``Answer.support``) over answers
that cite. A yes/no table measures ``ragline.verify.yesno`` through the pipeline on
the HaluEval yes/no questions (``_yesno.py`` says how the set is built).

    python benchmarks/answers.py               # the table and the last line
    python benchmarks/answers.py --calibrate   # refit the abstention weights
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _common import data_root, print_footer, print_header, print_table

from ragline.app.pipeline import RAGPipeline
from ragline.config import Settings, load_settings
from ragline.evals.metrics.answer import exact_match, token_f1
from ragline.types import Answer
from ragline.verify.abstention import ABSTAINED
from ragline.verify.claims import strip_markers

SQUAD = data_root() / "squad2-500"
STUFF_QUESTIONS = 40  # the stuff chain decodes ~8 s a question: a held-out subset
STUFF_PROMPT = ("Use the following pieces of context to answer the question at the end. "
                "If you don't know the answer, just say that you don't know, don't try to "
                "make up an answer.\n\n{context}\n\nQuestion: {question}\nHelpful Answer:")


@dataclass(frozen=True, slots=True)
class Case:
    """One SQuAD question: gold answers (empty when unanswerable) and its half."""

    id: str
    question: str
    context: str
    answers: tuple[str, ...]
    half: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one side answered to one case."""

    case: Case
    text: str
    declined: bool
    kept: bool
    citation_precision: float | None
    seconds: float


def load_cases() -> list[Case] | None:
    """The SQuAD-500 cases, or None (with a message) when the data is absent."""
    if not (SQUAD / "queries.json").exists():
        print(f"skipped: {SQUAD} not found (see ../shared/data/README.md)")
        return None
    queries = json.loads((SQUAD / "queries.json").read_text())["queries"]
    gold = json.loads((SQUAD / "ground_truth.json").read_text())
    return [Case(q["id"], q["question"], q["context"],
                 tuple(a for a in gold[q["id"]]["answers"] if a)
                 if not gold[q["id"]]["is_impossible"] else (),
                 "tune" if int(hashlib.sha1(q["context"].encode()).hexdigest(), 16) % 2
                 else "held-out")
            for q in queries]


def ingest(cases: Sequence[Case], home: Path) -> Settings:
    """Write each paragraph as a document and ingest them; the settings of that home."""
    docs = home / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for context in {c.context for c in cases}:
        name = hashlib.sha1(context.encode()).hexdigest()[:12]
        (docs / f"{name}.txt").write_text(context, encoding="utf-8")
    settings = load_settings(home=str(home), rerank={"model": None})
    with RAGPipeline.from_settings(settings, collection="squad") as pipeline:
        pipeline.ingest([docs])
    return settings


def score(outcome: Outcome) -> tuple[float, float]:
    """Official SQuAD 2.0 EM and F1 of one outcome (a declined answer is empty)."""
    text = "" if outcome.declined else strip_markers(outcome.text)
    references = list(outcome.case.answers) or [""]
    return exact_match(text, references), token_f1(text, references)


def run_pipeline(settings: Settings, cases: Sequence[Case], label: str) -> list[Outcome]:
    """Ask every case through a pipeline built from ``settings``."""
    outcomes = []
    with RAGPipeline.from_settings(settings, collection="squad", notices=False) as pipeline:
        warm_up = getattr(pipeline.model, "warm_up", None)
        if warm_up is not None:
            warm_up()
        pipeline.answer("warm-up question about the collection")
        started_all = time.perf_counter()
        for number, case in enumerate(cases, start=1):
            started = time.perf_counter()
            answer = pipeline.answer(case.question)
            outcomes.append(_outcome(case, answer, time.perf_counter() - started))
            if number % 100 == 0:
                print(f"    {label}: {number}/{len(cases)} "
                      f"({time.perf_counter() - started_all:.0f} s)", flush=True)
    return outcomes


def _outcome(case: Case, answer: Answer, seconds: float) -> Outcome:
    declined = answer.route.startswith(ABSTAINED)
    support = answer.support
    precision = (support.citation_precision if support is not None and answer.citations
                 else None)
    return Outcome(case, answer.text, declined, kept="fallback" not in answer.route,
                   citation_precision=precision, seconds=seconds)


def run_stuff_chain(settings: Settings, cases: Sequence[Case]) -> list[Outcome]:
    """The LangChain stuff chain over the same retrieval and the same SmolLM2."""
    from langchain_core.language_models.chat_models import SimpleChatModel
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    from ragline.models.local import LocalChatModel
    from ragline.types import ChatRequest, Message

    local = LocalChatModel(answer_style="free")
    local.warm_up()

    class SmolLM2(SimpleChatModel):
        """SmolLM2-135M-Instruct as a LangChain chat model (free decoding, 96 tokens)."""

        @property
        def _llm_type(self) -> str:
            return "smollm2-135m"

        def _call(self, messages: Any, stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> str:
            request = ChatRequest(messages=tuple(Message("user", str(m.content))
                                                 for m in messages), max_tokens=96)
            return local.generate(request).text

    chain = ChatPromptTemplate.from_template(STUFF_PROMPT) | SmolLM2() | StrOutputParser()
    outcomes = []
    with RAGPipeline.from_settings(settings, collection="squad", rerank=False,
                                   notices=False) as pipeline:
        for case in cases:
            started = time.perf_counter()
            hits = pipeline.retrieve(case.question)
            text = chain.invoke({"context": "\n\n".join(h.chunk.text for h in hits),
                                 "question": case.question})
            declined = "know" in text.lower() and "don" in text.lower()
            outcomes.append(Outcome(case, text, declined, kept=True, citation_precision=None,
                                    seconds=time.perf_counter() - started))
    return outcomes


def summary(outcomes: Sequence[Outcome]) -> dict[str, float]:
    """The figures of one side on some cases."""
    scores = [score(o) for o in outcomes]
    answerable = [o for o in outcomes if o.case.answers]
    unanswerable = [o for o in outcomes if not o.case.answers]
    answered = [o for o in outcomes if not o.declined]
    precisions = [o.citation_precision for o in answered if o.citation_precision is not None]
    seconds = sorted(o.seconds for o in outcomes)
    return {
        "n": len(outcomes),
        "em": statistics.mean(s[0] for s in scores),
        "f1": statistics.mean(s[1] for s in scores),
        "has_ans_f1": statistics.mean(score(o)[1] for o in answerable) if answerable else 0,
        "citation_precision": statistics.mean(precisions) if precisions else float("nan"),
        "generator_kept": (sum(o.kept for o in answered) / len(answered)) if answered else 0,
        "abstain_unanswerable": (sum(o.declined for o in unanswerable) / len(unanswerable)
                                 if unanswerable else 0),
        "false_abstain": (sum(o.declined for o in answerable) / len(answerable)
                          if answerable else 0),
        "p50_s": statistics.median(seconds),
        "p95_s": seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))],
    }


def print_sides(title: str, sides: dict[str, dict[str, float]]) -> None:
    """One row per side."""
    header = ["side", "n", "EM", "F1", "HasAns F1", "cite prec", "generator kept",
              "abstain unans", "false abstain", "p50 s", "p95 s"]
    rows = [[name, str(int(s["n"])), f"{s['em']:.3f}", f"{s['f1']:.3f}",
             f"{s['has_ans_f1']:.3f}", f"{s['citation_precision']:.3f}",
             f"{s['generator_kept']:.3f}", f"{s['abstain_unanswerable']:.3f}",
             f"{s['false_abstain']:.3f}", f"{s['p50_s']:.2f}", f"{s['p95_s']:.2f}"]
            for name, s in sides.items()]
    print_table(title, header, rows)


def halves(outcomes: Sequence[Outcome], half: str) -> list[Outcome]:
    """The outcomes of one half of the paragraphs."""
    return [o for o in outcomes if o.case.half == half]


def main() -> None:
    """Run every side, print the tables and the last line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibrate", action="store_true",
                        help="fit the abstention weights on the tune half and print them")
    parser.add_argument("--limit", type=int, default=None, help="first N questions only")
    args = parser.parse_args()
    cases = load_cases()
    if cases is None:
        return
    cases = cases[:args.limit]
    print_header("answers: SQuAD-500 through RAGPipeline")
    with tempfile.TemporaryDirectory(prefix="ragline-answers-") as tmp:
        settings = ingest(cases, Path(tmp))
        if args.calibrate:
            from _calibrate_abstention import calibrate

            calibrate(settings, cases)
            return
        compare(settings, cases)


def compare(settings: Settings, cases: Sequence[Case]) -> None:
    """The side-by-side run."""
    local = run_pipeline(settings, cases, "ragline local")
    extractive = run_pipeline(
        settings.model_copy(update={"generation": settings.generation.model_copy(
            update={"provider": "extractive"})}), cases, "ragline extractive")
    held = halves(local, "held-out")
    stuff_cases = ([o.case for o in held if o.case.answers][:STUFF_QUESTIONS // 2]
                   + [o.case for o in held if not o.case.answers][:STUFF_QUESTIONS // 2])
    stuff = run_stuff_chain(settings, stuff_cases)
    subset = {c.id for c in stuff_cases}
    for half in ("held-out", "tune"):
        print_sides(f"SQuAD-500, {half} half (abstention fitted on the tune half)", {
            "ragline local (default)": summary(halves(local, half)),
            "ragline extractive": summary(halves(extractive, half))})
    print_sides(f"The same {len(stuff)} held-out questions on every side", {
        "ragline local (default)": summary([o for o in local if o.case.id in subset]),
        "ragline extractive": summary([o for o in extractive if o.case.id in subset]),
        "LangChain stuff chain, SmolLM2": summary(stuff)})
    _print_yes_no(settings)
    s, stuffed = summary(held), summary(stuff)
    print_footer()
    print(f"\nspeed-up of the local route over the stuff chain at p50: "
          f"{stuffed['p50_s'] / s['p50_s']:.1f}x")
    print(f"squad em={s['em']:.3f} f1={s['f1']:.3f} "
          f"citation_precision={s['citation_precision']:.3f} "
          f"generator_kept={s['generator_kept']:.3f} "
          f"abstain_unanswerable={s['abstain_unanswerable']:.3f} "
          f"false_abstain={s['false_abstain']:.3f} p50_s={s['p50_s']:.2f} "
          f"stuff_chain_f1={stuffed['f1']:.3f}")


def _print_yes_no(settings: Settings) -> None:
    """The HaluEval yes/no questions through the pipeline (see ``_yesno.py``)."""
    from _yesno_pipeline import measure_through_pipeline

    measure_through_pipeline(settings)


if __name__ == "__main__":
    sys.exit(main())
