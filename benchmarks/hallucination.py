"""Hallucination benchmarks: ragline's OfflineJudge against a lexical baseline.

1. **HaluEval QA** (500 items, 1,000 answers): is the answer hallucinated given the
   item's ``knowledge``? Short answers are judged with the question as context.
   F1 of detecting hallucinations on all 1,000 answers, on items 0-249 (the
   calibration half the thresholds were fitted on) and on items 250-499 (held out),
   beside the lexical baseline (flag any content word of the answer absent from the
   knowledge) and the published ChatGPT figure.
2. **FaithBench dev** (400 summaries, ``Questionable`` left out; ``worst-label``
   ``Unwanted`` = hallucinated): a summary is hallucinated when its faithfulness
   (supported claims over claims, against the source) is below
   ``SUMMARY_FAITHFULNESS``. Balanced accuracy, beside the lexical baseline.
3. **SmolLM2 judge** (``LLMJudge`` over the local SmolLM2-135M) on a subset of both.
4. **Citations on SQuAD-500**: the sentence holding the gold answer, cited ``[1]`` to
   its paragraph (positive) or to another question's paragraph (negative); precision
   and recall of the ALCE citation check in telling them apart.
5. **Judge latency**: the check a pipeline runs on every answer (``check_answer``:
   faithfulness and citations) of one answer (1-3 sentences) against 5 passages,
   p50 / p99 ms, with a fresh judge (cold caches) per answer.

Run from the project root::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/hallucination.py [--llm-items 40]
        [--skip-llm] [--threads N]

The data folder is ``../shared/data`` (or ``$RAGLINE_BENCH_DATA``); a missing data set
prints ``skipped: ... not found``. The last line sums up the headline figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ragline.verify.citations import citation_quality
from ragline.verify.faithfulness import faithfulness
from ragline.verify.guard import check_answer
from ragline.verify.offline_judge import SUMMARY_FAITHFULNESS, OfflineJudge, default_judge_embedder
from ragline.verify.types import Judge, SupportVerdict
from ragline.protocols import Embedder
from ragline.text import STOPWORDS, sentences, words

DATA = Path(os.environ.get("RAGLINE_BENCH_DATA",
                           Path(__file__).resolve().parents[2] / "shared" / "data"))
CHATGPT_HALUEVAL_ACCURACY = 62.59  # HaluEval (Li et al., EMNLP 2023), Table 5, QA
FAITHBENCH_BEST_BACC = "~50%"  # FaithBench (Bao et al., NAACL 2025): GPT-4o and peers
CALIBRATION_ITEMS = 250


def f1(predicted: Sequence[bool], gold: Sequence[bool]) -> float:
    """F1 of the positive class."""
    tp = sum(p and g for p, g in zip(predicted, gold, strict=True))
    wrong = sum(p != g for p, g in zip(predicted, gold, strict=True))
    return 2 * tp / (2 * tp + wrong) if tp or wrong else 0.0


def balanced_accuracy(predicted: Sequence[bool], gold: Sequence[bool]) -> float:
    """Mean of the recall of each class."""
    recalls = []
    for label in (True, False):
        hits = [p == g for p, g in zip(predicted, gold, strict=True) if g == label]
        recalls.append(sum(hits) / len(hits) if hits else 0.0)
    return sum(recalls) / 2


def lexical_flag(answer: str, evidence: str) -> bool:
    """The baseline: any content word of ``answer`` (stopwords dropped) absent from ``evidence``."""
    known = set(words(evidence))
    return any(w not in known for w in words(answer) if w not in STOPWORDS)


def spaced(text: str) -> str:
    """HaluEval glues its knowledge paragraphs ("century.First"): put the space back."""
    return re.sub(r"([.!?])(?=[A-Z])", r"\1 ", text)


def halueval(judge: OfflineJudge | None, llm: Judge | None,
             llm_items: int) -> dict[str, float]:
    """Benchmark 1 (and the HaluEval half of 3)."""
    path = DATA / "halueval-qa" / "qa_one-turn_data.jsonl"
    if not path.exists():
        print(f"skipped: {path} not found")
        return {}
    items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    gold: list[bool] = []
    ours: list[bool] = []
    lexical: list[bool] = []
    llm_pred: list[bool] = []
    llm_gold: list[bool] = []
    for index, item in enumerate(items):
        knowledge = spaced(item["knowledge"])
        for answer, hallucinated in ((item["right_answer"], False),
                                     (item["hallucinated_answer"], True)):
            gold.append(hallucinated)
            lexical.append(lexical_flag(answer, item["knowledge"]))
            if judge is not None:
                ours.append(not judge.support(answer, [knowledge],
                                              context=item["question"]).supported)
            if llm is not None and index * 2 < llm_items:
                llm_gold.append(hallucinated)
                llm_pred.append(not _llm_support(llm, f"{item['question']} {answer}",
                                                 [knowledge]).supported)
    cut = 2 * CALIBRATION_ITEMS
    result = {"lexical_f1": f1(lexical, gold), "lexical_f1_cal": f1(lexical[:cut], gold[:cut]),
              "lexical_f1_held": f1(lexical[cut:], gold[cut:]),
              "lexical_acc": sum(p == g for p, g in zip(lexical, gold, strict=True)) / len(gold)}
    if ours:
        result |= {"offline_f1": f1(ours, gold), "offline_f1_cal": f1(ours[:cut], gold[:cut]),
                   "offline_f1_held": f1(ours[cut:], gold[cut:]),
                   "offline_acc": sum(p == g for p, g in zip(ours, gold, strict=True)) / len(gold)}
    if llm_pred:
        result["llm_f1"] = f1(llm_pred, llm_gold)
        result["llm_n"] = len(llm_pred)
    return result


def faithbench(judge: OfflineJudge | None, llm: Judge | None,
               llm_items: int) -> dict[str, float]:
    """Benchmark 2 (and the FaithBench half of 3)."""
    path = DATA / "faithbench-dev" / "faithbench_dev.csv"
    if not path.exists():
        print(f"skipped: {path} not found")
        return {}
    with path.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["worst-label"] != "Questionable"]
    gold = [r["worst-label"] == "Unwanted" for r in rows]
    ours: list[bool] = []
    lexical: list[bool] = []
    llm_pred: list[bool] = []
    for row in rows:
        if judge is not None:
            ours.append(faithfulness(row["summary"], [row["source"]], judge=judge).score
                        < SUMMARY_FAITHFULNESS)
        lexical.append(lexical_flag(row["summary"], row["source"]))
        if llm is not None and len(llm_pred) < llm_items:
            llm_pred.append(not _llm_support(llm, row["summary"], [row["source"]]).supported)
    result = {"lexical_bacc": balanced_accuracy(lexical, gold), "rows": len(rows)}
    if ours:
        result["offline_bacc"] = balanced_accuracy(ours, gold)
    if llm_pred:
        result["llm_bacc"] = balanced_accuracy(llm_pred, gold[:len(llm_pred)])
        result["llm_n"] = len(llm_pred)
    return result


def _llm_support(judge: Judge, statement: str, evidence: list[str]) -> SupportVerdict:
    """The LLM judge's verdict; a reply it cannot parse twice counts as not supported."""
    from ragline.evals.errors import JudgeOutputInvalid

    try:
        return judge.support(statement, evidence)
    except JudgeOutputInvalid as exc:
        return SupportVerdict(statement, "not_found", 0.0, reason=str(exc))


def squad_cases() -> list[tuple[str, str, str, list[str]]]:
    """(answer sentence, gold paragraph, wrong paragraph, 4 distractors) per answerable id."""
    folder = DATA / "squad2-500"
    if not (folder / "queries.json").exists():
        print(f"skipped: {folder} not found")
        return []
    queries = json.loads((folder / "queries.json").read_text())["queries"]
    truth = json.loads((folder / "ground_truth.json").read_text())
    paragraphs = list(dict.fromkeys(q["context"] for q in queries))
    cases: list[tuple[str, str, str, list[str]]] = []
    for query in queries:
        gold = truth[query["id"]]
        if gold["is_impossible"] or not gold["answers"]:
            continue
        context = query["context"]
        answer = gold["answers"][0]
        sentence = next((context[s:e] for s, e in sentences(context) if answer in context[s:e]),
                        None)
        if sentence is None:
            continue
        others = [p for p in paragraphs if p != context]
        offset = len(cases) * 7
        pick = [others[(offset + k) % len(others)] for k in range(4)]
        cases.append((sentence, context, pick[0], pick))
    return cases


def citations(judge: OfflineJudge, cases: Sequence[tuple[str, str, str, list[str]]]
              ) -> dict[str, float]:
    """Benchmark 4: correct citations are the positives, wrong ones the negatives."""
    if not cases:
        return {}
    counts = {"ours": [0, 0, 0], "lexical": [0, 0, 0]}  # tp, fp, fn
    for sentence, gold, wrong, _ in cases:
        for passage, positive in ((gold, True), (wrong, False)):
            predictions = {
                "ours": citation_quality(f"{sentence} [1]", [passage], judge=judge).recall == 1,
                "lexical": not lexical_flag(sentence, passage)}
            for name, predicted in predictions.items():
                counts[name][0] += predicted and positive
                counts[name][1] += predicted and not positive
                counts[name][2] += positive and not predicted
    result: dict[str, float] = {}
    for name, (tp, fp, fn) in counts.items():
        result[f"{name}_precision"] = tp / (tp + fp) if tp + fp else 0.0
        result[f"{name}_recall"] = tp / (tp + fn) if tp + fn else 0.0
    result["n"] = len(cases)
    return result


def latency(embedder: Embedder, cases: Sequence[tuple[str, str, str, list[str]]],
            count: int) -> dict[str, float]:
    """Benchmark 5: ms per checked answer (``check_answer``: every claim and every
    citation), a fresh judge (cold embedding and passage caches) per answer."""
    timings = []
    for sentence, gold, _, distractors in cases[:count]:
        following = [gold[s:e] for s, e in sentences(gold) if gold[s:e] != sentence][:1]
        answer = " ".join([f"{sentence} [1]", *following])
        judge = OfflineJudge(embedder)
        start = time.perf_counter()
        check_answer(answer, [gold, *distractors], judge=judge)
        timings.append((time.perf_counter() - start) * 1000)
    if not timings:
        return {}
    timings.sort()
    return {"p50": statistics.median(timings),
            "p99": timings[min(len(timings) - 1, round(0.99 * (len(timings) - 1)))],
            "n": len(timings)}


def _fmt(table: dict[str, Any], key: str, spec: str = ".3f") -> str:
    value = table.get(key)
    return "n/a" if value is None else format(value, spec)


def main() -> None:
    """Run the benchmarks and print the tables and the summary line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm-items", type=int, default=40,
                        help="HaluEval answers and FaithBench rows for the SmolLM2 judge")
    parser.add_argument("--skip-llm", action="store_true", help="skip the SmolLM2 judge")
    parser.add_argument("--llm-only", action="store_true",
                        help="run only the SmolLM2 judge (benchmark 3)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--latency-answers", type=int, default=200)
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    embedder = default_judge_embedder()  # the judge's own: bundled MiniLM, int8
    embedder.embed_documents(["warm up"])
    judge = None if args.llm_only else OfflineJudge(embedder)
    llm = None if args.skip_llm else _llm_judge()
    print("... HaluEval", flush=True)
    hal = halueval(judge, llm, args.llm_items)
    print("... FaithBench", flush=True)
    faith = faithbench(judge, llm, args.llm_items)
    print("... SQuAD citations and latency", flush=True)
    cases = [] if judge is None else squad_cases()
    cite = {} if judge is None else citations(judge, cases)
    speed = latency(embedder, cases, args.latency_answers)
    if cases:  # the same check with the float MiniLM, for what int8 buys
        from ragline.models.embedder import SentenceTransformerEmbedder

        exact = SentenceTransformerEmbedder()
        exact.embed_documents(["warm up"])
        speed["float_p50"] = latency(exact, cases, args.latency_answers)["p50"]
    print_report(hal, faith, cite, speed)


def _llm_judge() -> Judge | None:
    try:
        from ragline.evals.llm_judge import LLMJudge
        from ragline.models.local import LocalChatModel
    except ImportError as exc:
        print(f"SmolLM2 judge: n/a ({exc})")
        return None
    model = LocalChatModel()
    model.warm_up()
    return LLMJudge(model, max_tokens=120)


def print_report(hal: dict[str, float], faith: dict[str, float], cite: dict[str, float],
                 speed: dict[str, float]) -> None:
    """The side-by-side table and the summary line."""
    rows = [
        ("HaluEval F1, all 1,000 answers", _fmt(hal, "offline_f1"), _fmt(hal, "lexical_f1"),
         f"ChatGPT accuracy {CHATGPT_HALUEVAL_ACCURACY}%"),
        ("HaluEval F1, items 0-249 (calibration)", _fmt(hal, "offline_f1_cal"),
         _fmt(hal, "lexical_f1_cal"), ""),
        ("HaluEval F1, items 250-499 (held out)", _fmt(hal, "offline_f1_held"),
         _fmt(hal, "lexical_f1_held"), ""),
        ("HaluEval accuracy, all", _fmt(hal, "offline_acc"), _fmt(hal, "lexical_acc"), ""),
        (f"HaluEval F1, SmolLM2 judge ({_fmt(hal, 'llm_n', '.0f')} answers)",
         _fmt(hal, "llm_f1"), "", ""),
        (f"FaithBench balanced acc. ({_fmt(faith, 'rows', '.0f')} rows)",
         _fmt(faith, "offline_bacc"), _fmt(faith, "lexical_bacc"),
         f"best detectors {FAITHBENCH_BEST_BACC}"),
        (f"FaithBench bal. acc., SmolLM2 judge ({_fmt(faith, 'llm_n', '.0f')} rows)",
         _fmt(faith, "llm_bacc"), "", ""),
        (f"Citation precision, SQuAD ({_fmt(cite, 'n', '.0f')} x 2)",
         _fmt(cite, "ours_precision"), _fmt(cite, "lexical_precision"), ""),
        ("Citation recall, SQuAD", _fmt(cite, "ours_recall"), _fmt(cite, "lexical_recall"), ""),
        (f"Judge latency p50 ms ({_fmt(speed, 'n', '.0f')} answers)", _fmt(speed, "p50", ".1f"),
         "", ""),
        ("Judge latency p99 ms", _fmt(speed, "p99", ".1f"), "", ""),
        ("Judge latency p50 ms with float MiniLM", _fmt(speed, "float_p50", ".1f"), "", ""),
    ]
    print(f"\n{'figure':<52} {'ragline':>9} {'lexical':>9}  published")
    for label, ours, base, reference in rows:
        print(f"{label:<52} {ours:>9} {base:>9}  {reference}")
    print(f"halueval offline_f1={_fmt(hal, 'offline_f1')} "
          f"lexical_baseline_f1={_fmt(hal, 'lexical_f1')} "
          f"faithbench_bacc={_fmt(faith, 'offline_bacc')} "
          f"smollm_faithbench_bacc={_fmt(faith, 'llm_bacc')} "
          f"citation_precision={_fmt(cite, 'ours_precision')} "
          f"citation_recall={_fmt(cite, 'ours_recall')} "
          f"judge_p50_ms={_fmt(speed, 'p50', '.1f')}")


if __name__ == "__main__":
    main()
