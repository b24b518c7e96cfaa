"""A judge wrapper that remembers every answer in SQLite, keyed by a hash of its input.

:class:`CachedJudge` is itself a :class:`~ragline.verify.types.BatchJudge`. The key
hashes the inner judge's ``fingerprint`` (its ``name`` when it has none), the
question asked (support or relevance) and its inputs, so a rerun of the same
eval with the same judge makes no judge call at all, while another judge, prompt
version or offline judge version never reads stale answers. A batch of statements
is looked up one by one and only the misses go to the inner judge, together, in one
batch when it can (:func:`~ragline.verify.types.support_each`).
Safe to share between threads.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ragline.verify.types import Judge, SupportVerdict, support_each


class CachedJudge:
    """``judge`` with its answers cached in the SQLite file at ``path``."""

    def __init__(self, judge: Judge, path: Path | str) -> None:
        self.inner = judge
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        with self._lock, self._db:
            self._db.execute("CREATE TABLE IF NOT EXISTS judge_cache "
                             "(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.hits = 0
        self.misses = 0

    @property
    def name(self) -> str:
        """The wrapped judge's name."""
        return self.inner.name

    def _key(self, kind: str, payload: Any) -> str:
        identity = getattr(self.inner, "fingerprint", self.inner.name)
        text = json.dumps([identity, kind, payload], ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def _get(self, key: str) -> Any | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM judge_cache WHERE key = ?",
                                   (key,)).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
            return json.loads(row[0])

    def _set(self, key: str, value: Any) -> None:
        self._set_many([(key, value)])

    def _set_many(self, items: Sequence[tuple[str, Any]]) -> None:
        """Store several answers in one transaction."""
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO judge_cache VALUES (?, ?)",
                                 [(key, json.dumps(value)) for key, value in items])

    def _support_key(self, statement: str, evidence: Sequence[str]) -> str:
        return self._key("support", [statement, list(evidence)])

    def _cached_support(self, key: str) -> SupportVerdict | None:
        cached = self._get(key)
        if cached is None:
            return None
        return SupportVerdict(**{**cached, "missing": tuple(cached["missing"])})

    def support(self, statement: str, evidence: Sequence[str]) -> SupportVerdict:
        """The cached verdict, or the inner judge's (then cached)."""
        key = self._support_key(statement, evidence)
        cached = self._cached_support(key)
        if cached is not None:
            return cached
        verdict = self.inner.support(statement, evidence)
        self._set(key, asdict(verdict))
        return verdict

    def support_many(self, statements: Sequence[str],
                     evidence: Sequence[str]) -> list[SupportVerdict]:
        """:meth:`support` for each statement, in order: the cached verdicts, and the
        misses (each distinct statement once) judged in one batch, then cached."""
        keys = [self._support_key(statement, evidence) for statement in statements]
        found: dict[str, SupportVerdict] = {}
        asked: dict[str, str] = {}  # key -> statement, for the misses
        for key, statement in zip(keys, statements, strict=True):
            if key in found or key in asked:
                continue
            verdict = self._cached_support(key)
            if verdict is None:
                asked[key] = statement
            else:
                found[key] = verdict
        if asked:
            fresh = support_each(self.inner, list(asked.values()), evidence)
            found.update(zip(asked, fresh, strict=True))
            self._set_many([(key, asdict(found[key])) for key in asked])
        return [found[key] for key in keys]

    def relevance(self, question: str, passage: str) -> float:
        """The cached relevance, or the inner judge's (then cached)."""
        key = self._key("relevance", [question, passage])
        cached = self._get(key)
        if cached is not None:
            return float(cached)
        value = self.inner.relevance(question, passage)
        self._set(key, value)
        return value

    def close(self) -> None:
        """Close the SQLite connection."""
        with self._lock:
            self._db.close()
