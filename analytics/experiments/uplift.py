"""Uplift models (who is moved by the treatment) and the curves that judge them.

Four meta-learners on scikit-learn estimators: the T-learner (one outcome model per arm), the
S-learner (one model with the arm as a feature), the class-transformation learner (one model
of "treated and converted or control and not converted", arms re-weighted to equal size;
for amounts the transformed-outcome regression) and the X-learner (arm models, imputed
individual effects, effect models blended by the treated share). Each follows the
scikit-learn contract: ``fit(X, treatment, y)`` returns ``self``, ``predict(X)`` returns the
predicted uplift (treated minus control outcome) per row.

Curves, all over users sorted by predicted uplift, best first:

* Qini curve ``Q(k) = Y_t(k) - Y_c(k) * N_t(k) / N_c(k)``: incremental outcomes among the
  treated of the top k, with the control outcomes rescaled to the treated count.
* Uplift curve ``U(k) = (mean_t(k) - mean_c(k)) * k``: incremental outcomes had all top-k
  users been treated.

Both are divided by the number of users, plotted against the targeted fraction, and judged
against the straight line of random targeting from (0, 0) to the curve's end. The Qini
coefficient is the area between the Qini curve and that line; AUUC is the area under the
uplift curve; uplift@k% is the observed treated-minus-control mean among the top k%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from analytics.errors import ConfigError
from analytics.experiments.ab import _clean, _records
from analytics.experiments.data import MIN_ARM_USERS, ExperimentData

Array = npt.NDArray[Any]
TOP_SHARES: tuple[int, ...] = (10, 20, 30)
#: Categorical features keep at most this many levels (the rest become "other").
MAX_LEVELS = 20
_CURVE_POINTS = 201
#: Bootstrap resamples of the held-out users for the Qini coefficient's 95% CI.
QINI_BOOTSTRAP = 400
# Per-user matrices are small: OpenMP start-up costs more than it saves, and on a busy
# machine the first multi-threaded boosting fit can stall for seconds. One thread is faster.
_OPENMP_THREADS = 1


# --------------------------------------------------------------------------- estimators


def base_estimator(binary: bool, base: str = "gbm", random_state: int | None = None) -> Any:
    """The outcome model: histogram gradient boosting or a (logistic) linear model."""
    if base == "gbm":
        params = {"max_iter": 150, "learning_rate": 0.05, "max_leaf_nodes": 8,
                  "min_samples_leaf": 30, "l2_regularization": 1.0, "random_state": random_state}
        return (HistGradientBoostingClassifier(**params) if binary  # type: ignore[arg-type]
                else HistGradientBoostingRegressor(**params))  # type: ignore[arg-type]
    if base == "linear":
        model = LogisticRegression(C=1.0, max_iter=2000) if binary else Ridge(alpha=1.0)
        return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), model)
    raise ConfigError(f"Unknown base model {base!r}.", hint="Use 'gbm' or 'linear'.")


def _outcome_model(binary: bool, base: str, random_state: int | None, X: Array, y: Array,
                   weight: Array | None = None) -> Any:
    model = base_estimator(binary, base, random_state)
    if binary and len(np.unique(y)) < 2:
        return float(y[0]) if len(y) else 0.0  # one class only: a constant prediction
    if weight is None:
        return model.fit(X, y)
    step = model.steps[-1][0] + "__sample_weight" if hasattr(model, "steps") else "sample_weight"
    return model.fit(X, y, **{step: weight})


def _predict(model: Any, X: Array, binary: bool) -> Array:
    if isinstance(model, float):
        return np.full(len(X), model)
    return model.predict_proba(X)[:, 1] if binary else model.predict(X)  # type: ignore[no-any-return]


def _is_binary(y: Array) -> bool:
    return bool(np.isin(np.unique(y), (0.0, 1.0)).all())


class UpliftModel(BaseEstimator):  # type: ignore[misc]
    """Shared parameters: ``base`` ('gbm' | 'linear') and ``random_state``."""

    def __init__(self, base: str = "gbm", random_state: int | None = None) -> None:
        self.base = base
        self.random_state = random_state

    def fit(self, X: Array, treatment: Array, y: Array) -> UpliftModel:
        X, t, y = np.asarray(X, dtype=float), np.asarray(treatment, dtype=int), np.asarray(y, dtype=float)
        if len(np.unique(t)) != 2:
            raise ConfigError("Uplift models need users in both arms.",
                              hint="Check the treatment and control values.")
        self.binary_ = _is_binary(y)
        self.treated_share_ = float(t.mean())
        with threadpool_limits(limits=_OPENMP_THREADS, user_api="openmp"):
            self._fit(X, t, y)
        return self

    def _fit(self, X: Array, t: Array, y: Array) -> None:
        raise NotImplementedError

    def predict(self, X: Array) -> Array:
        raise NotImplementedError


class TLearner(UpliftModel):
    """Two outcome models, one per arm; uplift = treated model - control model.

    Examples
    --------
    >>> model = TLearner(random_state=0).fit(X, treatment, y)   # doctest: +SKIP
    >>> model.predict(X[:3])                                     # doctest: +SKIP
    """

    def _fit(self, X: Array, t: Array, y: Array) -> None:
        self.models_ = tuple(_outcome_model(self.binary_, self.base, self.random_state,
                                            X[t == arm], y[t == arm]) for arm in (0, 1))

    def predict(self, X: Array) -> Array:
        X = np.asarray(X, dtype=float)
        control, treated = (_predict(m, X, self.binary_) for m in self.models_)
        return treated - control


class SLearner(UpliftModel):
    """One outcome model with the arm as an extra feature; uplift = f(x, 1) - f(x, 0)."""

    def _fit(self, X: Array, t: Array, y: Array) -> None:
        self.model_ = _outcome_model(self.binary_, self.base, self.random_state,
                                     np.column_stack([X, t]), y)

    def predict(self, X: Array) -> Array:
        X = np.asarray(X, dtype=float)
        ones, zeros = np.ones(len(X)), np.zeros(len(X))
        return (_predict(self.model_, np.column_stack([X, ones]), self.binary_)
                - _predict(self.model_, np.column_stack([X, zeros]), self.binary_))


class ClassTransformation(UpliftModel):
    """Binary outcomes: classify z = (treated and y) or (control and not y), arms weighted to
    equal size, so uplift = 2 P(z) - 1. Amounts: regress the transformed outcome
    y (t - p) / (p (1 - p)), whose expectation is the uplift (p = treated share)."""

    def _fit(self, X: Array, t: Array, y: Array) -> None:
        p = self.treated_share_
        if self.binary_:
            z = np.where(t == 1, y, 1 - y)
            weight = np.where(t == 1, 0.5 / p, 0.5 / (1 - p))
            self.model_ = _outcome_model(True, self.base, self.random_state, X, z, weight)
        else:
            target = y * (t - p) / (p * (1 - p))
            self.model_ = _outcome_model(False, self.base, self.random_state, X, target)

    def predict(self, X: Array) -> Array:
        X = np.asarray(X, dtype=float)
        if self.binary_:
            return 2 * _predict(self.model_, X, True) - 1
        return _predict(self.model_, X, False)


class XLearner(UpliftModel):
    """Arm models, then models of the imputed effects (treated: y - mu0(x); control:
    mu1(x) - y), blended as g tau0 + (1 - g) tau1 with g the treated share."""

    def _fit(self, X: Array, t: Array, y: Array) -> None:
        mu0, mu1 = (_outcome_model(self.binary_, self.base, self.random_state,
                                   X[t == arm], y[t == arm]) for arm in (0, 1))
        d1 = y[t == 1] - _predict(mu0, X[t == 1], self.binary_)
        d0 = _predict(mu1, X[t == 0], self.binary_) - y[t == 0]
        self.effects_ = tuple(_outcome_model(False, self.base, self.random_state, X[t == arm], d)
                              for arm, d in ((0, d0), (1, d1)))

    def predict(self, X: Array) -> Array:
        X = np.asarray(X, dtype=float)
        tau0, tau1 = (_predict(m, X, False) for m in self.effects_)
        g = self.treated_share_
        return g * tau0 + (1 - g) * tau1


#: The models compared by default: name -> (class, base estimator).
MODELS: dict[str, tuple[type[UpliftModel], str]] = {
    "T-learner (gradient boosting)": (TLearner, "gbm"),
    "T-learner (logistic regression)": (TLearner, "linear"),
    "S-learner (gradient boosting)": (SLearner, "gbm"),
    "Class transformation (gradient boosting)": (ClassTransformation, "gbm"),
    "X-learner (gradient boosting)": (XLearner, "gbm"),
}


def make_model(name: str, random_state: int | None = 0) -> UpliftModel:
    if name not in MODELS:
        raise ConfigError(f"Unknown uplift model {name!r}.", hint=f"Use one of: {', '.join(MODELS)}.")
    cls, base = MODELS[name]
    return cls(base=base, random_state=random_state)


# --------------------------------------------------------------------------- metrics


def _sorted(y: Array, t: Array, score: Array) -> tuple[Array, Array, Array]:
    """Cumulative treated/control counts and outcome sums at the end of each tie group."""
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    y, t, s = np.asarray(y, dtype=float)[order], np.asarray(t, dtype=int)[order], np.asarray(score)[order]
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    cum = np.vstack([np.cumsum(t), np.cumsum(1 - t), np.cumsum(y * t), np.cumsum(y * (1 - t))])
    return ends + 1, cum[:, ends], order


def qini_curve(y: Array, t: Array, score: Array) -> tuple[Array, Array]:
    """(targeted fraction, Qini value / n) from (0, 0); tied scores move together."""
    k, (n_t, n_c, y_t, y_c), _ = _sorted(y, t, score)
    ratio = np.divide(n_t, n_c, out=np.zeros(len(k)), where=n_c > 0)
    q = y_t - y_c * ratio
    n = len(np.asarray(y))
    return np.r_[0.0, k / n], np.r_[0.0, q / n]


def uplift_curve(y: Array, t: Array, score: Array) -> tuple[Array, Array]:
    """(targeted fraction, (mean_t - mean_c) * k / n), 0 while an arm is still empty."""
    k, (n_t, n_c, y_t, y_c), _ = _sorted(y, t, score)
    both = (n_t > 0) & (n_c > 0)
    diff = np.divide(y_t, n_t, out=np.zeros(len(k)), where=both) - \
        np.divide(y_c, n_c, out=np.zeros(len(k)), where=both)
    n = len(np.asarray(y))
    return np.r_[0.0, k / n], np.r_[0.0, diff * k / n]


def _area(x: Array, curve: Array) -> float:
    return float(np.sum((x[1:] - x[:-1]) * (curve[1:] + curve[:-1]) / 2))


def qini_coefficient(y: Array, t: Array, score: Array) -> float:
    """Area between the Qini curve and the random-targeting line (per user)."""
    x, q = qini_curve(y, t, score)
    return _area(x, q) - float(q[-1]) / 2


def qini_ci(y: Array, t: Array, score: Array, n_boot: int = QINI_BOOTSTRAP,
            random_state: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap CI of the Qini coefficient over resampled users.

    Resampling the held-out users (scores fixed) measures how much of a model's Qini is luck of
    the split: a CI that includes 0 means the model does not target better than random.
    """
    y, t, s = np.asarray(y, dtype=float), np.asarray(t, dtype=int), np.asarray(score, dtype=float)
    rng = np.random.default_rng(random_state)
    draws = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        draws[b] = qini_coefficient(y[idx], t[idx], s[idx])
    low, high = np.percentile(draws, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


@dataclass(frozen=True)
class QiniCheck:
    """The best model's Qini over *every* user, each scored by a model that never saw them
    (cross-fitting), with a bootstrap 95% CI: the evidence for "better than random"."""

    model: str
    qini: float
    ci_low: float
    ci_high: float
    users: int
    folds: int
    caveat: str = ""  # e.g. assignment was not random: the ranking is of association

    @property
    def better_than_random(self) -> bool:
        return self.ci_low > 0

    def verdict(self) -> str:
        where = (f"{self.model}, cross-fitted over all {self.users:,} users ({self.folds} folds): "
                 f"Qini {self.qini:.4f}, 95% CI {self.ci_low:.4f} to {self.ci_high:.4f}")
        tail = f" {self.caveat}" if self.caveat else ""
        if self.better_than_random:
            return f"The uplift model targets better than random ({where}).{tail}"
        if self.ci_high < 0:  # seen on a real mailing; "includes 0" was false there
            return ("The best model targets worse than random: the whole Qini 95% CI is below 0 "
                    f"({where}). Its top-ranked shoppers respond less to the treatment than "
                    f"average; do not target by these scores.{tail}")
        return ("No model targets better than random: the Qini 95% CI includes 0 (best model "
                f"{where}). Targeting by these scores is no better than picking shoppers at "
                f"random.{tail}")

    def as_json(self) -> dict[str, Any]:
        return {"model": self.model, "qini": _clean(self.qini), "ci_low": _clean(self.ci_low),
                "ci_high": _clean(self.ci_high), "users": self.users, "folds": self.folds,
                "better_than_random": self.better_than_random}


def crossfit_qini(name: str, X: Array, t: Array, y: Array, strata: Array, folds: int = 5,
                  random_state: int = 0) -> QiniCheck:
    """Out-of-fold predictions of model ``name`` for every user, then :func:`qini_ci`.

    A single held-out split judges a model on 40% of the users; the Qini of a few hundred
    users is so noisy that even the true effects often get a CI that includes 0. Scoring each
    user by a model fitted without them uses every user and keeps the estimate honest.
    """
    oof = np.empty(len(y))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    for fit, score in splitter.split(X, strata):
        oof[score] = make_model(name, random_state).fit(X[fit], t[fit], y[fit]).predict(X[score])
    low, high = qini_ci(y, t, oof, random_state=random_state)
    return QiniCheck(name, qini_coefficient(y, t, oof), low, high, len(y), folds)


def auuc(y: Array, t: Array, score: Array) -> float:
    """Area under the uplift curve (per user); random targeting scores half the ATE."""
    x, u = uplift_curve(y, t, score)
    return _area(x, u)


def uplift_at_k(y: Array, t: Array, score: Array, share: float) -> float:
    """Observed treated-minus-control mean among the top ``share`` of users; NaN if an arm is
    missing there."""
    if not 0 < share <= 1:
        raise ConfigError(f"The top share {share} must be in (0, 1].", hint="For example 0.3.")
    y, t = np.asarray(y, dtype=float), np.asarray(t, dtype=int)
    top = np.argsort(-np.asarray(score, dtype=float), kind="stable")[: math.ceil(share * len(y))]
    treated, control = top[t[top] == 1], top[t[top] == 0]
    if len(treated) == 0 or len(control) == 0:
        return math.nan
    return float(y[treated].mean() - y[control].mean())


def uplift_by_decile(y: Array, t: Array, score: Array, bins: int = 10) -> pd.DataFrame:
    """Per score decile (1 = highest predicted uplift): users, rates per arm, observed uplift,
    mean predicted uplift."""
    y, t, s = np.asarray(y, dtype=float), np.asarray(t, dtype=int), np.asarray(score, dtype=float)
    order = np.argsort(-s, kind="stable")
    decile = np.empty(len(y), dtype=int)
    decile[order] = np.arange(len(y)) * bins // max(len(y), 1) + 1
    frame = pd.DataFrame({"decile": decile, "y": y, "t": t, "score": s})
    rows = []
    for d, part in frame.groupby("decile"):
        yt, yc = part.loc[part.t == 1, "y"], part.loc[part.t == 0, "y"]
        rate_t = float(yt.mean()) if len(yt) else math.nan
        rate_c = float(yc.mean()) if len(yc) else math.nan
        rows.append({"decile": d, "users": len(part), "n_treatment": len(yt),
                     "n_control": len(yc), "treatment": rate_t, "control": rate_c,
                     "uplift": rate_t - rate_c, "predicted": float(part["score"].mean())})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class UpliftResult:
    """Model comparison on held-out users, curves, deciles and the best model's scores."""

    table: pd.DataFrame  # model, qini, auuc, uplift_at_10, uplift_at_20, uplift_at_30
    best: str
    curves: pd.DataFrame  # model, fraction, qini (incl. the random line as a model)
    deciles: pd.DataFrame  # of the best model, on the held-out users
    scores: pd.DataFrame  # user_id, uplift (best model refitted on every user), percentile
    test_users: tuple[str, ...]
    targeting_curve: pd.DataFrame  # fraction, outcome_rate_gain, revenue_rate_gain (held out)
    ate: float
    revenue_ate: float | None
    users: int
    outcome_name: str
    check: QiniCheck | None = None  # does the best model target better than random?

    @property
    def verdict(self) -> str:
        return self.check.verdict() if self.check else ""

    @property
    def best_row(self) -> dict[str, Any]:
        return dict(self.table.set_index("model").loc[self.best])

    def as_json(self) -> dict[str, Any]:
        return {"best": self.best, "verdict": self.verdict,
                "qini_check": self.check.as_json() if self.check else None,
                "models": _records(self.table),
                "deciles": _records(self.deciles),
                "ate": _clean(self.ate), "revenue_ate": _clean(self.revenue_ate),
                "users": self.users, "test_users": len(self.test_users)}


def encode_features(frame: pd.DataFrame, features: tuple[str, ...]) -> tuple[Array, list[str]]:
    """Numeric matrix: numeric columns as floats (NaN kept), categorical ones one-hot."""
    parts, names = [], []
    for name in features:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            values = column.to_numpy(dtype=float, na_value=np.nan)
            if np.isnan(values).all() or np.nanmin(values) == np.nanmax(values):
                continue  # carries no information (e.g. no device ever recorded)
            parts.append(values[:, None])
            names.append(name)
            continue
        text = column.astype("string").fillna("(missing)")
        keep = text.value_counts().index[:MAX_LEVELS]
        levels = text.where(text.isin(keep), "(other)")
        dummies = pd.get_dummies(levels, prefix=name, dtype=float)
        parts.append(dummies.to_numpy())
        names.extend(dummies.columns.astype(str))
    if not parts:
        raise ConfigError("No features to model uplift with.",
                          hint="Pick feature columns (customer attributes from before the "
                          "treatment).", title="No features")
    return np.hstack(parts), names


def compare_models(data: ExperimentData, models: tuple[str, ...] | None = None,
                   test_size: float = 0.4, random_state: int = 0) -> UpliftResult:
    """Fit each model on a training split, judge it on the held-out users, refit the best
    (highest Qini coefficient) on every user and score them.

    Raises
    ------
    ConfigError
        If an arm of the training or test split has fewer than MIN_ARM_USERS users, or the
        outcome never varies.
    """
    with threadpool_limits(limits=_OPENMP_THREADS, user_api="openmp"):
        return _compare(data, models, test_size, random_state)


def _compare(data: ExperimentData, models: tuple[str, ...] | None, test_size: float,
             random_state: int) -> UpliftResult:
    frame = data.frame
    X, _ = encode_features(frame, data.features)
    y, t = frame["outcome"].to_numpy(dtype=float), frame["treatment"].to_numpy(dtype=int)
    _check_modelable(y, t, test_size)
    strata = t * 2 + (y > np.median(y)).astype(int)
    train, test = train_test_split(np.arange(len(y)), test_size=test_size,
                                   random_state=random_state, stratify=strata)
    rows, curves, predictions = [], [], {}
    for name in models or tuple(MODELS):
        pred = make_model(name, random_state).fit(X[train], t[train], y[train]).predict(X[test])
        predictions[name] = pred
        rows.append(_metrics(name, y[test], t[test], pred, random_state))
        curves.append(_curve_frame(name, *qini_curve(y[test], t[test], pred)))
    table = pd.DataFrame(rows).sort_values("qini", ascending=False, ignore_index=True)
    best = str(table.loc[0, "model"])
    x_end, q_end = qini_curve(y[test], t[test], predictions[best])
    curves.append(pd.DataFrame({"model": "Random targeting", "fraction": [0.0, 1.0],
                                "qini": [0.0, float(q_end[-1])]}))
    scores = make_model(best, random_state).fit(X, t, y).predict(X)
    return UpliftResult(
        table=table, best=best, curves=pd.concat(curves, ignore_index=True),
        deciles=uplift_by_decile(y[test], t[test], predictions[best]),
        scores=_score_frame(frame["user_id"], scores),
        test_users=tuple(frame["user_id"].iloc[test].astype(str)),
        targeting_curve=_targeting_curve(frame.iloc[test], predictions[best]),
        ate=float(y[t == 1].mean() - y[t == 0].mean()),
        revenue_ate=_revenue_ate(frame, t), users=len(frame), outcome_name=data.outcome_name,
        check=crossfit_qini(best, X, t, y, strata, random_state=random_state))


def _check_modelable(y: Array, t: Array, test_size: float) -> None:
    smaller = min(int(t.sum()), int((1 - t).sum()))
    if smaller * min(test_size, 1 - test_size) < MIN_ARM_USERS:
        raise ConfigError(
            f"Too few users to fit and check uplift models: {smaller:,} in the smaller arm; "
            f"each arm needs about {math.ceil(MIN_ARM_USERS / min(test_size, 1 - test_size)):,} "
            "so that both the training and the held-out part have "
            f"{MIN_ARM_USERS}.", hint="Collect more users or compare the arms with the A/B table.",
            title="Too few users for uplift models")
    if np.ptp(y) == 0:
        raise ConfigError("The outcome is the same for every user: nothing to model.",
                          hint="Pick another outcome column.", title="Constant outcome")


def _metrics(name: str, y: Array, t: Array, pred: Array, random_state: int = 0) -> dict[str, Any]:
    low, high = qini_ci(y, t, pred, random_state=random_state)
    row: dict[str, Any] = {"model": name, "qini": qini_coefficient(y, t, pred), "qini_low": low,
                           "qini_high": high, "auuc": auuc(y, t, pred)}
    for share in TOP_SHARES:
        row[f"uplift_at_{share}"] = uplift_at_k(y, t, pred, share / 100)
    return row


def _curve_frame(name: str, x: Array, q: Array) -> pd.DataFrame:
    """The curve thinned to at most _CURVE_POINTS points (enough for a chart)."""
    keep = np.unique(np.linspace(0, len(x) - 1, min(len(x), _CURVE_POINTS)).round().astype(int))
    return pd.DataFrame({"model": name, "fraction": x[keep], "qini": q[keep]})


def _score_frame(user_ids: pd.Series, scores: Array) -> pd.DataFrame:
    frame = pd.DataFrame({"user_id": user_ids.astype(str).to_numpy(), "uplift": scores})
    # Percentile: share of users with a lower or equal predicted uplift (1.0 = the top).
    frame["percentile"] = frame["uplift"].rank(method="max", pct=True)
    return frame.sort_values("uplift", ascending=False, ignore_index=True)


def _targeting_curve(held_out: pd.DataFrame, pred: Array) -> pd.DataFrame:
    """Held-out uplift curves (per user) of the outcome and, when known, revenue."""
    t = held_out["treatment"].to_numpy(dtype=int)
    x, gain = uplift_curve(held_out["outcome"].to_numpy(dtype=float), t, pred)
    frame = pd.DataFrame({"fraction": x, "outcome_gain": gain})
    if "revenue" in held_out.columns:
        frame["revenue_gain"] = uplift_curve(held_out["revenue"].to_numpy(dtype=float), t, pred)[1]
    return frame


def _revenue_ate(frame: pd.DataFrame, t: Array) -> float | None:
    if "revenue" not in frame.columns:
        return None
    revenue = frame["revenue"].to_numpy(dtype=float)
    return float(revenue[t == 1].mean() - revenue[t == 0].mean())
