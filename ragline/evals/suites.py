"""Eval suites: a named list of :class:`~ragline.verify.types.EvalCase` read from a file.

Two formats, both UTF-8:

**YAML** (``*.yaml`` / ``*.yml``)::

    name: ragline-docs              # required
    config: ../../configs/eval.yaml # optional: pipeline config, relative to this file
    doc_root: ../../docs            # optional: relative relevant_doc_ids are resolved
                                    # against it into absolute paths (ragline's doc ids)
    cases:
      - id: storage                 # optional; default case-<n> (1-based)
        question: Where does ragline keep its index?
        reference_answer: In a Qdrant Edge shard under .ragline.   # optional
        reference_contexts: ["..."]                                 # optional
        relevant_doc_ids: [getting-started.md]                      # optional
        metadata: {tag: storage}                                    # optional

**JSONL** (``*.jsonl``): one case object per line (the keys above), and an
optional sidecar ``<stem>.meta.yaml`` next to it with ``name``, ``config`` and
``doc_root``; without it the suite is named after the file's stem.

Unknown keys, duplicate ids and empty questions are errors (:class:`SuiteError`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragline.config import read_yaml
from ragline.evals.errors import SuiteError
from ragline.evals.types import EvalCase


class _CaseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    question: str = Field(min_length=1)
    reference_answer: str | None = None
    reference_contexts: list[str] = []
    relevant_doc_ids: list[str] = []
    metadata: dict[str, Any] = {}


class _HeaderModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    config: str | None = None
    doc_root: str | None = None


class _SuiteModel(_HeaderModel):
    cases: list[_CaseModel] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Suite:
    """A named set of cases and, optionally, the pipeline config they are meant for."""

    name: str
    cases: tuple[EvalCase, ...]
    config: Path | None = None


def _resolved(base: Path, value: str | None) -> Path | None:
    return None if value is None else (base / value).resolve()


def _doc_id(doc_root: Path | None, doc_id: str) -> str:
    if doc_root is None or Path(doc_id).is_absolute():
        return doc_id
    return (doc_root / doc_id).resolve().as_posix()


def _build(header: _HeaderModel, cases: list[_CaseModel], where: Path) -> Suite:
    doc_root = _resolved(where.parent, header.doc_root)
    built: list[EvalCase] = []
    seen: set[str] = set()
    for number, case in enumerate(cases, start=1):
        case_id = case.id or f"case-{number}"
        if case_id in seen:
            raise SuiteError(f"{where}: case id {case_id!r} appears twice; ids must be unique")
        seen.add(case_id)
        built.append(EvalCase(
            id=case_id, question=case.question.strip(), reference_answer=case.reference_answer,
            reference_contexts=tuple(case.reference_contexts),
            relevant_doc_ids=tuple(_doc_id(doc_root, d) for d in case.relevant_doc_ids),
            metadata=dict(case.metadata)))
    return Suite(header.name, tuple(built), _resolved(where.parent, header.config))


def _describe(exc: ValidationError, where: str) -> SuiteError:
    first = exc.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    return SuiteError(f"{where}: {key}: {first['msg']} (see the format in ragline.evals.suites)")


def _read_yaml(path: Path) -> dict[str, Any]:
    return read_yaml(path, what="suite file", error=SuiteError)


def _load_jsonl(path: Path) -> Suite:
    sidecar = path.with_name(f"{path.stem}.meta.yaml")
    raw_header = _read_yaml(sidecar) if sidecar.exists() else {"name": path.stem}
    try:
        header = _HeaderModel.model_validate(raw_header)
    except ValidationError as exc:
        raise _describe(exc, str(sidecar)) from exc
    cases: list[_CaseModel] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SuiteError(f"cannot read suite {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            cases.append(_CaseModel.model_validate(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise SuiteError(f"{path}:{number}: not JSON: {exc.msg}") from exc
        except ValidationError as exc:
            raise _describe(exc, f"{path}:{number}") from exc
    if not cases:
        raise SuiteError(f"{path}: no cases; write one JSON object per line")
    return _build(header, cases, path)


def load_suite(path: Path | str) -> Suite:
    """Read a ``.yaml``/``.yml`` or ``.jsonl`` suite; raises :class:`SuiteError` when invalid."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"suite file {path} " + ("is a folder; give the suite's .yaml or "
                                                   ".jsonl file" if path.is_dir()
                                                   else "does not exist"))
    if path.suffix == ".jsonl":
        return _load_jsonl(path)
    if path.suffix not in (".yaml", ".yml"):
        raise SuiteError(f"{path}: a suite is a .yaml, .yml or .jsonl file")
    try:
        model = _SuiteModel.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise _describe(exc, str(path)) from exc
    return _build(model, model.cases, path)
