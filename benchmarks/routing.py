"""Routing benchmark: trained routers and the verified cascade on RouteLLM's outcomes.

Data: ``routellm/`` of the shared data folder (per-prompt correctness of
Mixtral-8x7B-Instruct, the weak model, and gpt-4-1106-preview, the strong one), with
the listed contaminated prompts dropped. Metrics follow RouteLLM (Ong et al. 2024):
PGR = (q_router - q_weak) / (q_strong - q_weak); APGR = PGR averaged over strong-call
fractions 0-100 %; CPT(x %) = the smallest strong-call fraction reaching PGR x %
(``ragline.routing.calibrate``).

1. **MMLU, 1,500 labels**: each router kind is trained on 1,500 prompts sampled across
   the 57 subjects (stratified) and scored on the other ~12,500; mean over ``--samples``
   random samples. Baselines: a random router and the *subject prior*, which knows only
   each subject's success rates in the training sample. Routers see the prompt text
   only, never the subject. Every hyperparameter and threshold is chosen by
   cross-validation inside the training sample.
2. **MMLU, 80 / 20**: trained on 80 % of the prompts, scored on the other 20 %.
3. **GSM8K** (1,307 prompts after decontamination): the 80 % MMLU routers applied without
   retraining; routers trained on GSM8K with 2-fold cross-fitting (50/50 both ways: each
   prompt scored by a router that never saw it); and the verified cascade: the weak model answers
   first, ``ragline.routing.arithmetic.check_arithmetic`` recomputes its arithmetic and
   the response is escalated in order of an escalation score (the checker alone, and
   the checker plus cheap response features in a logistic model, 5-fold cross-fitted).
   The ``rag`` kind is not run: these sets have no retrieval signals, and with all-zero
   signals it is ``logreg``.
4. **Cost** at 95 % of the strong model's quality, at the paper's prices ($24.7 and
   $0.24 per million tokens, tiktoken ``cl100k_base`` counts of prompt and response;
   MMLU has no responses, so one output token), against always calling the strong model.
   The cascade pays the weak call on every prompt.
5. **Overhead**: ``TrainedRouter.route`` latency, query embedding included (float and int8
   MiniLM on one torch thread; float on torch's default threads), p50 / p99, decisions
   per second, and ``route`` with the query vector shared from retrieval.

Run from the project root::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/routing.py [--samples 5] [--quick]

Routers read the prompt's MiniLM embedding of its first ``--max-tokens`` tokens (256,
MiniLM's whole window, by default), as the latency figures do; the first run embeds the
15,239 prompts once (about 20 minutes on two shared cores; ``--max-tokens 48`` takes a
fraction of that and loses about 0.01 APGR). Cheap text features read the whole prompt.

The data folder is ``../shared/data`` (or ``$RAGLINE_BENCH_DATA``); without it the
benchmark prints ``skipped: ... not found`` and exits 0. Prompt embeddings are cached
under ``$RAGLINE_BENCH_CACHE`` (default ``~/.cache/ragline-bench``), one file per
embedder keyed by the SHA-256 of each text. The last line sums up the headline figures.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from _common import data_root, load_average, print_table
from _common import embed_cached as cached_embeddings

from ragline.models.embedder import BUNDLED_MINILM, SentenceTransformerEmbedder
from ragline.models.tokens import count_tokens
from ragline.routing.arithmetic import check_arithmetic
from ragline.routing.calibrate import apgr, cpt, threshold_for_min_pgr
from ragline.routing.learned import TrainedRouter, train_router
from ragline.routing.outcomes import (
    Outcomes,
    load_contaminated_prompts,
    load_outcomes,
)
from ragline.types import ChatRequest, Message, RouteSignals

WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG = "gpt-4-1106-preview"
STRONG_USD_PER_MTOK = 24.7  # RouteLLM paper, section 5 (GPT-4 blended price)
WEAK_USD_PER_MTOK = 0.24  # RouteLLM paper, section 5 (Mixtral-8x7B via Anyscale)
QUALITY_SHARE = 0.95  # cost is reported at 95 % of the strong model's quality
TRAIN_LABELS = 1500
KINDS = ("knn", "logreg", "lgbm", "mf", "ensemble")  # rag: no retrieval signals in these sets
GSM8K_FOLDS = 2
DECISION_ROW = "route() incl. embedding, float MiniLM, 1 torch thread"
ROUTELLM_MMLU = "APGR 0.57-0.60, CPT(50%) 35-41 % (RouteLLM, ~1,500 labels)"
MAX_TOKENS = 256  # MiniLM tokens of each prompt the routers read (see --max-tokens)
Vectors = Any


# ---------------------------------------------------------------- data


def load_sets(root: Path) -> tuple[Outcomes, Outcomes] | None:
    """MMLU and GSM8K outcomes without their contaminated prompts; None when absent."""
    folder = root / "routellm"
    mmlu_files = sorted((folder / "mmlu" / "responses").glob("*.csv"))
    gsm_file = folder / "gsm8k" / "gsm8k_responses.csv"
    if not mmlu_files or not gsm_file.exists():
        return None
    mmlu = load_outcomes(mmlu_files, exclude_prompts=load_contaminated_prompts(
        folder / "mmlu" / "contaminated_prompts.jsonl"))
    gsm = load_outcomes([gsm_file], exclude_prompts=load_contaminated_prompts(
        folder / "gsm8k" / "contaminated_prompts.jsonl"))
    return mmlu, gsm


def embed_cached(embedder: SentenceTransformerEmbedder, name: str,
                 texts: Sequence[str]) -> Vectors:
    """Embeddings of ``texts`` by the embedder called ``name``, cached on disk
    (:func:`_common.embed_cached`, one file per embedder)."""
    file = f"routing-embeddings-{name.replace('/', '_').replace(':', '-')}.npz"
    return cached_embeddings(embedder, texts, file=file, what=f"prompts with {name}")


def routing_embedder(max_tokens: int, *, int8: bool = False
                     ) -> tuple[SentenceTransformerEmbedder, str]:
    """The bundled MiniLM reading at most ``max_tokens`` tokens of a prompt, and its name."""
    embedder = SentenceTransformerEmbedder(BUNDLED_MINILM, int8=int8)
    embedder.warm_up()
    assert embedder._model is not None
    embedder._model.max_seq_length = max_tokens
    return embedder, f"{BUNDLED_MINILM}@{max_tokens}tok"


def stratified_sample(groups: Sequence[str], size: int,
                      rng: np.random.Generator) -> np.ndarray:
    """``size`` indices spread over the groups in proportion to their sizes (largest
    remainder), drawn at random within each group; sorted."""
    names = sorted(set(groups))
    members = {g: np.flatnonzero(np.asarray(groups) == g) for g in names}
    exact = np.array([size * len(members[g]) / len(groups) for g in names])
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: size - counts.sum()]:
        counts[i] += 1
    picked = [rng.choice(members[g], int(c), replace=False) for g, c in zip(names, counts,
                                                                              strict=True)]
    return np.sort(np.concatenate(picked))


# ---------------------------------------------------------------- metrics


def metrics(scores: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> dict[str, float]:
    """APGR, CPT(50 %) and CPT(80 %) of one router's scores."""
    return {"apgr": apgr(scores, weak, strong), "cpt50": cpt(scores, weak, strong, 0.5),
            "cpt80": cpt(scores, weak, strong, 0.8)}


def subject_prior(train_groups: Sequence[str], weak: np.ndarray, strong: np.ndarray,
                  test_groups: Sequence[str]) -> np.ndarray:
    """Each test prompt's subject's success-rate gap (strong - weak) in the training
    sample; the overall gap for a subject absent from it."""
    overall = float(strong.mean() - weak.mean())
    gap: dict[str, list[float]] = {}
    for g, w, s in zip(train_groups, weak, strong, strict=True):
        gap.setdefault(g, []).append(s - w)
    means = {g: float(np.mean(v)) for g, v in gap.items()}
    return np.array([means.get(g, overall) for g in test_groups])


def random_scores(n: int, seed: int) -> np.ndarray:
    """A random router's scores."""
    return np.random.default_rng(seed + 1000).random(n)


def mean_metrics(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """Per-metric mean (and standard deviation under ``<metric>_sd``) over samples."""
    out: dict[str, float] = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        out[key] = statistics.fmean(values)
        out[f"{key}_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return out


# ---------------------------------------------------------------- MMLU


def train_all(kinds: Sequence[str], train: Outcomes, vectors: Vectors,
              embedder: SentenceTransformerEmbedder, name: str,
              seed: int) -> dict[str, TrainedRouter]:
    """One router per kind on ``train``."""
    return {k: train_router(train, weak=WEAK, strong=STRONG, kind=k, embedder=embedder,
                            embedder_name=name, vectors=vectors, seed=seed)
            for k in kinds}


def mmlu_samples(mmlu: Outcomes, vectors: Vectors, embedder: SentenceTransformerEmbedder,
                 name: str, kinds: Sequence[str], samples: int) -> dict[str, dict[str, float]]:
    """Mean metrics of each router (and baseline) over ``samples`` 1,500-label samples."""
    results: dict[str, list[dict[str, float]]] = {}
    costs = prompt_costs(mmlu, output_tokens=None)
    for seed in range(samples):
        started = time.perf_counter()
        train_idx = stratified_sample(mmlu.groups, TRAIN_LABELS, np.random.default_rng(seed))
        test_idx = np.setdiff1d(np.arange(len(mmlu)), train_idx)
        train, test = mmlu.subset(train_idx), mmlu.subset(test_idx)
        w, s = test.quality[WEAK], test.quality[STRONG]
        scores = {"random": random_scores(len(test), seed),
                  "subject prior": subject_prior(train.groups, train.quality[WEAK],
                                                 train.quality[STRONG], test.groups)}
        routers = train_all(kinds, train, vectors[train_idx], embedder, name, seed)
        for kind, router in routers.items():
            scores[kind] = router.strong_scores(test.prompts, vectors[test_idx])
        for name, sc in scores.items():
            row = metrics(sc, w, s)
            row.update(cost_at_quality(sc, w, s, costs[0][test_idx], costs[1][test_idx]))
            results.setdefault(name, []).append(row)
        print(f"... MMLU sample {seed + 1}/{samples}: "
              + ", ".join(f"{k} {results[k][-1]['apgr']:.3f}" for k in scores)
              + f" ({time.perf_counter() - started:.0f} s)", flush=True)
    return {name: mean_metrics(rows) for name, rows in results.items()}


def mmlu_split(mmlu: Outcomes, vectors: Vectors, embedder: SentenceTransformerEmbedder,
               name: str, kinds: Sequence[str]) -> tuple[dict[str, dict[str, float]],
                                              dict[str, TrainedRouter]]:
    """Metrics on a random 20 % of MMLU of routers trained on the other 80 %."""
    order = np.random.default_rng(42).permutation(len(mmlu))
    cut = int(0.8 * len(mmlu))
    train_idx, test_idx = np.sort(order[:cut]), np.sort(order[cut:])
    train, test = mmlu.subset(train_idx), mmlu.subset(test_idx)
    w, s = test.quality[WEAK], test.quality[STRONG]
    out = {"random": metrics(random_scores(len(test), 0), w, s),
           "subject prior": metrics(subject_prior(train.groups, train.quality[WEAK],
                                                  train.quality[STRONG], test.groups), w, s)}
    routers = train_all(kinds, train, vectors[train_idx], embedder, name, 0)
    for kind, router in routers.items():
        out[kind] = metrics(router.strong_scores(test.prompts, vectors[test_idx]), w, s)
    return out, routers


# ---------------------------------------------------------------- cost


def prompt_costs(outcomes: Outcomes, output_tokens: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-prompt USD of the weak and of the strong model: prompt tokens plus the model's
    response tokens (or one output token where there are no responses)."""
    prompt_tokens = np.array([count_tokens(p, "gpt-4") for p in outcomes.prompts], dtype=float)
    per_model = []
    for model, price in ((WEAK, WEAK_USD_PER_MTOK), (STRONG, STRONG_USD_PER_MTOK)):
        if model in outcomes.responses:
            out = np.array([count_tokens(r, "gpt-4") for r in outcomes.responses[model]],
                           dtype=float)
        else:
            out = np.full(len(outcomes), float(output_tokens or 1))
        per_model.append((prompt_tokens + out) * price / 1e6)
    return per_model[0], per_model[1]


def cost_at_quality(scores: np.ndarray, weak: np.ndarray, strong: np.ndarray,
                    weak_cost: np.ndarray, strong_cost: np.ndarray, *,
                    cascade: bool = False) -> dict[str, float]:
    """Strong-call share and saving versus always-strong at 95 % of the strong quality.

    The threshold is the highest that reaches the quality (``threshold_for_min_pgr``);
    a cascade pays the weak call on every prompt.
    """
    target = QUALITY_SHARE * strong.mean()
    min_pgr = (target - weak.mean()) / (strong.mean() - weak.mean())
    if min_pgr <= 0:
        chosen = np.zeros(len(scores), dtype=bool)
    else:
        chosen = scores >= threshold_for_min_pgr(scores, weak, strong, min(min_pgr, 1.0))
    spent = np.where(chosen, strong_cost, weak_cost).sum()
    if cascade:
        spent = weak_cost.sum() + strong_cost[chosen].sum()
    return {"strong_share95": float(chosen.mean()),
            "saving95": float(1.0 - spent / strong_cost.sum())}


# ---------------------------------------------------------------- GSM8K


def cross_fit(n: int, folds: int, seed: int,
              fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Out-of-fold scores: each fold scored by ``fit_predict(train_idx, test_idx)``."""
    scores = np.zeros(n)
    order = np.random.default_rng(seed).permutation(n)
    for part in np.array_split(order, folds):
        held = np.sort(part)
        scores[held] = fit_predict(np.setdiff1d(np.arange(n), held), held)
    return scores


def _not_whole(answer: str | None) -> float:
    """1 when the committed final answer is missing or not a whole number (GSM8K answers
    are whole numbers)."""
    if answer is None:
        return 1.0
    try:
        value = float(answer)
    except ValueError:
        return 1.0
    return float(not value.is_integer() or value < 0)


def response_features(response: str) -> list[float]:
    """The checker's verdict and cheap features of a weak response (no prompt, no labels)."""
    check = check_arithmetic(response)
    stripped = response.rstrip()
    return [1.0 - check.score, float(len(check.wrong) > 0), math.log1p(len(check.wrong)),
            float(check.final_answer is None), _not_whole(check.final_answer),
            float("####" not in response), math.log1p(check.expressions),
            math.log1p(len(response)), float(bool(stripped) and stripped[-1].isdigit()
                                             and "####" not in stripped)]


def cascade_scores(gsm: Outcomes, seed: int = 0) -> dict[str, np.ndarray]:
    """Escalation scores of the verified cascade: the checker alone, and the checker plus
    response features in a cross-fitted logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    responses = gsm.responses[WEAK]
    checks = [check_arithmetic(r) for r in responses]
    checker_only = np.array([1.0 - c.score for c in checks])
    x = np.array([response_features(r) for r in responses])
    target = 1.0 - gsm.quality[WEAK]  # P(weak answer wrong): escalate those first

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
        model.fit(x[train], target[train])
        return np.asarray(model.predict_proba(x[test])[:, 1])

    return {"cascade: checker only": checker_only,
            "cascade: checker + response features": cross_fit(len(gsm), 5, seed, fit_predict)}


def gsm8k(gsm: Outcomes, vectors: Vectors, embedder: SentenceTransformerEmbedder, name: str,
          mmlu_routers: dict[str, TrainedRouter], kinds: Sequence[str]
          ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Metrics of MMLU routers, GSM8K-cross-fitted routers and the cascade on GSM8K,
    and the cost at 95 % quality of each."""
    w, s = gsm.quality[WEAK], gsm.quality[STRONG]
    weak_cost, strong_cost = prompt_costs(gsm, output_tokens=None)
    scores: dict[str, np.ndarray] = {"random": random_scores(len(gsm), 0)}
    for kind, router in mmlu_routers.items():
        scores[f"{kind} (MMLU-trained)"] = router.strong_scores(gsm.prompts, vectors)
    for kind in kinds:
        def fit_predict(train: np.ndarray, test: np.ndarray, kind: str = kind) -> np.ndarray:
            router = train_router(gsm.subset(train), weak=WEAK, strong=STRONG, kind=kind,
                                  embedder=embedder, embedder_name=name,
                                  vectors=vectors[train], seed=0)
            return router.strong_scores([gsm.prompts[i] for i in test], vectors[test])
        scores[f"{kind} (GSM8K 2-fold)"] = cross_fit(len(gsm), GSM8K_FOLDS, 0, fit_predict)
    cascades = cascade_scores(gsm)
    table: dict[str, dict[str, float]] = {}
    for name, sc in {**scores, **cascades}.items():
        row = metrics(sc, w, s)
        row.update(cost_at_quality(sc, w, s, weak_cost, strong_cost,
                                   cascade=name.startswith("cascade")))
        table[name] = row
    return table, {"weak_cost": {"usd": float(weak_cost.sum())},
                   "strong_cost": {"usd": float(strong_cost.sum())}}


# ---------------------------------------------------------------- overhead


def overhead(router: TrainedRouter, prompts: Sequence[str], requests: int, max_tokens: int
             ) -> dict[str, dict[str, float]]:
    """``route`` latency (ms) with the query embedded by float and int8 MiniLM (same
    token cap) on one torch thread and on torch's default thread count, and with a
    precomputed query vector (the router alone)."""
    import torch

    default_threads = torch.get_num_threads()
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = router.save(Path(tmp) / "router.joblib")
        for label, int8, threads, count in (
                ("float MiniLM, 1 torch thread", False, 1, requests),
                ("int8 MiniLM, 1 torch thread", True, 1, requests),
                (f"float MiniLM, {default_threads} torch threads", False, default_threads,
                 max(10, requests // 10))):
            torch.set_num_threads(threads)
            emb, name = routing_embedder(max_tokens, int8=int8)
            loaded = TrainedRouter.load(path, embedder=emb, embedder_name=name)
            out[f"route() incl. embedding, {label}"] = _time_route(loaded, prompts, count)
        torch.set_num_threads(default_threads)
        vectors = router._embed(list(prompts[:requests]))
        out["route() with shared query vector"] = _time_route(router, prompts, requests, vectors)
    return out


def _time_route(router: TrainedRouter, prompts: Sequence[str], requests: int,
                vectors: Vectors | None = None) -> dict[str, float]:
    timings = []
    for i in range(requests + 5):
        text = prompts[i % len(prompts)]
        signals = RouteSignals(query=text)
        if vectors is not None:
            signals = RouteSignals(query=text, query_vector=vectors[i % len(vectors)],
                                   embedder=router.embedder_name)
        request = ChatRequest(messages=(Message("user", text),), question=text)
        started = time.perf_counter()
        router.route(request, signals)
        if i >= 5:  # the first calls warm caches
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {"p50": statistics.median(timings),
            "p99": timings[min(len(timings) - 1, math.ceil(0.99 * len(timings)) - 1)],
            "per_s": 1000.0 / statistics.fmean(timings)}


# ---------------------------------------------------------------- report


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _metric_rows(table: dict[str, dict[str, float]], *, sd: bool = False,
                 cost: bool = False) -> list[list[str]]:
    rows = []
    for name, m in table.items():
        row = [name, f"{m['apgr']:.3f}" + (f" ± {m['apgr_sd']:.3f}" if sd else ""),
               _pct(m["cpt50"]), _pct(m["cpt80"])]
        if cost:
            row += [_pct(m["strong_share95"]), _pct(m["saving95"])]
        rows.append(row)
    return rows


def best_router(table: dict[str, dict[str, float]], kinds: Sequence[str]) -> str:
    """The router kind with the highest APGR in ``table``."""
    return max((k for k in table if k.split(" ")[0] in kinds), key=lambda k: table[k]["apgr"])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the tables and the summary line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=5, help="MMLU 1,500-label samples")
    parser.add_argument("--quick", action="store_true",
                        help="2 samples, no lgbm, 100 timed requests")
    parser.add_argument("--requests", type=int, default=300, help="timed route() calls")
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS,
                        help="MiniLM tokens of each prompt embedded (the rest is cut)")
    args = parser.parse_args(argv)
    root = data_root()
    sets = load_sets(root)
    if sets is None:
        print(f"skipped: {root / 'routellm'} not found (set RAGLINE_BENCH_DATA)")
        return 0
    mmlu, gsm = sets
    samples = min(args.samples, 2) if args.quick else args.samples
    kinds = tuple(k for k in KINDS if not (args.quick and k == "lgbm"))
    requests = 100 if args.quick else args.requests
    started = time.perf_counter()
    print(f"load average before: {load_average()} ({os.cpu_count()} cores)", flush=True)
    embedder, name = routing_embedder(args.max_tokens)
    vectors = embed_cached(embedder, name, [*mmlu.prompts, *gsm.prompts])
    mmlu_vectors, gsm_vectors = vectors[: len(mmlu)], vectors[len(mmlu):]

    sampled = mmlu_samples(mmlu, mmlu_vectors, embedder, name, kinds, samples)
    print("... MMLU 80/20", flush=True)
    split, split_routers = mmlu_split(mmlu, mmlu_vectors, embedder, name, kinds)
    print("... GSM8K", flush=True)
    gsm_table, gsm_costs = gsm8k(gsm, gsm_vectors, embedder, name, split_routers, kinds)
    best = best_router(sampled, kinds)
    print("... routing overhead", flush=True)
    held = [mmlu.prompts[i] for i in np.random.default_rng(7).permutation(len(mmlu))[:requests]]
    speed = overhead(split_routers[best], held, requests, args.max_tokens)

    print(f"\nweak {WEAK}, strong {STRONG}; MMLU {len(mmlu)} prompts (weak "
          f"{mmlu.quality[WEAK].mean():.3f}, strong {mmlu.quality[STRONG].mean():.3f}), "
          f"GSM8K {len(gsm)} (weak {gsm.quality[WEAK].mean():.3f}, strong "
          f"{gsm.quality[STRONG].mean():.3f}); embedder {name}")
    print_table(f"MMLU, {TRAIN_LABELS} training labels (stratified), mean over {samples} "
                f"samples, evaluated on the other prompts; published: {ROUTELLM_MMLU}",
                ["router", "APGR", "CPT(50%)", "CPT(80%)", "strong @95%", "saving @95%"],
                _metric_rows(sampled, sd=True, cost=True))
    print_table("MMLU, trained on 80 %, evaluated on 20 %",
                ["router", "APGR", "CPT(50%)", "CPT(80%)"], _metric_rows(split))
    print_table("GSM8K (the cascade's cost includes the weak attempt on every prompt)",
                ["router", "APGR", "CPT(50%)", "CPT(80%)", "strong @95%", "saving @95%"],
                _metric_rows(gsm_table, cost=True))
    print("rag: n/a (no retrieval signals in these outcome files; with all-zero signals "
          "it is logreg)")
    print(f"GSM8K always-strong ${gsm_costs['strong_cost']['usd']:.3f}, always-weak "
          f"${gsm_costs['weak_cost']['usd']:.4f} for {len(gsm)} prompts")
    print_table(f"routing overhead (up to {requests} decisions, {best} router trained on 80 %)",
                ["decision", "p50 ms", "p99 ms", "decisions/s"],
                [[k, f"{v['p50']:.2f}", f"{v['p99']:.2f}", f"{v['per_s']:.0f}"]
                 for k, v in speed.items()])
    print(f"\nload average after: {load_average()}; {time.perf_counter() - started:.0f} s")
    gsm_routers = {k: v for k, v in gsm_table.items() if not k.startswith(("cascade", "random"))}
    gsm_best = max(gsm_routers.values(), key=lambda m: m["apgr"])
    cascade = gsm_table["cascade: checker + response features"]
    print(f"mmlu1500 best_router={best} apgr={sampled[best]['apgr']:.3f} "
          f"cpt50={100 * sampled[best]['cpt50']:.1f}% "
          f"subject_prior_apgr={sampled['subject prior']['apgr']:.3f} "
          f"gsm8k_cascade_apgr={cascade['apgr']:.3f} gsm8k_best_router_apgr={gsm_best['apgr']:.3f} "
          f"decision_p50_ms={speed[DECISION_ROW]['p50']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
