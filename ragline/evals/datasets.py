"""Loaders that turn the public benchmark sets into :class:`EvalCase` lists.

Each loader takes the data set's folder (in a checkout: ``../shared/data/<name>``)
and raises :class:`~ragline.evals.errors.DatasetNotFound`, naming the file it
looked for, when the folder or a file is absent, so callers can skip cleanly.

- :func:`load_squad`: SQuAD 2.0 (500 dev questions); the paragraph is the reference
  context and its document (``squad-<hash>``, see :func:`squad_documents`) the relevant id;
  every gold answer is in ``metadata['answers']``; unanswerable ones have none.
- :func:`load_halueval`: HaluEval QA; knowledge as context, the right answer as
  reference, the hallucinated one in ``metadata['hallucinated_answer']``.
- :func:`load_cranfield`: Cranfield's 225 queries with graded relevance
  (``metadata['relevance']``: doc id -> grade, higher = more relevant);
  :func:`cranfield_documents` gives the 1,400 abstracts to index.

:func:`qrels` turns any of these case lists into the judgements that
:mod:`ragline.evals.metrics.retrieval` scores rankings against.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ragline.evals.errors import DatasetNotFound
from ragline.evals.types import EvalCase
from ragline.types import Document


def _file(folder: Path | str, name: str) -> Path:
    path = Path(folder) / name
    if not path.is_file():
        raise DatasetNotFound(f"{path} not found: pass the data set's folder "
                              "(in a checkout: ../shared/data/<name>)")
    return path


def _squad_doc_id(context: str) -> str:
    return "squad-" + hashlib.sha1(context.encode()).hexdigest()[:12]


def _squad_queries(folder: Path | str) -> list[dict[str, Any]]:
    queries: list[dict[str, Any]] = json.loads(
        _file(folder, "queries.json").read_text(encoding="utf-8"))["queries"]
    return queries


def load_squad(folder: Path | str, *, limit: int | None = None) -> list[EvalCase]:
    """SQuAD-500 questions as cases, in file order (first ``limit`` when given)."""
    truth = json.loads(_file(folder, "ground_truth.json").read_text(encoding="utf-8"))
    cases = []
    for query in _squad_queries(folder)[:limit]:
        gold = truth[query["id"]]
        answers = tuple(a for a in gold["answers"] if a.strip())
        cases.append(EvalCase(
            id=query["id"], question=query["question"],
            reference_answer=answers[0] if answers else None,
            reference_contexts=(query["context"],),
            relevant_doc_ids=(_squad_doc_id(query["context"]),),
            metadata={"answers": list(answers), "is_impossible": gold["is_impossible"]}))
    return cases


def squad_documents(folder: Path | str) -> list[Document]:
    """The distinct SQuAD-500 paragraphs as documents, ids matching the cases' relevant ids."""
    unique = dict.fromkeys(query["context"] for query in _squad_queries(folder))
    return [Document(_squad_doc_id(text), text, {"source": "squad2"}) for text in unique]


def load_halueval(folder: Path | str, *, limit: int | None = None) -> list[EvalCase]:
    """HaluEval QA items as cases with ids ``halueval-<line>`` (1-based)."""
    lines = _file(folder, "qa_one-turn_data.jsonl").read_text(encoding="utf-8").splitlines()
    cases = []
    for number, line in enumerate(filter(str.strip, lines), start=1):
        item = json.loads(line)
        cases.append(EvalCase(
            id=f"halueval-{number}", question=item["question"],
            reference_answer=item["right_answer"], reference_contexts=(item["knowledge"],),
            metadata={"hallucinated_answer": item["hallucinated_answer"]}))
        if limit is not None and len(cases) >= limit:
            break
    return cases


def _smart_records(text: str) -> list[dict[str, str]]:
    """Split SMART-format text (``.I n`` then ``.X`` fields) into one dict per record.

    A field given twice in a record is joined, not replaced: Cranfield's documents 576
    and 578 have two ``.W`` fields, the first holding the document's own abstract.
    """
    records: list[dict[str, str]] = []
    for block in re.split(r"^\.I\s+", text, flags=re.MULTILINE)[1:]:
        head, _, body = block.partition("\n")
        record = {"I": head.strip()}
        for field in re.split(r"^\.(?=[A-Z]\s*$)", body, flags=re.MULTILINE)[1:]:
            key, _, value = field.partition("\n")
            key = key.strip()
            record[key] = " ".join([*record.get(key, "").split(), *value.split()])
        records.append(record)
    return records


def cranfield_documents(folder: Path | str) -> list[Document]:
    """The 1,400 Cranfield abstracts; ids are their numbers as strings."""
    records = _smart_records(_file(folder, "cran.all.1400").read_text(encoding="utf-8"))
    return [Document(r["I"], f"{r.get('T', '')}\n\n{r.get('W', '')}".strip(),
                     {"source": "cranfield", "title": r.get("T", "")}) for r in records]


def _cranfield_qrels(folder: Path | str) -> dict[str, dict[str, int]]:
    """``qrels.trec`` (query by position 1..225), skipping malformed lines."""
    qrels: dict[str, dict[str, int]] = {}
    for line in _file(folder, "qrels.trec").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) != 4 or not all(p.lstrip("-").isdigit() for p in parts):
            continue
        query, _, doc, grade = parts
        if int(grade) > 0:
            qrels.setdefault(query, {})[doc] = int(grade)
    return qrels


def load_cranfield(folder: Path | str, *, limit: int | None = None) -> list[EvalCase]:
    """Cranfield queries with relevance; case ids are positions 1..225, as in the qrels."""
    records = _smart_records(_file(folder, "cran.qry").read_text(encoding="utf-8"))
    qrels = _cranfield_qrels(folder)
    cases = []
    for position, record in enumerate(records[:limit], start=1):
        grades = qrels.get(str(position), {})
        cases.append(EvalCase(
            id=str(position), question=record.get("W", ""),
            relevant_doc_ids=tuple(sorted(grades, key=int)),
            metadata={"relevance": grades, "query_number": record["I"]}))
    return cases


def qrels(cases: Iterable[EvalCase]) -> dict[str, dict[str, int]]:
    """Relevance judgements by case id: ``{case id: {doc id: grade}}``.

    Grades come from ``metadata['relevance']`` where the loader gives them (Cranfield),
    else each of ``relevant_doc_ids`` gets grade 1 (SQuAD, suites). Grades of 0 or less
    and cases left with no relevant document are dropped, as the metrics would.
    """
    judged: dict[str, dict[str, int]] = {}
    for case in cases:
        graded = case.metadata.get("relevance")
        grades = ({str(doc): int(g) for doc, g in graded.items()} if isinstance(graded, Mapping)
                  else dict.fromkeys(case.relevant_doc_ids, 1))
        relevant = {doc: g for doc, g in grades.items() if g > 0}
        if relevant:
            judged[case.id] = relevant
    return judged
