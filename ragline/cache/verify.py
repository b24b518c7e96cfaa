"""The lexical near-miss check: a cheap verification of a semantic-cache candidate.

Two questions can embed close together and still want different answers: "How do I
lose 10 kg?" and "How do I lose 20 kg?", "Why is X legal?" and "Why is X not legal?",
"Who founded Apple?" and "When was Apple founded?". :func:`verify` compares the stored
question with the new one and rejects the pair, with a reason, when one of these rules
finds a difference:

- ``numbers``: the numbers differ (digits, and number words up to "twenty", "hundred"...);
- ``dates``: the months, weekdays or relative days differ;
- ``entities``: a proper noun (a capitalised word not starting the sentence, or an
  acronym) of one question is nowhere in the other;
- ``negation``: one question is negated and the other is not;
- ``wh-word``: the questions ask different things ("who" vs "when", "how many" vs "why");
- ``antonyms``: a word of one question meets its opposite in the other ("buy" / "sell");
- ``roles``: the same words swap places around "to", "than", "from"... ("dollars to
  rupees" vs "rupees to dollars").

Pure Python, no model: microseconds a pair. The rules were tuned on the calibration half
of QQP only (``benchmarks/cache.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["RULES", "Verdict", "verify"]

_APOSTROPHE = "\u2019"  # the typographic apostrophe, read as '


def _words(text: str) -> list[str]:
    """The space-separated words of ``text`` (word lists below are written as one string)."""
    return text.split()


_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[A-Za-z]+(?:['\u2019][A-Za-z]+)*")
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(_words(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"))}
_NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60",
                      "seventy": "70", "eighty": "80", "ninety": "90", "hundred": "100",
                      "thousand": "1000", "million": "1000000", "billion": "1000000000",
                      "once": "1", "twice": "2", "single": "1", "double": "2"})
# Months ("may" left out: the verb), weekdays and relative days.
_DATE_WORDS = frozenset(_words(
    "january february march april june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday "
    "tonight weekend"))
_NEGATIONS = frozenset(_words(
    "not no never cannot cant dont doesnt didnt isnt arent wasnt werent wont wouldnt "
    "shouldnt couldnt none nothing nobody neither nor nowhere"))
# "... or not", "why not", "if not", "not only": no negation of the question itself.
_NOT_NEGATING = re.compile(r"\b(?:or not|why not|if not|not only|whether or not)\b")
_WH = ("how many", "how much", "how long", "how old", "how often", "how far", "what", "why",
       "how", "when", "where", "who", "whom", "whose", "which")
# Open question words ask much the same on Quora ("What is the best way to..." / "How do
# I..." / "Why does..." / "Where can I..."); a pair of them is not a wh-word difference.
# Specific ones ask for a person, a time or a quantity: one of those against any other
# question word is.
_WH_OPEN = frozenset({"what", "how", "which", "why", "where"})
_WH_SAME = {"whom": "who", "whose": "who"}
_ANTONYMS = dict(pair for a, b in (
    ("buy", "sell"), ("best", "worst"), ("good", "bad"), ("pros", "cons"),
    ("advantages", "disadvantages"), ("before", "after"), ("increase", "decrease"),
    ("male", "female"), ("men", "women"), ("boy", "girl"), ("boys", "girls"),
    ("start", "stop"), ("positive", "negative"), ("rich", "poor"), ("cheap", "expensive"),
    ("easy", "hard"), ("legal", "illegal"), ("win", "lose"), ("true", "false"),
    ("love", "hate"), ("like", "dislike"), ("old", "new"), ("more", "less"),
    ("most", "least"), ("gain", "lose"), ("import", "export"), ("above", "below"),
    ("up", "down"), ("open", "close"), ("first", "last"), ("high", "low"),
    ("hot", "cold"), ("fast", "slow"), ("big", "small"), ("husband", "wife"),
    ("father", "mother"), ("son", "daughter"), ("introvert", "extrovert"),
    ("android", "ios"), ("mac", "windows"), ("north", "south"), ("east", "west"),
    ("minimize", "maximize"), ("man", "woman"), ("guy", "girl"), ("he", "she"),
    ("boyfriend", "girlfriend"), ("internal", "external"), ("input", "output"),
    ("private", "public"), ("inside", "outside"), ("upper", "lower"), ("min", "max"),
    ("odd", "even"), ("early", "late"), ("success", "failure"), ("strength", "weakness"),
    ("strengths", "weaknesses"), ("similarities", "differences"), ("agree", "disagree"),
) for pair in ((a, b), (b, a)))
# Words that give their neighbours roles: "dollars to rupees" is not "rupees to dollars".
_RELATIONS = frozenset(_words("to than from into vs versus over against"))
_FILLERS = frozenset(_words("a an the my your our their his her its some any more most less"))
# Capitalised words that are not names (question words, pronouns, common openers).
_NOT_NAMES = frozenset(_words(
    "i i'm i've i'd i'll what why how when where who whom whose which is are was were do "
    "does did can could should would will shall may might must has have had the a an if in "
    "on for to of and or but my your his her their our its it this that these those there "
    "please hi hello dear mr mrs ms dr"))


@dataclass(frozen=True, slots=True)
class Verdict:
    """The check's decision: accepted, or rejected with the first rule's reason."""

    accepted: bool
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.accepted


@dataclass(frozen=True, slots=True)
class _Parsed:
    """What the rules read from one question."""

    text: str
    tokens: tuple[str, ...]
    lower: frozenset[str]
    names: frozenset[str]


@lru_cache(maxsize=4096)
def _parse(text: str) -> _Parsed:
    matches = list(_TOKEN.finditer(text))
    tokens = tuple(m.group() for m in matches)
    names = set()
    for position, match in enumerate(matches):
        token = match.group()
        gap = text[matches[position - 1].end():match.start()] if position else "."
        initial = any(mark in gap for mark in ".?!:")  # starts a sentence
        if (token.isupper() and len(token) > 1) or (
                token[0].isupper() and not initial and token.lower() not in _NOT_NAMES):
            names.add(token.lower())
    return _Parsed(text, tokens, frozenset(t.lower() for t in tokens), frozenset(names))


def _numbers(parsed: _Parsed) -> frozenset[str]:
    found = set()
    for token in parsed.tokens:
        low = token.lower()
        if token[0].isdigit():
            found.add(token.replace(",", "").rstrip(".").lstrip("0") or "0")
        elif low in _NUMBER_WORDS:
            found.add(_NUMBER_WORDS[low])
    return frozenset(found)


def _describe(values: Iterable[str]) -> str:
    return ", ".join(sorted(values)) or "none"


def _rule_numbers(a: _Parsed, b: _Parsed) -> str | None:
    na, nb = _numbers(a), _numbers(b)
    if na != nb and na and nb:
        return f"numbers differ: {_describe(na)} vs {_describe(nb)}"
    return None


def _rule_dates(a: _Parsed, b: _Parsed) -> str | None:
    da, db = a.lower & _DATE_WORDS, b.lower & _DATE_WORDS
    if da != db and da and db:
        return f"dates differ: {_describe(da)} vs {_describe(db)}"
    return None


def _missing_names(names: frozenset[str], other: _Parsed) -> set[str]:
    """Names of one question with no word of the other sharing their stem."""
    return {n for n in names if n not in other.lower
            and not any(w.startswith(n[:max(4, len(n) - 3)]) for w in other.lower)}


def _rule_entities(a: _Parsed, b: _Parsed) -> str | None:
    only_a, only_b = _missing_names(a.names, b), _missing_names(b.names, a)
    if only_a or only_b:  # one-sided too: "Linux" vs "Kali Linux" narrows the question
        return f"named entities differ: {_describe(only_a)} vs {_describe(only_b)}"
    return None


def _negated(parsed: _Parsed) -> bool:
    text = " ".join(parsed.tokens).lower().replace(_APOSTROPHE, "'")
    words = _NOT_NEGATING.sub(" ", text).split()
    return any(w in _NEGATIONS or w.endswith("n't") for w in words)


def _rule_negation(a: _Parsed, b: _Parsed) -> str | None:
    if _negated(a) != _negated(b):
        which = "the stored" if _negated(a) else "the new"
        return f"negation differs: only {which} question is negated"
    return None


def _wh(parsed: _Parsed) -> str | None:
    text = " ".join(parsed.tokens).lower()
    first = None
    for word in _WH:
        found = re.search(rf"\b{word}\b", text)
        if found and (first is None or found.start() < first[0]):
            first = (found.start(), word)
    return first[1] if first else None


def _rule_wh(a: _Parsed, b: _Parsed) -> str | None:
    wa, wb = _wh(a), _wh(b)
    if wa is None or wb is None or _WH_SAME.get(wa, wa) == _WH_SAME.get(wb, wb):
        return None
    if wa in _WH_OPEN and wb in _WH_OPEN:
        return None
    return f"question words differ: {wa!r} vs {wb!r}"


def _rule_antonyms(a: _Parsed, b: _Parsed) -> str | None:
    for word in sorted(a.lower - b.lower):
        opposite = _ANTONYMS.get(word)
        if opposite and opposite in b.lower and opposite not in a.lower:
            return f"opposite words: {word!r} vs {opposite!r}"
    return None


def _around(parsed: _Parsed, relation: str) -> tuple[str | None, str | None]:
    """The words just before and after ``relation`` (articles and the like skipped)."""
    words = [t.lower() for t in parsed.tokens]
    at = words.index(relation)
    before = [w for w in words[:at] if w not in _FILLERS]
    after = [w for w in words[at + 1:] if w not in _FILLERS]
    return (_stem(before[-1]) if before else None, _stem(after[0]) if after else None)


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _rule_roles(a: _Parsed, b: _Parsed) -> str | None:
    stems_a = {_stem(w) for w in a.lower}
    stems_b = {_stem(w) for w in b.lower}
    for relation in sorted(a.lower & b.lower & _RELATIONS):
        (pa, xa), (pb, xb) = _around(a, relation), _around(b, relation)
        if not (xa and xb and xa != xb and xa in stems_b and xb in stems_a):
            continue
        # "to" is also the infinitive ("learn to draw"): there both neighbours must swap
        if relation != "to" or (pa == xb and pb == xa):
            return f"roles swapped around {relation!r}: {xa!r} vs {xb!r}"
    return None


Rule = Callable[[_Parsed, _Parsed], "str | None"]
RULES: dict[str, Rule] = {"numbers": _rule_numbers, "dates": _rule_dates,
                          "entities": _rule_entities, "negation": _rule_negation,
                          "wh-word": _rule_wh, "antonyms": _rule_antonyms,
                          "roles": _rule_roles}
"""The rules :func:`verify` runs by default, by name, in order."""


def verify(stored: str, new: str, rules: Iterable[str] | None = None) -> Verdict:
    """Whether the answer to ``stored`` may serve ``new``: accepted, or the first reason not.

    ``rules`` names the rules to run (all of :data:`RULES` by default).
    """
    a, b = _parse(stored), _parse(new)
    for name in RULES if rules is None else rules:
        reason = RULES[name](a, b)
        if reason is not None:
            return Verdict(False, reason)
    return Verdict(True)
