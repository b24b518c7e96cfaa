"""Retrieval benchmarks: ragline's Qdrant index against the peers' building blocks and LangChain.

Three benchmarks, each printed as fixed-width tables (ragline and peer side by side):

1. **Quality** on Cranfield and SQuAD-500 (``../shared/data``): nDCG@10, Recall@10 and
   Recall@100 of ragline's ``bm25``, ``dense`` and ``hybrid`` modes against
   ``rank_bm25.BM25Okapi`` (what LangChain's ``BM25Retriever`` wraps), brute-force cosine
   over the same MiniLM vectors, their reciprocal-rank fusion in Python, and LangChain's
   real ``EnsembleRetriever`` (``BM25Retriever`` + ``InMemoryVectorStore``) when installed.
   nDCG@10 and Recall@10 come from a top-10 search, Recall@100 from a top-100 search; the
   sets are loaded and scored by ``ragline.evals`` (datasets, and metrics by pytrec_eval).
2. **Query latency** of ragline ``hybrid`` at 10k, 100k and 1M synthetic chunks, and
3. **Ingest throughput** on 100k synthetic chunks: both in ``retrieval_speed.py`` (see
   there; it also runs on its own), which this script runs after benchmark 1 unless
   ``--skip-latency --skip-ingest``.

Run from the project root::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/retrieval.py [--skip-quality]
        [--skip-latency] [--skip-ingest] [--skip-langchain] [--sizes 10000,100000,1000000]
        [--ingest-size 100000] [--ingest-via files|chunks] [--peer-max-size N]

The data folder is ``../shared/data`` next to the project (or ``$RAGLINE_BENCH_DATA``);
a missing folder or data set prints ``skipped: ... not found`` and the rest still runs.
The last line sums up the headline figures in one machine-readable line.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _common as common
import _peers as peers
import retrieval_speed

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ragline.models.embedder import SentenceTransformerEmbedder

Qrels = dict[str, dict[str, int]]  # query id -> {doc id: grade > 0}

PEER_DEPTH = 100  # per-retriever depth the peers fuse for Recall@100


# -- data -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dataset:
    """A retrieval test set: documents (one chunk each), queries and graded judgements."""

    name: str
    docs: list[tuple[str, str]]  # (doc id, text)
    queries: list[tuple[str, str]]  # (query id, text)
    qrels: Qrels


def load_set(root: Path, folder: str, name: str) -> Dataset:
    """A test set through :mod:`ragline.evals.datasets`: its documents, cases and qrels.

    ``folder`` is ``cranfield`` (1,400 abstracts, 225 queries with graded qrels, ids by
    position) or ``squad2-500`` (411 distinct paragraphs; a question's own paragraph is
    its one relevant document). Raises ``DatasetNotFound`` when a file is missing.
    """
    from ragline.evals.datasets import (
        cranfield_documents,
        load_cranfield,
        load_squad,
        qrels,
        squad_documents,
    )

    documents, load = {"cranfield": (cranfield_documents, load_cranfield),
                       "squad2-500": (squad_documents, load_squad)}[folder]
    cases = load(root / folder)
    return Dataset(name, [(d.id, d.text) for d in documents(root / folder)],
                   [(c.id, c.question) for c in cases], qrels(cases))


# -- metrics --------------------------------------------------------------------------------


def evaluate(runs: dict[str, peers.Ranking], qrels: Qrels,
             deep: dict[str, peers.Ranking] | None = None) -> dict[str, float]:
    """Mean nDCG@10, Recall@10 and Recall@100 over the judged queries (``ragline.evals``).

    ``runs`` gives nDCG@10 and Recall@10 (a top-10 search); ``deep``, when given, gives
    Recall@100 (a top-100 search), else ``runs`` does. Graded nDCG as trec_eval: gain =
    grade, discount 1/log2(rank + 1).
    """
    from ragline.evals.metrics import mean_retrieval_metrics

    top = mean_retrieval_metrics(runs, qrels, k=10)
    wide = mean_retrieval_metrics(runs if deep is None else deep, qrels, k=100)
    nan = float("nan")
    return {"ndcg10": top.get("ndcg@k", nan), "r10": top.get("recall@k", nan),
            "r100": wide.get("recall@k", nan)}


# -- benchmark 1: quality -------------------------------------------------------------------


def quality(dataset: Dataset, embedder: SentenceTransformerEmbedder, home: Path,
            *, langchain: bool) -> dict[str, dict[str, float]]:
    """Run every retriever on ``dataset``; print and return the metrics by retriever name.

    Every retriever is scored twice over: nDCG@10 and Recall@10 from a top-10 search
    (ragline ``k=10``, which fuses the configured ``candidates`` of each retriever; the
    peers fuse the same depth), Recall@100 from a top-100 search (ragline ``k=100``,
    whose fusion depth is ``max(candidates, k)`` = 100; the peers fuse their top-100).
    """
    from ragline.types import Chunk

    doc_ids = [d for d, _ in dataset.docs]
    texts = [t for _, t in dataset.docs]
    query_texts = [q for _, q in dataset.queries]
    queries = [qid for qid, _ in dataset.queries]
    started = time.perf_counter()
    doc_vectors = embedder.embed_documents(texts)
    query_vectors = embedder.embed_documents(query_texts)
    embed_s = time.perf_counter() - started

    index = peers.make_index(home, re.sub(r"\W", "", dataset.name.lower()), embedder)
    index.upsert([Chunk.create(d, t, {"source": d}, 0) for d, t in dataset.docs],
                 vectors=doc_vectors)
    index.optimize()
    depth = index.candidates
    top10: dict[str, dict[str, peers.Ranking]] = {}  # name -> query id -> top-10
    top100: dict[str, dict[str, peers.Ranking]] = {}  # name -> query id -> top-100
    for mode in ("bm25", "dense", "hybrid"):
        for k, runs in ((10, top10), (100, top100)):
            runs[f"ragline {mode}"] = {
                qid: [h.chunk.doc_id for h in index.search(q, k=k, mode=mode, query_vector=qv)]
                for qid, q, qv in zip(queries, query_texts, query_vectors, strict=True)}
    setting = peers.fusion_label(index)
    index.close()
    fusion_variants(dataset, doc_vectors, query_vectors, embedder, home)

    split_bm25 = peers.PeerBm25(texts, peers.split_tokens)
    word_bm25 = peers.PeerBm25(texts, peers.word_tokens)
    peer: dict[str, dict[str, peers.Ranking]] = {"bm25 split": {}, "bm25 word": {}, "dense": {}}
    for qid, q, qv in zip(queries, query_texts, query_vectors, strict=True):
        peer["bm25 split"][qid] = [doc_ids[i] for i in split_bm25.top(q, PEER_DEPTH)]
        peer["bm25 word"][qid] = [doc_ids[i] for i in word_bm25.top(q, PEER_DEPTH)]
        peer["dense"][qid] = [doc_ids[i] for i in peers.dense_top(doc_vectors, qv, PEER_DEPTH)]
    for name, run in peer.items():  # single retrievers: the top-10 is the top-100's prefix
        top10[f"peer {name}"] = {q: r[:10] for q, r in run.items()}
        top100[f"peer {name}"] = run
    for variant in ("split", "word"):
        lists = [peer[f"bm25 {variant}"], peer["dense"]]
        top10[f"peer rrf {variant}"] = {q: peers.rrf([r[q][:depth] for r in lists])[:10]
                                        for q in queries}
        top100[f"peer rrf {variant}"] = {q: peers.rrf([r[q] for r in lists])[:100]
                                         for q in queries}

    pairs = [
        ("bm25", "ragline bm25", "peer bm25 split", "BM25Okapi, text.split()"),
        ("bm25", "ragline bm25", "peer bm25 word", "BM25Okapi, lower + \\w+"),
        ("dense", "ragline dense", "peer dense", "numpy cosine, same MiniLM"),
        ("hybrid", "ragline hybrid", "peer rrf split", "RRF k=60: split BM25 + cosine"),
        ("hybrid", "ragline hybrid", "peer rrf word", "RRF k=60: \\w+ BM25 + cosine"),
    ]
    skipped = "" if langchain else "--skip-langchain"
    skipped = skipped or (peers.langchain_missing() or "")
    if skipped:
        print(f"\nskipped: LangChain row ({skipped})")
    else:
        lc = peers.LangChainEnsemble(texts, doc_ids, doc_vectors, query_texts, query_vectors, depth)
        top10["langchain"] = {qid: lc.search(q, 10)
                              for qid, q in zip(queries, query_texts, strict=True)}
        lc.set_depth(PEER_DEPTH)
        top100["langchain"] = {qid: lc.search(q, 100)
                               for qid, q in zip(queries, query_texts, strict=True)}
        del lc
        pairs.append(("hybrid", "ragline hybrid", "langchain",
                      "LangChain EnsembleRetriever: BM25Retriever + InMemoryVectorStore"))

    scores = {name: evaluate(top10[name], dataset.qrels, top100[name]) for name in top10}
    rows = []
    for label, ours, theirs, desc in pairs:
        row = [label, desc]
        for metric in ("ndcg10", "r10", "r100"):
            a, b = scores[ours][metric], scores[theirs][metric]
            row += [f"{a:.3f}", f"{b:.3f}", common.ratio(a, b)]
        rows.append(row)
    judged = sum(1 for q in queries if dataset.qrels.get(q))
    common.print_table(
        f"Quality: {dataset.name} ({len(texts)} docs, {judged} judged queries; "
        f"embedding {embed_s:.1f}s, excluded)",
        ["ragline", "peer", "nDCG@10", "peer", "x", "R@10", "peer", "x", "R@100", "peer", "x"],
        rows)
    print(f"(x = ragline / peer; nDCG@10 and R@10 from top-10 searches, where every hybrid "
          f"fuses the top-{depth} of each retriever; R@100 from top-100 searches, fusing the "
          f"top-{PEER_DEPTH}; ragline hybrid = shipped defaults: {setting}; the peers and "
          f"LangChain fuse by RRF k={peers.RRF_K})")
    return scores


NO_FEEDBACK = {"docs": 0}
FUSION_VARIANTS: tuple[tuple[str, dict[str, object]], ...] = (
    ("dbsf + feedback 3 docs x 2.0 (default)", {}),
    ("dbsf", {"feedback": NO_FEEDBACK}),
    ("dbsf + feedback 2 docs x 2.0", {"feedback": {"docs": 2}}),
    ("dbsf + feedback 5 docs x 2.0", {"feedback": {"docs": 5}}),
    ("dbsf + feedback, depth 100", {"candidates": 100}),
    ("rrf k=60", {"fusion": "rrf", "feedback": NO_FEEDBACK}),
    ("rrf k=60 + feedback", {"fusion": "rrf"}),
    ("rrf k=10", {"fusion": "rrf", "rrf_k": 10, "feedback": NO_FEEDBACK}),
    ("rrf k=60, weights dense 1 : bm25 2", {"fusion": "rrf", "weights": [1.0, 2.0],
                                            "feedback": NO_FEEDBACK}),
    ("convex, equal weights", {"fusion": "convex", "feedback": NO_FEEDBACK}),
    ("convex, dense 0.4 : bm25 0.6", {"fusion": "convex", "weights": [0.4, 0.6],
                                      "feedback": NO_FEEDBACK}),
    ("convex, dense 0.4 : bm25 0.6 + feedback", {"fusion": "convex", "weights": [0.4, 0.6]}),
)


def fusion_variants(dataset: Dataset, doc_vectors: peers.Matrix, query_vectors: peers.Matrix,
                    embedder: SentenceTransformerEmbedder, home: Path) -> None:
    """ragline hybrid under each fusion setting, on the same vectors; prints one table.

    nDCG@10 and R@10 come from a k=10 search (fusion depth = the configured
    candidates), R@100 from a k=100 search (depth 100).
    """
    from ragline.types import Chunk

    chunks = [Chunk.create(d, t, {"source": d}, 0) for d, t in dataset.docs]
    rows = []
    prefix = re.sub(r"\W", "", dataset.name.lower())
    for number, (label, settings) in enumerate(FUSION_VARIANTS):
        index = peers.make_index(home, f"{prefix}f{number}", embedder, **settings)
        index.upsert(chunks, vectors=doc_vectors)
        index.optimize()
        runs = [{qid: [h.chunk.doc_id for h in index.search(q, k=k, mode="hybrid",
                                                           query_vector=qv)]
                 for (qid, q), qv in zip(dataset.queries, query_vectors, strict=True)}
                for k in (10, 100)]
        index.close()
        top10, top100 = (evaluate(run, dataset.qrels) for run in runs)
        rows.append([label, f"{top10['ndcg10']:.3f}", f"{top10['r10']:.3f}",
                     f"{top100['r100']:.3f}"])
    common.print_table(f"Fusion settings, ragline hybrid on {dataset.name}",
                       ["fusion", "nDCG@10", "R@10", "R@100"], rows)


# -- main -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, run the benchmarks, print the tables and the summary line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--skip-quality", action="store_true", help="skip benchmark 1")
    retrieval_speed.add_options(parser)
    args = parser.parse_args(argv)
    sizes = retrieval_speed.checked_sizes(parser, args)

    from ragline.models.embedder import SentenceTransformerEmbedder

    common.print_header("retrieval benchmark")
    embedder = SentenceTransformerEmbedder()
    embedder.warm_up()
    root = common.data_root()
    print(f"data: {root}; load average {common.load_average()}; "
          f"memory available {common.available_mb() / 1024:.1f} GiB")
    home = Path(tempfile.mkdtemp(prefix="ragline-bench-"))
    summary = {"cranfield": "n/a", "squad500": "n/a"}
    try:
        from ragline.evals.errors import DatasetNotFound

        sets = [("cranfield", "cranfield", "Cranfield"), ("squad500", "squad2-500", "SQuAD-500")]
        if args.skip_quality:
            print("\nskipped: quality benchmark (--skip-quality)")
            sets = []
        for key, folder, name in sets:
            if not (root / folder).is_dir():
                print(f"\nskipped: quality on {folder} ({root / folder} not found)")
                continue
            try:
                dataset = load_set(root, folder, name)
            except DatasetNotFound as exc:
                print(f"\nskipped: quality on {folder} ({exc})")
                continue
            scores = quality(dataset, embedder, home, langchain=not args.skip_langchain)
            summary[key] = f"{scores['ragline hybrid']['ndcg10']:.3f}"
        summary |= retrieval_speed.run(args, sizes, embedder, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)

    common.print_footer()
    print(f"cranfield best nDCG@10={summary['cranfield']} "
          f"squad500 best nDCG@10={summary['squad500']} "
          f"hybrid_p50_ms_1m={summary['p50']} ingest_vs_embed={summary['ingest']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
