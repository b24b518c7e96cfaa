"""Retrieval speed benchmarks: ragline's hybrid query latency and ingest throughput.

Benchmarks 2 and 3 of ``retrieval.py`` (which runs them after its quality benchmark unless
``--skip-latency --skip-ingest``), also runnable on their own; ragline and peer side by side:

2. **Query latency** (p50/p99, query embedding excluded) of ragline ``hybrid`` against the
   Python-fused peer at 10k, 100k and 1M synthetic chunks, and against LangChain's
   ``EnsembleRetriever`` up to 100k, with build time and peak RSS.
3. **Ingest throughput**: ragline's ``ingest_paths`` (or ``QdrantIndex.upsert``) on 100k
   synthetic English-like chunks, embedded by the local MiniLM, against raw
   ``embed_documents`` on the same texts, with peak RSS.

Run from the project root (no data folder needed)::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/retrieval_speed.py [--skip-latency]
        [--skip-ingest] [--skip-langchain] [--sizes 10000,100000,1000000]
        [--ingest-size 100000] [--ingest-via files|chunks] [--peer-max-size N]

The last line sums up the headline figures in one machine-readable line.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _peers as peers
import numpy as np
import numpy.typing as npt
from _common import (
    MEMORY,
    QUERY_BUDGET_S,
    available_mb,
    load_average,
    print_footer,
    print_header,
    print_table,
    ratio,
    timed_queries,
)

if TYPE_CHECKING:
    from ragline.models.embedder import SentenceTransformerEmbedder
    from ragline.rag.index import QdrantIndex

DIM = 384
LANGCHAIN_MAX_SIZE = 100_000  # the LangChain latency row runs up to this corpus size


# -- benchmark 2: latency -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Synthetic:
    """A deterministic synthetic corpus: chunk texts, normalised vectors and queries."""

    texts: list[str]
    vectors: peers.Matrix
    queries: list[str]
    query_vectors: peers.Matrix


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


def unit_vectors(rng: np.random.Generator, count: int) -> peers.Matrix:
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

    index = peers.make_index(home, f"synth{size}", embedder)
    upsert_s = 0.0
    for start in range(0, size, SYNTH_BLOCK):
        stop = min(start + SYNTH_BLOCK, size)
        chunks = [Chunk.create(f"synth-{i}", corpus.texts[i], {"source": f"synth-{i}"}, 0)
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
    lc_missing = lc_missing or peers.langchain_missing()
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
        setting = peers.fusion_label(index)
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
            bm25 = peers.PeerBm25(texts, peers.split_tokens)
            peer.build_s = time.perf_counter() - t0
            peer_mb_per_chunk = max(MEMORY.peak() - base, 0.0) / size
            print(f"peer {size:,}: BM25Okapi built in {peer.build_s:.1f}s, {MEMORY.rss()}, "
                  f"peak {MEMORY.peak():.0f} MiB")

            def theirs(i: int, bm25: peers.PeerBm25 = bm25, vectors: peers.Matrix = vectors,
                       depth: int = depth) -> object:
                q, qv = corpus.queries[i], corpus.query_vectors[i]
                fused = peers.rrf([[str(j) for j in bm25.top(q, depth)],
                                   [str(j) for j in peers.dense_top(vectors, qv, depth)]])
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
            ensemble = peers.LangChainEnsemble(texts, [str(i) for i in range(size)], vectors,
                                               corpus.queries, corpus.query_vectors, depth)
            lc.build_s = time.perf_counter() - t0
            print(f"LangChain {size:,}: BM25Retriever + InMemoryVectorStore built in "
                  f"{lc.build_s:.1f}s, {MEMORY.rss()}, peak {MEMORY.peak():.0f} MiB")

            def langchain_query(i: int, ensemble: peers.LangChainEnsemble = ensemble) -> object:
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
    index = peers.make_index(home, "ingest", embedder)
    MEMORY.reset()
    wall, cpu = time.perf_counter(), time.process_time()
    if via == "files":
        report = ingest_paths([folder], index=index, chunker=chunker)
        written = report.chunks_added
        label = "ragline ingest_paths (load+chunk+embed+upsert+optimize)"
    else:
        chunks = [Chunk.create(f"doc-{i:06d}", t, {"source": f"doc-{i:06d}"}, 0)
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


# -- options and main -----------------------------------------------------------------------


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options of benchmarks 2 and 3 (``retrieval.py`` takes them too)."""
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


def checked_sizes(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[int]:
    """``--sizes`` as sorted distinct sizes; a bad ``--sizes`` or ``--ingest-size`` exits."""
    try:
        sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error("--sizes must be comma-separated integers")
    if not sizes or any(s <= 0 for s in sizes):
        parser.error("--sizes must be positive integers")
    if args.ingest_size <= 0:
        parser.error("--ingest-size must be positive")
    return sizes


def run(args: argparse.Namespace, sizes: Sequence[int], embedder: SentenceTransformerEmbedder,
        home: Path) -> dict[str, str]:
    """Benchmarks 2 and 3 as ``args`` ask; the summary figures (``p50``, ``ingest``) or n/a."""
    summary = {"p50": "n/a", "ingest": "n/a"}
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
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, run benchmarks 2 and 3, print the tables and the summary line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_options(parser)
    args = parser.parse_args(argv)
    sizes = checked_sizes(parser, args)

    from ragline.models.embedder import SentenceTransformerEmbedder

    print_header("retrieval speed benchmark")
    embedder = SentenceTransformerEmbedder()
    embedder.warm_up()
    print(f"load average {load_average()}; memory available {available_mb() / 1024:.1f} GiB")
    home = Path(tempfile.mkdtemp(prefix="ragline-bench-"))
    try:
        summary = run(args, sizes, embedder, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print_footer()
    print(f"hybrid_p50_ms_1m={summary['p50']} ingest_vs_embed={summary['ingest']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
