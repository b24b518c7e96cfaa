"""Yes/no questions from HaluEval QA: the data set and how answers to it are scored.

Built from ``halueval-qa/qa_one-turn_data.jsonl`` under the data folder (500 rows of
``knowledge``, ``question``, ``right_answer``; each ``knowledge`` is two Wikipedia
intros glued together with no space, "...19th century.First for Women is..."):

* ``halueval``: the 27 rows whose right answer is "yes" or "no", with the two
  documents cut apart at the glue point (:func:`split_knowledge`).
* ``part-missing``: each of those with one of its two documents taken away (two
  variants per two-document row); the right behaviour is to decline.
* ``constructed``: from the choice questions "Which director is American, Mark L.
  Lester or Ken Loach?" whose right answer is one of the two options, "Is Mark L.
  Lester American?" (gold "yes") and "Is Ken Loach American?" (gold "no"). Only
  questions of the shape "Which/Who/What [noun] is/was P, A or B?" are used, never
  ones with a comparative or superlative (first, more, older, best...), and only
  when the right answer names exactly one option. The gold "no" rests on the
  question's presupposition that one option has P; the documents do not always
  say so, so declining them is no mistake.

Every item's passages are its documents plus :data:`DISTRACTORS` documents of other
rows, in a seeded random order. :func:`measure_yes_no` scores any answer function;
running this module measures ``ragline.verify.yesno.answer_yes_no`` over the offline
judge on those passages::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/_yesno.py

A benchmark that retrieves passages through the pipeline passes an answer function
that ignores the given passages. Without the data folder it prints ``skipped``.
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import data_root, print_table

from ragline.verify.yesno import YesNo

DISTRACTORS = 3
"""Documents of other rows added to each item's passages."""
SEED = 13
_GLUE = re.compile(r"(?<=[a-z0-9)\]\"'])\.(?=[\"\u201c]?[A-Z])")
_CHOICE = re.compile(r"^(?:Which|Who|What)\b[^,?:]*?\s(?P<verb>is|was|are|were)\s+"
                     r"(?P<pred>[^,:?]+?)\s*[,:]\s*(?P<a>[^?]+?)\s+or\s+(?P<b>[^?]+?)\s*\?\s*$")
_COMPARATIVE = re.compile(r"\b(?:first|second|more|most|less|least|older|oldest|younger|"
                          r"youngest|higher|highest|closer|larger|largest|longer|earlier|"
                          r"later|best|better|bigger|biggest|worse|worst)\b", re.IGNORECASE)
_DROPPED = frozenset({"the", "a", "an", "sir"})


@dataclass(frozen=True, slots=True)
class YesNoItem:
    """One question: ``gold`` is "yes", "no" or "declined" (a document is missing);
    ``documents`` are the item's own documents, ``passages`` those plus distractors."""

    question: str
    gold: str
    documents: tuple[str, ...]
    passages: tuple[str, ...]
    row: int
    group: str


def halueval_path(root: Path | None = None) -> Path:
    """Where the HaluEval QA file lies under the data folder."""
    return (root or data_root()) / "halueval-qa" / "qa_one-turn_data.jsonl"


def load_rows(path: Path | None = None) -> list[dict[str, str]] | None:
    """The HaluEval QA rows, or None (with a message) when the file is absent."""
    path = path or halueval_path()
    if not path.exists():
        print(f"skipped: {path} not found")
        return None
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def split_knowledge(knowledge: str, question: str = "") -> tuple[str, ...]:
    """The documents glued together in ``knowledge``: cut at a full stop followed at once
    by a capital (not after a capital, so "J.R." stays); of several such points, the one
    whose next word the question names, else the first. One document when none."""
    text = knowledge.strip()
    cuts = list(_GLUE.finditer(text))
    if not cuts:
        return (text,)
    named = [c for c in cuts if (w := re.match(r"[\"\u201c]?([\w'-]+)", text[c.end():]))
             and re.search(rf"\b{re.escape(w.group(1))}\b", question)]
    cut = (named or cuts)[0]
    return tuple(d for d in (text[:cut.start() + 1].strip(), text[cut.end():].strip()) if d)


def _gold(row: dict[str, str]) -> str | None:
    answer = row["right_answer"].strip().lower().rstrip(".")
    return answer if answer in {"yes", "no"} else None


def _item(question: str, gold: str, documents: Sequence[str], row: int, group: str,
          pool: Sequence[tuple[int, str]]) -> YesNoItem:
    """An item whose passages are ``documents`` and distractors from other rows, shuffled."""
    rng = random.Random(f"{SEED}/{group}/{row}/{question}")
    others = [d for r, d in pool if r != row]
    passages = [*documents, *rng.sample(others, DISTRACTORS)]
    rng.shuffle(passages)
    return YesNoItem(question, gold, tuple(documents), tuple(passages), row, group)


def yes_no_items(rows: Sequence[dict[str, str]]) -> list[YesNoItem]:
    """The rows answered "yes" or "no", with both documents."""
    pool = _pool(rows)
    return [_item(r["question"].strip(), gold, split_knowledge(r["knowledge"], r["question"]),
                  i, "halueval", pool)
            for i, r in enumerate(rows) if (gold := _gold(r))]


def part_missing_items(items: Sequence[YesNoItem],
                       rows: Sequence[dict[str, str]]) -> list[YesNoItem]:
    """Each two-document item twice, once without each document: gold "declined"."""
    pool = _pool(rows)
    return [_item(item.question, "declined", [d for j, d in enumerate(item.documents) if j != k],
                  item.row, "part-missing", pool)
            for item in items if len(item.documents) == 2 for k in range(2)]


def constructed_items(rows: Sequence[dict[str, str]]) -> list[YesNoItem]:
    """Yes/no questions made from "Which X is P, A or B?" rows (module docstring)."""
    pool = _pool(rows)
    items = []
    for i, row in enumerate(rows):
        match = _CHOICE.match(row["question"].strip())
        if not match or _COMPARATIVE.search(row["question"]):
            continue
        options = [match.group("a").strip(), match.group("b").strip()]
        right = [o for o in options if _names_same(o, row["right_answer"])]
        if len(right) != 1:
            continue
        documents = split_knowledge(row["knowledge"], row["question"])
        verb = match.group("verb").capitalize()
        for option in options:
            question = f"{verb} {option} {match.group('pred').strip()}?"
            gold = "yes" if option == right[0] else "no"
            items.append(_item(question, gold, documents, i, "constructed", pool))
    return items


def _names_same(option: str, answer: str) -> bool:
    """Whether ``answer`` names ``option``: every word of the option is in it ("Alex Cox"
    in 'Alexander "Alex" Cox'), and it adds at most one word."""
    def tokens(text: str) -> set[str]:
        """Lower-case words of ``text`` but "the", "a", "an", "sir"."""
        return {w for w in re.findall(r"[\w'-]+", text.lower()) if w not in _DROPPED}

    wanted, given = tokens(option), tokens(answer)
    return bool(wanted) and wanted <= given and len(given - wanted) <= 1


def _pool(rows: Sequence[dict[str, str]]) -> list[tuple[int, str]]:
    """Every row's documents, each with its row number (the distractors' source)."""
    return [(i, d) for i, r in enumerate(rows)
            for d in split_knowledge(r["knowledge"], r["question"])]


def build_items(root: Path | None = None) -> dict[str, list[YesNoItem]] | None:
    """The three groups of items, or None (with a message) when the data is absent."""
    rows = load_rows(halueval_path(root) if root else None)
    if rows is None:
        return None
    answerable = yes_no_items(rows)
    return {"halueval": answerable, "part-missing": part_missing_items(answerable, rows),
            "constructed": constructed_items(rows)}


def measure_yes_no(answer: Callable[[str, Sequence[str]], YesNo | None],
                   items: Sequence[YesNoItem]) -> dict[str, Any]:
    """Score ``answer(question, passages)`` on ``items``.

    ``accuracy``: share of the answerable items (gold yes/no) answered with the gold
    verdict; ``declined`` their share declined; ``decline_rate``: share of the
    part-missing items (gold "declined") declined; ``wrong_rate``: share of all items
    answered with a wrong yes/no (a yes/no to a part-missing item is wrong);
    ``undetected``: items for which ``answer`` returned None; ``failures`` lists
    (question, gold, verdict) of every item not answered as its gold.
    """
    outcomes = []
    for item in items:
        found = answer(item.question, item.passages)
        outcomes.append((item, found.verdict if found else "none"))
    answerable = [(i, v) for i, v in outcomes if i.gold in {"yes", "no"}]
    missing = [(i, v) for i, v in outcomes if i.gold == "declined"]
    wrong = [(i, v) for i, v in outcomes if v in {"yes", "no"} and v != i.gold]
    return {
        "items": len(outcomes), "answerable": len(answerable), "missing": len(missing),
        "accuracy": _share(sum(v == i.gold for i, v in answerable), len(answerable)),
        "declined": _share(sum(v == "declined" for _, v in answerable), len(answerable)),
        "decline_rate": _share(sum(v == "declined" for _, v in missing), len(missing)),
        "wrong": len(wrong), "wrong_rate": _share(len(wrong), len(outcomes)),
        "undetected": sum(v == "none" for _, v in outcomes),
        "failures": [(i.question, i.gold, v) for i, v in outcomes if v != i.gold],
    }


def _share(count: int, total: int) -> float | None:
    return count / total if total else None


def print_yes_no_table(results: dict[str, dict[str, Any]], title: str = "Yes/no questions"
                       ) -> None:
    """One row per group of :func:`measure_yes_no` results."""
    def pct(value: float | None) -> str:
        """A share as a percentage, "-" when undefined."""
        return "-" if value is None else f"{100 * value:.1f}%"

    header = ["group", "items", "accuracy", "declined", "decline rate", "wrong", "wrong rate"]
    rows = [[name, str(r["items"]), pct(r["accuracy"]), pct(r["declined"]),
             pct(r["decline_rate"]), str(r["wrong"]), pct(r["wrong_rate"])]
            for name, r in results.items()]
    print_table(title, header, rows)


def main() -> None:
    """Measure the offline yes/no answerer on every group; print a table and the failures."""
    groups = build_items()
    if groups is None:
        return
    from ragline.verify.offline_judge import OfflineJudge
    from ragline.verify.yesno import answer_yes_no

    judge = OfflineJudge()
    results = {name: measure_yes_no(lambda q, p: answer_yes_no(q, p, judge=judge), items)
               for name, items in groups.items()}
    print_yes_no_table(results, "Yes/no questions (documents + "
                       f"{DISTRACTORS} distractors, offline judge)")
    for name, result in results.items():
        print(f"\n{name}: not answered as gold")
        for question, gold, verdict in result["failures"]:
            print(f"  gold {gold:8} got {verdict:8} {question}")


if __name__ == "__main__":
    main()
