"""``RAGLINE_*`` environment variables: which setting each one names, and which name none.

A setting ``retrieval.k`` is set by ``RAGLINE_RETRIEVAL__K`` (sections joined by
a double underscore). A variable that starts with ``RAGLINE_`` but names no
setting would otherwise be ignored without a word; :func:`unknown_variables`
finds them with the closest real name, and :func:`variable_of` names the
variable behind a bad value.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

PREFIX = "RAGLINE_"

OTHER_VARIABLES = frozenset({
    "RAGLINE_TIKTOKEN_CACHE",      # ragline/tokens.py: where tiktoken's files are cached
    "RAGLINE_TEST_POSTGRES_URL",   # the test suite's PostgreSQL (scripts/ensure-postgres.sh)
    "RAGLINE_TEST_REDIS_URL",      # the test suite's Redis (scripts/ensure-redis.sh)
    "RAGLINE_PG_DIR",              # where scripts/ensure-postgres.sh keeps its cluster
    "RAGLINE_BENCH_DATA",          # benchmarks: the shared data folder
    "RAGLINE_BENCH_CACHE",         # benchmarks: their embedding cache
})
"""Variables ragline's tools read that are not settings."""


def setting_variables(model: type[BaseModel], prefix: str = PREFIX) -> set[str]:
    """Every variable that sets a key of ``model`` or of its nested sections."""
    names: set[str] = set()
    for field, info in model.model_fields.items():
        name = f"{prefix}{field.upper()}"
        names.add(name)
        annotation: Any = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= setting_variables(annotation, f"{name}__")
    return names


def unknown_variables(environ: Mapping[str, str],
                      known: Iterable[str]) -> list[tuple[str, str | None]]:
    """(variable, closest known name or None) for each ``RAGLINE_*`` variable that sets
    nothing, in name order."""
    known = set(known) | OTHER_VARIABLES
    found = []
    for name in sorted(environ):
        if name.startswith(PREFIX) and name.upper() not in known:
            close = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.75)
            found.append((name, close[0] if close else None))
    return found


def variable_of(location: Iterable[object], environ: Mapping[str, str]) -> str | None:
    """The variable that set the value at ``location`` (e.g. ``("retrieval", "k")``), or
    that set its section as a whole (``RAGLINE_ROUTING`` holding JSON), if one did."""
    parts = [str(part).upper() for part in location]
    upper = {name.upper(): name for name in environ}
    for length in range(len(parts), 0, -1):
        name = PREFIX + "__".join(parts[:length])
        if name in upper:
            return upper[name]
    return None


def variables_under(section: str, environ: Mapping[str, str]) -> list[str]:
    """The variables that set ``section`` or a key inside it, in name order."""
    head = f"{PREFIX}{section.upper()}"
    return sorted(name for name in environ
                  if name.upper() == head or name.upper().startswith(head + "__"))
