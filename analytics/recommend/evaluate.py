"""Offline evaluation with a temporal split: train on the past, check against what came next.

Two splits: the last ``test_days`` of the data for everyone, or each shopper's last
``last_k`` purchases. The models are trained on the events before the split; a shopper's
relevant items are those they bought (``targets``) afterwards, minus items they had already
bought (those are never recommended when ``exclude_purchased`` is on). Metrics per model,
overall and per segment, are stored in ``recommend_evaluations`` (created on first use), so
runs can be compared and the CLI's default model is the best of the last run.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from analytics import staleness
from analytics.errors import ConfigError, NotFoundError
from analytics.recommend import metrics
from analytics.recommend.engine import DEFAULT_MODEL, MODELS, Progress, TrainingOptions, train
from analytics.recommend.interactions import Interactions, Scope
from analytics.workspace import Workspace

ALL_SEGMENTS = "(all shoppers)"
NEW_SHOPPERS = "(new shoppers)"
NO_SEGMENT = "(no segment)"
DEFAULT_MODELS = ("popularity", "segment_popularity", "trending", "item_knn", "als", "bpr",
                  "content", "sequential", "hybrid")

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
_LAST_EVENT = "SELECT max(event_time) FROM events"

EVALUATIONS_DDL = """
CREATE TABLE IF NOT EXISTS recommend_evaluations (
    evaluation_id VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL, model VARCHAR NOT NULL,
    segment VARCHAR NOT NULL, k INTEGER NOT NULL, users BIGINT NOT NULL,
    precision DOUBLE, recall DOUBLE, ndcg DOUBLE, map DOUBLE, hit_rate DOUBLE,
    coverage DOUBLE, novelty DOUBLE, fit_seconds DOUBLE, split VARCHAR, options JSON)
"""
_INSERT = "INSERT INTO recommend_evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_EXISTS = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'recommend_evaluations'"
_LATEST = """
SELECT * FROM recommend_evaluations
WHERE evaluation_id = (SELECT arg_max(evaluation_id, created_at) FROM recommend_evaluations)
ORDER BY segment = ?  DESC, ndcg DESC
"""


@dataclass(frozen=True)
class Split:
    """``method="days"``: the last ``test_days`` are the test period for everyone;
    ``method="last"``: each shopper's last ``last_k`` target events are their test period."""

    method: str = "days"
    test_days: float = 30.0
    last_k: int = 2

    def describe(self) -> str:
        if self.method == "days":
            return f"last {self.test_days:g} days"
        return f"last {self.last_k} purchases per shopper"


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


@dataclass(frozen=True)
class EvaluationReport:
    """Metrics per model overall (``overall``) and per segment (``per_segment``)."""

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

    def as_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))  # type: ignore[no-any-return]

    def models_json(self) -> dict[str, dict[str, float]]:
        """The CLI's ``models`` object: {name: {precision@k, recall@k, ndcg@k, map@k, ...}}."""
        k = self.k
        return {s.model: {f"precision@{k}": s.precision, f"recall@{k}": s.recall,
                          f"ndcg@{k}": s.ndcg, f"map@{k}": s.map, f"hit_rate@{k}": s.hit_rate,
                          "coverage": s.coverage, "novelty": s.novelty,
                          "fit_seconds": s.fit_seconds} for s in self.overall}

    def frame(self, per_segment: bool = False) -> pd.DataFrame:
        return pd.DataFrame([asdict(s) for s in (self.per_segment if per_segment else self.overall)])

    def best(self) -> str:
        return max(self.overall, key=lambda s: s.ndcg).model


def evaluate(ws: Workspace, models: Sequence[str] = DEFAULT_MODELS, k: int = 10,
             split: Split | None = None, options: TrainingOptions | None = None,
             targets: Sequence[str] = ("purchase",), max_users: int | None = None,
             store: bool = True, progress: Progress | None = None) -> EvaluationReport:
    """Train every model before the split and score its top-``k`` against what came after.

    Parameters
    ----------
    models : names from :data:`analytics.recommend.engine.MODELS`
    k : int
        List length.
    split : Split
        Default: the last 30 days.
    targets : event types
        Which later events make an item relevant (default purchases; ``("purchase", "cart")``
        for shops with few orders).
    max_users : int, optional
        Evaluate a seeded random sample of this many test shoppers (faster on big data).
    store : bool
        Append the results to ``recommend_evaluations``.

    Raises
    ------
    NotFoundError
        When nothing in the test period can be checked (no target events after the split).

    Examples
    --------
    >>> report = evaluate(ws, ["popularity", "hybrid"], k=10)         # doctest: +SKIP
    >>> report.models_json()["hybrid"]["ndcg@10"]                      # doctest: +SKIP
    """
    split, options = split or Split(), options or TrainingOptions()
    _check(models, k, split, targets)
    say = progress or (lambda fraction, message: None)
    train_scope, test_sql, params = _scopes(ws, split, list(targets))
    say(0.0, f"Training {len(models)} models on the events before the {split.describe()}")
    trained = train(ws, models, options, scope=train_scope,
                    progress=lambda f, m: say(0.7 * f, m))
    truth = _truth(ws, test_sql, params, trained.interactions, options.exclude_purchased)
    if truth.empty:
        raise NotFoundError(
            f"No shopper has a new {' or '.join(targets)} event in the test period "
            f"({split.describe()}), so there is nothing to check recommendations against.",
            hint="Use a longer test period (--test-days), the per-shopper split, or count "
            "carts as relevant too (targets purchase,cart).")
    users = _sample(truth["user_id"].unique(), max_users, options.random_state)
    truth = truth[truth["user_id"].isin(set(users))]
    labels = _segment_labels(trained.interactions, users)
    overall, per_segment = [], []
    for i, name in enumerate(models):
        say(0.7 + 0.3 * i / len(models), f"Scoring {name}")
        ids, _ = trained.models[name].recommend(users, k)
        rows = _score(name, ids, users, truth, labels, trained.interactions, k,
                      trained.fit_seconds[name])
        overall.append(rows[0])
        per_segment.extend(rows[1:])
    report = EvaluationReport(
        evaluation_id=uuid.uuid4().hex[:12], created_at=datetime.now(), k=k,
        split=split.describe(), targets=tuple(targets), train_users=trained.interactions.n_users,
        test_users=len(users), overall=tuple(overall), per_segment=tuple(per_segment),
        note=f"segments: {trained.interactions.segment_source}")
    if store:
        _store(ws, report, options)
    say(1.0, "Done")
    return report


def _check(models: Sequence[str], k: int, split: Split, targets: Sequence[str]) -> None:
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise ConfigError(f"Unknown model(s): {', '.join(unknown) or '(none given)'}.",
                          hint=f"Choose from {', '.join(MODELS)}.")
    if k < 1:
        raise ConfigError(f"k={k} must be at least 1.", hint="Use e.g. --k 10.")
    if split.method not in ("days", "last"):
        raise ConfigError(f"Unknown split {split.method!r}.", hint="Use days or last.")
    if split.method == "days" and split.test_days <= 0:
        raise ConfigError("The test period must be at least one day long.", hint="--test-days 30")
    if split.method == "last" and split.last_k < 1:
        raise ConfigError("last_k must be at least 1.", hint="Use e.g. 2.")
    if not targets:
        raise ConfigError("No target event type given.", hint="Use purchase.")


def _scopes(ws: Workspace, split: Split,
            targets: list[str]) -> tuple[Scope, str, dict[str, Any]]:
    if split.method == "last":
        params: dict[str, Any] = {"targets": targets, "last_k": split.last_k}
        return Scope(_TRAIN_PER_USER, params, split.describe()), _TEST_PER_USER, params
    with ws.cursor() as cur:
        last = cur.execute(_LAST_EVENT).fetchall()[0][0]
    if last is None:
        raise NotFoundError("There are no events to evaluate recommendations on.",
                            hint="Load events on the Data page first.")
    cutoff = last - timedelta(days=split.test_days)
    return (Scope(_TRAIN_BEFORE, {"cutoff": cutoff}, f"before {cutoff:%Y-%m-%d}"), _TEST_AFTER,
            {"cutoff": cutoff, "targets": targets})


def _truth(ws: Workspace, sql: str, params: dict[str, Any], inter: Interactions,
           exclude_purchased: bool) -> pd.DataFrame:
    with ws.cursor() as cur:
        used = {key: value for key, value in params.items() if f"${key}" in sql}
        pairs = cur.execute(sql, used).df()
    pairs["user_id"] = pairs["user_id"].astype(str)
    pairs["item_id"] = pairs["item_id"].astype(str)
    if exclude_purchased and not pairs.empty:
        rows = inter.rows(pairs["user_id"])
        cols = np.fromiter((inter.item_index.get(i, -1) for i in pairs["item_id"]), dtype=np.int64)
        known = (rows >= 0) & (cols >= 0)
        bought = np.zeros(len(pairs), dtype=bool)
        bought[known] = np.asarray(inter.purchased[rows[known], cols[known]]).ravel() > 0
        pairs = pairs[~bought]
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


def _score(name: str, ids: np.ndarray[Any, Any], users: list[str], truth: pd.DataFrame,
           labels: np.ndarray[Any, Any], inter: Interactions, k: int,
           fit_seconds: float) -> list[ModelScore]:
    relevant = truth.groupby("user_id")["item_id"].agg(set)
    sets = [relevant[u] for u in users]
    width = ids.shape[1]
    hits = np.array([[item in s for item in row] for row, s in zip(ids, sets, strict=True)],
                    dtype=bool).reshape(len(users), width)
    if width < k:
        hits = np.hstack([hits, np.zeros((len(users), k - width), dtype=bool)])
    n_relevant = np.array([len(s) for s in sets])
    counts = np.asarray((inter.matrix > 0).sum(axis=0)).ravel()
    popularity = dict(zip(inter.item_ids, np.maximum(counts, 1) / (inter.n_users + 1), strict=True))

    def row(segment: str, mask: np.ndarray[Any, Any]) -> ModelScore:
        h, n = hits[mask], n_relevant[mask]
        lists = ids[mask].tolist()
        return ModelScore(
            model=name, segment=segment, users=int(mask.sum()),
            precision=float(metrics.precision(h).mean()), recall=float(metrics.recall(h, n).mean()),
            ndcg=float(metrics.ndcg(h, n).mean()), map=float(metrics.average_precision(h, n).mean()),
            hit_rate=float(metrics.hit_rate(h).mean()),
            coverage=metrics.coverage(lists, inter.n_items),
            novelty=metrics.novelty(lists, popularity), fit_seconds=round(fit_seconds, 3))

    out = [row(ALL_SEGMENTS, np.ones(len(users), dtype=bool))]
    out.extend(row(str(s), labels == s) for s in sorted(set(labels.tolist())))
    return out


def _store(ws: Workspace, report: EvaluationReport, options: TrainingOptions) -> None:
    params = json.dumps({**options.as_json(), "targets": list(report.targets)}, default=str)
    rows = [(report.evaluation_id, report.created_at, s.model, s.segment, report.k, s.users,
             s.precision, s.recall, s.ndcg, s.map, s.hit_rate, s.coverage, s.novelty,
             s.fit_seconds, report.split, params) for s in (*report.overall, *report.per_segment)]
    with ws.transaction() as cur:
        cur.execute(EVALUATIONS_DDL)
        cur.executemany(_INSERT, rows)
        staleness.record(cur, staleness.RECOMMEND_EVALUATION, report.evaluation_id)


def latest_evaluation(ws: Workspace) -> pd.DataFrame:
    """Rows of the most recent stored evaluation (overall first, best NDCG first); may be empty."""
    with ws.cursor() as cur:
        if not cur.execute(_EXISTS).fetchall()[0][0]:
            return pd.DataFrame()
        return cur.execute(_LATEST, [ALL_SEGMENTS]).df()


def best_model(ws: Workspace) -> str:
    """The model with the best NDCG in the last evaluation, else the hybrid."""
    latest = latest_evaluation(ws)
    if latest.empty:
        return DEFAULT_MODEL
    overall = latest[latest["segment"] == ALL_SEGMENTS]
    return str(overall.iloc[0]["model"]) if not overall.empty else DEFAULT_MODEL
