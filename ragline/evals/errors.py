"""Errors of the eval harness, below :class:`~ragline.errors.RagLineError`::

    RagLineError
    └── EvalError                 an eval could not run or its inputs are wrong (400)
        ├── SuiteError            a suite file is malformed; the message names the key (400)
        ├── DatasetNotFound       a benchmark data set is not at the given path (404)
        └── JudgeOutputInvalid    an LLM judge answered invalid JSON twice (502)

Messages say what to do next.
"""

from __future__ import annotations

from ragline.errors import RagLineError


class EvalError(RagLineError):
    """Root of the eval harness's errors."""

    http_status = 400


class SuiteError(EvalError):
    """A suite file cannot be read or does not follow the documented format."""


class DatasetNotFound(EvalError):
    """A data set folder or one of its files is missing."""

    http_status = 404


class JudgeOutputInvalid(EvalError):
    """An LLM judge's reply was not the JSON its schema asks for, even after one repair."""

    http_status = 502

    def __init__(self, message: str, *, reply: str) -> None:
        super().__init__(message)
        self.reply = reply
