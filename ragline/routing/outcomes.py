"""Outcome files: per-prompt quality of several models, the training data of routers.

An outcome file is CSV or JSON lines. It has a ``prompt`` column, one column per
model holding that model's correctness on the prompt (``True``/``False``,
``"true"``/``"false"``, ``1``/``0``) or a quality score in [0, 1], and optionally
one ``<model>_response`` column per model with the model's response. A ``group``
column, when present, names the prompt's group; otherwise the group is the file's
stem (for RouteLLM's MMLU files, the subject: ``mmlu_anatomy``). The files in
RouteLLM's ``routellm/evals`` folders have exactly this form.

A contaminated-prompts file is JSON lines whose objects carry the prompt to drop
under ``eval_prompt`` (RouteLLM's form) or ``prompt``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import sys
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ragline.errors import InvalidInput

__all__ = ["Outcomes", "load_contaminated_prompts", "load_outcomes", "parse_quality"]

Quality = npt.NDArray[np.float64]

RESPONSE_SUFFIX = "_response"
_RESERVED = frozenset({"prompt", "group", "id"})
_TRUE = frozenset({"true", "t", "yes"})
_FALSE = frozenset({"false", "f", "no"})


@dataclass(frozen=True)
class Outcomes:
    """Prompts and how well each model did on each of them.

    ``quality[model][i]`` is the model's quality on ``prompts[i]``, a float in
    [0, 1] (correctness becomes 0 or 1); ``responses[model][i]`` its response
    (only for models whose responses were given); ``groups[i]`` the prompt's
    group ("" when none). Every array and tuple has one entry per prompt.
    """

    prompts: tuple[str, ...]
    quality: dict[str, Quality]
    responses: dict[str, tuple[str, ...]] = field(default_factory=dict)
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.prompts)
        if not self.groups:
            object.__setattr__(self, "groups", ("",) * n)
        if len(self.groups) != n:
            raise InvalidInput(f"outcomes: {len(self.groups)} groups for {n} prompts")
        quality: dict[str, Quality] = {}
        for model, values in self.quality.items():
            array = np.asarray(values, dtype=np.float64)
            if array.shape != (n,):
                raise InvalidInput(f"outcomes: model {model!r} has {array.shape} qualities "
                                   f"for {n} prompts")
            if n and (np.isnan(array).any() or array.min() < 0.0 or array.max() > 1.0):
                raise InvalidInput(f"outcomes: model {model!r} has a quality outside [0, 1]")
            quality[model] = array
        object.__setattr__(self, "quality", quality)
        for model, texts in self.responses.items():
            if len(texts) != n:
                raise InvalidInput(f"outcomes: model {model!r} has {len(texts)} responses "
                                   f"for {n} prompts")

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def models(self) -> tuple[str, ...]:
        """The models with a quality column, in file order."""
        return tuple(self.quality)

    def data_hash(self) -> str:
        """SHA-256 (hex) of prompts, groups, qualities and responses; stable across runs."""
        digest = hashlib.sha256()
        for prompt, group in zip(self.prompts, self.groups, strict=True):
            digest.update(prompt.encode())
            digest.update(b"\x1f")
            digest.update(group.encode())
            digest.update(b"\x1e")
        for model in sorted(self.quality):
            digest.update(b"\x1dq" + model.encode() + b"\x1d")
            digest.update(np.ascontiguousarray(self.quality[model], dtype="<f8").tobytes())
        for model in sorted(self.responses):
            digest.update(b"\x1dr" + model.encode() + b"\x1d")
            for text in self.responses[model]:
                digest.update(text.encode())
                digest.update(b"\x1e")
        return digest.hexdigest()

    def subset(self, indices: Sequence[int] | npt.NDArray[np.integer[Any]]) -> Outcomes:
        """The outcomes of the prompts at ``indices``, in that order."""
        index = np.asarray(indices, dtype=np.int64).reshape(-1)
        if index.size and (index.min() < -len(self) or index.max() >= len(self)):
            raise InvalidInput(f"outcomes: index out of range for {len(self)} prompts")
        picked = [int(i) for i in index]
        return Outcomes(
            prompts=tuple(self.prompts[i] for i in picked),
            quality={m: q[index].copy() for m, q in self.quality.items()},
            responses={m: tuple(r[i] for i in picked) for m, r in self.responses.items()},
            groups=tuple(self.groups[i] for i in picked),
        )


def parse_quality(value: Any) -> float:
    """A correctness or quality value as a float in [0, 1].

    Accepts booleans, ``"true"``/``"false"`` (any case), and numbers or numeric
    strings in [0, 1]; raises ``ValueError`` for anything else.
    """
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return 1.0
        if text in _FALSE:
            return 0.0
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{value!r} is neither a boolean nor a number") from None
    else:
        raise ValueError(f"{value!r} is neither a boolean nor a number")
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        raise ValueError(f"{value!r} is not in [0, 1]")
    return number


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number where the record starts, row)`` for each record of a CSV file."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            return
        start = reader.line_num + 1
        for row in reader:
            if None in row:
                raise InvalidInput(f"{path}:{start}: more fields than the header has")
            yield start, row
            start = reader.line_num + 1


def jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a JSON-lines file."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"{path}:{number}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise InvalidInput(f"{path}:{number}: a JSON object is expected")
            yield number, row


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return jsonl_rows(path)
    return _csv_rows(path)


class _Collector:
    """Accumulates the rows of outcome files, checking that every file has the same models."""

    def __init__(self, exclude: Collection[str]) -> None:
        self.exclude = exclude
        self.models: tuple[str, ...] | None = None
        self.prompts: list[str] = []
        self.groups: list[str] = []
        self.quality: dict[str, list[float]] = {}
        self.responses: dict[str, list[str]] = {}
        self.response_models: tuple[str, ...] | None = None

    def add(self, path: Path, number: int, row: Mapping[str, Any]) -> None:
        where = f"{path}:{number}"
        prompt = row.get("prompt")
        if not isinstance(prompt, str):
            raise InvalidInput(f"{where}: no 'prompt' column (a text per row is required)")
        models = tuple(k for k in row if k not in _RESERVED and not k.endswith(RESPONSE_SUFFIX))
        responders = tuple(k[: -len(RESPONSE_SUFFIX)] for k in row
                           if k.endswith(RESPONSE_SUFFIX))
        self._check_columns(where, models, responders)
        if prompt in self.exclude:
            return
        values: dict[str, float] = {}
        for model in models:
            try:
                values[model] = parse_quality(row[model])
            except ValueError as exc:
                raise InvalidInput(f"{where}: column {model!r}: {exc}") from None
        self.prompts.append(prompt)
        group = row.get("group")
        self.groups.append(str(group) if group not in (None, "") else path.stem)
        for model, value in values.items():
            self.quality[model].append(value)
        for model in responders:
            text = row[model + RESPONSE_SUFFIX]
            self.responses[model].append("" if text is None else str(text))

    def _check_columns(self, where: str, models: tuple[str, ...],
                       responders: tuple[str, ...]) -> None:
        if not models:
            raise InvalidInput(f"{where}: no model column besides 'prompt'")
        if self.models is None:
            self.models = models
            self.response_models = responders
            self.quality = {m: [] for m in models}
            self.responses = {m: [] for m in responders}
            return
        if set(models) != set(self.models):
            raise InvalidInput(f"{where}: models {sorted(models)} differ from the first "
                               f"file's {sorted(self.models)}")
        if set(responders) != set(self.response_models or ()):
            raise InvalidInput(f"{where}: response columns differ from the first file's")

    def outcomes(self) -> Outcomes:
        return Outcomes(
            prompts=tuple(self.prompts),
            quality={m: np.asarray(v, dtype=np.float64) for m, v in self.quality.items()},
            responses={m: tuple(v) for m, v in self.responses.items()},
            groups=tuple(self.groups),
        )


def load_outcomes(paths: Sequence[Path], *, exclude_prompts: Collection[str] = ()) -> Outcomes:
    """Read outcome files (CSV, or JSON lines for ``.jsonl``) into one :class:`Outcomes`.

    Rows keep file order, files keep the given order; prompts in
    ``exclude_prompts`` are dropped. Every file must have the same model
    columns. Raises :class:`~ragline.errors.InvalidInput` naming the file and
    line for a missing ``prompt`` column, a value that is neither a boolean nor
    in [0, 1], a malformed line, or a file that cannot be read.
    """
    if not paths:
        raise InvalidInput("no outcome file given")
    exclude = exclude_prompts if isinstance(exclude_prompts, set | frozenset) \
        else frozenset(exclude_prompts)
    collector = _Collector(exclude)
    for raw in paths:
        path = Path(raw)
        try:
            for number, row in _rows(path):
                collector.add(path, number, row)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise InvalidInput(f"{path}: cannot read outcome file ({exc})") from exc
    if collector.models is None:
        raise InvalidInput(f"{', '.join(map(str, paths))}: no outcome rows")
    return collector.outcomes()


def load_contaminated_prompts(path: Path) -> frozenset[str]:
    """The prompts a contaminated-prompts JSON-lines file lists (``eval_prompt`` or ``prompt``).

    Raises :class:`~ragline.errors.InvalidInput` naming the file and line when a
    line is not a JSON object with one of those keys, or the file cannot be read.
    """
    prompts: set[str] = set()
    try:
        for number, row in jsonl_rows(Path(path)):
            prompt = row.get("eval_prompt", row.get("prompt"))
            if not isinstance(prompt, str):
                raise InvalidInput(f"{path}:{number}: no 'eval_prompt' or 'prompt' text")
            prompts.add(prompt)
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read contaminated-prompts file ({exc})") from exc
    return frozenset(prompts)
