"""Retrieval benchmarks: ragline's Qdrant index against the peers' building blocks and LangChain.

Three benchmarks, each printed as fixed-width tables (ragline and peer side by side):

1. **Quality** on Cranfield and SQuAD-500 (``../shared/data``): nDCG@10, Recall@10 and
   Recall@100 of ragline's ``bm25``, ``dense`` and ``hybrid`` modes against
   ``rank_bm25.BM25Okapi`` (what LangChain's ``BM25Retriever`` wraps), brute-force cosine
   over the same MiniLM vectors, their reciprocal-rank fusion in Python, and LangChain's
   real ``EnsembleRetriever`` (``BM25Retriever`` + ``InMemoryVectorStore``) when installed.
   nDCG@10 and Recall@10 come from a top-10 search, Recall@100 from a top-100 search; the
   sets are loaded and scored by ``ragline.evals`` (datasets, and metrics by pytrec_eval).
2. **Query latency** (p50/p99, query embedding excluded) of ragline ``hybrid`` against the
   Python-fused peer at 10k, 100k and 1M synthetic chunks, and against LangChain's
   ``EnsembleRetriever`` up to 100k, with build time and peak RSS.
3. **Ingest throughput**: ragline's ``ingest_paths`` (or ``QdrantIndex.upsert``) on 100k
   synthetic English-like chunks, embedded by the local MiniLM, against raw
   ``embed_documents`` on the same texts, with peak RSS.

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
import contextlib
import gc
import math
import os
import platform
import re
import resource
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from ragline.models.embedder import SentenceTransformerEmbedder
    from ragline.rag.index import QdrantIndex

Matrix = npt.NDArray[np.float32]
Qrels = dict[str, dict[str, int]]  # query id -> {doc id: grade > 0}
Ranking = list[str]  # doc ids, best first

DIM = 384
RRF_K = 60  # LangChain EnsembleRetriever's default constant
PEER_DEPTH = 100  # per-retriever depth the peers fuse for Recall@100
WORD = re.compile(r"\w+")
LANGCHAIN_MAX_SIZE = 100_000  # the LangChain latency row runs up to this corpus size
QUERY_BUDGET_S = 30.0  # a slow side is timed on a prefix of the queries that fits this budget
MIN_QUERIES = 20  # ... but on at least this many


# -- data -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dataset:
    """A retrieval test set: documents (one chunk each), queries and graded judgements."""

    name: str
    docs: list[tuple[str, str]]  # (doc id, text)
    queries: list[tuple[str, str]]  # (query id, text)
    qrels: Qrels


def data_root() -> Path:
    """The shared data folder: ``$RAGLINE_BENCH_DATA`` or ``../shared/data`` beside the project."""
    env = os.environ.get("RAGLINE_BENCH_DATA")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


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


def evaluate(runs: dict[str, Ranking], qrels: Qrels,
             deep: dict[str, Ranking] | None = None) -> dict[str, float]:
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


# -- peers' building blocks -----------------------------------------------------------------


def split_tokens(text: str) -> list[str]:
    """LangChain ``BM25Retriever``'s default preprocessing: ``text.split()``."""
    return text.split()


def word_tokens(text: str) -> list[str]:
    """The fairer variant: lowercase, then regex ``\\w+`` words."""
    return WORD.findall(text.lower())


def top_indices(scores: npt.NDArray[np.floating], depth: int) -> npt.NDArray[np.intp]:
    """Indices of the ``depth`` highest scores, best first (ties by lower index)."""
    depth = min(depth, len(scores))
    part = np.argpartition(-scores, depth - 1)[:depth]
    return part[np.lexsort((part, -scores[part]))]


def rrf(rankings: Sequence[Ranking], k: int = RRF_K) -> Ranking:
    """Weighted reciprocal-rank fusion as in LangChain's ``EnsembleRetriever`` (equal weights).

    Each list adds ``weight / (rank + k)`` (rank from 1) to a document's score; documents
    are then sorted by score, ties kept in order of first appearance.
    """
    weight = 1.0 / len(rankings)
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + weight / (rank + k)
    return sorted(scores, key=lambda doc: -scores[doc])


class PeerBm25:
    """``rank_bm25.BM25Okapi`` over a corpus, with a tokeniser."""

    def __init__(self, texts: Sequence[str], tokenize: Callable[[str], list[str]]) -> None:
        from rank_bm25 import BM25Okapi

        self.tokenize = tokenize
        self.model = BM25Okapi([tokenize(t) for t in texts])

    def top(self, query: str, depth: int) -> npt.NDArray[np.intp]:
        """Corpus positions of the ``depth`` best documents for ``query``."""
        return top_indices(self.model.get_scores(self.tokenize(query)), depth)


def dense_top(doc_vectors: Matrix, query_vector: Matrix, depth: int) -> npt.NDArray[np.intp]:
    """Brute-force cosine (vectors are normalised, so a dot product) top ``depth``."""
    return top_indices(doc_vectors @ query_vector, depth)


# -- LangChain's EnsembleRetriever (optional) -----------------------------------------------


def langchain_missing() -> str | None:
    """Why the LangChain row cannot run (a ``skipped:`` reason), or None when it can."""
    for module in ("langchain_classic", "langchain_community", "langchain_core"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # langchain_community warns that it is sunset
                __import__(module)
        except ImportError:
            return f"{module} not installed"
    return None


class LangChainEnsemble:
    """LangChain's real ``EnsembleRetriever`` over ``BM25Retriever`` + ``InMemoryVectorStore``.

    Both retrievers and the fusion are LangChain's own code with their defaults
    (``text.split()`` BM25 preprocessing, equal weights, ``c`` = 60, documents
    deduplicated by ``page_content``). The vector store gets precomputed vectors
    through a small ``Embeddings`` that looks them up by text, so no model runs
    here and embedding time is excluded, as on ragline's side.
    """

    def __init__(self, texts: Sequence[str], ids: Sequence[str], doc_vectors: Matrix,
                 queries: Sequence[str], query_vectors: Matrix, depth: int) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from langchain_classic.retrievers import EnsembleRetriever
            from langchain_community.retrievers import BM25Retriever
        from langchain_core.embeddings import Embeddings
        from langchain_core.vectorstores import InMemoryVectorStore

        class Precomputed(Embeddings):
            """Vectors computed beforehand with the same MiniLM, looked up by text."""

            def __init__(self, docs: dict[str, list[float]],
                         queries: dict[str, list[float]]) -> None:
                self.docs = docs
                self.queries = queries

            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return [self.docs[t] for t in texts]

            def embed_query(self, text: str) -> list[float]:
                return self.queries[text]

        # lists of floats, as a real Embeddings returns them (the store keeps them as is)
        embeddings = Precomputed(dict(zip(texts, doc_vectors.tolist(), strict=True)),
                                 dict(zip(queries, query_vectors.tolist(), strict=True)))
        metadatas = [{"doc_id": i} for i in ids]
        self.bm25 = BM25Retriever.from_texts(list(texts), metadatas=metadatas, ids=list(ids),
                                             k=depth)
        self.store = InMemoryVectorStore(embedding=embeddings)
        self.store.add_texts(list(texts), metadatas=metadatas, ids=list(ids))
        self.dense = self.store.as_retriever(search_kwargs={"k": depth})
        self.ensemble = EnsembleRetriever(retrievers=[self.bm25, self.dense],
                                          weights=[0.5, 0.5])  # the default, spelled out
        self.depth = depth

    def set_depth(self, depth: int) -> None:
        """How many documents each retriever hands to the fusion."""
        self.bm25.k = depth
        self.dense.search_kwargs = {"k": depth}
        self.depth = depth

    def search(self, query: str, k: int) -> Ranking:
        """The fused ranking's first ``k`` doc ids (``invoke`` returns the whole fusion)."""
        return [d.metadata["doc_id"] for d in self.ensemble.invoke(query)[:k]]


# -- helpers --------------------------------------------------------------------------------


class Memory:
    """Resident memory: now, peak since the last :meth:`reset`, and the process's peak.

    On Linux the peak (``VmHWM``) is reset per phase through ``/proc/self/clear_refs``,
    so each table can show its own peak; that also resets ``getrusage``'s ``ru_maxrss``,
    hence the running maximum kept here for the whole process.
    """

    def __init__(self) -> None:
        self.overall = 0.0

    @staticmethod
    def _status(field: str) -> float:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
        except (OSError, ValueError, IndexError):
            pass
        return float("nan")

    def now(self) -> float:
        """Current resident set size, in MiB."""
        return self._status("VmRSS")

    def rss(self) -> str:
        """Current RSS for a progress line, with its anonymous part when known.

        The rest is file-backed: mainly the Qdrant Edge shard's memory-mapped segments,
        which the kernel can drop and re-read (they count in ``MemAvailable``).
        """
        anon = self._status("RssAnon")
        extra = "" if math.isnan(anon) else f" ({anon:.0f} anonymous)"
        return f"rss {self.now():.0f} MiB{extra}"

    def peak(self) -> float:
        """Peak resident set size since the last reset, in MiB."""
        value = self._status("VmHWM")
        if math.isnan(value):  # not Linux: the process's peak, never reset
            value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.overall = max(self.overall, value)
        return value

    def reset(self) -> None:
        """Start a new phase: its peak starts from the current RSS."""
        self.peak()
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")

    def process_peak(self) -> float:
        """The largest RSS the process reached, over all phases, in MiB."""
        self.peak()
        return self.overall


MEMORY = Memory()


def available_mb() -> float:
    """``MemAvailable`` from ``/proc/meminfo`` in MiB (nan when unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return float("nan")


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, to show whether the machine was shared."""
    try:
        return "/".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def ratio(a: float, b: float) -> str:
    """``a / b`` formatted, or ``-`` when undefined."""
    return f"{a / b:.2f}" if b and not math.isnan(a) and not math.isnan(b) else "-"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a plain fixed-width table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    print(f"\n{title}")
    print(fmt(header))
    print(line)
    for row in rows:
        print(fmt(row))


def make_index(home: Path, collection: str, embedder: SentenceTransformerEmbedder,
               **index_settings: object) -> QdrantIndex:
    """A ragline index (embedded Qdrant Edge shard) under ``home`` with the default settings."""
    from ragline.config import load_settings
    from ragline.rag.index import QdrantIndex

    settings = (load_settings(home=str(home), index=dict(index_settings)) if index_settings
                else load_settings(home=str(home)))
    return QdrantIndex.from_settings(settings, collection=collection, embedder=embedder)


def fusion_label(index: QdrantIndex) -> str:
    """ragline's hybrid setting in words: fusion method, depth and feedback, from the index."""
    fusion = index.fusion
    if fusion.method == "rrf":
        label = f"rrf k={fusion.rrf_k}"
    elif fusion.method == "convex":
        label = "convex, weights dense {:g} : bm25 {:g}".format(*fusion.convex_weights)
    else:
        label = fusion.method
    if fusion.weights is not None and fusion.method == "rrf":
        label += ", weights dense {:g} : bm25 {:g}".format(*fusion.weights)
    feedback: Any = getattr(index, "feedback", None)  # pseudo-relevance feedback, if any
    if feedback is not None and feedback.docs:
        label += f" + feedback {feedback.docs} docs x {feedback.weight:g}"
    return f"{label} over the top-{index.candidates} of each retriever"


def timed_queries(run: Callable[[int], object], total: int, *, warm: int,
                  budget_s: float = QUERY_BUDGET_S) -> list[float]:
    """Latencies in ms of ``run(i)`` for queries ``i``, after ``warm`` untimed warm-up queries.

    When all ``total`` queries would take longer than ``budget_s`` by the warm-up's pace,
    only a prefix is timed: as many as fit the budget, at least ``MIN_QUERIES``.
    """
    t0 = time.perf_counter()
    for i in range(warm):
        run(i)
    per_query = (time.perf_counter() - t0) / max(warm, 1)
    count = total if per_query * total <= budget_s else max(
        MIN_QUERIES, min(total, int(budget_s / per_query)))
    samples: list[float] = []
    for i in range(count):
        t0 = time.perf_counter()
        run(i)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


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

    index = make_index(home, re.sub(r"\W", "", dataset.name.lower()), embedder)
    index.upsert([Chunk.create(d, t, 0, {"source": d}) for d, t in dataset.docs],
                 vectors=doc_vectors)
    index.optimize()
    depth = index.candidates
    top10: dict[str, dict[str, Ranking]] = {}  # name -> query id -> top-10
    top100: dict[str, dict[str, Ranking]] = {}  # name -> query id -> top-100
    for mode in ("bm25", "dense", "hybrid"):
        for k, runs in ((10, top10), (100, top100)):
            runs[f"ragline {mode}"] = {
                qid: [h.chunk.doc_id for h in index.search(q, k=k, mode=mode, query_vector=qv)]
                for qid, q, qv in zip(queries, query_texts, query_vectors, strict=True)}
    setting = fusion_label(index)
    index.close()
    fusion_variants(dataset, doc_vectors, query_vectors, embedder, home)

    split_bm25 = PeerBm25(texts, split_tokens)
    word_bm25 = PeerBm25(texts, word_tokens)
    peer: dict[str, dict[str, Ranking]] = {"bm25 split": {}, "bm25 word": {}, "dense": {}}
    for qid, q, qv in zip(queries, query_texts, query_vectors, strict=True):
        peer["bm25 split"][qid] = [doc_ids[i] for i in split_bm25.top(q, PEER_DEPTH)]
        peer["bm25 word"][qid] = [doc_ids[i] for i in word_bm25.top(q, PEER_DEPTH)]
        peer["dense"][qid] = [doc_ids[i] for i in dense_top(doc_vectors, qv, PEER_DEPTH)]
    for name, run in peer.items():  # single retrievers: the top-10 is the top-100's prefix
        top10[f"peer {name}"] = {q: r[:10] for q, r in run.items()}
        top100[f"peer {name}"] = run
    for variant in ("split", "word"):
        lists = [peer[f"bm25 {variant}"], peer["dense"]]
        top10[f"peer rrf {variant}"] = {q: rrf([r[q][:depth] for r in lists])[:10]
                                        for q in queries}
        top100[f"peer rrf {variant}"] = {q: rrf([r[q] for r in lists])[:100] for q in queries}

    pairs = [
        ("bm25", "ragline bm25", "peer bm25 split", "BM25Okapi, text.split()"),
        ("bm25", "ragline bm25", "peer bm25 word", "BM25Okapi, lower + \\w+"),
        ("dense", "ragline dense", "peer dense", "numpy cosine, same MiniLM"),
        ("hybrid", "ragline hybrid", "peer rrf split", "RRF k=60: split BM25 + cosine"),
        ("hybrid", "ragline hybrid", "peer rrf word", "RRF k=60: \\w+ BM25 + cosine"),
    ]
    skipped = "" if langchain else "--skip-langchain"
    skipped = skipped or (langchain_missing() or "")
    if skipped:
        print(f"\nskipped: LangChain row ({skipped})")
    else:
        lc = LangChainEnsemble(texts, doc_ids, doc_vectors, query_texts, query_vectors, depth)
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
            row += [f"{a:.3f}", f"{b:.3f}", ratio(a, b)]
        rows.append(row)
    judged = sum(1 for q in queries if dataset.qrels.get(q))
    print_table(
        f"Quality: {dataset.name} ({len(texts)} docs, {judged} judged queries; "
        f"embedding {embed_s:.1f}s, excluded)",
        ["ragline", "peer", "nDCG@10", "peer", "x", "R@10", "peer", "x", "R@100", "peer", "x"],
        rows)
    print(f"(x = ragline / peer; nDCG@10 and R@10 from top-10 searches, where every hybrid "
          f"fuses the top-{depth} of each retriever; R@100 from top-100 searches, fusing the "
          f"top-{PEER_DEPTH}; ragline hybrid = shipped defaults: {setting}; the peers and "
          f"LangChain fuse by RRF k={RRF_K})")
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


def fusion_variants(dataset: Dataset, doc_vectors: Matrix, query_vectors: Matrix,
                    embedder: SentenceTransformerEmbedder, home: Path) -> None:
    """ragline hybrid under each fusion setting, on the same vectors; prints one table.

    nDCG@10 and R@10 come from a k=10 search (fusion depth = the configured
    candidates), R@100 from a k=100 search (depth 100).
    """
    from ragline.types import Chunk

    chunks = [Chunk.create(d, t, 0, {"source": d}) for d, t in dataset.docs]
    rows = []
    prefix = re.sub(r"\W", "", dataset.name.lower())
    for number, (label, settings) in enumerate(FUSION_VARIANTS):
        index = make_index(home, f"{prefix}f{number}", embedder, **settings)
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
    print_table(f"Fusion settings, ragline hybrid on {dataset.name}",
                ["fusion", "nDCG@10", "R@10", "R@100"], rows)


# -- benchmark 2: latency -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Synthetic:
    """A deterministic synthetic corpus: chunk texts, normalised vectors and queries."""

    texts: list[str]
    vectors: Matrix
    queries: list[str]
    query_vectors: Matrix


def pseudo_words(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct lowercase pseudo-words of 3 to 10 letters."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words: dict[str, None] = {}
    while len(words) < count:
        for length in rng.integers(3, 11, size=count):
            words.setdefault("".join(rng.choice(letters, size=length)), None)
            if len(words) == count:
                break
    return list(words)


def zipf_cdf(count: int, shift: float = 2.7) -> npt.NDArray[np.float64]:
    """Cumulative Zipf-Mandelbrot law over ranks 1..count: ``p ∝ 1 / (rank + shift)``."""
    weights = 1.0 / (np.arange(1, count + 1, dtype=np.float64) + shift)
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    return cdf


def unit_vectors(rng: np.random.Generator, count: int) -> Matrix:
    """``count`` random unit float32 vectors of ``DIM`` dimensions."""
    vectors = rng.standard_normal((count, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


SYNTH_BLOCK = 10_000


def synthetic(size: int, *, n_queries: int = 200, vocab: int = 30_000) -> Synthetic:
    """Chunks of 60-120 Zipf-distributed pseudo-words, random unit vectors, 3-6 word queries.

    Generated in blocks of 10,000 chunks, block ``b`` from ``default_rng([0, b])``, so the
    corpus at any size is a prefix of the corpus at any larger size. Words are drawn as
    integer ranks (a few bytes each) and joined per chunk, so 1M chunks take a few
    hundred MB beyond the texts and vectors themselves. Query words skip the 50 most
    frequent words (stand-ins for stopwords) and follow the same law otherwise.
    """
    words = pseudo_words(np.random.default_rng(0), vocab)
    cdf = zipf_cdf(vocab)
    texts: list[str] = []
    vectors = np.empty((size, DIM), dtype=np.float32)
    for block, start in enumerate(range(0, size, SYNTH_BLOCK)):
        rng = np.random.default_rng([0, block])
        count = min(SYNTH_BLOCK, size - start)
        lengths = rng.integers(60, 121, size=SYNTH_BLOCK)  # whole blocks, for the prefix rule
        ranks = np.searchsorted(cdf, rng.random(int(lengths.sum()))).tolist()
        bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
        texts.extend(" ".join([words[r] for r in ranks[bounds[i]:bounds[i + 1]]])
                     for i in range(count))
        vectors[start:start + count] = unit_vectors(rng, SYNTH_BLOCK)[:count]
    rng = np.random.default_rng([1, 0])
    content = zipf_cdf(vocab - 50, shift=52.7)  # ranks 51.. of the same law
    queries = [" ".join(words[50 + r] for r in np.searchsorted(content, rng.random(int(n))))
               for n in rng.integers(3, 7, size=n_queries)]
    return Synthetic(texts, vectors, queries, unit_vectors(rng, n_queries))


def percentiles(samples_ms: Sequence[float]) -> tuple[float, float, float]:
    """p50, p99 and mean of latency samples."""
    arr = np.asarray(samples_ms)
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99)), float(arr.mean())


@dataclass(slots=True)
class Side:
    """One system's figures at one corpus size (``skipped`` says why there are none)."""

    samples: list[float]
    build_s: float = float("nan")
    peak_mb: float = float("nan")
    skipped: str = ""

    def cell(self, which: int) -> str:
        """p50 (0), p99 (1) or mean (2) formatted, or ``-``."""
        return f"{percentiles(self.samples)[which]:.2f}" if self.samples else "-"

    def value(self, which: int) -> float:
        """p50 (0), p99 (1) or mean (2), nan when skipped."""
        return percentiles(self.samples)[which] if self.samples else float("nan")


def build_ragline(size: int, corpus: Synthetic, embedder: SentenceTransformerEmbedder,
                  home: Path) -> tuple[QdrantIndex, float, float]:
    """Upsert the first ``size`` chunks in 10k batches and optimize; (index, upsert s, opt. s).

    Chunks are built per batch, outside the timer, so a million of them never sit in
    memory at once.
    """
    from ragline.types import Chunk

    index = make_index(home, f"synth{size}", embedder)
    upsert_s = 0.0
    for start in range(0, size, SYNTH_BLOCK):
        stop = min(start + SYNTH_BLOCK, size)
        chunks = [Chunk.create(f"synth-{i}", corpus.texts[i], 0, {"source": f"synth-{i}"})
                  for i in range(start, stop)]
        t0 = time.perf_counter()
        index.upsert(chunks, vectors=corpus.vectors[start:stop])
        upsert_s += time.perf_counter() - t0
    t0 = time.perf_counter()
    index.optimize()
    return index, upsert_s, time.perf_counter() - t0


def latency(sizes: Sequence[int], embedder: SentenceTransformerEmbedder, home: Path, *,
            langchain: bool, peer_max_size: int | None) -> dict[int, float]:
    """Build each system at each size, time hybrid top-10 queries; returns ragline p50 by size."""
    MEMORY.reset()
    started = time.perf_counter()
    corpus = synthetic(max(sizes))
    n_queries = len(corpus.queries)
    print(f"\nsynthetic corpus: {max(sizes):,} chunks, {n_queries} queries (generated in "
          f"{time.perf_counter() - started:.1f}s, {MEMORY.rss()}, "
          f"peak {MEMORY.peak():.0f} MiB)")
    lc_missing = None if langchain else "--skip-langchain"
    lc_missing = lc_missing or langchain_missing()
    rows: list[list[str]] = []
    lc_rows: list[list[str]] = []
    lc_notes: list[str] = []
    p50s: dict[int, float] = {}
    peer_mb_per_chunk: float | None = None  # measured at the previous size
    depth = 50
    setting = ""
    for size in sizes:
        texts, vectors = corpus.texts[:size], corpus.vectors[:size]
        # ragline
        MEMORY.reset()
        index, upsert_s, optimize_s = build_ragline(size, corpus, embedder, home)
        depth = index.candidates
        setting = fusion_label(index)
        print(f"ragline {size:,}: upsert {upsert_s:.1f}s + optimize {optimize_s:.1f}s, "
              f"{MEMORY.rss()}, peak {MEMORY.peak():.0f} MiB")

        def ours(i: int, index: QdrantIndex = index, explain: bool = False) -> object:
            return index.search(corpus.queries[i], k=10, mode="hybrid",
                                query_vector=corpus.query_vectors[i], explain=explain)

        ragline = Side(timed_queries(ours, n_queries, warm=10, budget_s=math.inf),
                       upsert_s + optimize_s)
        explained = timed_queries(lambda i: ours(i, explain=True), n_queries, warm=0,
                                  budget_s=math.inf)
        # the same fusion in one round: feedback off, as with index.feedback.docs: 0
        feedback = getattr(index, "feedback", None)
        if feedback is not None and feedback.docs:
            index.feedback = type(feedback)(docs=0, weight=feedback.weight)
            single = timed_queries(ours, n_queries, warm=10, budget_s=math.inf)
            one_round = f"{percentiles(single)[0]:.2f}"
            index.feedback = feedback
        else:
            one_round = ragline.cell(0)
        ragline.peak_mb = MEMORY.peak()
        p50s[size] = ragline.value(0)
        index.close()
        del index
        gc.collect()

        # the Python-fused peer: BM25Okapi + numpy cosine + RRF
        MEMORY.reset()
        base = MEMORY.now()
        peer = Side([])
        need = None if peer_mb_per_chunk is None else peer_mb_per_chunk * size
        free = available_mb()
        if peer_max_size is not None and size > peer_max_size:
            peer.skipped = f"over --peer-max-size {peer_max_size:,}"
        elif need is not None and not math.isnan(free) and need > 0.8 * free:
            peer.skipped = (f"BM25Okapi would need ~{need / 1024:.1f} GiB (by the smaller "
                            f"size), {free / 1024:.1f} GiB available")
        if peer.skipped:
            print(f"skipped: peer at {size:,} ({peer.skipped})")
        else:
            t0 = time.perf_counter()
            bm25 = PeerBm25(texts, split_tokens)
            peer.build_s = time.perf_counter() - t0
            peer_mb_per_chunk = max(MEMORY.peak() - base, 0.0) / size
            print(f"peer {size:,}: BM25Okapi built in {peer.build_s:.1f}s, {MEMORY.rss()}, "
                  f"peak {MEMORY.peak():.0f} MiB")

            def theirs(i: int, bm25: PeerBm25 = bm25, vectors: Matrix = vectors,
                       depth: int = depth) -> object:
                q, qv = corpus.queries[i], corpus.query_vectors[i]
                fused = rrf([[str(j) for j in bm25.top(q, depth)],
                             [str(j) for j in dense_top(vectors, qv, depth)]])
                return fused[:10]

            peer.samples = timed_queries(theirs, n_queries, warm=3)
            peer.peak_mb = MEMORY.peak()
            del bm25, theirs
            gc.collect()

        # LangChain's EnsembleRetriever
        lc = Side([])
        if lc_missing:
            lc.skipped = lc_missing
        elif size > LANGCHAIN_MAX_SIZE:
            lc.skipped = f"over {LANGCHAIN_MAX_SIZE:,} chunks"
        else:
            MEMORY.reset()
            t0 = time.perf_counter()
            ensemble = LangChainEnsemble(texts, [str(i) for i in range(size)], vectors,
                                         corpus.queries, corpus.query_vectors, depth)
            lc.build_s = time.perf_counter() - t0
            print(f"LangChain {size:,}: BM25Retriever + InMemoryVectorStore built in "
                  f"{lc.build_s:.1f}s, {MEMORY.rss()}, peak {MEMORY.peak():.0f} MiB")

            def langchain_query(i: int, ensemble: LangChainEnsemble = ensemble) -> object:
                return ensemble.search(corpus.queries[i], 10)

            lc.samples = timed_queries(langchain_query, n_queries, warm=3)
            lc.peak_mb = MEMORY.peak()
            del ensemble, langchain_query
            gc.collect()

        rows.append([f"{size:,}", f"{len(ragline.samples)}/{len(peer.samples) or '-'}",
                     ragline.cell(0), f"{percentiles(explained)[0]:.2f}", one_round, peer.cell(0),
                     ratio(peer.value(0), ragline.value(0)), ragline.cell(1), peer.cell(1),
                     ratio(peer.value(1), ragline.value(1)), ragline.cell(2), peer.cell(2),
                     f"{ragline.build_s:.1f}",
                     "-" if math.isnan(peer.build_s) else f"{peer.build_s:.1f}",
                     f"{ragline.peak_mb:.0f}",
                     "-" if math.isnan(peer.peak_mb) else f"{peer.peak_mb:.0f}"])
        if not lc_missing:
            lc_rows.append([f"{size:,}", f"{len(ragline.samples)}/{len(lc.samples) or '-'}",
                            ragline.cell(0), lc.cell(0), ratio(lc.value(0), ragline.value(0)),
                            ragline.cell(1), lc.cell(1), ratio(lc.value(1), ragline.value(1)),
                            "-" if math.isnan(lc.build_s) else f"{lc.build_s:.1f}",
                            "-" if math.isnan(lc.peak_mb) else f"{lc.peak_mb:.0f}"])
            if lc.skipped:
                lc_notes.append(f"skipped at {size:,}: {lc.skipped}")
        del texts, vectors
        gc.collect()

    print_table(
        f"Query latency, hybrid top-10, ms (query embedding excluded; {os.cpu_count()} cores)",
        ["chunks", "queries r/p", "p50 ragline", "p50 explain", "p50 1 round", "p50 peer",
         "speed-up",
         "p99 ragline", "p99 peer", "speed-up", "mean ragline", "mean peer",
         "build ragline s", "build peer s", "peak ragline MiB", "peak peer MiB"], rows)
    print(f"(speed-up = peer / ragline; queries r/p = timed queries for ragline / peer, the peer "
          f"on a prefix when {n_queries} would take over {QUERY_BUDGET_S:.0f} s; both fuse the "
          f"top-{depth} of each retriever; peer = BM25Okapi.get_scores + numpy cosine + RRF in "
          f"Python, '-' = skipped (see the 'skipped: peer' lines); ragline hybrid = shipped "
          f"defaults: {setting}; ragline build = upsert in 10k batches + optimize; peak = "
          "the process's peak RSS while that side was built and queried, corpus included)")
    print("(p50 1 round = the same fusion without the feedback round, index.feedback.docs: 0)")
    print("target (Step 2 issue): ragline p50 <= 2 ms at 100k chunks, <= 5 ms at 1M chunks")
    if lc_missing:
        print(f"\nskipped: LangChain row ({lc_missing})")
    else:
        print_table(
            "Query latency, ragline hybrid vs LangChain EnsembleRetriever (BM25Retriever + "
            "InMemoryVectorStore), top-10, ms (query embedding excluded)",
            ["chunks", "queries r/l", "p50 ragline", "p50 LangChain", "speed-up",
             "p99 ragline", "p99 LangChain", "speed-up", "build LangChain s",
             "peak LangChain MiB"], lc_rows)
        print(f"(speed-up = LangChain / ragline; LangChain timed on a prefix of the queries when "
              f"all would take over {QUERY_BUDGET_S:.0f} s; each retriever hands its top-{depth} "
              "to the fusion; vectors precomputed and looked up by text; "
              + "; ".join([*lc_notes, "'-' = not run"]) + ")")
    return p50s


# -- benchmark 3: ingest --------------------------------------------------------------------


COMMON_SUFFIXES = ("s", "ed", "ing", "ly", "er", "al", "ness", "ism")


def english_vocabulary(model: str) -> list[str]:
    """Whole lowercase words of the MiniLM WordPiece vocabulary, most frequent first.

    BERT's ``vocab.txt`` lists tokens roughly by corpus frequency after the special and
    single-character tokens (``the``, ``of``, ``and``, ``in``, ``to``, ...), so the
    position is used as the word's frequency rank.
    """
    from ragline.models.embedder import resolve_model_path

    vocab = Path(resolve_model_path(model)) / "vocab.txt"
    lines = vocab.read_text(encoding="utf-8").splitlines()
    return [t for t in lines if re.fullmatch(r"[a-z]{2,}|a|i", t)]


def english_texts(count: int, words: Sequence[str], *, seed: int = 0) -> list[str]:
    """``count`` chunks of 40-80 English-like words in sentences, deterministically.

    Words follow a Zipf-Mandelbrot law over ``words`` (frequency order); one content word
    in eight (rank above 150) gets a common suffix, often splitting into two WordPiece
    tokens as rarer real words do; sentences of 6-18 words start with a capital and end
    with a full stop, and about one word in 16 is followed by a comma. It reads as word
    salad but costs the model what English prose of that length does (about 1.25 MiniLM
    tokens per word).
    """
    rng = np.random.default_rng([2, seed])
    lengths = rng.integers(40, 81, size=count).tolist()
    total = int(sum(lengths))
    ranks = np.searchsorted(zipf_cdf(len(words)), rng.random(total)).tolist()
    suffix = rng.integers(0, 8 * len(COMMON_SUFFIXES), size=total).tolist()
    sentence = rng.integers(6, 19, size=total).tolist()
    comma = (rng.random(total) < 1 / 16).tolist()
    texts: list[str] = []
    p = 0
    for length in lengths:
        out: list[str] = []
        left = sentence[p]
        capital = True
        for j in range(length):
            word = words[ranks[p]]
            if ranks[p] > 150 and suffix[p] < len(COMMON_SUFFIXES):
                word += COMMON_SUFFIXES[suffix[p]]
            if capital:
                word = word.capitalize()
                capital = False
            left -= 1
            if left == 0 or j == length - 1:
                word += "."
                capital = True
                left = sentence[p]
            elif comma[p]:
                word += ","
            out.append(word)
            p += 1
        texts.append(" ".join(out))
    return texts


def model_tokens(model: str, texts: Sequence[str]) -> float:
    """Mean number of the embedding model's tokens per text (nan when the tokenizer fails)."""
    try:
        from transformers import AutoTokenizer

        from ragline.models.embedder import resolve_model_path

        tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(model))
        return float(np.mean([len(ids) for ids in tokenizer(list(texts))["input_ids"]]))
    except Exception:  # only a descriptive figure: never fail the benchmark over it
        return float("nan")


def ingest(size: int, embedder: SentenceTransformerEmbedder, home: Path,
           *, via: str, raw_passes: int = 2) -> float | None:
    """Time ragline's ingest of ``size`` synthetic chunks against raw embedding of the same texts.

    ``via="files"``: the texts are written as ``.txt`` files and ``ingest_paths`` loads,
    chunks, embeds, upserts and optimizes them. ``via="chunks"``: ``index.upsert(chunks)``
    (embedding inside) and ``index.optimize()``. Raw embedding runs before the ingest
    and, with ``raw_passes=2``, again after it. Returns ingest / raw throughput (wall).
    """
    from ragline.rag.chunker import RecursiveChunker
    from ragline.types import Chunk

    MEMORY.reset()
    started = time.perf_counter()
    texts = english_texts(size, english_vocabulary(embedder.model_name))
    generate_s = time.perf_counter() - started
    tokens = model_tokens(embedder.model_name, texts[:2000])
    words = float(np.mean([len(t.split()) for t in texts]))
    chunker = RecursiveChunker(size_tokens=180, overlap_tokens=30)
    folder = home / "ingest-txt"
    if via == "files":
        try:
            from ragline.rag.ingest import ingest_paths
            from ragline.rag.loaders import load_documents
        except ImportError as exc:
            print(f"\nskipped: ingest benchmark (ragline.rag.ingest not importable: {exc})")
            return None
        folder.mkdir(parents=True)
        for i, text in enumerate(texts):
            (folder / f"doc-{i:06d}.txt").write_text(text + "\n", encoding="utf-8")
        documents = load_documents([folder]).documents
        # raw embeds exactly the chunk texts the ingest will embed
        texts = [c.text for d in documents for c in chunker.split(d)]
        del documents
    print(f"\ningest corpus: {size:,} synthetic English-like texts, {words:.1f} words and "
          f"{tokens:.1f} MiniLM tokens each on average (first {min(size, 2000):,}), "
          f"{len(texts):,} chunks; "
          f"generated in {generate_s:.1f}s")
    embedder.embed_documents(texts[:128])  # warm-up

    def raw_pass() -> tuple[float, float, float]:
        MEMORY.reset()
        wall, cpu = time.perf_counter(), time.process_time()
        embedder.embed_documents(texts)
        return time.perf_counter() - wall, time.process_time() - cpu, MEMORY.peak()

    # raw, ingest, raw: the raw figure is the mean of the passes around the ingest, so a
    # load change on a shared machine biases both sides alike.
    raw_before = raw_pass()
    index = make_index(home, "ingest", embedder)
    MEMORY.reset()
    wall, cpu = time.perf_counter(), time.process_time()
    if via == "files":
        report = ingest_paths([folder], index=index, chunker=chunker)
        written = report.chunks_added
        label = "ragline ingest_paths (load+chunk+embed+upsert+optimize)"
    else:
        chunks = [Chunk.create(f"doc-{i:06d}", t, 0, {"source": f"doc-{i:06d}"})
                  for i, t in enumerate(texts)]
        written = index.upsert(chunks)
        index.optimize()
        del chunks
        label = "ragline upsert(chunks) + optimize (embed+encode+write)"
    ingest_s, ingest_cpu = time.perf_counter() - wall, time.process_time() - cpu
    ingest_peak = MEMORY.peak()
    index.close()
    del index
    raw_after = raw_pass() if raw_passes == 2 else raw_before
    shutil.rmtree(folder, ignore_errors=True)
    raw_s = (raw_before[0] + raw_after[0]) / 2
    raw_cpu = (raw_before[1] + raw_after[1]) / 2

    raw_rate = len(texts) / raw_s
    ingest_rate = written / ingest_s
    print_table(
        f"Ingest throughput: {size:,} synthetic chunks "
        f"({'as .txt files, RecursiveChunker(180, 30)' if via == 'files' else 'as Chunk objects'}"
        f"), MiniLM on CPU, {os.cpu_count()} cores",
        ["path", "chunks", "wall s", "chunks/s", "cpu s", "chunks/cpu-s", "peak MiB"],
        [[label, f"{written:,}", f"{ingest_s:.1f}", f"{ingest_rate:.1f}", f"{ingest_cpu:.1f}",
          f"{written / ingest_cpu:.1f}", f"{ingest_peak:.0f}"],
         [f"raw embed_documents, same texts (mean of {raw_before[0]:.1f}s "
          f"and {raw_after[0]:.1f}s)" if raw_passes == 2
          else "raw embed_documents, same texts (one pass, before)",
          f"{len(texts):,}", f"{raw_s:.1f}", f"{raw_rate:.1f}",
          f"{raw_cpu:.1f}", f"{len(texts) / raw_cpu:.1f}",
          f"{max(raw_before[2], raw_after[2]):.0f}"]])
    print(f"ingest / raw = {ratio(ingest_rate, raw_rate)} wall, "
          f"{ratio(written / ingest_cpu, len(texts) / raw_cpu)} cpu "
          "(target (Step 2 issue): >= 0.85; peak = the process's peak RSS during that pass)")
    return ingest_rate / raw_rate


# -- main -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, run the benchmarks, print the tables and the summary line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--skip-quality", action="store_true", help="skip benchmark 1")
    parser.add_argument("--skip-latency", action="store_true", help="skip benchmark 2")
    parser.add_argument("--skip-ingest", action="store_true", help="skip benchmark 3")
    parser.add_argument("--skip-langchain", action="store_true",
                        help="skip the LangChain EnsembleRetriever rows")
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated synthetic corpus sizes for benchmark 2 "
                             "(default 10000,100000,1000000)")
    parser.add_argument("--peer-max-size", type=int, default=None, metavar="N",
                        help="skip the Python-fused peer above N chunks (default: run it at "
                             "every size that fits in memory)")
    parser.add_argument("--ingest-size", type=int, default=100_000, metavar="N",
                        help="synthetic chunks for benchmark 3 (default 100000)")
    parser.add_argument("--raw-passes", type=int, choices=(1, 2), default=2,
                        help="raw embedding passes around the ingest: 2 = before and after "
                             "(default), 1 = before only (saves one pass)")
    parser.add_argument("--ingest-via", choices=("files", "chunks"), default="files",
                        help="benchmark 3 times ingest_paths on .txt files (default) or "
                             "QdrantIndex.upsert on chunks")
    args = parser.parse_args(argv)
    try:
        sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error("--sizes must be comma-separated integers")
    if not sizes or any(s <= 0 for s in sizes):
        parser.error("--sizes must be positive integers")
    if args.ingest_size <= 0:
        parser.error("--ingest-size must be positive")

    from ragline.models.embedder import SentenceTransformerEmbedder

    print(f"ragline retrieval benchmark, {datetime.now():%Y-%m-%d %H:%M}, "
          f"{platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}")
    embedder = SentenceTransformerEmbedder()
    embedder.warm_up()
    root = data_root()
    print(f"data: {root}; load average {load_average()}; "
          f"memory available {available_mb() / 1024:.1f} GiB")
    home = Path(tempfile.mkdtemp(prefix="ragline-bench-"))
    summary = {"cranfield": "n/a", "squad500": "n/a", "p50": "n/a", "ingest": "n/a"}
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

        if args.skip_latency:
            print("\nskipped: latency benchmark (--skip-latency)")
        else:
            p50s = latency(sizes, embedder, home, langchain=not args.skip_langchain,
                           peer_max_size=args.peer_max_size)
            if 1_000_000 in p50s:
                summary["p50"] = f"{p50s[1_000_000]:.2f}"

        if args.skip_ingest:
            print("\nskipped: ingest benchmark (--skip-ingest)")
        else:
            rate = ingest(args.ingest_size, embedder, home, via=args.ingest_via,
                          raw_passes=args.raw_passes)
            if rate is not None:
                summary["ingest"] = f"{rate:.2f}"
    finally:
        shutil.rmtree(home, ignore_errors=True)

    print(f"\npeak RSS {MEMORY.process_peak():.0f} MiB; load average {load_average()} "
          f"(1/5/15 min; above {os.cpu_count()} means other processes shared the cores)")
    print(f"cranfield best nDCG@10={summary['cranfield']} "
          f"squad500 best nDCG@10={summary['squad500']} "
          f"hybrid_p50_ms_1m={summary['p50']} ingest_vs_embed={summary['ingest']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
