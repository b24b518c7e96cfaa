"""Semantic-cache benchmark: precision of "serve from cache" on Quora Question Pairs.

Data: ``qqp/`` of the shared data folder. ``similiar_qqp_full.json.gz`` (a gzipped tar
holding one JSON list of 80,854 labelled pairs ``{text_a, text_b, label}``; the
non-duplicates are hard near-misses) and ``mock_data.json`` (999 true paraphrase pairs
``{origin, similar}``), both from GPTCache's ``examples/benchmark/``.

Each pair is one cache decision: ``text_a`` is the stored question, ``text_b`` the new
one; serving is right when the pair is a duplicate. The pairs (``--pairs`` of them,
sampled with ``--seed``) are split by pair, seeded, into a calibration half and a test
half. The verifier's rules (``ragline.cache.verify``) were tuned on calibration halves
only; every threshold below is chosen on the calibration half and reported on the test
half (out of sample), where recall is the share of all duplicate pairs served.

1. Precision-recall of plain MiniLM cosine and of cosine + lexical verification.
2. ``max_error_rate`` (``--rates``, 0.05 and 0.10): the threshold ``ragline.cache.calibrate``
   picks (Wilson / Clopper-Pearson 95 % upper bound of the false-hit rate among served
   pairs), its realised false-hit rate and hit rate on the test half, beside the best single
   static threshold for the same rate found with hindsight on the test half (the oracle).
3. Paraphrase recall on ``mock_data.json`` at the recall-0.30 threshold chosen on the
   calibration half, and at each calibrated threshold.

Not measured yet (a later step): GPTCache's own figures side by side, and lookup latency
with 100k cached entries.

Run from the project root::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/cache.py [--pairs 20000] [--seed 0] \\
        [--rates 0.05,0.10]

Without the data folder the benchmark prints ``skipped: ... not found`` and exits 0.
Question embeddings are cached under ``$RAGLINE_BENCH_CACHE`` (default
``~/.cache/ragline-bench``), keyed by the SHA-256 of each text. The last line sums up the
headline figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from _common import data_root, load_average, print_table

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
BOUNDS: tuple[Bound, ...] = ("wilson", "clopper-pearson")


def cache_dir() -> Path:
    """Where question embeddings are cached."""
    env = os.environ.get("RAGLINE_BENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ragline-bench"


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


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def embed_cached(embedder: SentenceTransformerEmbedder, texts: Sequence[str]) -> np.ndarray:
    """Embeddings of ``texts``, from the on-disk cache where present (saved as they come)."""
    path = cache_dir() / f"cache-embeddings-{BUNDLED_MINILM}.npz"
    known: dict[str, np.ndarray] = {}
    if path.exists():
        with np.load(path) as saved:
            known = dict(zip(saved["keys"].tolist(), saved["vectors"], strict=True))
    keys = [_key(t) for t in texts]
    missing = list({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
    if missing:
        print(f"... embedding {len(missing)} questions (cached afterwards)", flush=True)
        started = time.perf_counter()
        for start in range(0, len(missing), 2048):
            part = missing[start:start + 2048]
            known.update(zip([k for k, _ in part],
                             embedder.embed_documents([t for _, t in part]), strict=True))
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, keys=np.array(list(known)), vectors=np.stack(list(known.values())))
            tmp.replace(path)
            print(f"    {start + len(part)}/{len(missing)} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    return np.stack([known[k] for k in keys]).astype(np.float32)


def split(pairs: list[Pair], size: int, seed: int) -> tuple[list[Pair], list[Pair]]:
    """``size`` pairs drawn with ``seed``, as (calibration half, test half)."""
    order = np.random.default_rng(seed).permutation(len(pairs))[:size]
    chosen = [pairs[i] for i in order]
    return chosen[: len(chosen) // 2], chosen[len(chosen) // 2:]


def cosines(embedder: SentenceTransformerEmbedder,
            pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """The cosine of each pair's two texts (normalised embeddings)."""
    vectors = embed_cached(embedder, [t for pair in pairs for t in pair])
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


def curve_rows(cal: tuple[Labelled, Labelled],
               test: tuple[Labelled, Labelled]) -> tuple[list[list[str]], float]:
    """Precision-recall rows (test half) and the verified side's recall-0.30 threshold."""
    rows, r30 = [], 0.0
    for name, c, t in (("MiniLM cosine", cal[0], test[0]),
                       ("cosine + verification", cal[1], test[1])):
        threshold = threshold_for_recall(c, 0.30)
        at = evaluate(t, threshold)
        rows.append([name, f"{precision_at_recall(t, 0.30):.3f}",
                     f"{precision_at_recall(t, 0.13):.3f}",
                     f"{recall_at_precision(t, 0.90):.3f}", f"{threshold:.3f}",
                     f"{at.precision:.3f}", f"{at.recall:.3f}"])
        r30 = threshold
    return rows, r30


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


def paraphrase_recall(embedder: SentenceTransformerEmbedder, paraphrases: list[tuple[str, str]],
                      threshold: float) -> tuple[float, float]:
    """Share of the paraphrase pairs served at ``threshold``: (cosine only, verified)."""
    if not paraphrases:
        return float("nan"), float("nan")
    sims = cosines(embedder, paraphrases)
    accepted = np.array([verify(a, b).accepted for a, b in paraphrases])
    return float((sims >= threshold).mean()), float(((sims >= threshold) & accepted).mean())


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its tables; 0 also when the data is absent."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=20000, help="QQP pairs used (both halves)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rates", default="0.05,0.10", help="max error rates, comma-separated")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]
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
    started = time.perf_counter()
    cal, test = judged(embedder, cal_pairs), judged(embedder, test_pairs)
    per_pair = (time.perf_counter() - started) / (len(cal_pairs) + len(test_pairs))
    rows, r30 = curve_rows(cal, test)
    print_table("Test half: precision-recall (recall = served duplicates / all duplicates); "
                "'cal thr' = recall-0.30 threshold chosen on the calibration half",
                ["method", "P@R0.30", "P@R0.13", "R@P0.90", "cal thr", "P at it",
                 "R at it"], rows)
    chosen = print_rates(cal, test, rates)
    paraphrases = load_paraphrases(root)
    para_rows = [[f"{label} ({t:.3f})", *(f"{r:.3f}" for r in paraphrase_recall(
        embedder, paraphrases, t))] for label, t in
        [("recall-0.30 threshold", r30)] + [(f"calibrated {rate:.2f}", o.threshold)
                                            for rate, o in zip(rates, chosen, strict=True)]]
    print_table(f"mock_data.json: share of {len(paraphrases)} true paraphrase pairs served",
                ["threshold", "cosine only", "cosine + verification"], para_rows)
    print(f"\nverification and cosine: {per_pair * 1e6:.0f} us a pair (embeddings cached)")
    print("not measured here (a later step): GPTCache side by side; lookup latency at 100k "
          "entries")
    print(f"qqp precision_at_r30={precision_at_recall(test[1], 0.30):.3f} "
          f"paraphrase_recall={para_rows[0][2]} false_hit_rate_at_{rates[0]:.2f}="
          f"{chosen[0].false_hit_rate:.3f} hit_rate_at_{rates[0]:.2f}={chosen[0].hit_rate:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
