"""Yes/no and comparison questions answered from passages, without an LLM.

:func:`answer_yes_no` splits a question into claims (:func:`claims_of`), judges each
against the passages naming its subject, and answers "Yes" when all are supported,
"No" when one is contradicted and the others found, and declines when one is not
found; each part's evidence sentence is quoted with its passage's ``[n]`` marker.
The judge contradicts only on negations and numbers, so two conflicts are added, both
needing a sentence naming the subject: another nationality ("American" claimed, absent
from the passages about the subject, one of which says "Canadian"), and a denial (the
judge's evidence sentence negates a word of the claim). "Do A and B have the same
nationality?" (country, year, family, state) compares what each subject's first
sentence gives: equal values "Yes", nothing in common "No", anything else declines.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from ragline.text import STOPWORDS, sentences, stem, words
from ragline.verify.types import Judge, Verdict

__all__ = ["YesNo", "YesNoPart", "answer_yes_no", "claims_of", "is_yes_no"]

_AUX = {a: a for a in "is was does did has had can could will would should shall may might must"  # noqa: SIM905
        .split()} | {"are": "is", "were": "was", "do": "does", "have": "has"}  # -> singular
_COPULAS = frozenset({"is", "are", "was", "were"})
_CONNECTORS = frozenset({"of", "the", "to", "de", "da", "di", "du", "del", "la", "le", "von",
                         "van", "der", "den", "for", "y", "&"})
_NOT_PLURAL = frozenset({"series", "species", "news", "means", "always", "perhaps", "across",
                         "whereas", "towards", "afterwards", "sometimes", "politics"})
_DEMONYMS = frozenset("""
African Afghan Albanian Algerian American Arab Argentine Argentinian Armenian Asian Australian
Austrian Bangladeshi Basque Bavarian Belarusian Belgian Bolivian Bosnian Brazilian British
Bulgarian Cambodian Cameroonian Canadian Catalan Chilean Chinese Colombian Congolese Croatian Cuban
Cypriot Czech Danish Dominican Dutch Ecuadorian Egyptian Emirati English Estonian Ethiopian
European Filipino Finnish Flemish French Galician Georgian German Ghanaian Greek Guatemalan Haitian
Hispanic Honduran Hungarian Icelandic Indian Indonesian Iranian Iraqi Irish Israeli Italian
Jamaican Japanese Jewish Jordanian Kazakh Kenyan Korean Kuwaiti Latvian Lebanese Libyan Lithuanian
Luxembourgish Macedonian Malaysian Maltese Mexican Mongolian Moroccan Nepali Nicaraguan Nigerian
Norwegian Pakistani Palestinian Panamanian Paraguayan Persian Peruvian Polish Portuguese Qatari
Romanian Russian Salvadoran Saudi Scandinavian Scottish Senegalese Serbian Singaporean Slovak
Slovenian Somali Soviet Spanish Sudanese Swedish Swiss Syrian Taiwanese Tanzanian Thai Tibetan
Tunisian Turkish Ugandan Ukrainian Uruguayan Venezuelan Vietnamese Welsh Yemeni Zimbabwean
""".split())  # noqa: SIM905 - a word list
_WITHIN = {"British": ("English", "Scottish", "Welsh", "Northern Irish")}
_KINDS = {"nationality": "nationality", "nationalities": "nationality", "country": "country",
          "countries": "country", "year": "year", "years": "year", "family": "family",
          "families": "family", "state": "state", "states": "state"}
_US_STATES = frozenset(" ".join(s.split()) for s in """Alabama, Alaska, Arizona, Arkansas,
California, Colorado, Connecticut, Delaware, Florida, Georgia, Hawaii, Idaho, Illinois, Indiana,
Iowa, Kansas, Kentucky, Louisiana, Maine, Maryland, Massachusetts, Michigan, Minnesota, Mississippi,
Missouri, Montana, Nebraska, Nevada, New Hampshire, New Jersey, New Mexico, New York, North
Carolina, North Dakota, Ohio, Oklahoma, Oregon, Pennsylvania, Rhode Island, South Carolina, South
Dakota, Tennessee, Texas, Utah, Vermont, Virginia, Washington, West Virginia, Wisconsin, Wyoming
""".split(","))  # noqa: SIM905 - a list of names reads better as prose
_NEGATIONS = frozenset({"not", "no", "never", "neither", "nor", "n't", "cannot", "without"})
_HEDGES = frozenset({"only", "just", "merely", "always", "necessarily", "exclusively"})
_OPENERS = [[w] for w in ("he", "she", "it", "they", "his", "her", "its", "their")]
_SUBORDINATORS = frozenset({"if", "when", "although", "though", "since", "because", "after",
                           "before", "unless", "while", "as", "once", "whether"})
_LINKS = frozenset({"a", "an", "the", "not", "in", "on", "at", "from", "of", "by", "for",
                    "with", "about", "part", "located", "based", "one", "still", "also"})
_ADJECTIVE = re.compile(  # after an article, "and", a copula, a number or a comma
    r"(?:^|\b(?i:an?|the|and|(?P<link>is|was|are|were))\s+|\d\s+|,\s+)"
    r"(?P<word>[A-Z][a-z]+(?:-[A-Z][a-z]+)*)\b(?=-|\s+(?!(?:"  # before a content word
    + "|".join(sorted(STOPWORDS)) + r")\b)[a-z\d]|(?(link)\s*(?:[.,;]|$)|(?!)))")
_FAMILY = re.compile(r"\bfamily\s+([A-Z][a-z]+)|\b([A-Z][a-z]+)\s+family\b")
_YEAR = re.compile(r"(?<![\d.,])(1[0-9]{3}|20[0-9]{2})(?![\d])")
_WH = re.compile(r"\b(?:which|what|who|whom|whose|where|when|why|how)\b", re.IGNORECASE)
_CLAUSES = re.compile(r"\s*(?:,?\s+(?:while|whereas)\s+|;\s*)")
_GENERIC = re.compile(r"\b(?:(?:a|the)\s+)?(?:types?|kinds?|forms?|sorts?)\s+of\s+")
_QUOTE_LIMIT = 300
_Parsed = tuple[str, list[tuple[str, str | None]]]  # compared property or "", (claim, name)s


@dataclass(frozen=True, slots=True)
class YesNoPart:
    """One part of a question: ``claim`` ("Kings of Leon is an American rock band", or
    "the nationality of Jimmy Barnes" for a comparison), its ``verdict`` (for a comparison
    ``supported`` means found), the deciding ``evidence`` sentence and the 1-based
    ``marker`` of its passage (None: none), and the ``values`` a comparison found."""

    claim: str
    verdict: Verdict
    evidence: str = ""
    marker: int | None = None
    reason: str = ""
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class YesNo:
    """A ``verdict``, the ``text`` to show (verdict and each part's evidence sentence with
    its ``[n]`` marker, or why it declines), and the ``parts`` in question order."""

    verdict: Literal["yes", "no", "declined"]
    text: str
    parts: tuple[YesNoPart, ...]


def is_yes_no(question: str) -> bool:
    """Whether ``question`` asks yes or no: one question opening with an auxiliary ("Is",
    "Does", "Isn't"...) or asking one after its only comma, no question word ("A and B,
    are Chilean?"), and no choice ("Is X or Y older?" is a choice: False)."""
    opening = _opening(question)
    return opening is not None and not re.search(r"\bor\b", opening[1], re.IGNORECASE)


def claims_of(question: str) -> tuple[str, ...]:
    """The declarative parts of a yes/no question, each checked on its own: "Are both A
    and B American rock bands?" gives ("A is an American rock band", "B is an American
    rock band"), "Does A say X while B says Y?" ("A say X", "B says Y"), a one-part
    question one claim; names, numbers and negations are kept. A "same" comparison
    gives "the year of A", "the year of B". Empty when it is not a yes/no question."""
    parsed = _parse(question)
    return tuple(claim for claim, _ in parsed[1]) if parsed else ()


def answer_yes_no(question: str, passages: Sequence[str], *, judge: Judge) -> YesNo | None:
    """Answer a yes/no question from ``passages`` alone (None: not one): "yes" when every
    part is supported, "no" when one is contradicted and the others found, "declined"
    (naming it) when one is not found. Markers number ``passages`` from 1."""
    parsed = _parse(question)
    if parsed is None:
        return None
    kind, claims = parsed
    if kind:
        parts = [_compared(kind, claim, name or "", passages) for claim, name in claims]
        verdict = _comparison_verdict(kind, parts)
    else:
        parts = [_judged(judge, claim, name, passages) for claim, name in claims]
        verdict = ("declined" if any(p.verdict == "not_found" for p in parts) else
                   "no" if any(p.verdict == "contradicted" for p in parts) else "yes")
    return YesNo(verdict, _text(verdict, parts, kind), tuple(parts))


def _opening(question: str) -> tuple[str, str, str] | None:
    """(auxiliary, the rest, the subjects before a comma or ""), or None: not yes/no."""
    text = " ".join(question.replace("\u2019", "'").split()).rstrip(" ?.!").strip()
    if "?" in text:  # several questions
        return None
    first, _, rest = text.partition(" ")
    aux = {"won't": "will", "can't": "can"}.get(first.lower()) or first.lower().removesuffix("n't")
    if aux in _AUX and rest and not re.search(  # not "Had A won, how would ...?"
            rf",\s*{_WH.pattern}\s+(?:{'|'.join(_AUX)})\b", rest, re.IGNORECASE):
        return aux, rest, ""
    tail = re.match(r"([A-Z][^,]+\sand\s[^,]+),\s+(\w+)\s+([^,]+)$", text)
    if (tail and tail.group(2).lower() in _AUX and not _WH.search(text)
            and tail.group(1).split()[0].lower() not in _SUBORDINATORS):
        return tail.group(2).lower(), f"{tail.group(1)} {tail.group(3)}", tail.group(1)
    return None


def _parse(question: str) -> _Parsed | None:
    """The claims (or comparison) of a yes/no question; None when it is not one."""
    opening = _opening(question) if is_yes_no(question) else None
    if opening is None:
        return None
    aux, body, listed = opening
    same = re.search(r"\b(?:the\s+)?same\b(?:\s+(\w+))?", body)
    if same:
        kind = _KINDS.get(asked := (same.group(1) or "thing").lower(), asked)
        after = re.match(r"\s+as\s+(.+)$", body[same.end():])  # "A the same K as B"
        pair = ([body[:same.start()], after.group(1)] if after
                else _split_at_and(body[:same.start()], last=False))
        names = [n for p in pair if (n := _subject_split(p)[1] or p.strip())]
        return kind, [(f"the {kind} of {n}", n) for n in names]
    split = ((_and_split(listed, last=False, many=True), body[len(listed):].strip())
             if listed else _distributed(body))
    if split:
        return "", [_claim(aux, s, split[1], len(split[0]) > 1) for s in split[0]]
    return "", [_clause_claim(aux if i == 0 else "", c) for i, c in enumerate(_clauses(body))]


def _distributed(body: str) -> tuple[list[str], str] | None:
    """(subjects, shared predicate) of "both A and B P", "A and B both P", "A and B P"."""
    lead = re.match(r"(both|all)\s+(.+)$", body, re.IGNORECASE)
    if lead:
        left, right = _split_at_and(lead.group(2), last=False)
        subject, name, predicate = _subject_split(right)
        if left and name and predicate:
            return [*_and_split(left, last=False, many=lead.group(1).lower() == "all"),
                    subject], predicate
    later = re.match(r"(.+?)\s+(both|all)\s+(.+)$", body)
    if later and " and " in later.group(1):
        return _and_split(later.group(1), last=True, many=later.group(2) == "all"), later.group(3)
    left, right = _split_at_and(body, last=False)
    if left and _subject_split(left)[1] and not _subject_split(left)[2]:
        subject, name, predicate = _subject_split(right)
        if name and predicate:
            return [left, subject], predicate
    return None


def _split_at_and(text: str, *, last: bool) -> tuple[str, str]:
    """``text`` cut at the first (or last) " and " before a capital, else at any " and "."""
    cuts = list(re.finditer(r"\s+and\s+", text))
    capital = [m for m in cuts if text[m.end():m.end() + 1].isupper()] or cuts
    if not capital:
        return "", text
    cut = capital[-1] if last else capital[0]
    return text[:cut.start()].strip(), text[cut.end():].strip()


def _and_split(text: str, *, last: bool, many: bool) -> list[str]:
    """Subjects listed in ``text``: "A and B", or with ``many`` "A, B and C"."""
    left, right = _split_at_and(text, last=last)
    if not left:
        return [text.strip()]
    items = [p.strip() for p in left.split(",")] if many else [left]
    return [i for i in items if i] + [right.strip().rstrip(",")]


def _capital(token: str) -> bool:
    """Whether ``token`` opens with a capital (after quotes or a bracket)."""
    return token.lstrip("\"'(")[:1].isupper()


def _name_start(tokens: Sequence[str]) -> int | None:
    """Where a name begins, after an article and a word at most; None: no name ("I", "It")."""
    start = 0
    while start < min(len(tokens), 2) and not _capital(tokens[start]):
        start += 1
    if start >= len(tokens) or not _capital(tokens[start]) or (
            start == 2 and tokens[0].lower() not in {"the", "a", "an"}) or (
            tokens[start].lower() in STOPWORDS
            and not (start + 1 < len(tokens) and _capital(tokens[start + 1]))):
        return None
    return start


def _subject_split(text: str) -> tuple[str, str | None, str]:
    """(subject, name, rest): the name is the opening run of capitalised words ("of"...
    inside) less a final nationality ("Kings of Leon American rock bands"); None: none."""
    tokens = text.split()
    start = _name_start(tokens)
    if start is None:
        return text, None, ""
    end = start
    while end < len(tokens) and not (end > start and tokens[end - 1].endswith(",")):
        link = end
        while link < len(tokens) - 1 and tokens[link] in _CONNECTORS:
            link += 1
        if not _capital(tokens[link]):
            break
        end = link + 1
    while end - start > 1 and tokens[end - 1].strip(",") in _DEMONYMS:
        end -= 1
    name = " ".join(tokens[start:end]).strip(",")
    return " ".join(tokens[:end]).strip(","), name, " ".join(tokens[end:])


def _claim(aux: str, subject: str, predicate: str, plural: bool) -> tuple[str, str | None]:
    """``subject`` ``aux`` ``predicate``; when shared, in the singular ("A is an X")."""
    predicate = _GENERIC.sub("", predicate) if plural else predicate
    tokens = [_singular(t) if plural else t for t in predicate.split()]
    changed = [i for i, t in enumerate(predicate.split()) if tokens[i] != t]
    if aux in _COPULAS and changed and all(
            _capital(t) or (t.lower() not in STOPWORDS and not t.endswith(("ed", "ing", "wn")))
            for t in tokens[:changed[0]]):
        tokens.insert(0, "an" if tokens[0][0].lower() in "aeiou" else "a")
    start = _name_start(subject.split())
    name = None if start is None else " ".join(subject.split()[start:]).strip(",")
    return " ".join([subject, _AUX[aux] if plural else aux, *tokens]), name


def _singular(token: str) -> str:
    """A lower-case plural noun in the singular ("bands" -> "band", "cities" -> "city")."""
    if (not re.fullmatch(r"(?!\w*ics$)[a-z]{2,}[^siu'\W]s", token) or token in STOPWORDS
            or token in _NOT_PLURAL):
        return token
    return re.sub(r"ies$", "y", token) if token.endswith("ies") else re.sub(
        r"(?:(?<=x|z)|(?<=[cs]h))es$|s$", "", token)


def _clauses(body: str) -> list[str]:
    """``body`` cut at "while", "whereas", ";", and "and"/", but" between named clauses."""
    found = []
    for part in _CLAUSES.split(body):
        rest = part
        for match in re.finditer(r",?\s+(?:and|but)\s+", part):
            left, right = part[len(part) - len(rest):match.start()], part[match.end():]
            if (len(left.split()) >= 3 and len(right.split()) >= 3 and _subject_split(left)[1]
                    and (_subject_split(right)[1] or right.split()[0].lower() in _AUX)):
                found.append(left)
                rest = right
        found.append(rest)
    return [c.strip() for c in found if c.strip()]


def _clause_claim(aux: str, clause: str) -> tuple[str, str | None]:
    """One clause without ``aux`` (or its own: "is B Y"); a copula is put back after the
    name before an article, a preposition, "not" or a nationality ("Paris is the...")."""
    first, _, rest = clause.partition(" ")
    if not aux and first.lower() in _AUX and rest:
        aux, clause = first.lower(), rest
    subject, name, predicate = _subject_split(clause)
    opens = predicate.split()[0] if predicate else ""
    if name and aux in _COPULAS and (opens.lower() in _LINKS or opens in _DEMONYMS):
        return f"{subject} {aux} {predicate}", name
    return clause, name


def _judged(judge: Judge, claim: str, name: str | None, passages: Sequence[str]) -> YesNoPart:
    """One claim judged against the passages naming its subject, named as they name it."""
    chosen = [p for p in passages if name is None or _mention(p, name)]
    if not chosen:
        return YesNoPart(claim, "not_found", reason=f"no passage mentions {name}")
    written = _mention(chosen[0], name) if name else ""
    found = judge.support(claim.replace(name, written) if name and written else claim, chosen)
    verdict: Verdict = "supported" if found.supported else "not_found"
    evidence, reason = found.evidence, found.reason
    if found.verdict == "contradicted" and (name is None or _mention(evidence, name)):
        verdict = "contradicted"
    elif conflict := _conflict(claim, name, chosen, evidence):
        verdict, (evidence, reason) = "contradicted", conflict
    return YesNoPart(claim, verdict, evidence, _marker(evidence, passages), reason)


def _conflict(claim: str, name: str | None, passages: Sequence[str],
              evidence: str) -> tuple[str, str] | None:
    """(sentence, why) of another nationality, or a denial in ``evidence``; or None."""
    skip = frozenset(name.split()) if name else frozenset()
    about = [s for p in passages for s in _about(p, name)] if name else [evidence]
    held = " ".join(about)  # what is said of the subject, not of others in its passage
    said = _demonyms(claim, skip)
    if said and not any(re.search(rf"\b{w}\b", held) for d in said
                        for w in (d, *_WITHIN.get(d, ()))):
        for sentence in about:
            if other := _demonyms(sentence, skip):
                return sentence, f"it says {', '.join(sorted(other))}, not {', '.join(said)}"
    if (evidence and (name is None or _mention(evidence, name))
            and not _NEGATIONS & set(words(claim.replace("n't", " n't")))
            and _denied(evidence, claim)):
        return evidence, "the evidence sentence denies it"
    return None


def _denied(sentence: str, claim: str) -> bool:
    """Whether a negation (not "not only", "not always"...) in ``sentence`` stands right
    before one of ``claim``'s words."""
    terms = {stem(w) for w in words(claim) if w not in STOPWORDS}
    tokens = [*words(sentence.replace("n't", " n't")), ""]
    return any(t in _NEGATIONS and tokens[i + 1] not in _HEDGES and any(
        stem(w) in terms for w in tokens[i + 1:i + 4] if w not in STOPWORDS)
        for i, t in enumerate(tokens))


def _demonyms(text: str, skip: frozenset[str] = frozenset()) -> frozenset[str]:
    """Nationalities used as adjectives in ``text`` ("a Scottish-Australian singer")."""
    return frozenset(p for m in _ADJECTIVE.finditer(text) for p in m.group("word").split("-")
                     if p in _DEMONYMS and p not in skip)


@lru_cache(maxsize=1024)
def _name_patterns(name: str) -> tuple[re.Pattern[str], ...]:
    """Ways ``name`` is written: as it is (plural, possessive; ignoring case unless short),
    and for 2-3 capitalised words with middle names too ("Kenneth Charles Loach")."""
    core = re.sub(r"^(?:the|a|an)\s+", "", name.strip(" ,\"'"), flags=re.IGNORECASE)
    exact = len(core) <= 3 or core.lower() in STOPWORDS
    tokens = core.split()
    body = r"[\"\u201d]?\s+[\"\u201c]?".join(map(re.escape, tokens))
    found = [re.compile(rf"(?<!\w){body}(?:s|es|'s)?(?!\w)", 0 if exact else re.IGNORECASE)]
    if 2 <= len(tokens) <= 3 and all(re.fullmatch(r"[A-Z][\w'-]*", t) for t in tokens):
        middle = r"(?:\s+(?:[A-Z][\w.'-]*|[\"\u201c(][^\"\u201d)]{1,30}[\"\u201d)]))"
        found.append(re.compile(rf"\b{re.escape(tokens[0])}\w*" + "".join(
            rf"{middle}{{0,3}}\s+{re.escape(t)}\b" for t in tokens[1:])))
    return tuple(found)


def _mention(text: str, name: str) -> str:
    """How ``text`` writes ``name`` (:func:`_name_patterns`), or "" when it does not."""
    for pattern in _name_patterns(name):
        if match := pattern.search(text):
            return match.group()
    return ""


def _about(passage: str, name: str | None) -> list[str]:
    """Sentences of ``passage`` naming ``name``, each with the next if it opens "He", "Its"..."""
    spans = [passage[s:e] for s, e in sentences(passage)]
    return [t for i, s in enumerate(spans) if name is None or _mention(s, name)
            for t in [s, *spans[i + 1:i + 2]] if t == s or words(t)[:1] in _OPENERS]


def _values(kind: str, sentence: str, name: str) -> frozenset[str]:
    """What ``sentence`` gives for ``kind`` (nationality, country, year, family, state)."""
    if kind in {"nationality", "country"}:
        return _demonyms(sentence, frozenset(name.split()))
    if kind == "year":
        return frozenset(_YEAR.findall(sentence))
    if kind == "family":
        return frozenset(a or b for a, b in _FAMILY.findall(sentence)) - {"The", "A"}
    return frozenset(s for s in _US_STATES if re.search(rf"\b{s}\b", sentence))


def _compared(kind: str, claim: str, name: str, passages: Sequence[str]) -> YesNoPart:
    """The ``kind`` of ``name`` from the first sentence about it that gives one."""
    if kind not in _KINDS.values():
        return YesNoPart(claim, "not_found", reason=f"cannot compare {kind}")
    for number, passage in enumerate(passages, start=1):
        for sentence in _about(passage, name):
            if values := _values(kind, sentence, name):
                return YesNoPart(claim, "supported", sentence, number,
                                 ", ".join(sorted(values)), tuple(sorted(values)))
    return YesNoPart(claim, "not_found", reason=f"no sentence gives the {kind} of {name}")


def _comparison_verdict(kind: str, parts: Sequence[YesNoPart]
                        ) -> Literal["yes", "no", "declined"]:
    """Equal values: yes (a year must be one year); nothing in common: no; else declined."""
    values = [set(p.values) for p in parts]
    if len(parts) < 2 or any(p.verdict != "supported" for p in parts):
        return "declined"
    if all(v == values[0] for v in values) and (kind != "year" or len(values[0]) == 1):
        return "yes"
    return "no" if any(not a & b for i, a in enumerate(values) for b in values[i + 1:]) \
        else "declined"


def _marker(sentence: str, passages: Sequence[str]) -> int | None:
    """The 1-based number of the first passage holding ``sentence`` (spacing aside)."""
    wanted = " ".join(sentence.split())
    return next((n for n, p in enumerate(passages, start=1)
                 if wanted and wanted in " ".join(p.split())), None)


def _text(verdict: str, parts: Sequence[YesNoPart], kind: str) -> str:
    """The answer to show: the verdict with each part's evidence and marker, or why not."""
    missing = [p.claim.rstrip(".") for p in parts if p.verdict == "not_found"]
    if verdict != "declined":
        cited = dict.fromkeys(
            textwrap.shorten(p.evidence, _QUOTE_LIMIT, placeholder=" ...").removesuffix(".")
            + (f" [{p.marker}]" if p.marker else "") for p in parts if p.evidence)
        return f"{verdict.capitalize()}. " + "; ".join(cited) + "."
    if kind and kind not in _KINDS.values():
        why = f"I can only compare {', '.join(sorted(set(_KINDS.values())))}, not {kind}"
    elif kind and missing:
        why = "the indexed documents do not give " + " or ".join(missing)
    elif kind:
        why = "the indexed documents give " + "; ".join(
            f"{p.claim.removeprefix('the ')}: {p.reason}" for p in parts)
    else:
        why = "the indexed documents do not say whether " + " or whether ".join(missing)
    return f"I can't answer yes or no: {why}."
