"""Offline evaluation with a temporal split: train on the past, check against what came next.

Two splits: the last stretch of the data for everyone (by default 30 days, or the last 20% of
the time span when the data covers under 150 days — a 3-hour clickstream works too), or each
shopper's last ``last_k`` purchases. The models are trained on the events before the split;
a shopper's relevant items are everything they bought (``targets``) afterwards, repeats
included, so that lists that repeat and lists that leave seen items out are judged on the
same truth.

Honest headline numbers: test shoppers are *known* (they have history before the split) or
*new*; the headline metrics and the best model use known shoppers only, new shoppers are
reported apart as cold start (every model gives them the same fallback). Each model is
scored with each exclusion (``purchased`` / ``any`` interaction / ``nothing``), and the one
that ranks best is chosen for the data set. Models whose 95% bootstrap CI of NDCG over the
known test shoppers overlaps the best one's are *tied*; of those the simplest wins (the
complexity order in :mod:`analytics.recommend.catalogue`). Results are stored in
``recommend_evaluations`` (created on first use) with the choice in its ``options`` JSON, so
``recommend`` uses that model and exclusion by default.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from analytics import staleness
from analytics.errors import ConfigError, NotFoundError
from analytics.recommend import metrics
from analytics.recommend.base import EXCLUDE_PURCHASED, EXCLUSION_LABELS, EXCLUSIONS, exclusion_mode
from analytics.recommend.catalogue import complexity, model_label
from analytics.recommend.engine import (
    DEFAULT_MODEL,
    MODELS,
    OPTIONAL_MODELS,
    Progress,
    TrainingOptions,
    train,
)
from analytics.recommend.hybrid import Hybrid
from analytics.recommend.interactions import Interactions, Scope
from analytics.recommend.repeat import RepeatHybrid
from analytics.workspace import Workspace

ALL_SEGMENTS = "(all shoppers)"
KNOWN_SHOPPERS = "(known shoppers)"
NEW_SHOPPERS = "(new shoppers)"
NO_SEGMENT = "(no segment)"
DEFAULT_MODELS = ("popularity", "segment_popularity", "trending", "item_knn", "als", "bpr",
                  "content", "sequential", "hybrid", "buy_again", "buy_again_hybrid")
# Default test period: 30 days, or this share of the span when the data covers fewer days.
DEFAULT_TEST_DAYS = 30.0
SHORT_SPAN_DAYS = 150.0
SHORT_SPAN_SHARE = 0.2
BOOTSTRAP_SAMPLES = 200
# Models whose fit depends on the exclusion (they tune on a validation split with it).
_REFIT_PER_EXCLUSION = (Hybrid, RepeatHybrid)

_TRAIN_BEFORE = "SELECT * FROM events WHERE event_time < $cutoff"
_TEST_AFTER = """
SELECT DISTINCT user_id, item_id FROM events
WHERE event_time >= $cutoff AND item_id IS NOT NULL AND list_contains($targets, event_type)
"""
_PER_USER_CUTOFFS = """
SELECT user_id, min(event_time) AS cutoff
FROM (SELECT user_id, event_time,
             row_number() OVER (PARTITION BY user_id ORDER BY event_time DESC) AS n
      FROM events WHERE item_id IS NOT NULL AND list_contains($targets, event_type))
WHERE n <= $last_k
GROUP BY user_id
"""
_TRAIN_PER_USER = """
SELECT e.* FROM events e LEFT JOIN ({cutoffs}) c USING (user_id)
WHERE c.cutoff IS NULL OR e.event_time < c.cutoff
""".replace("{cutoffs}", _PER_USER_CUTOFFS)
_TEST_PER_USER = """
SELECT DISTINCT e.user_id, e.item_id FROM events e JOIN ({cutoffs}) c USING (user_id)
WHERE e.event_time >= c.cutoff AND e.item_id IS NOT NULL AND list_contains($targets, e.event_type)
""".replace("{cutoffs}", _PER_USER_CUTOFFS)
_SPAN = "SELECT min(event_time), max(event_time) FROM events"

_INSERT = "INSERT INTO recommend_evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_EXISTS = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'recommend_evaluations'"
_LATEST = """
SELECT * FROM recommend_evaluations
WHERE evaluation_id = (SELECT arg_max(evaluation_id, created_at) FROM recommend_evaluations)
ORDER BY segment = ? DESC, ndcg DESC
"""


@dataclass(frozen=True)
class Split:
    """``method="days"``: the last ``test_days`` are the test period for everyone (None: adapt
    to the data's span, see :func:`default_test_days`); ``method="last"``: each shopper's last
    ``last_k`` target events are their test period."""

    method: str = "days"
    test_days: float | None = None
    last_k: int = 2

    def describe(self) -> str:
        if self.method == "days":
            return f"last {duration(self.test_days or DEFAULT_TEST_DAYS)}"
        return f"last {self.last_k} purchases per shopper"


def default_test_days(span_days: float) -> float:
    """30 days, or the last 20% of the span when the data covers under 150 days."""
    return DEFAULT_TEST_DAYS if span_days >= SHORT_SPAN_DAYS else SHORT_SPAN_SHARE * span_days


def duration(days: float) -> str:
    """Days in words a person reads: '30 days', '36 hours', '36 minutes'."""
    if days >= 2:
        return f"{days:.3g} days"
    if days * 24 >= 2:
        return f"{days * 24:.3g} hours"
    return f"{days * 24 * 60:.3g} minutes"


@dataclass(frozen=True)
class ModelScore:
    model: str
    segment: str
    users: int
    precision: float
    recall: float
    ndcg: float
    map: float
    hit_rate: float
    coverage: float
    novelty: float
    fit_seconds: float
    ndcg_ci_low: float = float("nan")
    ndcg_ci_high: float = float("nan")


@dataclass(frozen=True)
class EvaluationReport:
    """Metrics per model on known shoppers (``overall``, the headline), on new shoppers
    (``cold_start``) and per segment of the known ones (``per_segment``), all with the chosen
    ``exclusion``; ``exclusion_ndcg`` has every model's known-shopper NDCG under each
    exclusion, ``tied`` the models statistically as good as the best, ``chosen`` the one used."""

    evaluation_id: str
    created_at: datetime
    k: int
    split: str
    targets: tuple[str, ...]
    train_users: int
    test_users: int
    overall: tuple[ModelScore, ...]
    per_segment: tuple[ModelScore, ...]
    note: str = ""
    known_users: int = 0
    new_users: int = 0
    cold_start: tuple[ModelScore, ...] = ()
    exclusion: str = EXCLUDE_PURCHASED
    exclusion_ndcg: dict[str, dict[str, float]] = field(default_factory=dict)
    tied: tuple[str, ...] = ()
    chosen: str = ""
    verdict: str = ""

    def as_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))  # type: ignore[no-any-return]

    def models_json(self) -> dict[str, dict[str, float]]:
        """The CLI's ``models`` object (known shoppers): {name: {precision@k, ndcg@k, ...}}."""
        return {s.model: self._metrics_json(s) for s in self.overall}

    def _metrics_json(self, s: ModelScore) -> dict[str, float]:
        k = self.k
        return {f"precision@{k}": s.precision, f"recall@{k}": s.recall, f"ndcg@{k}": s.ndcg,
                f"ndcg@{k}_ci": [_finite(s.ndcg_ci_low),  # type: ignore[dict-item]
                                 _finite(s.ndcg_ci_high)],
                f"map@{k}": s.map, f"hit_rate@{k}": s.hit_rate, "coverage": s.coverage,
                "novelty": s.novelty, "fit_seconds": s.fit_seconds}

    def choice_json(self) -> dict[str, Any]:
        """What ``recommend`` uses by default and why (stored with the evaluation)."""
        return {"best": self.best(), "tied": list(self.tied), "verdict": self.verdict,
                "exclusion": self.exclusion, "exclusion_label": EXCLUSION_LABELS[self.exclusion],
                "exclusion_ndcg": self.exclusion_ndcg, "split": self.split, "k": self.k,
                "known_users": self.known_users, "new_users": self.new_users,
                "best_ndcg": next((s.ndcg for s in self.overall if s.model == self.best()), None),
                "ndcg_ci": {s.model: [_finite(s.ndcg_ci_low), _finite(s.ndcg_ci_high)]
                            for s in self.overall}}

    def summary(self) -> EvaluationSummary:
        """What the Recommendations page shows (the same shape as :func:`latest_summary`)."""
        def frame(scores: tuple[ModelScore, ...]) -> pd.DataFrame:
            return pd.DataFrame([asdict(s) for s in scores], columns=_SCORE_COLUMNS)

        return EvaluationSummary(k=self.k, split=self.split, headline=frame(self.overall),
                                 cold_start=frame(self.cold_start),
                                 per_segment=frame(self.per_segment), choice=self.choice_json(),
                                 note=self.note, evaluation_id=self.evaluation_id)

    def cli_json(self) -> dict[str, Any]:
        """``evaluate --json``: headline on known shoppers, cold start apart, the choice."""
        return {"models": self.models_json(), **self.choice_json(),
                "cold_start": {s.model: self._metrics_json(s) for s in self.cold_start},
                "users": self.test_users, "evaluation_id": self.evaluation_id}

    def frame(self, per_segment: bool = False) -> pd.DataFrame:
        return pd.DataFrame([asdict(s) for s in (self.per_segment if per_segment else self.overall)])

    def best(self) -> str:
        return self.chosen or max(self.overall, key=lambda s: s.ndcg).model


_SCORE_COLUMNS = [f.name for f in fields(ModelScore)]


@dataclass(frozen=True)
class EvaluationSummary:
    """An evaluation as the page shows it: the headline on known shoppers (best first, with
    each model's NDCG CI and whether it is tied with the best), cold start on new shoppers,
    per segment, and the choice (model, exclusion, verdict) ``recommend`` uses."""

    k: int
    split: str
    headline: pd.DataFrame
    cold_start: pd.DataFrame
    per_segment: pd.DataFrame
    choice: dict[str, Any]
    note: str = ""
    evaluation_id: str = ""

    def table(self) -> pd.DataFrame:
        """Headline rows with a human label and a tie flag, best NDCG first."""
        out = self.headline.copy()
        ci = self.choice.get("ndcg_ci") or {}
        out["ndcg_ci_low"] = [(ci.get(m) or [np.nan, np.nan])[0] for m in out["model"]]
        out["ndcg_ci_high"] = [(ci.get(m) or [np.nan, np.nan])[1] for m in out["model"]]
        out.insert(1, "label", [model_label(m) for m in out["model"]])
        tied = set(self.choice.get("tied") or [])
        out["tied_with_best"] = out["model"].isin(tied)
        out["chosen"] = out["model"] == self.choice.get("best")
        return out.sort_values("ndcg", ascending=False, kind="stable").reset_index(drop=True)

    def exclusion_table(self) -> pd.DataFrame:
        """Per list rule: the best model under it and its NDCG on known shoppers."""
        rows = []
        for mode, scores in (self.choice.get("exclusion_ndcg") or {}).items():
            best = max(scores, key=scores.get) if scores else None
            rows.append({"rule": EXCLUSION_LABELS.get(mode, mode), "exclusion": mode,
                         "best_model": model_label(best) if best else None,
                         f"ndcg@{self.k}": scores.get(best) if best else None,
                         "chosen": mode == self.choice.get("exclusion")})
        return pd.DataFrame(rows, columns=["rule", "exclusion", "best_model", f"ndcg@{self.k}",
                                           "chosen"])


@dataclass
class _Scored:
    """One model under one exclusion: per-user hits and the lists (for coverage, novelty)."""

    ids: np.ndarray[Any, Any]
    hits: np.ndarray[Any, Any]
    ndcg: np.ndarray[Any, Any]


def default_targets(ws: Workspace) -> tuple[str, ...]:
    """What counts as relevant by default: purchases, or ratings in a ratings-only workspace.

    A headerless user, item, rating, timestamp file holds only ``rate`` events, and the
    purchase default refused it with "no shopper has a purchase event" (h12audit).
    """
    with ws.cursor() as cur:
        types = {str(r[0]) for r in cur.execute(
            "SELECT DISTINCT event_type FROM events WHERE event_type IN ('purchase', 'rate')").fetchall()}
    return ("rate",) if types == {"rate"} else ("purchase",)


def evaluate(ws: Workspace, models: Sequence[str] = DEFAULT_MODELS, k: int = 10,
             split: Split | None = None, options: TrainingOptions | None = None,
             targets: Sequence[str] = ("purchase",), max_users: int | None = None,
             store: bool = True, progress: Progress | None = None,
             exclusions: Sequence[str] = EXCLUSIONS) -> EvaluationReport:
    """Train every model before the split and score its top-``k`` against what came after.

    Parameters
    ----------
    models : names from :data:`analytics.recommend.engine.MODELS`
    k : int
        List length.
    split : Split
        Default: the last 30 days, or the last 20% of a span under 150 days.
    targets : event types
        Which later events make an item relevant (default purchases; ``("purchase", "cart")``
        for shops with few orders).
    max_users : int, optional
        Evaluate a seeded random sample of this many test shoppers (faster on big data).
    store : bool
        Append the results to ``recommend_evaluations``.
    exclusions : subset of ``("purchased", "any", "nothing")``
        Which list rules to compare; the best is chosen (``options.exclude_purchased`` is
        ignored here — the evaluation decides it).

    Raises
    ------
    NotFoundError
        When nothing in the test period can be checked (no target events after the split).

    Examples
    --------
    >>> report = evaluate(ws, ["popularity", "hybrid"], k=10)         # doctest: +SKIP
    >>> report.models_json()["hybrid"]["ndcg@10"], report.exclusion   # doctest: +SKIP
    """
    options = options or TrainingOptions()
    modes = [exclusion_mode(m) for m in dict.fromkeys(exclusions)]
    split = _resolve(ws, split or Split())
    _check(models, k, split, targets, modes)
    say = progress or (lambda fraction, message: None)
    train_scope, test_sql, params = _scopes(ws, split, list(targets))
    say(0.0, f"Training {len(models)} models on the events before the {split.describe()}")
    trained = train(ws, models, _with_exclusion(options, modes[0]), scope=train_scope,
                    progress=lambda f, m: say(0.6 * f, m))
    truth = _truth(ws, test_sql, params)
    if truth.empty:
        raise NotFoundError(
            f"No shopper has a {' or '.join(targets)} event in the test period "
            f"({split.describe()}), so there is nothing to check recommendations against.",
            hint="Use a longer test period (--test-days), the per-shopper split, or count "
            "carts as relevant too (targets purchase,cart).")
    users = _sample(truth["user_id"].unique(), max_users, options.random_state)
    truth = truth[truth["user_id"].isin(set(users))]
    inter = trained.interactions
    known = inter.rows(users) >= 0
    sets = _relevant_sets(truth, users)
    scored: dict[str, dict[str, _Scored]] = {}
    for j, mode in enumerate(modes):
        scored[mode] = {}
        for i, name in enumerate(models):
            say(0.6 + 0.4 * (j * len(models) + i) / (len(modes) * len(models)),
                f"Scoring {model_label(name)} ({EXCLUSION_LABELS[mode]})")
            model = trained.models[name]
            model.exclude_purchased = mode
            if j > 0 and isinstance(model, _REFIT_PER_EXCLUSION):
                model.fit(inter, trained.items)
            ids, _ = model.recommend(users, k)
            scored[mode][name] = _scored(ids, sets, k)
    exclusion_ndcg = {mode: {n: float(s.ndcg[known].mean()) if known.any() else 0.0
                             for n, s in by_model.items()} for mode, by_model in scored.items()}
    mode = _best_exclusion(exclusion_ndcg)
    chosen = scored[mode]
    ci = _bootstrap_ci({n: s.ndcg[known] for n, s in chosen.items()}, options.random_state)
    tied, pick, verdict = _verdict(exclusion_ndcg[mode], ci, int(known.sum()), k)
    labels = _segment_labels(inter, users)
    overall = tuple(_summary(n, KNOWN_SHOPPERS, chosen[n], sets, known, inter,
                             trained.fit_seconds[n], ci.get(n)) for n in models)
    cold = tuple(_summary(n, NEW_SHOPPERS, chosen[n], sets, ~known, inter, trained.fit_seconds[n])
                 for n in models) if (~known).any() else ()
    per_segment = tuple(_summary(n, str(seg), chosen[n], sets, known & (labels == seg), inter,
                                 trained.fit_seconds[n])
                        for n in models for seg in sorted(set(labels[known].tolist())))
    report = EvaluationReport(
        evaluation_id=uuid.uuid4().hex[:12], created_at=datetime.now(), k=k,
        split=split.describe() + _split_note(split), targets=tuple(targets),
        train_users=inter.n_users, test_users=len(users), overall=overall,
        per_segment=per_segment, note=f"segments: {inter.segment_source}",
        known_users=int(known.sum()), new_users=int((~known).sum()), cold_start=cold,
        exclusion=mode, exclusion_ndcg=exclusion_ndcg, tied=tied, chosen=pick,
        verdict=_exclusion_sentence(exclusion_ndcg, mode, pick) + " " + verdict)
    if store:
        _store(ws, report, options)
    say(1.0, "Done")
    return report


def _finite(value: float) -> float | None:
    """JSON has no NaN: a missing CI is stored as null."""
    return value if np.isfinite(value) else None


def _with_exclusion(options: TrainingOptions, mode: str) -> TrainingOptions:
    from dataclasses import replace

    return replace(options, exclude_purchased=mode)


def _resolve(ws: Workspace, split: Split) -> Split:
    """Fill in an adaptive test period from the data's time span."""
    if split.method != "days" or split.test_days is not None:
        return split
    with ws.cursor() as cur:
        first, last = cur.execute(_SPAN).fetchall()[0]
    if last is None:
        raise NotFoundError("There are no events to evaluate recommendations on.",
                            hint="Load events on the Data page first.")
    span = (last - first).total_seconds() / 86400.0
    if span <= 0:
        raise NotFoundError("Every event has the same time, so there is no past to train on "
                            "and no future to test on.",
                            hint="Load events that span some time, or use --split last.")
    return _AdaptiveSplit(method="days", test_days=default_test_days(span), last_k=split.last_k,
                          span_days=span)


@dataclass(frozen=True)
class _AdaptiveSplit(Split):
    span_days: float = 0.0


def _split_note(split: Split) -> str:
    if not isinstance(split, _AdaptiveSplit):
        return ""
    if split.span_days >= SHORT_SPAN_DAYS:
        return f" (default; the data spans {duration(split.span_days)})"
    return (f" (default: the last {SHORT_SPAN_SHARE:.0%} of the data's span of "
            f"{duration(split.span_days)})")


def _check(models: Sequence[str], k: int, split: Split, targets: Sequence[str],
           modes: Sequence[str]) -> None:
    unknown = [m for m in models if m not in MODELS and m not in OPTIONAL_MODELS]  # h13: als_spark
    if unknown or not models:
        raise ConfigError(f"Unknown model(s): {', '.join(unknown) or '(none given)'}.",
                          hint=f"Choose from {', '.join(MODELS)}.")
    if k < 1:
        raise ConfigError(f"k={k} must be at least 1.", hint="Use e.g. --k 10.")
    if split.method not in ("days", "last"):
        raise ConfigError(f"Unknown split {split.method!r}.", hint="Use days or last.")
    if split.method == "days" and (split.test_days or 0) <= 0:
        raise ConfigError(f"The test period ({split.test_days!r} days) must be positive.",
                          hint="--test-days 30, or leave it out to adapt to the data's span.")
    if split.method == "last" and split.last_k < 1:
        raise ConfigError("last_k must be at least 1.", hint="Use e.g. 2.")
    if not targets:
        raise ConfigError("No target event type given.", hint="Use purchase.")
    if not modes:
        raise ConfigError("No exclusion to compare.", hint=f"Use {', '.join(EXCLUSIONS)}.")


def _scopes(ws: Workspace, split: Split,
            targets: list[str]) -> tuple[Scope, str, dict[str, Any]]:
    if split.method == "last":
        params: dict[str, Any] = {"targets": targets, "last_k": split.last_k}
        return Scope(_TRAIN_PER_USER, params, split.describe()), _TEST_PER_USER, params
    with ws.cursor() as cur:
        last = cur.execute(_SPAN).fetchall()[0][1]
    if last is None:
        raise NotFoundError("There are no events to evaluate recommendations on.",
                            hint="Load events on the Data page first.")
    cutoff = last - timedelta(days=float(split.test_days or DEFAULT_TEST_DAYS))
    return (Scope(_TRAIN_BEFORE, {"cutoff": cutoff}, f"before {cutoff:%Y-%m-%d %H:%M}"),
            _TEST_AFTER, {"cutoff": cutoff, "targets": targets})


def _truth(ws: Workspace, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """Every (shopper, item) with a target event in the test period, repeats included."""
    with ws.cursor() as cur:
        used = {key: value for key, value in params.items() if f"${key}" in sql}
        pairs = cur.execute(sql, used).df()
    pairs["user_id"] = pairs["user_id"].astype(str)
    pairs["item_id"] = pairs["item_id"].astype(str)
    return pairs.reset_index(drop=True)


def _sample(users: Any, limit: int | None, seed: int) -> list[str]:
    users = np.sort(np.asarray(users, dtype=object))
    if limit is not None and len(users) > limit:
        users = np.sort(np.random.default_rng(seed).choice(users, size=limit, replace=False))
    return [str(u) for u in users]


def _segment_labels(inter: Interactions, users: list[str]) -> np.ndarray[Any, Any]:
    rows = inter.rows(users)
    return np.array([NEW_SHOPPERS if r < 0 else (inter.segments[r] or NO_SEGMENT) for r in rows],
                    dtype=object)


def _relevant_sets(truth: pd.DataFrame, users: list[str]) -> list[set[str]]:
    relevant = truth.groupby("user_id")["item_id"].agg(set)
    return [relevant[u] for u in users]


def _scored(ids: np.ndarray[Any, Any], sets: list[set[str]], k: int) -> _Scored:
    width = ids.shape[1]
    hits = np.array([[item in s for item in row] for row, s in zip(ids, sets, strict=True)],
                    dtype=bool).reshape(len(sets), width)
    if width < k:
        hits = np.hstack([hits, np.zeros((len(sets), k - width), dtype=bool)])
    n_relevant = np.array([len(s) for s in sets])
    return _Scored(ids=ids, hits=hits, ndcg=metrics.ndcg(hits, n_relevant))


def _summary(name: str, segment: str, scored: _Scored, sets: list[set[str]],
             mask: np.ndarray[Any, Any], inter: Interactions, fit_seconds: float,
             ci: tuple[float, float] | None = None) -> ModelScore:
    h = scored.hits[mask]
    n = np.array([len(s) for s in sets])[mask]
    lists = scored.ids[mask].tolist()
    counts = np.asarray((inter.matrix > 0).sum(axis=0)).ravel()
    popularity = dict(zip(inter.item_ids, np.maximum(counts, 1) / (inter.n_users + 1), strict=True))
    empty = not mask.any()

    def mean(values: np.ndarray[Any, Any]) -> float:
        return 0.0 if empty else float(values.mean())

    low, high = ci if ci is not None else (float("nan"), float("nan"))
    return ModelScore(
        model=name, segment=segment, users=int(mask.sum()), precision=mean(metrics.precision(h)),
        recall=mean(metrics.recall(h, n)), ndcg=mean(scored.ndcg[mask]),
        map=mean(metrics.average_precision(h, n)), hit_rate=mean(metrics.hit_rate(h)),
        coverage=metrics.coverage(lists, inter.n_items), novelty=metrics.novelty(lists, popularity),
        fit_seconds=round(fit_seconds, 3), ndcg_ci_low=low, ndcg_ci_high=high)


def _best_exclusion(ndcg: dict[str, dict[str, float]]) -> str:
    """The exclusion under which the best model ranks best (ties: the order of EXCLUSIONS)."""
    order = {m: i for i, m in enumerate(EXCLUSIONS)}
    return max(ndcg, key=lambda m: (round(max(ndcg[m].values()), 9), -order[m]))


def _bootstrap_ci(ndcg: dict[str, np.ndarray[Any, Any]],
                  seed: int) -> dict[str, tuple[float, float]]:
    """95% percentile CI of each model's mean NDCG, resampling the same shoppers for all."""
    n = len(next(iter(ndcg.values()))) if ndcg else 0
    if n == 0:
        return {}
    draws = np.random.default_rng(seed).integers(0, n, size=(BOOTSTRAP_SAMPLES, n))
    out = {}
    for name, values in ndcg.items():
        means = values[draws].mean(axis=1)
        out[name] = (float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975)))
    return out


def _verdict(ndcg: dict[str, float], ci: dict[str, tuple[float, float]], users: int,
             k: int) -> tuple[tuple[str, ...], str, str]:
    """(models tied with the best, the simplest of them, a sentence saying so)."""
    best = max(ndcg, key=lambda m: (ndcg[m], -complexity(m)))
    if best not in ci:
        return (best,), best, f"{model_label(best)} is best (no known test shoppers for a CI)."
    low = ci[best][0]
    tied = tuple(sorted((m for m in ndcg if ci[m][1] >= low), key=lambda m: (complexity(m), m)))
    pick = tied[0]
    if len(tied) == 1:
        return tied, pick, (f"{model_label(best)} is best: no other model's 95% CI of "
                            f"NDCG@{k} over {users:,} known shoppers overlaps its own.")
    names = ", ".join(model_label(m) for m in tied)
    simpler = "" if pick == best else f" (best mean: {model_label(best)})"
    return tied, pick, (f"Tied: {names} — their 95% bootstrap CIs of NDCG@{k} over {users:,} "
                        f"known shoppers overlap; using {model_label(pick)}, the simplest"
                        f"{simpler}.")


def _exclusion_sentence(ndcg: dict[str, dict[str, float]], mode: str, pick: str) -> str:
    parts = ", ".join(f"{EXCLUSION_LABELS[m]} {max(v.values()):.3f}" for m, v in ndcg.items())
    return (f"Lists use '{EXCLUSION_LABELS[mode]}' (best NDCG per rule: {parts}).")


def _store(ws: Workspace, report: EvaluationReport, options: TrainingOptions) -> None:
    params = json.dumps({**options.as_json(), "targets": list(report.targets),
                         "choice": report.choice_json()}, default=str)
    rows = [(report.evaluation_id, report.created_at, s.model, s.segment, report.k, s.users,
             s.precision, s.recall, s.ndcg, s.map, s.hit_rate, s.coverage, s.novelty,
             s.fit_seconds, report.split, params)
            for s in (*report.overall, *report.cold_start, *report.per_segment)]
    with ws.transaction() as cur:
        cur.executemany(_INSERT, rows)
        staleness.record(cur, staleness.RECOMMEND_EVALUATION, report.evaluation_id)


def latest_evaluation(ws: Workspace) -> pd.DataFrame:
    """Rows of the most recent stored evaluation (headline first, best NDCG first); may be empty."""
    with ws.cursor() as cur:
        if not cur.execute(_EXISTS).fetchall()[0][0]:
            return pd.DataFrame()
        return cur.execute(_LATEST, [KNOWN_SHOPPERS]).df()


def latest_choice(ws: Workspace) -> dict[str, Any] | None:
    """The last evaluation's choice (best model, exclusion, their numbers), or None."""
    latest = latest_evaluation(ws)
    if latest.empty:
        return None
    choice = json.loads(str(latest["options"].iloc[0]) or "{}").get("choice")
    if choice is None:  # stored before the choice was recorded: best NDCG, bought excluded
        overall = latest[latest["segment"] == ALL_SEGMENTS]
        if overall.empty:
            return None
        return {"best": str(overall.iloc[0]["model"]), "exclusion": EXCLUDE_PURCHASED,
                "verdict": "", "exclusion_ndcg": {}}
    return dict(choice)


def latest_summary(ws: Workspace) -> EvaluationSummary | None:
    """The last stored evaluation as the page shows it, or None when there is none."""
    latest = latest_evaluation(ws)
    choice = latest_choice(ws)
    if latest.empty or choice is None:
        return None
    rows = latest.reindex(columns=_SCORE_COLUMNS)
    headline = KNOWN_SHOPPERS if (latest["segment"] == KNOWN_SHOPPERS).any() else ALL_SEGMENTS
    segment = latest["segment"]
    return EvaluationSummary(
        k=int(latest["k"].iloc[0]), split=str(latest["split"].iloc[0]),
        headline=rows[segment == headline].reset_index(drop=True),
        cold_start=rows[segment == NEW_SHOPPERS].reset_index(drop=True),
        per_segment=rows[~segment.isin([headline, NEW_SHOPPERS])].reset_index(drop=True),
        choice=choice, evaluation_id=str(latest["evaluation_id"].iloc[0]))


def best_model(ws: Workspace) -> str:
    """The model the last evaluation chose (simplest of the tied best), else the hybrid."""
    choice = latest_choice(ws)
    return str(choice["best"]) if choice else DEFAULT_MODEL


def best_exclusion(ws: Workspace) -> str:
    """The exclusion the last evaluation chose, else leaving out purchased items."""
    choice = latest_choice(ws)
    return str(choice["exclusion"]) if choice else EXCLUDE_PURCHASED
