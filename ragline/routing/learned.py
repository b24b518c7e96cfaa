"""Routers trained on outcomes: which prompts need the strong model.

:func:`train_router` fits one of :data:`ROUTER_KINDS` on an
:class:`~ragline.routing.outcomes.Outcomes` between a weak and a strong model and
returns a :class:`TrainedRouter`, which meets the :class:`~ragline.routing.types.Router`
protocol. Its ``strong_score`` of a prompt is its estimate that the strong model
is needed: every kind learns the expected gain of the strong model over the weak
one, through the soft target of :mod:`ragline.routing.estimators` (higher = send
to strong). Hyperparameters are chosen by cross-validation on the training data
only.

Kinds:

- ``knn``: similarity-weighted mean target of the nearest training prompts
  (MiniLM cosine); ``k`` and the weighting temperature by leave-one-out.
- ``logreg``: logistic regression on the prompt embedding plus cheap text
  features (:mod:`ragline.routing.features`).
- ``lgbm``: LightGBM on the same features.
- ``mf``: matrix factorisation over model vectors and a learned projection of
  the prompt embedding (RouteLLM's best family), in numpy.
- ``rag``: the ``logreg`` features plus the retrieval signals of
  :class:`~ragline.types.RouteSignals` (top score, margin, agreement, number
  retrieved). Outcome files carry no retrieval signals; trained without
  ``signals`` those features are all zero, the model learns nothing from them and
  scores like ``logreg`` until it is retrained on signals from real requests.
- ``ensemble``: the mean standardised score of ``knn``, ``logreg`` and a logistic
  regression on the cheap features alone (each tuned on its own); the most
  accurate kind on MMLU with 1,500 labels (``benchmarks/README.md``).

A saved router (:meth:`TrainedRouter.save`, joblib) carries its kind, embedder
name, threshold, training-data hash and a format version;
:meth:`TrainedRouter.load` refuses another embedder
(:class:`~ragline.errors.RouterMismatch`) and anything that is not a ragline router
of a known version (:class:`~ragline.errors.RouterError`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ragline.errors import InvalidInput, RouterError, RouterMismatch
from ragline.protocols import Embedder, Vectors
from ragline.routing.calibrate import threshold_for_strong_fraction
from ragline.routing.estimators import (
    EnsembleEstimator,
    Estimator,
    FitData,
    KnnEstimator,
    LgbmEstimator,
    LogregEstimator,
    MfEstimator,
    select,
)
from ragline.routing.features import cheap_features, signal_features
from ragline.routing.outcomes import Outcomes
from ragline.routing.types import RouteDecision, routed_text
from ragline.types import ChatRequest, RouteSignals

__all__ = ["FORMAT_VERSION", "ROUTER_KINDS", "TrainedRouter", "request_text", "train_router"]

ROUTER_KINDS = ("knn", "logreg", "lgbm", "mf", "rag", "ensemble")
FORMAT_VERSION = 1
_FORMAT = "ragline-router"

Floats = npt.NDArray[np.float64]


def request_text(request: ChatRequest) -> str:
    """The text a router reads (:func:`~ragline.routing.types.routed_text`); raises
    :class:`InvalidInput` when the request has no question and no user message."""
    text = routed_text(request)
    if text is None:
        raise InvalidInput("the request has no question and no user message to route")
    return text


class TrainedRouter:
    """A router fitted on outcomes, between the ``weak`` and ``strong`` model of the file.

    ``threshold``: prompts whose ``strong_score`` is at least it go to
    ``strong_tier``, the others to ``weak_tier``. By default it is the score that
    sends half of the training prompts to strong (on cross-validated training
    scores). ``created`` records when and on what it was trained, and the chosen
    hyperparameters. Immutable: ``with_threshold`` and ``with_tiers`` return copies.
    """

    def __init__(self, *, kind: str, weak: str, strong: str, embedder_name: str,
                 estimator: Estimator, threshold: float, data_hash: str,
                 embedder: Embedder | None = None, weak_tier: str = "weak",
                 strong_tier: str = "strong", created: dict[str, Any] | None = None) -> None:
        if kind not in ROUTER_KINDS:
            raise InvalidInput(f"unknown router kind {kind!r}; use one of {ROUTER_KINDS}")
        self.kind = kind
        self.weak = weak
        self.strong = strong
        self.embedder_name = embedder_name
        self.estimator = estimator
        self.threshold = float(threshold)
        self.data_hash = data_hash
        self.weak_tier = weak_tier
        self.strong_tier = strong_tier
        self.created: dict[str, Any] = dict(created or {})
        self._embedder = embedder

    @property
    def name(self) -> str:
        """The router's kind, as route reasons show it."""
        return self.kind

    def __repr__(self) -> str:
        return (f"TrainedRouter(kind={self.kind!r}, weak={self.weak!r}, strong={self.strong!r}, "
                f"threshold={self.threshold:.4f}, embedder={self.embedder_name!r})")

    def _copy(self, **changes: Any) -> TrainedRouter:
        fields: dict[str, Any] = {"kind": self.kind, "weak": self.weak, "strong": self.strong,
                  "embedder_name": self.embedder_name, "estimator": self.estimator,
                  "threshold": self.threshold, "data_hash": self.data_hash,
                  "embedder": self._embedder, "weak_tier": self.weak_tier,
                  "strong_tier": self.strong_tier, "created": self.created}
        fields.update(changes)
        return TrainedRouter(**fields)

    def with_threshold(self, threshold: float) -> TrainedRouter:
        """A copy routing at ``threshold``."""
        return self._copy(threshold=float(threshold))

    def with_tiers(self, weak_tier: str, strong_tier: str) -> TrainedRouter:
        """A copy whose decisions name these tiers (the ``routing.tiers`` config names)."""
        return self._copy(weak_tier=weak_tier, strong_tier=strong_tier)

    def _embed(self, prompts: Sequence[str]) -> Vectors:
        if self._embedder is None:
            raise RouterError("this router has no embedder bound; load it with one")
        return self._embedder.embed_documents(list(prompts))

    def strong_scores(self, prompts: Sequence[str], vectors: Vectors | None = None,
                      signals: Sequence[RouteSignals] | None = None) -> Floats:
        """The ``strong_score`` of each prompt, in order (higher = send to strong).

        ``vectors`` are the prompts' embeddings by this router's embedder
        (computed with the bound embedder when None); ``signals`` are only read
        by the ``rag`` kind.
        """
        if not prompts:
            return np.zeros(0)
        vecs = self._embed(prompts) if vectors is None else np.asarray(vectors)
        data = _fit_data(prompts, vecs, signals)
        return np.asarray(self.estimator.predict(data), dtype=np.float64)

    def route(self, request: ChatRequest, signals: RouteSignals) -> RouteDecision:
        """Route one request: strong tier when its score reaches the threshold.

        Reuses ``signals.query_vector`` when this router's embedder made it,
        else embeds the request's question (or last user message).
        """
        text = request_text(request)
        vector = signals.query_vector
        if vector is None or signals.embedder != self.embedder_name:
            vectors = self._embed([text])
        else:
            vectors = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        score = float(self.strong_scores([text], vectors, [signals])[0])
        strong = score >= self.threshold
        tier = self.strong_tier if strong else self.weak_tier
        relation = ">=" if strong else "<"
        return RouteDecision(
            tier=tier, model=self.strong if strong else self.weak, score=score,
            reason=f"{self.kind}: strong_score {score:.2f} {relation} threshold "
                   f"{self.threshold:.2f}")

    def save(self, path: Path | str) -> Path:
        """Write the router (joblib) with its kind, embedder, threshold, data hash and version."""
        import joblib

        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump({"format": _FORMAT, "version": FORMAT_VERSION, "kind": self.kind,
                     "weak": self.weak, "strong": self.strong,
                     "embedder_name": self.embedder_name, "threshold": self.threshold,
                     "data_hash": self.data_hash, "weak_tier": self.weak_tier,
                     "strong_tier": self.strong_tier, "created": self.created,
                     "estimator": self.estimator}, target)
        return target

    @classmethod
    def load(cls, path: Path | str, *, embedder: Embedder, embedder_name: str) -> TrainedRouter:
        """Read a saved router and bind ``embedder`` to it.

        Raises :class:`~ragline.errors.RouterMismatch` when the router was
        trained with another embedder than ``embedder_name``, and
        :class:`~ragline.errors.RouterError` when the file is unreadable, not a
        ragline router, or of an unknown format version. A router file is a
        pickle: load only files you trust.
        """
        import joblib

        try:
            saved = joblib.load(Path(path))
        except FileNotFoundError as exc:
            raise RouterError(f"{path}: no such router file") from exc
        except Exception as exc:
            raise RouterError(f"{path}: not a ragline router file ({exc})") from exc
        if not isinstance(saved, dict) or saved.get("format") != _FORMAT:
            raise RouterError(f"{path}: not a ragline router file")
        if saved.get("version") != FORMAT_VERSION:
            raise RouterError(f"{path}: router format version {saved.get('version')!r} is not "
                              f"supported (this ragline reads version {FORMAT_VERSION}); "
                              "retrain it with `ragline route train`")
        if saved["embedder_name"] != embedder_name:
            raise RouterMismatch(
                f"{path}: the router was trained on embeddings of {saved['embedder_name']!r}, "
                f"not {embedder_name!r}; load it with that embedder or retrain it")
        try:
            return cls(kind=saved["kind"], weak=saved["weak"], strong=saved["strong"],
                       embedder_name=saved["embedder_name"], estimator=saved["estimator"],
                       threshold=saved["threshold"], data_hash=saved["data_hash"],
                       embedder=embedder, weak_tier=saved["weak_tier"],
                       strong_tier=saved["strong_tier"], created=saved["created"])
        except (KeyError, InvalidInput) as exc:
            raise RouterError(f"{path}: incomplete router file ({exc})") from exc


def _fit_data(prompts: Sequence[str], vectors: Any,
              signals: Sequence[RouteSignals | None] | None) -> FitData:
    vecs = np.asarray(vectors, dtype=np.float64)
    if vecs.ndim != 2 or vecs.shape[0] != len(prompts):
        raise InvalidInput(f"expected one embedding row per prompt ({len(prompts)}), "
                           f"got shape {vecs.shape}")
    try:
        sig = signal_features(signals, len(prompts))
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    return FitData(vecs, cheap_features(prompts), sig)


def _fit(kind: str, data: FitData, weak: Floats, strong: Floats, qualities: Floats,
         seed: int) -> tuple[Estimator, Floats]:
    """The fitted estimator of ``kind`` and its cross-validated training scores."""
    if kind == "knn":
        return KnnEstimator.fit_select(data, weak, strong)
    if kind == "ensemble":
        return EnsembleEstimator.fit_select(data, weak, strong, qualities, seed)
    candidates: list[Any]
    if kind == "logreg":
        candidates = LogregEstimator.candidates()
    elif kind == "rag":
        candidates = LogregEstimator.candidates(signals=True)
    elif kind == "lgbm":
        candidates = LgbmEstimator.candidates()
    else:
        candidates = MfEstimator.candidates()
    model, oof = select(candidates, data, weak, strong, qualities, seed)
    return model, oof


def train_router(outcomes: Outcomes, *, weak: str, strong: str, kind: str,
                 embedder: Embedder, embedder_name: str, vectors: Vectors | None = None,
                 signals: Sequence[RouteSignals] | None = None, seed: int = 0) -> TrainedRouter:
    """Fit a router of ``kind`` between models ``weak`` and ``strong`` of ``outcomes``.

    ``vectors`` are the prompts' embeddings by ``embedder`` (computed when
    None); ``signals`` the retrieval signals per prompt, read by ``rag`` only
    (None: all zero). ``seed`` fixes folds and initialisations, so the same
    inputs give the same router. The router's threshold sends half of the
    training prompts to strong, on cross-validated training scores.
    """
    if kind not in ROUTER_KINDS:
        raise InvalidInput(f"unknown router kind {kind!r}; use one of {', '.join(ROUTER_KINDS)}")
    for model in (weak, strong):
        if model not in outcomes.quality:
            raise InvalidInput(f"model {model!r} is not in the outcomes "
                               f"(models: {', '.join(outcomes.models)})")
    if weak == strong:
        raise InvalidInput("the weak and the strong model must differ")
    if len(outcomes) < 2:
        raise InvalidInput("training a router needs at least 2 prompts")
    vecs = embedder.embed_documents(list(outcomes.prompts)) if vectors is None else vectors
    data = _fit_data(outcomes.prompts, vecs, signals)
    w, s = outcomes.quality[weak], outcomes.quality[strong]
    others = [outcomes.quality[m] for m in outcomes.models if m not in (weak, strong)]
    qualities = np.column_stack([w, s, *others])
    estimator, train_scores = _fit(kind, data, w, s, qualities, seed)
    threshold = threshold_for_strong_fraction(train_scores, 0.5)
    created = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
               "prompts": len(outcomes), "seed": seed, "params": dict(estimator.params),
               "weak_quality": round(float(w.mean()), 4),
               "strong_quality": round(float(s.mean()), 4)}
    return TrainedRouter(kind=kind, weak=weak, strong=strong, embedder_name=embedder_name,
                         estimator=estimator, threshold=threshold,
                         data_hash=outcomes.data_hash(), embedder=embedder, created=created)

