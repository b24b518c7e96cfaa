"""Notices said once a day, not on every command: remembered in ``<home>/notices.json``.

The file maps a notice key (e.g. ``reranker-offline/<collection>/<model>``) to the
local date it was last said. It is rewritten atomically; an unreadable file counts as
empty and an unwritable home means the notice is said every time, never an error.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import date
from pathlib import Path

NOTICES_FILE = "notices.json"


def _said(path: Path) -> dict[str, str]:
    """The notices file's entries; empty when it is missing or not a JSON object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def first_today(home: Path | str, key: str, *, today: date | None = None) -> bool:
    """Whether notice ``key`` is still to be said today; marks it said when it is.

    ``today`` defaults to the local date. Returns True (say it) when the file cannot be
    written, so a read-only home never silences a notice for good.
    """
    day = (today or date.today()).isoformat()
    path = Path(home).expanduser() / NOTICES_FILE
    said = _said(path)
    if said.get(key) == day:
        return False
    said[key] = day
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent,
                                         prefix=".notices-", suffix=".tmp",
                                         delete=False) as temporary:
            json.dump(said, temporary, indent=1, sort_keys=True)
        try:
            os.replace(temporary.name, path)
        except OSError:
            os.unlink(temporary.name)
            raise
    except OSError:
        pass  # said every time rather than never
    return True


RERANK_DOCS = "docs/retrieval.md, Reranking"


def reranker_missing(model: str) -> str:
    """The warning of ``ask`` (once a day per collection) when the cross-encoder is absent."""
    return (f"reranker {model} is not available offline (not a local path nor in the Hugging "
            "Face cache); answering without reranking. Set rerank.model to a local path, or "
            f"to null to turn reranking off (see {RERANK_DOCS}). Said once a day per "
            "collection.")


def reranking_fact(model: str | None, active: bool) -> str:
    """One line saying whether answers are reranked and, when not, why (``ragline demo``)."""
    if model is None:
        return "reranking: off (rerank.model is null)"
    if active:
        return f"reranking: on (cross-encoder {model})"
    return (f"reranking: off (cross-encoder {model} is not installed offline; "
            f"see {RERANK_DOCS})")
