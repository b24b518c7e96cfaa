"""The HTML report of a real run shows what a low score is measured against: each case's
reference answer, the documents it retrieved and the expected ones it missed."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from ragline.app.pipeline import RAGPipeline
from ragline.config import Settings
from ragline.evals.case_metrics import standard_metrics
from ragline.evals.report import render_html, write_html
from ragline.evals.results import RunResult
from ragline.evals.runner import run_suite
from ragline.evals.suites import load_suite
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.verify.offline_judge import OfflineJudge

SUITE = """name: diagnose
doc_root: corpus
cases:
  - id: home
    question: How do I move the index somewhere else?
    reference_answer: Set RAGLINE_HOME to <move> the index.
    relevant_doc_ids: [guide.md]
  - id: cats
    question: How long do cats sleep?
    reference_answer: Cats sleep for most of the day.
    relevant_doc_ids: [notes/sleep.txt]
  - id: open
    question: What do dogs enjoy?
"""


def test_the_report_shows_references_and_retrieved_and_missed_documents(
        tmp_path: Path, make_settings: Callable[..., Settings],
        judge_embedder: SentenceTransformerEmbedder) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "notes").mkdir(parents=True)
    (corpus / "guide.md").write_text("# Storage\n\nSet RAGLINE_HOME to move the index.\n")
    (corpus / "pets.txt").write_text("Cats sleep for most of the day. Dogs enjoy long walks.")
    (corpus / "notes" / "sleep.txt").write_text("Sleep is good for you.")
    (tmp_path / "suite.yaml").write_text(SUITE)
    settings = make_settings(generation={"provider": "extractive"}, rerank={"model": None},
                             retrieval={"k": 1})
    with RAGPipeline.from_settings(settings) as pipeline:
        pipeline.ingest([corpus])
        run = run_suite(load_suite(tmp_path / "suite.yaml"), pipeline,
                        OfflineJudge(judge_embedder), metrics=standard_metrics(k=1),
                        run_dir=tmp_path / "run", concurrency=1)
    home, cats, _ = run.cases
    assert home.reference_answer == "Set RAGLINE_HOME to <move> the index."
    assert cats.relevant_doc_ids == [(corpus / "notes" / "sleep.txt").as_posix()]
    assert cats.metrics["hit_rate@k"] == 0.0  # retrieved pets.txt, not the expected file

    page = write_html(run, tmp_path / "report.html", plots=False).read_text()
    assert "<th>reference answer</th>" in page and "<th>documents</th>" in page
    assert "Set RAGLINE_HOME to &lt;move&gt; the index." in page  # escaped
    assert "Cats sleep for most of the day." in page
    rows = re.findall(r"<tr>\n<td>(\w+)</td>(.*?)</tr>", page, re.S)
    cells = dict(rows)
    assert set(cells) == {"home", "cats", "open"}
    guide, pets = (corpus / "guide.md").as_posix(), (corpus / "pets.txt").as_posix()
    # ids are shown relative to the corpus, the full id on hover; a hit is marked
    assert (f'<li value="1" class="hit" title="{guide}"><code>guide.md</code></li>'
            in cells["home"])
    assert f'<li value="1" title="{pets}"><code>pets.txt</code></li>' in cells["cats"]
    assert "missed: <code>notes/sleep.txt</code>" in cells["cats"]
    assert "missed" not in cells["home"]
    assert '<span class="none">none</span>' in cells["open"]  # no reference answer
    assert "<code>pets.txt</code>" in cells["open"]

    again = RunResult.load(run.save(tmp_path / "run.json"))
    assert again == run and render_html(again, plots=False) == page
