"""Hallucination benchmarks: ragline's OfflineJudge against a lexical baseline.

1. **HaluEval QA** (500 items, 1,000 answers): is the answer hallucinated given the
   item's ``knowledge``? Short answers are judged with the question as context.
   F1 of detecting hallucinations on all 1,000 answers, on items 0-249 (the
   calibration half the thresholds were fitted on) and on items 250-499 (held out),
   beside the lexical baseline (flag any content word of the answer absent from the
   knowledge) and the published ChatGPT figure.
2. **FaithBench dev** (400 summaries, ``Questionable`` left out; ``worst-label``
   ``Unwanted`` = hallucinated): the shipped rule (``OfflineJudge.summary_hallucinated``:
   at least ``SUMMARY_NEW_TERMS`` content words absent from the source), balanced
   accuracy in-sample, beside the lexical baseline; and how that rule was chosen, by
   5-fold cross-validation grouped by source passage (:func:`nested_cv`): the
   out-of-fold balanced accuracy of each candidate statistic with its cut-off fitted
   on the training folds, and of the whole procedure (candidate chosen by an inner
   grouped CV on the training folds only), the headline ``faithbench_cv_bacc``.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import data_root

from ragline.protocols import Embedder
from ragline.text import STOPWORDS, sentences, words
from ragline.verify.citations import citation_quality
from ragline.verify.faithfulness import faithfulness
from ragline.verify.guard import check_answer
from ragline.verify.offline_judge import SUMMARY_NEW_TERMS, OfflineJudge, default_judge_embedder
from ragline.verify.types import Judge, SupportVerdict

DATA = data_root()
CHATGPT_HALUEVAL_ACCURACY = 62.59  # HaluEval (Li et al., EMNLP 2023), Table 5, QA
FAITHBENCH_BEST_BACC = "~50%"  # FaithBench (Bao et al., NAACL 2025): GPT-4o and peers
CALIBRATION_ITEMS = 250
CV_FOLDS = 5


def f1(predicted: Sequence[bool], gold: Sequence[bool]) -> float:
    """F1 of the positive class."""
    tp = sum(p and g for p, g in zip(predicted, gold, strict=True))
    wrong = sum(p != g for p, g in zip(predicted, gold, strict=True))
    return 2 * tp / (2 * tp + wrong) if tp or wrong else 0.0


def balanced_accuracy(predicted: Sequence[bool] | np.ndarray,
                      gold: Sequence[bool] | np.ndarray) -> float:
    """Mean of the recall of each class (a class without rows counts 0)."""
    hits = np.asarray(predicted, dtype=bool) == np.asarray(gold, dtype=bool)
    positive = np.asarray(gold, dtype=bool)
    recalls = [float(hits[mask].mean()) if mask.any() else 0.0
               for mask in (positive, ~positive)]
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


@dataclass(frozen=True, slots=True)
class Summary:
    """What the candidate statistics read of one judged summary."""

    scores: tuple[float, ...]
    supported: tuple[bool, ...]
    new_terms: int
    terms: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """A statistic of a summary; it is flagged when the value is below (or above) a cut-off."""

    name: str
    value: Callable[[Summary], float]
    above: bool = False  # flag values above the cut-off (counts of bad things)

    def flags(self, values: np.ndarray, cut: float) -> np.ndarray:
        """Which ``values`` the rule with cut-off ``cut`` flags as hallucinated."""
        return values > cut if self.above else values < cut


CANDIDATES = (
    Candidate("faithfulness (share of supported claims)",
              lambda s: float(np.mean(s.supported)) if s.supported else 1.0),
    Candidate("lowest claim score", lambda s: min(s.scores, default=1.0)),
    Candidate("mean claim score", lambda s: float(np.mean(s.scores)) if s.scores else 1.0),
    Candidate("median claim score", lambda s: float(np.median(s.scores)) if s.scores else 1.0),
    Candidate("unsupported claims", lambda s: float(len(s.supported) - sum(s.supported)),
              above=True),
    Candidate("share of words new to the source", lambda s: s.new_terms / max(s.terms, 1),
              above=True),
    Candidate("words new to the source", lambda s: float(s.new_terms), above=True),
)
"""The candidate rules, fixed before the cross-validation; the last is the shipped one."""


def fit_cut(candidate: Candidate, values: np.ndarray, gold: np.ndarray) -> float:
    """The cut-off with the best balanced accuracy: one between each two neighbouring
    values; of equally good cut-offs, the middle one."""
    distinct = np.unique(values)
    cuts = np.concatenate([[distinct[0] - 1], (distinct[:-1] + distinct[1:]) / 2,
                           [distinct[-1] + 1]])
    scores = np.array([balanced_accuracy(candidate.flags(values, c), gold) for c in cuts])
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    return float(cuts[best[len(best) // 2]])


def grouped_folds(groups: np.ndarray, k: int) -> list[np.ndarray]:
    """Test masks of ``k`` folds that share no group: the i-th group (in order of first
    appearance) goes to fold ``i % k``."""
    order = list(dict.fromkeys(groups.tolist()))
    return [np.isin(groups, order[f::k]) for f in range(k)]


def grouped_cv(candidate: Candidate, values: np.ndarray, gold: np.ndarray,
               groups: np.ndarray, k: int) -> tuple[np.ndarray, list[float]]:
    """Out-of-fold flags of ``candidate`` (cut-off fitted on the training folds) and
    each fold's cut-off."""
    flags = np.zeros(len(gold), dtype=bool)
    cuts = []
    for test in grouped_folds(groups, k):
        cut = fit_cut(candidate, values[~test], gold[~test])
        flags[test] = candidate.flags(values[test], cut)
        cuts.append(cut)
    return flags, cuts


def choose(values: dict[str, np.ndarray], gold: np.ndarray, groups: np.ndarray,
           k: int) -> Candidate:
    """The candidate with the best out-of-fold balanced accuracy in a grouped ``k``-fold
    CV of these rows (the first listed on a tie)."""
    def score(candidate: Candidate) -> float:
        flags, _ = grouped_cv(candidate, values[candidate.name], gold, groups, k)
        return balanced_accuracy(flags, gold)
    return max(CANDIDATES, key=score)


def nested_cv(values: dict[str, np.ndarray], gold: np.ndarray, groups: np.ndarray,
              k: int) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """The whole calibration procedure, cross-validated: in each outer fold, the
    candidate is chosen by a grouped ``k - 1``-fold CV of the training folds and its
    cut-off fitted on them. Out-of-fold flags, and per fold (choice, cut-off, balanced
    accuracy)."""
    flags = np.zeros(len(gold), dtype=bool)
    folds = []
    for test in grouped_folds(groups, k):
        train = ~test
        picked = choose({n: v[train] for n, v in values.items()}, gold[train], groups[train],
                        k - 1)
        cut = fit_cut(picked, values[picked.name][train], gold[train])
        flags[test] = picked.flags(values[picked.name][test], cut)
        folds.append((picked.name, cut, balanced_accuracy(flags[test], gold[test])))
    return flags, folds


def faithbench(judge: OfflineJudge | None, llm: Judge | None,
               llm_items: int) -> dict[str, Any]:
    """Benchmark 2 (and the FaithBench half of 3)."""
    path = DATA / "faithbench-dev" / "faithbench_dev.csv"
    if not path.exists():
        print(f"skipped: {path} not found")
        return {}
    with path.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["worst-label"] != "Questionable"]
    gold = [r["worst-label"] == "Unwanted" for r in rows]
    summaries: list[Summary] = []
    ours: list[bool] = []
    lexical: list[bool] = []
    llm_pred: list[bool] = []
    for row in rows:
        if judge is not None:
            verdicts = faithfulness(row["summary"], [row["source"]], judge=judge).verdicts
            new = judge.new_terms(row["summary"], [row["source"]])
            every = judge.new_terms(row["summary"], [])  # all its words are new to nothing
            summaries.append(Summary(tuple(v.score for v in verdicts),
                                     tuple(v.supported for v in verdicts), len(new),
                                     len(every)))
            ours.append(judge.summary_hallucinated(row["summary"], [row["source"]]))
        lexical.append(lexical_flag(row["summary"], row["source"]))
        if llm is not None and len(llm_pred) < llm_items:
            llm_pred.append(not _llm_support(llm, row["summary"], [row["source"]]).supported)
    result: dict[str, Any] = {"lexical_bacc": balanced_accuracy(lexical, gold),
                              "rows": len(rows), "sources": len({r["source"] for r in rows})}
    if ours:
        result |= {"offline_bacc": balanced_accuracy(ours, gold)}
        result |= cross_validate(summaries, np.array(gold), np.array([r["source"] for r in rows]))
    if llm_pred:
        result["llm_bacc"] = balanced_accuracy(llm_pred, gold[:len(llm_pred)])
        result["llm_n"] = len(llm_pred)
    return result


def cross_validate(summaries: Sequence[Summary], gold: np.ndarray,
                   groups: np.ndarray) -> dict[str, Any]:
    """Every candidate's in-sample and grouped out-of-fold figures, the nested CV of the
    choice, and the procedure run on all rows (what is shipped)."""
    values = {c.name: np.array([c.value(s) for s in summaries]) for c in CANDIDATES}
    table = []
    for candidate in CANDIDATES:
        column = values[candidate.name]
        cut = fit_cut(candidate, column, gold)
        flags, cuts = grouped_cv(candidate, column, gold, groups, CV_FOLDS)
        per_fold = [balanced_accuracy(flags[t], gold[t])
                    for t in grouped_folds(groups, CV_FOLDS)]
        table.append((candidate, cut, balanced_accuracy(candidate.flags(column, cut), gold),
                      balanced_accuracy(flags, gold), per_fold, cuts))
    flags, folds = nested_cv(values, gold, groups, CV_FOLDS)
    picked = choose(values, gold, groups, CV_FOLDS)
    return {"candidates": table, "cv_bacc": balanced_accuracy(flags, gold), "cv_folds": folds,
            "chosen": picked.name, "chosen_cut": fit_cut(picked, values[picked.name], gold)}


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


def print_report(hal: dict[str, float], faith: dict[str, Any], cite: dict[str, float],
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
        (f"FaithBench bal. acc. ({_fmt(faith, 'rows', '.0f')} rows), in-sample",
         _fmt(faith, "offline_bacc"), _fmt(faith, "lexical_bacc"),
         f"best detectors {FAITHBENCH_BEST_BACC}"),
        (f"FaithBench bal. acc., {CV_FOLDS}-fold grouped CV (nested)",
         _fmt(faith, "cv_bacc"), "", ""),
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
    print_faithbench_cv(faith)
    print(f"halueval offline_f1={_fmt(hal, 'offline_f1')} "
          f"lexical_baseline_f1={_fmt(hal, 'lexical_f1')} "
          f"faithbench_bacc={_fmt(faith, 'offline_bacc')} "
          f"faithbench_cv_bacc={_fmt(faith, 'cv_bacc')} "
          f"smollm_faithbench_bacc={_fmt(faith, 'llm_bacc')} "
          f"citation_precision={_fmt(cite, 'ours_precision')} "
          f"citation_recall={_fmt(cite, 'ours_recall')} "
          f"judge_p50_ms={_fmt(speed, 'p50', '.1f')}")


def print_faithbench_cv(faith: dict[str, Any]) -> None:
    """The candidates' cross-validated figures, the nested CV's folds and the fitted rule."""
    if "candidates" not in faith:
        return
    print(f"\nFaithBench dev, {CV_FOLDS} folds grouped by source passage "
          f"({faith['sources']} sources); cut-off fitted on the training folds")
    print(f"{'candidate (flagged when)':<46} {'in-sample':>9} {'cut':>6} {'CV':>6}  "
          f"per fold (cut-offs)")
    for candidate, cut, inside, outside, per_fold, cuts in faith["candidates"]:
        label = f"{candidate.name} {'>' if candidate.above else '<'}"
        folds = " ".join(f"{b:.3f}" for b in per_fold)
        print(f"{label:<46} {inside:>9.3f} {cut:>6.3f} {outside:>6.3f}  {folds} "
              f"({' '.join(f'{c:.3g}' for c in cuts)})")
    print("nested CV (candidate chosen by a grouped CV of the training folds only):")
    for index, (name, cut, score) in enumerate(faith["cv_folds"]):
        print(f"  fold {index}: {name}, cut-off {cut:.3g}, balanced accuracy {score:.3f}")
    print(f"  out of fold: {faith['cv_bacc']:.3f}; on all rows the procedure picks "
          f"{faith['chosen']}, cut-off {faith['chosen_cut']:.3g} "
          f"(shipped: at least SUMMARY_NEW_TERMS={SUMMARY_NEW_TERMS} new words)\n")


if __name__ == "__main__":
    main()
