"""The HaluEval yes/no questions asked through ``RAGPipeline`` (for ``answers.py``).

Every document of the 500 HaluEval rows is ingested into one collection; each yes/no
question of ``_yesno.py`` (the 27 rows answered yes or no, and the "Is A P?" items
built from "Which X is P, A or B?" rows) is asked of it, so retrieval chooses the
passages. For the part-missing group, two more collections leave out the first or
the second document of every two-document yes/no row; its question is asked there,
and the right behaviour is to decline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from _common import print_table
from _yesno import YesNoItem, constructed_items, load_rows, split_knowledge, yes_no_items

from ragline.app.pipeline import RAGPipeline
from ragline.config import Settings
from ragline.routing.abstaining import YES_NO_ROUTE
from ragline.verify.abstention import ABSTAINED


def _ingest(settings: Settings, name: str, documents: Sequence[str]) -> None:
    folder = Path(settings.home) / f"{name}-docs"
    folder.mkdir(parents=True, exist_ok=True)
    for document in documents:
        digest = hashlib.sha1(document.encode()).hexdigest()[:12]
        (folder / f"{digest}.txt").write_text(document, encoding="utf-8")
    with RAGPipeline.from_settings(settings, collection=name, rerank=False,
                                   notices=False) as pipeline:
        pipeline.ingest([folder])


def _verdict(route: str, text: str) -> str:
    if route == YES_NO_ROUTE:
        return "yes" if text.startswith("Yes") else "no"
    return "declined" if route.startswith(ABSTAINED) else "other answer"


def _ask(settings: Settings, collection: str, items: Sequence[YesNoItem],
         gold: str | None = None) -> list[str]:
    """Each item's verdict, asked of ``collection``."""
    with RAGPipeline.from_settings(settings, collection=collection, notices=False) as pipe:
        answers = [pipe.answer(item.question) for item in items]
    return [_verdict(a.route, a.text) for a in answers]


def measure_through_pipeline(settings: Settings) -> None:
    """Ingest, ask, and print one row per group."""
    rows = load_rows()
    if rows is None:
        return
    documents = list(dict.fromkeys(d for r in rows
                                   for d in split_knowledge(r["knowledge"], r["question"])))
    answerable = yes_no_items(rows)
    two = [i for i in answerable if len(i.documents) == 2]
    _ingest(settings, "halueval", documents)
    groups: dict[str, tuple[list[YesNoItem], list[str]]] = {}
    for name, items in (("HaluEval yes/no", answerable), ("constructed", constructed_items(rows))):
        groups[name] = (items, _ask(settings, "halueval", items))
    missing_items: list[YesNoItem] = []
    missing_verdicts: list[str] = []
    for k in range(2):
        left_out = {i.documents[k] for i in two}
        _ingest(settings, f"halueval-without-{k}", [d for d in documents if d not in left_out])
        missing_items += two
        missing_verdicts += _ask(settings, f"halueval-without-{k}", two)
    groups["one document not indexed"] = (
        [YesNoItem(i.question, "declined", i.documents, i.passages, i.row, "part-missing")
         for i in missing_items], missing_verdicts)
    table = []
    for name, (items, verdicts) in groups.items():
        pairs = list(zip(items, verdicts, strict=True))
        table.append([name, str(len(pairs)),
                      str(sum(v == i.gold for i, v in pairs)),
                      str(sum(v == "declined" and i.gold != "declined" for i, v in pairs)),
                      str(sum(v in ("yes", "no") and v != i.gold for i, v in pairs)),
                      str(sum(v == "other answer" for _, v in pairs))])
    print_table("Yes/no questions through RAGPipeline (ragline local default)",
                ["group", "items", "right", "declined (had an answer)", "wrong yes/no",
                 "answered as a span"], table)
