"""Semantic-cache benchmark: precision of "serve from cache" on Quora Question Pairs,
beside GPTCache, and cache lookup latency.

Data: ``qqp/`` of the shared data folder. ``similiar_qqp_full.json.gz`` (a gzipped tar
holding one JSON list of 80,854 labelled pairs ``{text_a, text_b, label}``; the
non-duplicates are hard near-misses) and ``mock_data.json`` (999 true paraphrase pairs
``{origin, similar}``), both from GPTCache's ``examples/benchmark/``.

Each pair is one cache decision: ``text_a`` is the stored question, ``text_b`` the new
one; serving is right when the pair is a duplicate. The pairs (``--pairs`` of them,
sampled with ``--seed``) are split by pair, seeded, into a calibration half and a test
half. The verifier's rules (``ragline.cache.verify``) were tuned on calibration halves
only; every threshold below is chosen on the calibration half and reported on the test
half (out of sample), where recall is the share of all duplicate pairs served. Both sides
use the same bundled MiniLM embeddings (``all-MiniLM-L6-v2``).

1. Precision-recall of plain MiniLM cosine, of cosine + lexical verification (ragline),
   and of GPTCache 0.1.44 with its ``SearchDistanceEvaluation`` (the evaluation its
   examples and benchmark use; its ``Cache.init`` default, ``ExactMatchEvaluation``,
   serves exact repeats only). GPTCache runs in a virtualenv of its own under the
   benchmark cache (``_gptcache_venv.py``, created on first run, pins printed): the
   stored question's vector goes into its Faiss store (``IDMap,Flat``, squared L2, after
   its ``normalize``), the new one is searched there, and the distance becomes its rank,
   ``4 - distance``; a hit needs ``rank >= 4 * similarity_threshold``. That threshold is
   tuned on the calibration half for recall 0.30, like ragline's. On unit vectors the
   rank is ``2 + 2 cosine``, so GPTCache's curve is plain cosine's. The recall ratio
   compares ragline-with-verification's and GPTCache's best recall on the test half at
   one precision: ragline's precision at recall 0.30 there.
2. ``max_error_rate`` (``--rates``, 0.05 and 0.10): the threshold ``ragline.cache.calibrate``
   picks (Wilson / Clopper-Pearson 95 % upper bound of the false-hit rate among served
   pairs), its realised false-hit rate and hit rate on the test half, beside the best single
   static threshold for the same rate found with hindsight on the test half (the oracle).
3. Paraphrase recall on ``mock_data.json`` at the recall-0.30 thresholds chosen on the
   calibration half (ragline's and GPTCache's), and at each calibrated threshold.
4. Lookup latency p50 / p99, query embedding excluded, at ``--latency-sizes`` entries
   (``cache_latency.py``): ``SemanticCache.lookup`` on an Edge shard, the exact cache's
   ``SQLiteCacheStore.get`` and ``RedisCacheStore.get`` (Redis db ``--redis-db``, keys of
   this run only, removed afterwards), and GPTCache's Faiss vector search.

Run from the project root::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/cache.py [--pairs 20000] [--seed 0] \\
        [--rates 0.05,0.10] [--latency-sizes 10000,100000] [--redis-db 15]

Without the data folder the benchmark prints ``skipped: ... not found`` and exits 0;
without GPTCache (no network for its first install) ``skipped: GPTCache ...`` and its
figures are ``nan``; ``--latency-sizes ''`` skips section 4. Question embeddings are
cached under ``$RAGLINE_BENCH_CACHE`` (default ``~/.cache/ragline-bench``), keyed by the
SHA-256 of each text. The last line sums up the headline figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from _common import cache_dir, data_root, embed_cached, load_average, print_table
from _gptcache_venv import PINS, Unavailable, gptcache_latency, gptcache_python, gptcache_ranks
from cache_latency import run_latency

from ragline.cache.calibrate import (
    Bound,
    Labelled,
    Outcome,
    best_static_threshold,
    calibrate_threshold,
    evaluate,
    precision_at_recall,
    recall_at_precision,
)
from ragline.cache.verify import verify
from ragline.models.embedder import BUNDLED_MINILM, SentenceTransformerEmbedder

Pair = tuple[str, str, int]
Side = tuple[str, Labelled, Labelled]  # name, calibration half, test half
COSINE, VERIFIED, GPTCACHE = "MiniLM cosine", "cosine + verification", "GPTCache"
GPTCACHE_RANGE = 4.0  # SearchDistanceEvaluation().range() is (0, 4): rank >= 4 * threshold
BOUNDS: tuple[Bound, ...] = ("wilson", "clopper-pearson")


def load_qqp(root: Path) -> list[Pair] | None:
    """The labelled QQP pairs, or None when the file is absent."""
    path = root / "qqp" / "similiar_qqp_full.json.gz"
    if not path.exists():
        return None
    with tarfile.open(path) as archive:
        member = next(m for m in archive.getmembers() if m.isfile())
        handle = archive.extractfile(member)
        assert handle is not None
        rows = json.load(handle)
    return [(str(r["text_a"]), str(r["text_b"]), int(r["label"])) for r in rows]


def load_paraphrases(root: Path) -> list[tuple[str, str]]:
    """The ``mock_data.json`` paraphrase pairs (empty when absent)."""
    path = root / "qqp" / "mock_data.json"
    if not path.exists():
        return []
    return [(str(r["origin"]), str(r["similar"]))
            for r in json.loads(path.read_text(encoding="utf-8"))]


def question_vectors(embedder: SentenceTransformerEmbedder, texts: Sequence[str]) -> np.ndarray:
    """MiniLM embeddings of ``texts``, cached on disk (:func:`_common.embed_cached`)."""
    vectors: np.ndarray = embed_cached(embedder, texts, what="questions", batch=2048,
                                       file=f"cache-embeddings-{BUNDLED_MINILM}.npz")
    return vectors


def split(pairs: list[Pair], size: int, seed: int) -> tuple[list[Pair], list[Pair]]:
    """``size`` pairs drawn with ``seed``, as (calibration half, test half)."""
    order = np.random.default_rng(seed).permutation(len(pairs))[:size]
    chosen = [pairs[i] for i in order]
    return chosen[: len(chosen) // 2], chosen[len(chosen) // 2:]


def cosines(embedder: SentenceTransformerEmbedder,
            pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """The cosine of each pair's two texts (normalised embeddings)."""
    vectors = question_vectors(embedder, [t for pair in pairs for t in pair])
    sims: np.ndarray = np.einsum("ij,ij->i", vectors[0::2], vectors[1::2]).astype(np.float64)
    return sims


def judged(embedder: SentenceTransformerEmbedder, pairs: list[Pair]) -> tuple[Labelled, Labelled]:
    """(plain cosine, cosine + verification) decisions on ``pairs``."""
    sims = cosines(embedder, [(a, b) for a, b, _ in pairs])
    duplicate = np.array([label == 1 for _, _, label in pairs])
    accepted = np.array([verify(a, b).accepted for a, b, _ in pairs])
    return (Labelled.of(sims, np.ones(len(pairs), bool), duplicate),
            Labelled.of(sims, accepted, duplicate))


def threshold_for_recall(data: Labelled, recall: float) -> float:
    """The highest threshold whose recall on ``data`` is at least ``recall``."""
    scores = np.sort(data.scores()[data.duplicate & data.accepted])[::-1]
    needed = int(np.ceil(recall * data.duplicate.sum()))
    return float(scores[needed - 1]) if 0 < needed <= len(scores) else -np.inf


def curve_rows(sides: Sequence[Side]) -> tuple[list[list[str]], dict[str, float]]:
    """Precision-recall rows (test half) and each side's recall-0.30 threshold, chosen on
    the calibration half (GPTCache's shown as its ``similarity_threshold``)."""
    rows, chosen = [], {}
    for name, c, t in sides:
        threshold = threshold_for_recall(c, 0.30)
        at = evaluate(t, threshold)
        rows.append([name, f"{precision_at_recall(t, 0.30):.3f}",
                     f"{precision_at_recall(t, 0.13):.3f}",
                     f"{recall_at_precision(t, 0.90):.3f}",
                     f"{threshold / (GPTCACHE_RANGE if name == GPTCACHE else 1.0):.3f}",
                     f"{at.precision:.3f}", f"{at.recall:.3f}"])
        chosen[name] = threshold
    return rows, chosen


def rate_rows(cal: tuple[Labelled, Labelled], test: tuple[Labelled, Labelled],
              rate: float) -> tuple[list[list[str]], Outcome]:
    """Calibrated vs hindsight thresholds for ``rate``; (rows, the verified side's Wilson
    outcome on the test half)."""
    rows: list[list[str]] = []
    chosen = evaluate(test[1], float("inf"))
    for side, c, t in (("cosine", cal[0], test[0]), ("cosine + verification", cal[1], test[1])):
        for bound in BOUNDS:
            calib = calibrate_threshold(c, rate, bound=bound)
            at = evaluate(t, calib.threshold)
            rows.append([f"{side}, calibrated ({bound} UCB)", f"{rate:.2f}",
                         f"{calib.threshold:.3f}", f"{calib.upper_bound:.3f}",
                         f"{at.false_hit_rate:.3f}", f"{at.hit_rate:.3f}", f"{at.recall:.3f}"])
            if side != "cosine" and bound == "wilson":
                chosen = at
        oracle = best_static_threshold(t, rate)
        rows.append([f"{side}, best static (hindsight on test)", f"{rate:.2f}",
                     f"{oracle.threshold:.3f}", "-", f"{oracle.false_hit_rate:.3f}",
                     f"{oracle.hit_rate:.3f}", f"{oracle.recall:.3f}"])
    return rows, chosen



def gptcache_scores(embedder: SentenceTransformerEmbedder,
                    groups: Sequence[Sequence[tuple[str, str]]]
                    ) -> tuple[list[np.ndarray], dict[str, Any]]:
    """GPTCache's rank of every pair in each group (one helper run); raises Unavailable."""
    python = gptcache_python(cache_dir())
    vectors = np.concatenate([question_vectors(embedder, [t for pair in g for t in pair])
                              for g in groups])
    ranks, info = gptcache_ranks(python, vectors[0::2], vectors[1::2])
    if info.get("range") != [0.0, GPTCACHE_RANGE]:
        raise Unavailable(f"unexpected SearchDistanceEvaluation range {info.get('range')}")
    return np.split(ranks, np.cumsum([len(g) for g in groups])[:-1]), info


def equal_precision_rows(sides: Sequence[Side], target: float) -> tuple[list[list[str]], float]:
    """Best test-half recall of each side at several precisions; (rows, the recall ratio
    of ragline with verification over GPTCache at precision ``target``)."""
    tests = {name: t for name, _, t in sides}
    rows, ratio = [], float("nan")
    for precision in sorted({0.80, 0.85, target, 0.90}):
        recalls = {name: recall_at_precision(t, precision) for name, t in tests.items()}
        theirs = recalls.get(GPTCACHE, float("nan"))
        row_ratio = recalls[VERIFIED] / theirs if theirs > 0 else float("nan")
        label = f"{precision:.3f}"
        if precision == target:
            ratio, label = row_ratio, label + " (ragline P@R0.30)"
        rows.append([label, *(f"{recalls[n]:.3f}" for n in tests), f"{row_ratio:.2f}"])
    return rows, ratio


def paraphrase_rows(embedder: SentenceTransformerEmbedder, paraphrases: list[tuple[str, str]],
                    thresholds: Sequence[tuple[str, float]],
                    gptcache: tuple[np.ndarray, float] | None) -> list[list[str]]:
    """Share of the paraphrase pairs served: ragline at each threshold (cosine only,
    verified), then GPTCache at its own recall-0.30 threshold."""
    if not paraphrases:
        return []
    sims = cosines(embedder, paraphrases)
    accepted = np.array([verify(a, b).accepted for a, b in paraphrases])
    rows = [[f"{label} ({t:.3f})", f"{(sims >= t).mean():.3f}",
             f"{((sims >= t) & accepted).mean():.3f}", "-"] for label, t in thresholds]
    if gptcache is not None:
        ranks, t = gptcache
        rows.append([f"GPTCache recall-0.30 threshold ({t / GPTCACHE_RANGE:.3f})", "-", "-",
                     f"{(ranks >= t).mean():.3f}"])
    return rows


def print_rates(cal: tuple[Labelled, Labelled], test: tuple[Labelled, Labelled],
                rates: Sequence[float]) -> list[Outcome]:
    """The max-error-rate table; the verified Wilson outcome on the test half per rate."""
    rows, chosen = [], []
    for rate in rates:
        more, outcome = rate_rows(cal, test, rate)
        rows += more
        chosen.append(outcome)
    print_table("max_error_rate: threshold chosen on the calibration half (95 % upper bound "
                "of the false-hit rate), realised on the test half; false-hit rate = false "
                "hits / served, hit rate = served / pairs; inf = no threshold meets the rate",
                ["threshold", "rate", "value", "cal UCB", "test FHR", "test hit rate",
                 "test recall"], rows)
    return chosen


def gptcache_part(embedder: SentenceTransformerEmbedder, cal_pairs: list[Pair],
                  test_pairs: list[Pair], paraphrases: list[tuple[str, str]]
                  ) -> tuple[tuple[Labelled, Labelled] | None, np.ndarray | None]:
    """GPTCache's (calibration, test) decisions and its paraphrase ranks; None when it
    cannot be installed or run (said with ``skipped: GPTCache ...``)."""
    try:
        (cal, test, para), info = gptcache_scores(
            embedder, [[(a, b) for a, b, _ in pairs] for pairs in (cal_pairs, test_pairs)]
            + [paraphrases])
    except Unavailable as exc:
        print(f"skipped: GPTCache side by side ({exc})")
        return None, None
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
    print(f"GPTCache: {versions} (pins {' '.join(PINS)}), in its own venv under "
          f"{cache_dir()}; {info['evaluation']}; distance from the {info['distance']}")

    def labelled(ranks: np.ndarray, pairs: list[Pair]) -> Labelled:
        return Labelled.of(ranks, np.ones(len(pairs), bool), [lab == 1 for *_, lab in pairs])

    return (labelled(cal, cal_pairs), labelled(test, test_pairs)), para


def precision_part(embedder: SentenceTransformerEmbedder, cal_pairs: list[Pair],
                   test_pairs: list[Pair], root: Path, rates: Sequence[float]
                   ) -> dict[str, float]:
    """Sections 1-3: print their tables; return the headline figures."""
    started = time.perf_counter()
    cal, test = judged(embedder, cal_pairs), judged(embedder, test_pairs)
    per_pair = (time.perf_counter() - started) / (len(cal_pairs) + len(test_pairs))
    paraphrases = load_paraphrases(root)
    theirs, para_ranks = gptcache_part(embedder, cal_pairs, test_pairs, paraphrases)
    sides: list[Side] = [(COSINE, cal[0], test[0]), (VERIFIED, cal[1], test[1])]
    sides += [(GPTCACHE, *theirs)] if theirs is not None else []
    rows, chosen = curve_rows(sides)
    print_table("Test half: precision-recall (recall = served duplicates / all duplicates); "
                "'cal thr' = recall-0.30 threshold chosen on the calibration half (cosine; "
                "for GPTCache its similarity_threshold: rank = 4 - squared L2 >= 4 x it)",
                ["method", "P@R0.30", "P@R0.13", "R@P0.90", "cal thr", "P at it",
                 "R at it"], rows)
    p30 = precision_at_recall(test[1], 0.30)
    eq_rows, ratio = equal_precision_rows(sides, p30)
    print_table("Test half: best recall at equal precision; the ratio is ragline with "
                "verification over GPTCache (the headline ratio at ragline's own P@R0.30)",
                ["precision", *(name for name, _, _ in sides), "ratio"], eq_rows)
    outcomes = print_rates(cal, test, rates)
    para = paraphrase_rows(embedder, paraphrases, [("recall-0.30 threshold", chosen[VERIFIED])]
                           + [(f"calibrated {r:.2f}", o.threshold)
                              for r, o in zip(rates, outcomes, strict=True)],
                           None if para_ranks is None else (para_ranks, chosen[GPTCACHE]))
    print_table(f"mock_data.json: share of {len(paraphrases)} true paraphrase pairs served",
                ["threshold", "cosine only", "cosine + verification", "GPTCache"], para)
    print(f"\nverification and cosine: {per_pair * 1e6:.0f} us a pair (embeddings cached)")
    return {"p30": p30, "gptcache_p30": precision_at_recall(theirs[1], 0.30) if theirs
            else float("nan"), "ratio": ratio,
            "paraphrase": float(para[0][2]) if para else float("nan"),
            "fhr": outcomes[0].false_hit_rate, "hit": outcomes[0].hit_rate,
            "static_hit": best_static_threshold(test[1], rates[0]).hit_rate}


def latency_part(sizes: Sequence[int], texts: Sequence[str], redis_db: int) -> dict[int, float]:
    """Section 4: print the latency table; return the Edge p50 (ms) by size."""
    if not sizes:
        return {}

    def theirs(entries: np.ndarray, queries: np.ndarray) -> dict[str, list[float]] | None:
        try:
            info = gptcache_latency(gptcache_python(cache_dir()), entries, queries,
                                    list(sizes))
        except Unavailable as exc:
            print(f"skipped: GPTCache latency ({exc})")
            return None
        if "skipped" in info:
            print(f"skipped: GPTCache latency ({info['skipped']})")
            return None
        found: dict[str, list[float]] = info["sizes"]
        return found

    edge = run_latency(sizes, texts, redis_db=redis_db, gptcache=theirs)
    return {size: p50 for size, (p50, _) in edge.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its tables; 0 also when the data is absent."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=20000, help="QQP pairs used (both halves)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rates", default="0.05,0.10", help="max error rates, comma-separated")
    parser.add_argument("--latency-sizes", default="10000,100000",
                        help="cache sizes for the latency section ('' skips it)")
    parser.add_argument("--redis-db", type=int, default=15)
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]
    sizes = sorted(int(s) for s in args.latency_sizes.split(",") if s.strip())
    root = data_root()
    pairs = load_qqp(root)
    if pairs is None:
        print(f"skipped: {root / 'qqp'} not found")
        return 0
    cal_pairs, test_pairs = split(pairs, args.pairs, args.seed)
    print(f"ragline semantic-cache benchmark: QQP {len(cal_pairs)} calibration + "
          f"{len(test_pairs)} test pairs (seed {args.seed}), bundled {BUNDLED_MINILM}; "
          f"load average {load_average()}")
    embedder = SentenceTransformerEmbedder(BUNDLED_MINILM)
    got = precision_part(embedder, cal_pairs, test_pairs, root, rates)
    edge = latency_part(sizes, sorted({a for a, _, _ in pairs}), args.redis_db)
    big = f"{sizes[-1] // 1000}k" if sizes else "100k"
    p50 = edge[sizes[-1]] if sizes else float("nan")
    print(f"\nload average {load_average()}")
    print(f"qqp precision_at_r30={got['p30']:.3f} gptcache_precision_at_r30="
          f"{got['gptcache_p30']:.3f} recall_ratio_vs_gptcache={got['ratio']:.2f} "
          f"paraphrase_recall={got['paraphrase']:.3f} false_hit_rate_at_{rates[0]:.2f}="
          f"{got['fhr']:.3f} lookup_p50_ms_{big}={p50:.3f} "
          f"hit_rate_at_{rates[0]:.2f}={got['hit']:.3f} best_static_hit_rate_at_{rates[0]:.2f}="
          f"{got['static_hit']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
