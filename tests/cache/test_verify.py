"""The lexical near-miss check (ragline.cache.verify): each rule rejects its near-miss
and lets a paraphrase through."""

from __future__ import annotations

import time

import pytest

from ragline.cache.verify import RULES, Verdict, verify

# rule -> (near-miss it must reject, paraphrase it must accept)
CASES = {
    "numbers": (("How do I lose 10 kg in a month?", "How do I lose 20 kg in a month?"),
                ("How can I lose 10 kg in one month?", "What is the best way to lose 10 kg "
                 "in 1 month?")),
    "dates": (("What are the best places to visit in India in March?",
               "What are the best places to visit in India in December?"),
              ("Where should I travel in India in March?",
               "What are good places to visit in India during March?")),
    "entities": (("What is the capital of France?", "What is the capital of Germany?"),
                 ("what is the capital of france", "Which city is the capital of France?")),
    "negation": (("Why is Python popular?", "Why is Python not popular?"),
                 ("Why isn't Python fast?", "Why is Python not fast?")),
    "wh-word": (("Who founded Apple?", "When was Apple founded?"),
                ("What is the best way to learn Python?", "How do I learn Python?")),
    "antonyms": (("Should I buy a house now?", "Should I sell a house now?"),
                 ("Is it a good time to buy a house?", "Should I buy a house right now?")),
    "roles": (("How can I convert dollars to rupees?", "How can I convert rupees to dollars?"),
              ("How do I convert dollars to rupees?", "What is the way to convert dollars "
               "into rupees?")),
}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_the_rule_rejects_its_near_miss(rule: str) -> None:
    (stored, new), _ = CASES[rule]
    alone = verify(stored, new, rules=[rule])
    assert not alone.accepted
    assert alone.reason
    assert not verify(stored, new).accepted  # and all the rules together reject it too


@pytest.mark.parametrize("rule", sorted(CASES))
def test_the_rule_accepts_a_paraphrase(rule: str) -> None:
    _, (stored, new) = CASES[rule]
    assert verify(stored, new, rules=[rule]).accepted
    assert verify(stored, new) == Verdict(True)


def test_every_rule_has_cases() -> None:
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize(("stored", "new", "words"), [
    ("How do I lose 10 kg?", "How do I lose 20 kg?", ["10", "20"]),
    ("Who founded Apple?", "When was Apple founded?", ["who", "when"]),
    ("Why is Python popular?", "Why is Python not popular?", ["negat"]),
    ("Are cats smarter than dogs?", "Are dogs smarter than cats?", ["than", "dog", "cat"]),
])
def test_the_reason_names_the_difference(stored: str, new: str, words: list[str]) -> None:
    reason = verify(stored, new).reason or ""
    assert all(w in reason for w in words), reason


def test_infinitive_to_is_not_a_role_swap() -> None:
    assert verify("What is the best way to learn to draw?", "How can I learn how to draw?",
                  rules=["roles"]).accepted


def test_negation_in_or_not_and_why_not_does_not_count() -> None:
    assert verify("Is astrology true or not?", "Is astrology true?").accepted
    assert verify("Should I learn Java? Why or why not?", "Should I learn Java?").accepted
    assert not verify("Why can't I sleep?", "Why can I sleep?").accepted


def test_a_name_only_one_question_has_narrows_it() -> None:
    found = verify("How do I install Linux?", "How do I install Kali Linux?")
    assert not found.accepted
    assert "kali" in (found.reason or "")


def test_numbers_are_read_from_words_too() -> None:
    assert verify("Can I have two cats?", "Can I have 2 cats?").accepted
    assert not verify("Can I have two cats?", "Can I have three cats?").accepted


def test_identical_questions_pass_and_the_check_is_fast() -> None:
    question = "What is the capital of France in 2024, and why isn't it Lyon?"
    assert verify(question, question).accepted
    started = time.perf_counter()
    for n in range(2000):
        verify(f"How do I learn Python {n}?", f"How can I learn Python {n}?")
    assert (time.perf_counter() - started) / 2000 < 1e-3  # well under a millisecond a pair


def test_verdict_is_truthy_when_accepted() -> None:
    assert Verdict(True)
    assert not Verdict(False, "x")
