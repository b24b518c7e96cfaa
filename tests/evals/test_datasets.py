"""The benchmark loaders read ../shared/data; skipped where the data is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragline.evals.datasets import (
    cranfield_documents,
    load_cranfield,
    load_halueval,
    load_squad,
    qrels,
    squad_documents,
)
from ragline.evals.errors import DatasetNotFound
from ragline.evals.types import EvalCase

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def need(name: str) -> Path:
    folder = DATA / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    return folder


def test_missing_folder_raises_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFound, match=r"ground_truth.json not found"):
        load_squad(tmp_path)


def test_squad() -> None:
    folder = need("squad2-500")
    cases = load_squad(folder)
    assert len(cases) == 500
    first = cases[0]
    assert first.id == "572a06af3f37b3190047866a"
    assert first.reference_answer == "RNA interference pathway"
    assert "RNA interference" in first.metadata["answers"]
    docs = {doc.id: doc.text for doc in squad_documents(folder)}
    assert len(docs) == 411
    assert docs[first.relevant_doc_ids[0]] == first.reference_contexts[0]
    impossible = [c for c in cases if c.metadata["is_impossible"]]
    assert impossible and all(c.reference_answer is None for c in impossible)
    assert len(load_squad(folder, limit=3)) == 3


def test_halueval() -> None:
    cases = load_halueval(need("halueval-qa"), limit=10)
    assert len(cases) == 10
    assert cases[0].id == "halueval-1"
    assert cases[0].reference_answer == "Arthur's Magazine"
    assert cases[0].metadata["hallucinated_answer"] == "First for Women was started first."


def test_cranfield() -> None:
    folder = need("cranfield")
    cases = load_cranfield(folder)
    assert len(cases) == 225
    first = cases[0]
    assert first.id == "1"
    assert first.question.startswith("what similarity laws must be obeyed")
    assert first.metadata["relevance"]["184"] == 3
    assert "184" in first.relevant_doc_ids
    docs = cranfield_documents(folder)
    assert len(docs) == 1400
    assert (docs[0].id, docs[-1].id) == ("1", "1400")
    assert docs[0].text.startswith("experimental investigation of the aerodynamics")
    texts = {doc.id: doc.text for doc in docs}
    # document 576 has two .W fields: the first (its own abstract) is kept, the second joined
    assert "high reynolds number hypersonic stagnation flow" in texts["576"]
    assert "limit characteristics . the analysis indicated" in texts["576"]


def test_qrels_from_cases() -> None:
    cases = [EvalCase(id="g", question="?", relevant_doc_ids=("a", "b"),
                      metadata={"relevance": {"a": 2, "b": 0, "c": -1}}),
             EvalCase(id="b", question="?", relevant_doc_ids=("x", "y")),
             EvalCase(id="none", question="?")]
    assert qrels(cases) == {"g": {"a": 2}, "b": {"x": 1, "y": 1}}


def test_qrels_of_the_benchmark_sets() -> None:
    cranfield = qrels(load_cranfield(need("cranfield")))
    assert len(cranfield) == 225
    assert sum(len(grades) for grades in cranfield.values()) == 1837
    assert cranfield["1"]["184"] == 3
    squad = qrels(load_squad(need("squad2-500")))
    ids = {doc.id for doc in squad_documents(need("squad2-500"))}
    assert len(squad) == 500
    assert all(len(grades) == 1 and set(grades) <= ids for grades in squad.values())
