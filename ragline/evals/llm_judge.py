"""An LLM as the :class:`~ragline.verify.types.Judge`: versioned prompts, strict JSON out.

Each question is one chat call rendered from a versioned template in
``ragline/prompts/templates`` (``judge_support`` and ``judge_relevance``,
version 1 by default; ``judge_questions`` for :meth:`LLMJudge.generate_questions`,
which RAGAS answer relevancy uses). The reply must be one JSON object (a surrounding
```` ```json ```` fence is tolerated) that validates against the question's schema.
When it does not, the judge sends the reply back with the error and asks once
more; a second invalid reply raises :class:`~ragline.evals.errors.JudgeOutputInvalid`.
Wrap the model with ``CostMeter.chat(model, stage="judge")`` to price every call;
each call's cost also goes to the eval case being scored (:mod:`ragline.evals.spend`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragline.evals.errors import JudgeOutputInvalid
from ragline.evals.spend import record_judge_cost
from ragline.models.chat import ChatModel
from ragline.prompts import load_prompt
from ragline.types import ChatRequest, Message
from ragline.verify.types import SupportVerdict

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
Schema = TypeVar("Schema", bound=BaseModel)


class SupportReply(BaseModel):
    """The JSON object the support prompt asks for."""

    model_config = ConfigDict(extra="forbid")

    verdict: Literal["supported", "contradicted", "not_found"]
    score: float = Field(ge=0.0, le=1.0)
    missing: list[str] = []
    evidence: str = ""
    reason: str = ""


class RelevanceReply(BaseModel):
    """The JSON object the relevance prompt asks for."""

    model_config = ConfigDict(extra="forbid")

    relevance: float = Field(ge=0.0, le=1.0)
    reason: str = ""


def parse_reply(text: str, schema: type[Schema]) -> Schema:
    """Validate ``text`` (one JSON object, optionally fenced) against ``schema``.

    Raises ``ValueError`` with a message meant to be shown to the model.
    """
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text.strip()
    try:
        return schema.model_validate(json.loads(body))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at character {exc.pos}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'object'}: {e['msg']}"
                             for e in exc.errors())
        raise ValueError(f"JSON does not match the schema: {problems}") from exc


class QuestionsReply(BaseModel):
    """The JSON object the questions prompt asks for."""

    model_config = ConfigDict(extra="forbid")

    questions: list[str] = Field(min_length=1)


class LLMJudge:
    """A :class:`~ragline.verify.types.Judge` that asks ``model``; see the module docstring."""

    def __init__(self, model: ChatModel, *, support_prompt_version: int = 1,
                 relevance_prompt_version: int = 1, questions_prompt_version: int = 1,
                 max_tokens: int = 400) -> None:
        if max_tokens <= 0:
            raise ValueError(f"max_tokens must be > 0, but got {max_tokens}")
        self.model = model
        self.support_prompt = load_prompt("judge_support", support_prompt_version)
        self.relevance_prompt = load_prompt("judge_relevance", relevance_prompt_version)
        self.questions_prompt = load_prompt("judge_questions", questions_prompt_version)
        self.max_tokens = max_tokens

    @property
    def name(self) -> str:
        """``llm:<provider:model>@s<v>r<v>``: the model and both prompt versions."""
        return (f"llm:{self.model.name}@s{self.support_prompt.version}"
                f"r{self.relevance_prompt.version}")

    def _call(self, messages: tuple[Message, ...]) -> str:
        """One model call, its cost added to the case's judge spend."""
        response = self.model.generate(ChatRequest(messages, max_tokens=self.max_tokens))
        record_judge_cost(response.cost)
        return response.text

    def _ask(self, messages: tuple[Message, ...], schema: type[Schema]) -> Schema:
        """One call, and one repair call when the reply does not parse."""
        reply = self._call(messages)
        try:
            return parse_reply(reply, schema)
        except ValueError as first:
            repair = (*messages, Message("assistant", reply), Message(
                "user", f"Your reply was invalid: {first}. Reply again with only the JSON "
                        "object, exactly the keys asked for."))
            second = self._call(repair)
            try:
                return parse_reply(second, schema)
            except ValueError as exc:
                raise JudgeOutputInvalid(
                    f"judge {self.model.name} answered invalid JSON twice ({exc}); use a "
                    "stronger judge model or a newer prompt version", reply=second) from exc

    def support(self, statement: str, evidence: Sequence[str]) -> SupportVerdict:
        """Ask whether ``evidence`` supports ``statement``."""
        parsed = self._ask(self.support_prompt.render(statement=statement,
                                                      evidence=list(evidence)), SupportReply)
        return SupportVerdict(statement=statement, verdict=parsed.verdict, score=parsed.score,
                              missing=tuple(parsed.missing), evidence=parsed.evidence,
                              reason=parsed.reason)

    def relevance(self, question: str, passage: str) -> float:
        """Ask how useful ``passage`` is for ``question``, in [0, 1]."""
        return self._ask(self.relevance_prompt.render(question=question, passage=passage),
                         RelevanceReply).relevance

    def generate_questions(self, answer: str, *, n: int = 3) -> list[str]:
        """``n`` questions that ``answer`` answers (RAGAS answer relevancy compares them
        with the real question)."""
        if n <= 0:
            raise ValueError(f"n must be > 0, but got {n}")
        return self._ask(self.questions_prompt.render(answer=answer, n=n),
                         QuestionsReply).questions[:n]
