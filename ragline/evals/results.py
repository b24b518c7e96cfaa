"""What an eval run produces: one :class:`CaseRow` per case and the :class:`RunResult`.

Both are plain dataclasses that round-trip through JSON (:meth:`RunResult.save`,
:meth:`RunResult.load`); the file is the ``--out runs/NAME.json`` of ``ragline eval run``.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ragline.evals.errors import EvalError


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One case's outcome: its answer, metric values, details, timing (ms) and cost (USD).

    ``cost_usd`` is what answering cost, ``judge_cost_usd`` what scoring cost (LLM judge
    calls; 0 with the offline judge or cached verdicts); each is None when a call had no
    known price. ``sources`` are the retrieved chunks' document ids, best first;
    ``reference_answer`` and ``relevant_doc_ids`` are the case's references (what a
    low score is measured against).
    """

    id: str
    question: str
    answer: str
    metrics: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)
    answer_ms: float = 0.0
    eval_ms: float = 0.0
    cost_usd: float | None = 0.0
    sources: list[str] = field(default_factory=list)
    judge_cost_usd: float | None = 0.0
    reference_answer: str | None = None
    relevant_doc_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict of every field."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseRow:
        """Rebuild a row written by :meth:`to_json`."""
        return cls(**data)


def metric_means(rows: list[CaseRow]) -> dict[str, float]:
    """Mean of each metric over the cases that have it, names sorted."""
    names = sorted({name for row in rows for name in row.metrics})
    return {name: statistics.fmean(row.metrics[name] for row in rows if name in row.metrics)
            for name in names}


def _total(costs: list[float | None]) -> float | None:
    """The sum, or None when one cost is unknown."""
    return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)


@dataclass(frozen=True, slots=True)
class RunResult:
    """A whole run: suite, config, judge, per-metric means and the rows in suite order."""

    suite: str
    config: str | None
    judge: str
    means: dict[str, float]
    cases: list[CaseRow]
    total_cost_usd: float | None = 0.0
    total_judge_cost_usd: float | None = 0.0

    @classmethod
    def of(cls, *, suite: str, config: str | None, judge: str,
           rows: list[CaseRow]) -> RunResult:
        """Build the result of ``rows``, computing means and the total costs."""
        return cls(suite, config, judge, metric_means(rows), rows,
                   _total([row.cost_usd for row in rows]),
                   _total([row.judge_cost_usd for row in rows]))

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict of the run."""
        return {"suite": self.suite, "config": self.config, "judge": self.judge,
                "means": self.means, "total_cost_usd": self.total_cost_usd,
                "total_judge_cost_usd": self.total_judge_cost_usd,
                "cases": [row.to_json() for row in self.cases]}

    def save(self, path: Path | str) -> Path:
        """Write the run as indented JSON (parent folders created); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n",
                        encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path | str) -> RunResult:
        """Read a run written by :meth:`save`; raises :class:`EvalError` when it is not one."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(data["suite"], data["config"], data["judge"], data["means"],
                       [CaseRow.from_json(row) for row in data["cases"]],
                       data.get("total_cost_usd"), data.get("total_judge_cost_usd", 0.0))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EvalError(f"{path} is not a ragline eval run ({exc}); "
                            "write one with `ragline eval run SUITE --out FILE`") from exc
