"""Scripted upstream replies the exact-cache tests share."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

ANSWER = "Qdrant is a vector database [1]."


def slow(seconds: float) -> Callable[[dict[str, Any]], str]:
    """A scripted reply that takes ``seconds``: long enough for every caller to arrive."""

    def answer(body: dict[str, Any]) -> str:
        time.sleep(seconds)
        return ANSWER

    return answer
