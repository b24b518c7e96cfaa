"""The HTML report of a run: metric summary, distribution plots, per-case table.

The page is rendered with jinja2 (autoescaped) from ``report.html.j2``. Each
metric gets a histogram, drawn with matplotlib (the ``reports`` extra, imported
only here) and embedded as a base64 PNG; without matplotlib the page has no
plots. In the case table, ``details['unsupported_claims']`` are highlighted in
red and ``details['broken_citations']`` in yellow. Each case shows its reference
answer next to the answer, and the documents it retrieved (best first) next to the
ones it should have: retrieved and expected in green, expected but missed in red.
Paths are shown relative to the folder all of them share (the full id on hover).
:func:`compare` (from :mod:`ragline.evals.compare`) gives paired per-metric deltas
of two runs.
"""

from __future__ import annotations

import base64
import io
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2

from ragline.evals.compare import MetricDelta, compare
from ragline.evals.results import RunResult

__all__ = ["MetricDelta", "compare", "render_html", "write_html"]


def _histogram(name: str, values: list[float]) -> str:
    """A PNG histogram of ``values``, base64-encoded (drawn without pyplot's global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4, 2.6), dpi=80)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    # every metric is a share or a similarity: draw them on the same 0..1 scale
    span = (min(0.0, *values), max(1.0, *values))
    axes.hist(values, bins=10, range=span, color="#4c72b0")
    axes.set_title(name)
    axes.set_xlabel("value")
    axes.set_ylabel("cases")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _plots(run: RunResult) -> dict[str, str]:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return {}
    return {name: _histogram(name, [row.metrics[name] for row in run.cases
                                    if name in row.metrics]) for name in run.means}


@dataclass(frozen=True, slots=True)
class _Doc:
    """A document id as the case table shows it."""

    id: str
    shown: str
    expected: bool = False
    rank: int | None = None


@dataclass(frozen=True, slots=True)
class _CaseDocs:
    """What a case retrieved (best first, each document once) and what it missed."""

    retrieved: list[_Doc]
    missed: list[_Doc]


def _shortener(run: RunResult) -> Callable[[str], str]:
    """Show path-like ids relative to the folder they all share; other ids as they are."""
    paths = {doc for row in run.cases for doc in (*row.sources, *row.relevant_doc_ids)
             if doc.startswith("/")}
    if not paths:
        return lambda doc: doc
    root = posixpath.commonpath([posixpath.dirname(doc) for doc in paths])

    def shown(doc: str) -> str:
        return posixpath.relpath(doc, root) if doc in paths else doc

    return shown


def _case_docs(run: RunResult) -> dict[str, _CaseDocs]:
    """Each case's retrieved and missed documents, by case id."""
    shown = _shortener(run)
    docs: dict[str, _CaseDocs] = {}
    for row in run.cases:
        expected = set(row.relevant_doc_ids)
        first: dict[str, int] = {}
        for rank, doc in enumerate(row.sources, start=1):
            first.setdefault(doc, rank)
        docs[row.id] = _CaseDocs(
            [_Doc(doc, shown(doc), doc in expected, rank) for doc, rank in first.items()],
            [_Doc(doc, shown(doc), True) for doc in row.relevant_doc_ids if doc not in first])
    return docs


def render_html(run: RunResult, *, plots: bool = True) -> str:
    """The report page of ``run`` as a string."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    counts = {name: sum(name in row.metrics for row in run.cases) for name in run.means}
    return environment.get_template("report.html.j2").render(
        run=run, counts=counts, plots=_plots(run) if plots else {}, docs=_case_docs(run),
        expectations=any(row.relevant_doc_ids for row in run.cases))


def write_html(run: RunResult, path: Path | str, *, plots: bool = True) -> Path:
    """Write the report page of ``run`` to ``path`` (parent folders created); returns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(run, plots=plots), encoding="utf-8")
    return path
