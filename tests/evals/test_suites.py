"""Suites load from YAML or JSONL with a sidecar, and reject malformed files clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragline.evals.errors import SuiteError
from ragline.evals.suites import load_suite

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "evals" / "ragline-docs.yaml"


def test_yaml_suite_resolves_config_and_doc_root(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "name: mine\nconfig: fast.yaml\ndoc_root: docs\ncases:\n"
        "  - id: a\n    question: ' Where? '\n    reference_answer: Here.\n"
        "    relevant_doc_ids: [guide.md, /abs/x.md]\n"
        "  - question: Why?\n    metadata: {tag: t}\n")
    suite = load_suite(tmp_path / "s.yaml")
    assert suite.name == "mine"
    assert suite.config == (tmp_path / "fast.yaml").resolve()
    first, second = suite.cases
    assert (first.id, first.question, first.reference_answer) == ("a", "Where?", "Here.")
    assert first.relevant_doc_ids == ((tmp_path / "docs" / "guide.md").resolve().as_posix(),
                                      "/abs/x.md")
    assert (second.id, second.metadata) == ("case-2", {"tag": "t"})


def test_jsonl_suite_with_and_without_sidecar(tmp_path: Path) -> None:
    lines = [{"id": "q1", "question": "One?"}, {"question": "Two?", "reference_answer": "2"}]
    (tmp_path / "set.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    plain = load_suite(tmp_path / "set.jsonl")
    assert (plain.name, plain.config, [c.id for c in plain.cases]) == (
        "set", None, ["q1", "case-2"])
    (tmp_path / "set.meta.yaml").write_text("name: named\nconfig: c.yaml\n")
    named = load_suite(tmp_path / "set.jsonl")
    assert (named.name, named.config) == ("named", (tmp_path / "c.yaml").resolve())


@pytest.mark.parametrize(("text", "message"), [
    ("name: x\ncases:\n  - question: a\n    answer: b\n", "cases.0.answer"),
    ("name: x\ncases:\n  - {id: a, question: q}\n  - {id: a, question: r}\n", "appears twice"),
    ("name: x\ncases:\n  - question: ''\n", "cases.0.question"),
    ("cases:\n  - question: q\n", "name"),
    ("name: x\ncases: []\n", "cases"),
])
def test_malformed_yaml_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(SuiteError, match=message):
        load_suite(tmp_path / "bad.yaml")


def test_bad_jsonl_line_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"question": "ok"}\nnot json\n')
    with pytest.raises(SuiteError, match=r"bad.jsonl:2: not JSON"):
        load_suite(tmp_path / "bad.jsonl")
    with pytest.raises(SuiteError, match="does not exist"):
        load_suite(tmp_path / "absent.yaml")


def test_example_suite_points_at_existing_docs() -> None:
    suite = load_suite(EXAMPLE)
    assert len(suite.cases) >= 5
    for case in suite.cases:
        assert case.reference_answer
        assert case.relevant_doc_ids
        assert all(Path(doc).is_file() for doc in case.relevant_doc_ids), case.id
