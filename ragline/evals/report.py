"""The HTML report of a run: metric summary, distribution plots, per-case table.

The page is rendered with jinja2 (autoescaped) from ``report.html.j2``. Each
metric gets a histogram, drawn with matplotlib (the ``reports`` extra, imported
only here) and embedded as a base64 PNG; without matplotlib the page has no
plots. In the case table, ``details['unsupported_claims']`` are highlighted in
red and ``details['broken_citations']`` in yellow. :func:`compare` (from
:mod:`ragline.evals.compare`) gives paired per-metric deltas of two runs.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import jinja2

from ragline.evals.compare import MetricDelta, compare
from ragline.evals.results import RunResult

__all__ = ["MetricDelta", "compare", "render_html", "write_html"]


def _histogram(name: str, values: list[float]) -> str:
    """A PNG histogram of ``values``, base64-encoded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(4, 2.6), dpi=80)
    try:
        # every metric is a share or a similarity: draw them on the same 0..1 scale
        span = (min(0.0, *values), max(1.0, *values))
        axes.hist(values, bins=10, range=span, color="#4c72b0")
        axes.set_title(name)
        axes.set_xlabel("value")
        axes.set_ylabel("cases")
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _plots(run: RunResult) -> dict[str, str]:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return {}
    return {name: _histogram(name, [row.metrics[name] for row in run.cases
                                    if name in row.metrics]) for name in run.means}


def render_html(run: RunResult, *, plots: bool = True) -> str:
    """The report page of ``run`` as a string."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    counts = {name: sum(name in row.metrics for row in run.cases) for name in run.means}
    return environment.get_template("report.html.j2").render(
        run=run, counts=counts, plots=_plots(run) if plots else {})


def write_html(run: RunResult, path: Path | str, *, plots: bool = True) -> Path:
    """Write the report page of ``run`` to ``path`` (parent folders created); returns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(run, plots=plots), encoding="utf-8")
    return path
