"""The fitted models behind trained routers, one class per router kind.

Every estimator learns the *soft target* ``t = (1 + strong - weak) / 2`` of a
prompt (``weak`` and ``strong`` the two models' qualities in [0, 1]): the
expected value of ``t`` given the prompt is ``(1 + E[strong - weak]) / 2``, a
monotone map of the expected gain of calling the strong model, which is what
ranks prompts for PGR. Cross-entropy on soft labels is a proper scoring rule, so
a logistic model of ``t`` estimates that expectation.

Hyperparameters are chosen by k-fold cross-validation *inside the training data*
(the APGR of the out-of-fold scores); the out-of-fold scores of the chosen
setting are kept so the router's default threshold is set on scores the model
did not see. scikit-learn and LightGBM are imported lazily, inside ``fit``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ragline.routing.calibrate import apgr

__all__ = ["EnsembleEstimator", "Estimator", "FitData", "KnnEstimator", "LgbmEstimator",
           "LogregEstimator", "MfEstimator", "soft_target"]

Matrix = npt.NDArray[np.float64]
Floats = npt.NDArray[np.float64]

_KNN_GRID = tuple((k, t) for k in (10, 20, 40, 80, 160, 300) for t in (0.05, 1.0))
_C_GRID = (0.0003, 0.001, 0.003)
_CHEAP_C_GRID = (0.1, 1.0)
_MF_GRID = (1e-2,)


def soft_target(weak: Floats, strong: Floats) -> Floats:
    """``(1 + strong - weak) / 2``: 1 when only the strong model succeeds, 0.5 on a tie."""
    return np.clip((1.0 + strong - weak) / 2.0, 0.0, 1.0)


@dataclass(frozen=True)
class FitData:
    """What an estimator reads per prompt: embedding rows, cheap features, retrieval signals."""

    vectors: Matrix
    cheap: Matrix
    signals: Matrix

    def rows(self, index: npt.NDArray[np.intp]) -> FitData:
        """The data of the prompts at ``index``."""
        return FitData(self.vectors[index], self.cheap[index], self.signals[index])

    def __len__(self) -> int:
        return int(self.vectors.shape[0])


class Estimator(Protocol):
    """A fitted scorer: higher = more need for the strong model."""

    params: dict[str, Any]

    def predict(self, data: FitData) -> Floats:
        """Scores of the prompts in ``data``."""
        ...


def _folds(n: int, k: int, seed: int) -> list[npt.NDArray[np.intp]]:
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, k)]


def _safe_apgr(scores: Floats, weak: Floats, strong: Floats) -> float:
    if float(strong.mean() - weak.mean()) == 0.0:
        return float(np.corrcoef(scores, strong - weak)[0, 1]) if scores.std() else 0.0
    return apgr(scores, weak, strong)


def _cross_validate(make: Callable[[], Any], data: FitData, weak: Floats, strong: Floats,
                    qualities: Matrix, folds: int, seed: int) -> tuple[float, Floats]:
    """APGR of the out-of-fold scores of ``make()`` fitted fold by fold, and those scores."""
    n = len(data)
    oof = np.zeros(n)
    for held in _folds(n, folds, seed):
        train = np.setdiff1d(np.arange(n), held)
        model = make()
        model.fit(data.rows(train), weak[train], strong[train], qualities[train], seed)
        oof[held] = model.predict(data.rows(held))
    return _safe_apgr(oof, weak, strong), oof


def select(candidates: Sequence[Callable[[], Any]], data: FitData, weak: Floats,
           strong: Floats, qualities: Matrix, seed: int) -> tuple[Any, Floats]:
    """Fit the candidate with the best cross-validated APGR on all of ``data``.

    Three folds. Returns the fitted model and its out-of-fold training scores
    (with fewer than 20 prompts: no cross-validation, the first candidate and its
    in-sample scores).
    """
    n = len(data)
    if n < 20 or (len(candidates) == 1 and n < 20):
        model = candidates[0]()
        model.fit(data, weak, strong, qualities, seed)
        return model, model.predict(data)
    folds = 3
    best: tuple[float, int, Floats] | None = None
    for i, make in enumerate(candidates):
        score, oof = _cross_validate(make, data, weak, strong, qualities, folds, seed)
        if best is None or score > best[0] + 1e-9:
            best = (score, i, oof)
    assert best is not None
    model = candidates[best[1]]()
    model.fit(data, weak, strong, qualities, seed)
    model.params["cv_apgr"] = round(best[0], 4)
    return model, best[2]


# ---------------------------------------------------------------- kNN


def knn_neighbours(train: Matrix, query: Matrix, k: int, *, exclude_self: bool,
                   block: int = 2048) -> tuple[npt.NDArray[np.intp], Matrix]:
    """Indices and cosine similarities of the ``k`` nearest training rows of each query row.

    Vectors are assumed L2-normalised. With ``exclude_self`` the query rows are
    the training rows and each row's own entry is skipped (leave-one-out).
    """
    k = max(1, min(k, train.shape[0] - (1 if exclude_self else 0)))
    index = np.zeros((query.shape[0], k), dtype=np.intp)
    sims = np.zeros((query.shape[0], k))
    t32 = train.astype(np.float32)
    for start in range(0, query.shape[0], block):
        part = query[start:start + block].astype(np.float32) @ t32.T
        if exclude_self:
            rows = np.arange(part.shape[0])
            part[rows, rows + start] = -np.inf
        top = np.argpartition(-part, k - 1, axis=1)[:, :k]
        top_sims = np.take_along_axis(part, top, axis=1)
        order = np.argsort(-top_sims, axis=1, kind="stable")
        index[start:start + block] = np.take_along_axis(top, order, axis=1)
        sims[start:start + block] = np.take_along_axis(top_sims, order, axis=1)
    return index, sims


def knn_average(targets: Floats, index: npt.NDArray[np.intp], sims: Matrix, k: int,
                temperature: float) -> Floats:
    """Similarity-weighted mean target of the first ``k`` neighbours (weights
    ``exp((sim - best) / temperature)``)."""
    s = sims[:, :k]
    weights = np.exp((s - s[:, :1]) / temperature)
    return np.asarray((weights * targets[index[:, :k]]).sum(1) / weights.sum(1), dtype=np.float64)


class KnnEstimator:
    """Embedding kNN: the similarity-weighted mean soft target of the nearest training prompts."""

    def __init__(self, k: int = 40, temperature: float = 0.05) -> None:
        self.params: dict[str, Any] = {"k": k, "temperature": temperature}
        self.vectors: Matrix = np.zeros((0, 0))
        self.targets: Floats = np.zeros(0)

    def fit(self, data: FitData, weak: Floats, strong: Floats, qualities: Matrix,
            seed: int) -> KnnEstimator:
        """Remember the training vectors and their soft targets."""
        self.vectors = data.vectors.astype(np.float32)
        self.targets = soft_target(weak, strong)
        return self

    def predict(self, data: FitData) -> Floats:
        """Scores of new prompts (never of the training rows themselves: see ``fit_select``)."""
        k = int(self.params["k"])
        index, sims = knn_neighbours(self.vectors, data.vectors, k, exclude_self=False)
        return knn_average(self.targets, index, sims, k, float(self.params["temperature"]))

    @classmethod
    def fit_select(cls, data: FitData, weak: Floats, strong: Floats) -> tuple[KnnEstimator, Floats]:
        """Choose ``k`` and the temperature by leave-one-out APGR; returns the model and its
        leave-one-out training scores."""
        targets = soft_target(weak, strong)
        n = len(data)
        grid = [(min(k, max(n - 1, 1)), t) for k, t in _KNN_GRID]
        index, sims = knn_neighbours(data.vectors, data.vectors, max(k for k, _ in grid),
                                     exclude_self=True)
        best: tuple[float, int, float, Floats] | None = None
        for k, temperature in grid:
            loo = knn_average(targets, index, sims, k, temperature)
            score = _safe_apgr(loo, weak, strong)
            if best is None or score > best[0] + 1e-9:
                best = (score, k, temperature, loo)
        assert best is not None
        model = cls(best[1], best[2]).fit(data, weak, strong, np.zeros((n, 0)), 0)
        model.params["cv_apgr"] = round(best[0], 4)
        return model, best[3]


# ---------------------------------------------------------------- linear and boosted


def _design(data: FitData, *, signals: bool, embedding: bool = True) -> Matrix:
    parts = [data.vectors.astype(np.float64), data.cheap] if embedding else [data.cheap]
    if signals:
        parts.append(data.signals)
    return np.hstack(parts)


def _soft_rows(x: Matrix, t: Floats) -> tuple[Matrix, Floats, Floats]:
    """Each row twice, labelled 1 with weight ``t`` and 0 with weight ``1 - t``."""
    return np.vstack([x, x]), np.r_[np.ones(len(t)), np.zeros(len(t))], np.r_[t, 1.0 - t]


class LogregEstimator:
    """Logistic regression of the soft target on the embedding, cheap features and,
    with ``signals=True``, the retrieval signals; features standardised. With
    ``embedding=False`` it reads the cheap features (and signals) only."""

    def __init__(self, c: float = 0.001, *, signals: bool = False,
                 embedding: bool = True) -> None:
        self.params: dict[str, Any] = {"C": c, "signals": signals, "embedding": embedding}
        self.model: Any = None

    def _x(self, data: FitData) -> Matrix:
        return _design(data, signals=bool(self.params["signals"]),
                       embedding=bool(self.params.get("embedding", True)))

    def fit(self, data: FitData, weak: Floats, strong: Floats, qualities: Matrix,
            seed: int) -> LogregEstimator:
        """Fit the scaler and the logistic regression."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        x, y, w = _soft_rows(self._x(data), soft_target(weak, strong))
        self.model = make_pipeline(
            StandardScaler(), LogisticRegression(C=float(self.params["C"]), max_iter=2000))
        self.model.fit(x, y, logisticregression__sample_weight=w)
        return self

    def predict(self, data: FitData) -> Floats:
        """The estimated soft target of each prompt."""
        return np.asarray(self.model.predict_proba(self._x(data))[:, 1], dtype=np.float64)

    @classmethod
    def candidates(cls, *, signals: bool = False,
                   embedding: bool = True) -> list[Callable[[], LogregEstimator]]:
        """One constructor per regularisation strength of the grid."""
        grid = _C_GRID if embedding else _CHEAP_C_GRID
        return [partial(cls, c, signals=signals, embedding=embedding) for c in grid]


class LgbmEstimator:
    """LightGBM (cross-entropy on the soft target) on the same features as ``logreg``."""

    def __init__(self, trees: int = 200, leaves: int = 7) -> None:
        self.params: dict[str, Any] = {"trees": trees, "leaves": leaves}
        self.model: Any = None

    def fit(self, data: FitData, weak: Floats, strong: Floats, qualities: Matrix,
            seed: int) -> LgbmEstimator:
        """Fit the boosted trees (small, shrunk and subsampled: the data are few)."""
        from lightgbm import LGBMRegressor

        self.model = LGBMRegressor(
            objective="cross_entropy", n_estimators=int(self.params["trees"]),
            num_leaves=int(self.params["leaves"]), learning_rate=0.03, min_child_samples=20,
            subsample=0.8, subsample_freq=1, colsample_bytree=0.3, reg_lambda=1.0,
            random_state=seed, n_jobs=1, verbose=-1)
        self.model.fit(_design(data, signals=False), soft_target(weak, strong))
        return self

    def predict(self, data: FitData) -> Floats:
        """The boosted estimate of each prompt's soft target."""
        return np.asarray(self.model.predict(_design(data, signals=False)), dtype=np.float64)

    @classmethod
    def candidates(cls) -> list[Callable[[], LgbmEstimator]]:
        """Constructors for the tree counts of the grid."""
        return [partial(cls, t) for t in (150, 400)]


# ---------------------------------------------------------------- matrix factorisation


def _sigmoid(x: Matrix) -> Matrix:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), dtype=np.float64)


class MfEstimator:
    """Matrix factorisation of the (prompt x model) quality matrix over prompt embeddings.

    Each prompt's factor is a learned projection ``P`` of its embedding, each
    model has a vector ``u_m`` and a bias ``b_m``; the model's predicted quality
    on the prompt is ``sigmoid(u_m . (P^T x) + b_m)`` (RouteLLM's matrix
    factorisation family, fitted on correctness instead of preference pairs). All
    model columns of the outcomes are factorised together; the score is the
    predicted strong quality minus the predicted weak quality. Plain numpy: full
    batch Adam with L2 penalty, fixed epochs, seeded.
    """

    def __init__(self, l2: float = 1e-2, rank: int = 16, epochs: int = 200) -> None:
        self.params: dict[str, Any] = {"l2": l2, "rank": rank, "epochs": epochs}
        self.projection: Matrix = np.zeros((0, 0))
        self.model_vectors: Matrix = np.zeros((0, 0))
        self.bias: Floats = np.zeros(0)
        self.weak_col = 0
        self.strong_col = 1

    def fit(self, data: FitData, weak: Floats, strong: Floats, qualities: Matrix,
            seed: int) -> MfEstimator:
        """Fit ``P``, ``u`` and ``b`` to ``qualities`` (columns: weak, strong, then others)."""
        rng = np.random.default_rng(seed)
        x = data.vectors.astype(np.float64)
        y = qualities
        n, d = x.shape
        r, m = int(self.params["rank"]), y.shape[1]
        l2 = float(self.params["l2"])
        params = [rng.normal(0, 1 / np.sqrt(d), (d, r)), rng.normal(0, 0.1, (m, r)),
                  np.log(np.clip(y.mean(0), 1e-3, 1 - 1e-3) / np.clip(1 - y.mean(0), 1e-3, 1))]
        moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
        for step in range(1, int(self.params["epochs"]) + 1):
            proj, vec, bias = params
            z = x @ proj
            error = (_sigmoid(z @ vec.T + bias) - y) / n
            grads = [x.T @ (error @ vec) + l2 * proj, error.T @ z + l2 * vec, error.sum(0)]
            for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                m1, m2 = moments[i]
                m1[...] = 0.9 * m1 + 0.1 * g
                m2[...] = 0.999 * m2 + 0.001 * g * g
                p -= 0.01 * (m1 / (1 - 0.9**step)) / (np.sqrt(m2 / (1 - 0.999**step)) + 1e-8)
        self.projection, self.model_vectors, self.bias = params
        return self

    def predict(self, data: FitData) -> Floats:
        """Predicted strong quality minus predicted weak quality."""
        z = data.vectors.astype(np.float64) @ self.projection
        q = _sigmoid(z @ self.model_vectors.T + self.bias)
        return np.asarray(q[:, self.strong_col] - q[:, self.weak_col], dtype=np.float64)

    @classmethod
    def candidates(cls) -> list[Callable[[], MfEstimator]]:
        """Constructors for the L2 penalties of the grid."""
        return [partial(cls, l2) for l2 in _MF_GRID]


# ---------------------------------------------------------------- ensemble


class EnsembleEstimator:
    """The mean of standardised scores of kNN, ``logreg`` and a cheap-features-only
    logistic regression, each fitted (and tuned) on its own.

    Each member's score is standardised with the mean and standard deviation of
    its cross-validated training scores, so no member dominates by scale.
    """

    def __init__(self, members: list[tuple[Any, float, float]]) -> None:
        self.members = members
        self.params: dict[str, Any] = {}

    def predict(self, data: FitData) -> Floats:
        """Mean standardised member score."""
        parts = [(model.predict(data) - mean) / std for model, mean, std in self.members]
        return np.asarray(np.mean(parts, axis=0), dtype=np.float64)

    @classmethod
    def fit_select(cls, data: FitData, weak: Floats, strong: Floats, qualities: Matrix,
                   seed: int) -> tuple[EnsembleEstimator, Floats]:
        """Fit every member; returns the ensemble and its cross-validated training scores."""
        fitted: list[tuple[Any, Floats]] = [KnnEstimator.fit_select(data, weak, strong)]
        for candidates in (LogregEstimator.candidates(),
                           LogregEstimator.candidates(embedding=False)):
            fitted.append(select(candidates, data, weak, strong, qualities, seed))
        members = [(model, float(oof.mean()), float(oof.std()) or 1.0) for model, oof in fitted]
        ensemble = cls(members)
        ensemble.params = {"members": [dict(m.params) for m, _ in fitted]}
        oof = np.mean([(o - mean) / std for (_, o), (_, mean, std) in zip(fitted, members,
                                                                           strict=True)], axis=0)
        ensemble.params["cv_apgr"] = round(_safe_apgr(oof, weak, strong), 4)
        return ensemble, np.asarray(oof, dtype=np.float64)
