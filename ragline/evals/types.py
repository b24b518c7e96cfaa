"""The value type of the eval harness: one eval case.

An :class:`EvalCase` is one question with whatever references a suite has. The
judge protocol the metrics use lives in :mod:`ragline.verify.types`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class EvalCase:
    """One eval question and its optional references.

    ``relevant_doc_ids`` are the documents a retriever should find (graded
    relevance in ``metadata['relevance']`` when a suite has grades);
    ``reference_contexts`` are passages that hold the answer.
    """

    id: str
    question: str
    reference_answer: str | None = None
    reference_contexts: tuple[str, ...] = ()
    relevant_doc_ids: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
