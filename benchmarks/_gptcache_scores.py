"""GPTCache's side of the semantic-cache benchmark; runs in GPTCache's own virtualenv.

Never imported by ragline: ``benchmarks/_gptcache_venv.py`` runs it with the python of
a virtualenv that holds only GPTCache (and faiss-cpu), so neither project's dependencies
reach the other's. It reads and writes ``.npy`` files in the folder it is given::

    python _gptcache_scores.py score DIR    # DIR/stored.npy, DIR/query.npy -> DIR/ranks.npy
    python _gptcache_scores.py latency DIR  # DIR/entries.npy, DIR/queries.npy, DIR/sizes.npy

``score``: one cache decision per row, as GPTCache's ``SSDataManager`` makes it: the
stored question's vector, normalised by GPTCache's ``normalize``, is added to its Faiss
vector store (``IDMap,Flat``, squared L2), the new question's vector, normalised, is
searched there, and the distance found goes through ``SearchDistanceEvaluation()`` (its
defaults: ``max_distance=4.0``, ``positive=False``, so rank = 4 - distance). Without
faiss, the squared L2 distance is computed with numpy in float32 (what ``IndexFlatL2``
computes). Prints one JSON line: versions, the evaluation's range, the distance source.

``latency``: GPTCache's vector lookup (``normalize`` + ``Faiss.search`` with its default
``top_k``, brute force) at each size, over the first ``size`` entries, Faiss on one
thread (its OpenMP threads only contend on a single query); prints p50/p99 ms as JSON.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in ("gptcache", "faiss-cpu", "numpy"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _faiss_store(dimension: int, folder: str) -> Any:
    """GPTCache's Faiss vector store (None when faiss cannot be imported)."""
    try:
        import faiss  # noqa: F401  (GPTCache would pip-install it on import; we must not)
    except ImportError:
        return None
    from gptcache.manager.vector_data.faiss import Faiss

    return Faiss(str(Path(folder) / "absent.index"), dimension, 1)


def _distances(stored: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, str]:
    """Per-row distance of GPTCache's vector store between the normalised vectors."""
    from gptcache.manager.data_manager import normalize
    from gptcache.manager.vector_data.base import VectorData

    stored = np.stack([normalize(v) for v in stored]).astype(np.float32)
    query = np.stack([normalize(v) for v in query]).astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        if _faiss_store(stored.shape[1], folder) is None:
            return ((stored - query) ** 2).sum(axis=1, dtype=np.float32), "numpy float32"
        out = np.empty(len(stored), np.float32)
        for i, (s, q) in enumerate(zip(stored, query, strict=True)):
            store = _faiss_store(stored.shape[1], folder)  # one store per decision
            store.mul_add([VectorData(id=i, data=s)])
            out[i] = store.search(q)[0][0]
    return out, "gptcache Faiss store (IDMap,Flat, L2)"


def score(folder: Path) -> None:
    """Rank each (stored, query) pair with SearchDistanceEvaluation; write ranks.npy."""
    from gptcache.similarity_evaluation.distance import SearchDistanceEvaluation

    evaluation = SearchDistanceEvaluation()
    distances, source = _distances(np.load(folder / "stored.npy"), np.load(folder / "query.npy"))
    ranks = np.array([evaluation.evaluation({}, {"search_result": (float(d), i)})
                      for i, d in enumerate(distances)], dtype=np.float64)
    np.save(folder / "ranks.npy", ranks)
    low, high = evaluation.range()
    print(json.dumps({"versions": _versions(), "range": [low, high], "distance": source,
                      "evaluation": "SearchDistanceEvaluation(max_distance="
                                    f"{evaluation.max_distance}, positive={evaluation.positive})"}))


def latency(folder: Path) -> None:
    """p50/p99 (ms) of GPTCache's vector lookup at each size in sizes.npy."""
    from gptcache.manager.data_manager import normalize
    from gptcache.manager.vector_data.base import VectorData

    entries, queries = np.load(folder / "entries.npy"), np.load(folder / "queries.npy")
    result: dict[str, Any] = {"versions": _versions(), "sizes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        store = _faiss_store(entries.shape[1], tmp)
        if store is None:
            print(json.dumps({**result, "skipped": "faiss not importable"}))
            return
        import faiss

        faiss.omp_set_num_threads(1)  # one query at a time: threads only contend
        loaded = 0
        for size in (int(s) for s in np.load(folder / "sizes.npy")):
            for start in range(loaded, size, 10_000):
                part = entries[start:min(size, start + 10_000)]
                store.mul_add([VectorData(id=start + j, data=normalize(v))
                               for j, v in enumerate(part)])
            loaded = size
            for q in queries[:20]:  # warm-up
                store.search(normalize(q))
            samples = []
            for q in queries:
                t0 = time.perf_counter()
                store.search(normalize(q))
                samples.append((time.perf_counter() - t0) * 1000)
            result["sizes"][str(size)] = [float(np.percentile(samples, 50)),
                                          float(np.percentile(samples, 99)), len(samples)]
    print(json.dumps(result))


if __name__ == "__main__":
    {"score": score, "latency": latency}[sys.argv[1]](Path(sys.argv[2]))
