"""Retrieval metrics computed by ``pytrec_eval`` (trec_eval's own code), not re-implemented.

For each query: ``hit_rate@k`` (a relevant document in the top k: trec_eval
``success``), ``recall@k``, ``mrr`` (reciprocal rank of the first relevant
document in the whole list: ``recip_rank``) and ``ndcg@k`` (``ndcg_cut``, with
graded relevance when given). Retrieved ids are documents in rank order; a
document seen again lower in the list (another chunk of it) is ignored.

The conventions are trec_eval's: a relevant document's gain is its grade (linear,
not ``2**grade - 1``), the discount at rank ``r`` is ``1 / log2(r + 1)``, the ideal
ranking sorts the judged grades, best first, and grades of 0 or less count as not
relevant. :func:`mean_retrieval_metrics` averages over the judged queries, as
trec_eval's summary does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Relevance = Sequence[str] | Mapping[str, int]


def _qrel(relevant: Relevance) -> dict[str, int]:
    if isinstance(relevant, Mapping):
        return {doc: int(grade) for doc, grade in relevant.items() if int(grade) > 0}
    return dict.fromkeys(relevant, 1)


def _run(retrieved: Sequence[str]) -> dict[str, float]:
    """Scores falling with rank, so trec_eval's sort (score, then id) keeps our order."""
    ranked = list(dict.fromkeys(retrieved))
    return {doc: float(len(ranked) - rank) for rank, doc in enumerate(ranked)}


def retrieval_metrics_batch(runs: Mapping[str, Sequence[str]],
                            relevant: Mapping[str, Relevance], *, k: int = 5,
                            ) -> dict[str, dict[str, float]]:
    """Metrics per query id for every query that has relevance judgements.

    Queries without a relevant document are left out (their metrics are undefined);
    a query with judgements but nothing retrieved scores 0 everywhere.
    """
    if k <= 0:
        raise ValueError(f"k must be > 0, but got {k}")
    import pytrec_eval

    qrels = {qid: _qrel(rel) for qid, rel in relevant.items()}
    qrels = {qid: rel for qid, rel in qrels.items() if rel}
    names = {"hit_rate@k": f"success_{k}", "recall@k": f"recall_{k}",
             "mrr": "recip_rank", "ndcg@k": f"ndcg_cut_{k}"}
    evaluator = pytrec_eval.RelevanceEvaluator(
        qrels, {f"success.{k}", f"recall.{k}", "recip_rank", f"ndcg_cut.{k}"})
    scored = evaluator.evaluate({qid: _run(runs.get(qid, ())) for qid in qrels})
    zero = dict.fromkeys(names, 0.0)
    return {qid: ({name: float(scored[qid][key]) for name, key in names.items()}
                  if qid in scored else dict(zero)) for qid in qrels}


def retrieval_metrics(retrieved: Sequence[str], relevant: Relevance, *,
                      k: int = 5) -> dict[str, float]:
    """``hit_rate@k``, ``recall@k``, ``mrr``, ``ndcg@k`` of one ranking; {} without relevance."""
    return retrieval_metrics_batch({"q": retrieved}, {"q": relevant}, k=k).get("q", {})


def mean_retrieval_metrics(runs: Mapping[str, Sequence[str]],
                           relevant: Mapping[str, Relevance], *, k: int = 5,
                           ) -> dict[str, float]:
    """Each metric's mean over the queries with relevance judgements; {} when there are none.

    A judged query missing from ``runs`` counts as retrieving nothing (0 everywhere).
    """
    per_query = list(retrieval_metrics_batch(runs, relevant, k=k).values())
    if not per_query:
        return {}
    return {name: math.fsum(m[name] for m in per_query) / len(per_query)
            for name in per_query[0]}
