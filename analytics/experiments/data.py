"""Experiment data in one shape: one row per user with arm, outcome and pre-period features.

Two sources feed it. *Workspace mode* reads the ``experiments`` table and derives everything
from ``events`` in DuckDB: the outcome is a purchase in ``[assigned_at, assigned_at + window)``
and the features use only events strictly before each user's own ``assigned_at``, so nothing
from the outcome period leaks into a model. *File mode* reads an uploaded results file (one
row per customer: features, a treatment column, outcomes) and the user maps its columns.
Both end in :func:`prepare`, which checks the arms and returns :class:`ExperimentData`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from analytics.errors import ConfigError, NotFoundError, ShopperLensError
from analytics.workspace import Workspace

DEFAULT_WINDOW_DAYS = 14
#: Below this many users in an arm no p-value, confidence interval or model is reported.
MIN_ARM_USERS = 30
#: A treatment column with more distinct values than this is not offered as a treatment.
MAX_ARMS = 20
_CONTROL_WORDS = re.compile(r"control|holdout|hold-out|no[ _-]?(e-?mail|mail|treatment|campaign)|^0$|"
                            r"^false$|^no$|baseline|^off$", re.IGNORECASE)

READ_CSV_SQL = "SELECT * FROM read_csv(?, sample_size = -1)"
READ_PARQUET_SQL = "SELECT * FROM read_parquet(?)"
EXPERIMENTS_SQL = """
SELECT experiment, count(DISTINCT user_id) AS users, count(DISTINCT variant) AS variants,
       list(DISTINCT variant ORDER BY variant) AS variant_names,
       min(assigned_at) AS first_assigned, max(assigned_at) AS last_assigned
FROM experiments
GROUP BY experiment
ORDER BY experiment
"""

# One row per assigned user: the earliest assignment wins (a user re-assigned later keeps the
# arm they saw first). Outcomes count purchases in [assigned_at, assigned_at + $window days);
# every pre_* feature uses events strictly before the user's own assigned_at.
# Parameters: $experiment, $window (days).
USER_OUTCOMES_SQL = """
WITH assigned AS (
    SELECT user_id, arg_min(variant, assigned_at) AS variant, min(assigned_at) AS assigned_at,
           count(DISTINCT variant) > 1 AS switched
    FROM experiments
    WHERE experiment = $experiment AND assigned_at IS NOT NULL
    GROUP BY user_id
),
tagged AS (
    SELECT a.user_id, e.event_type, e.event_time, e.session_id, e.device, e.source,
           coalesce(e.revenue, e.price * coalesce(e.quantity, 1), 0) AS revenue,
           coalesce('order:' || e.order_id, 'session:' || e.session_id,
                    'day:' || strftime(e.event_time, '%Y-%m-%d')) AS order_key,
           e.event_time < a.assigned_at AS before,
           e.event_time >= a.assigned_at
               AND e.event_time < a.assigned_at + to_days(CAST($window AS INTEGER)) AS in_window,
           e.event_time >= a.assigned_at - INTERVAL 30 DAY AS recent,
           a.assigned_at
    FROM assigned a JOIN events e ON e.user_id = a.user_id
),
per_user AS (
    SELECT user_id,
           count(DISTINCT order_key) FILTER (event_type = 'purchase' AND in_window) AS orders,
           coalesce(sum(revenue) FILTER (event_type = 'purchase' AND in_window), 0) AS revenue,
           count(*) FILTER (before) AS pre_events,
           count(*) FILTER (before AND recent) AS pre_events_30d,
           count(DISTINCT session_id) FILTER (before) AS pre_sessions,
           count(DISTINCT CAST(event_time AS DATE)) FILTER (before) AS pre_active_days,
           count(*) FILTER (before AND event_type = 'view') AS pre_views,
           count(*) FILTER (before AND event_type = 'search') AS pre_searches,
           count(*) FILTER (before AND event_type = 'cart') AS pre_cart_adds,
           count(*) FILTER (before AND event_type = 'wishlist') AS pre_wishlist_adds,
           count(*) FILTER (before AND event_type = 'checkout') AS pre_checkouts,
           count(DISTINCT order_key) FILTER (before AND event_type = 'purchase') AS pre_orders,
           coalesce(sum(revenue) FILTER (before AND event_type IN ('purchase', 'refund')), 0)
               AS pre_revenue,
           coalesce(sum(revenue) FILTER (before AND recent AND event_type = 'purchase'), 0)
               AS pre_revenue_30d,
           count(*) FILTER (before AND event_type = 'purchase' AND source = 'offline')
               AS pre_store_purchases,
           count(*) FILTER (before AND lower(device) = 'mobile')
               / nullif(count(*) FILTER (before AND device IS NOT NULL), 0) AS pre_mobile_share,
           date_diff('second', max(event_time) FILTER (before), any_value(assigned_at)) / 86400.0
               AS days_since_last_event,
           date_diff('second', max(event_time) FILTER (before AND event_type = 'purchase'),
                     any_value(assigned_at)) / 86400.0 AS days_since_last_purchase
    FROM tagged
    GROUP BY user_id
)
SELECT a.user_id, a.variant, a.assigned_at, a.switched,
       coalesce(p.orders, 0) > 0 AS converted, coalesce(p.orders, 0) AS orders,
       coalesce(p.revenue, 0) AS revenue,
       coalesce(p.pre_events, 0) AS pre_events, coalesce(p.pre_events_30d, 0) AS pre_events_30d,
       coalesce(p.pre_sessions, 0) AS pre_sessions,
       coalesce(p.pre_active_days, 0) AS pre_active_days, coalesce(p.pre_views, 0) AS pre_views,
       coalesce(p.pre_searches, 0) AS pre_searches,
       coalesce(p.pre_cart_adds, 0) AS pre_cart_adds,
       coalesce(p.pre_wishlist_adds, 0) AS pre_wishlist_adds,
       coalesce(p.pre_checkouts, 0) AS pre_checkouts, coalesce(p.pre_orders, 0) AS pre_orders,
       coalesce(p.pre_revenue, 0) AS pre_revenue,
       coalesce(p.pre_revenue_30d, 0) AS pre_revenue_30d,
       coalesce(p.pre_store_purchases, 0) AS pre_store_purchases,
       p.pre_mobile_share, p.days_since_last_event, p.days_since_last_purchase
FROM assigned a LEFT JOIN per_user p USING (user_id)
ORDER BY a.user_id
"""

#: Pre-period features of workspace mode (all computed from events before assignment).
PRE_FEATURES: tuple[str, ...] = (
    "pre_events", "pre_events_30d", "pre_sessions", "pre_active_days", "pre_views",
    "pre_searches", "pre_cart_adds", "pre_wishlist_adds", "pre_checkouts", "pre_orders",
    "pre_revenue", "pre_revenue_30d", "pre_store_purchases", "pre_mobile_share",
    "days_since_last_event", "days_since_last_purchase",
)


@dataclass(frozen=True)
class ExperimentData:
    """One row per user of the two compared arms, ready for A/B analysis and uplift models.

    ``frame`` has the columns ``user_id``, ``treatment`` (1 = arm, 0 = control), ``outcome``
    and optionally ``revenue`` and ``orders``, followed by the model features.
    """

    source: str
    frame: pd.DataFrame
    outcome_name: str
    outcome_kind: str  # binary | continuous
    treatment_label: str
    control_label: str
    features: tuple[str, ...]
    covariate: str | None = None  # pre-period metric for CUPED
    notes: tuple[str, ...] = field(default_factory=tuple)
    window_days: int | None = None

    @property
    def users(self) -> int:
        return len(self.frame)

    def arm_sizes(self) -> tuple[int, int]:
        treated = int(self.frame["treatment"].sum())
        return treated, self.users - treated


@dataclass(frozen=True)
class ColumnInfo:
    """What a results-file column looks like, for the mapping form."""

    name: str
    kind: str  # binary | numeric | categorical | id
    distinct: int
    values: tuple[str, ...]  # the most frequent values (at most MAX_ARMS)


def list_experiments(ws: Workspace) -> pd.DataFrame:
    """Experiments in the workspace with their users, variants and assignment period."""
    with ws.cursor() as cur:
        return cur.execute(EXPERIMENTS_SQL).df()


def load_experiment(ws: Workspace, experiment: str,
                    window_days: int = DEFAULT_WINDOW_DAYS) -> pd.DataFrame:
    """Per-user outcomes and pre-period features of ``experiment`` (every variant).

    Raises
    ------
    NotFoundError
        If the experiment has no assignments with a time.
    """
    if not 1 <= window_days <= 365:
        raise ConfigError(f"The conversion window is {window_days} days; it must be 1-365.",
                          hint="Use the default of 14 days or another whole number of days.")
    try:
        with ws.cursor() as cur:
            frame = cur.execute(USER_OUTCOMES_SQL,
                                {"experiment": experiment, "window": window_days}).df()
    except duckdb.Error as e:
        raise ShopperLensError(f"Could not compute outcomes of experiment {experiment!r}: {e}",
                               hint="Check that events and experiments are loaded.") from e
    if frame.empty:
        known = ", ".join(list_experiments(ws)["experiment"].astype(str)) or "none"
        raise NotFoundError(
            f"Experiment {experiment!r} has no assignments with a time (assigned_at). "
            f"Experiments in the workspace: {known}.",
            hint="Load an experiments file with user_id, experiment, variant and assigned_at "
            "on the Data page.")
    frame["converted"] = frame["converted"].astype(int)
    return frame


def workspace_data(ws: Workspace, experiment: str, treatment_value: str | None = None,
                   control_value: str | None = None,
                   window_days: int = DEFAULT_WINDOW_DAYS) -> ExperimentData:
    """:class:`ExperimentData` of a workspace experiment: conversion in the window as outcome."""
    frame = load_experiment(ws, experiment, window_days)
    notes = []
    switched = int(frame["switched"].sum())
    if switched:
        notes.append(f"{switched:,} users were assigned to more than one variant; each keeps "
                     "the variant of their first assignment.")
    data = prepare(
        frame, treatment="variant", treatment_value=treatment_value,
        control_value=control_value, outcome="converted", revenue="revenue",
        features=list(PRE_FEATURES), id_column="user_id",
        source=f"experiment {experiment}", covariate="pre_revenue")
    return replace(data, outcome_name=f"conversion within {window_days} days",
                    notes=tuple(notes) + data.notes, window_days=window_days)


def read_results(ws: Workspace, path: Path) -> pd.DataFrame:
    """Read a results file (CSV/TSV, optionally gzip, or Parquet) with DuckDB."""
    sql = READ_PARQUET_SQL if str(path).lower().endswith(".parquet") else READ_CSV_SQL
    try:
        with ws.cursor() as cur:
            frame = cur.execute(sql, [str(path)]).df()
    except duckdb.Error as e:
        raise ShopperLensError(
            f"Could not read the results file {Path(path).name}: {str(e).splitlines()[0]}",
            hint="Upload a CSV, TSV or Parquet file with one row per customer and a header row.",
            title="Results file not readable") from e
    if frame.empty or frame.shape[1] < 2:
        raise ShopperLensError(
            f"{Path(path).name} has {len(frame)} rows and {frame.shape[1]} columns.",
            hint="A results file needs one row per customer with at least a treatment column "
            "and an outcome column.", title="Results file not usable")
    return frame


def describe_columns(frame: pd.DataFrame) -> list[ColumnInfo]:
    """Kind, distinct count and frequent values of every column (for the mapping form)."""
    out = []
    for name in frame.columns:
        column = frame[name]
        distinct = int(column.nunique(dropna=True))
        values = tuple(str(v) for v in column.value_counts().index[:MAX_ARMS])
        if pd.api.types.is_bool_dtype(column) or (
                pd.api.types.is_numeric_dtype(column) and set(column.dropna().unique()) <= {0, 1}):
            kind = "binary"
        elif pd.api.types.is_numeric_dtype(column):
            kind = "numeric"
        elif distinct > max(MAX_ARMS, 0.5 * len(frame)):
            kind = "id"
        else:
            kind = "categorical"
        out.append(ColumnInfo(str(name), kind, distinct, values))
    return out


_TREATMENT_NAMES = re.compile(r"treat|segment|group|arm|variant|campaign|bucket|cohort|offer",
                              re.IGNORECASE)
# Outcome names in order of preference (a conversion beats a visit).
_OUTCOME_NAMES = tuple(re.compile(p, re.IGNORECASE) for p in (
    r"conver|purchase|buy|bought|order", r"respon|redeem|visit|click|open|^target$",
    r"spend|revenue|sales"))
# measured after the arm was drawn (Criteo's `exposure`: only treated users can be
# exposed), so a model feature would give the arm away: never a default feature.
_POST_TREATMENT = re.compile(r"exposure|exposed", re.IGNORECASE)


def guess_columns(columns: list[ColumnInfo]) -> dict[str, str | None]:
    """A first guess of the treatment, outcome and id columns from names and values."""
    arms = [c for c in columns if 2 <= c.distinct <= MAX_ARMS and c.kind != "numeric"]
    treatment = next((c.name for c in arms if _TREATMENT_NAMES.search(c.name)),
                     arms[0].name if arms else None)
    outcomes = [c for c in columns if c.kind in ("binary", "numeric") and c.name != treatment]
    ranked = [c.name for pattern in _OUTCOME_NAMES for c in outcomes if pattern.search(c.name)]
    ids = [c.name for c in columns if re.fullmatch(r".*(_id|id)", c.name, re.IGNORECASE)]
    return {"treatment": treatment, "outcome": ranked[0] if ranked else None,
            "id": ids[0] if ids else None}


def looks_like_outcome(name: str) -> bool:
    """Named like an outcome (conversion, visit, spend …): measured after the treatment, so
    never a model feature by default."""
    return any(pattern.search(name) for pattern in (*_OUTCOME_NAMES, _POST_TREATMENT))


def infer_arms(values: list[str], column: str) -> tuple[str, str]:
    """(treatment, control) when the column leaves no doubt; otherwise ask the user.

    Raises
    ------
    ConfigError
        If the column does not have exactly two values one of which reads as a control.
    """
    if len(values) < 2:
        raise ConfigError(
            f"The treatment column {column!r} has only one value ({', '.join(values) or 'none'}): "
            "there is no second arm to compare with.",
            hint="An experiment needs users in a treated arm and in a control arm.",
            title="Only one arm")
    controls = [v for v in values if _CONTROL_WORDS.search(v.strip())]
    if len(values) == 2 and len(controls) == 1:
        control = controls[0]
        return next(v for v in values if v != control), control
    shown = ", ".join(values[:12]) + (" …" if len(values) > 12 else "")
    raise ConfigError(
        f"The treatment column {column!r} has {len(values)} values ({shown}); which one is the "
        "treatment and which the control is not clear.",
        hint="Choose the treatment value and the control value (--treatment-value / "
        "--control-value on the command line).", title="Choose the arms to compare")


def prepare(frame: pd.DataFrame, treatment: str, outcome: str,
            treatment_value: str | None = None, control_value: str | None = None,
            revenue: str | None = None, features: list[str] | None = None,
            id_column: str | None = None, source: str = "results file",
            covariate: str | None = None) -> ExperimentData:
    """Check a mapped per-user frame and keep the two chosen arms.

    Parameters
    ----------
    frame
        One row per user.
    treatment, outcome
        Column names: the arm of each user; the outcome (0/1 or a number).
    treatment_value, control_value
        The two arms to compare; inferred only when the column has two values and one of
        them reads as a control (``control``, ``No E-Mail``, ``0`` …).
    revenue
        Optional money column reported as revenue per user.
    features
        Model features (default: every other numeric or low-cardinality column).
    """
    check_columns(frame, [treatment, outcome, revenue, id_column, *(features or [])])
    labels = frame[treatment].astype("string").str.strip()
    values = [str(v) for v in labels.value_counts().index]
    if treatment_value is None or control_value is None:
        treatment_value, control_value = infer_arms(values, treatment)
    treatment_value, control_value = str(treatment_value).strip(), str(control_value).strip()
    _check_arm_values(treatment, values, treatment_value, control_value)
    keep = labels.isin([treatment_value, control_value]).fillna(False).to_numpy(dtype=bool)
    y, kind = _outcome(frame.loc[keep, outcome], outcome)
    out = pd.DataFrame({
        "user_id": (frame.loc[keep, id_column].astype(str) if id_column
                    else pd.Series(np.flatnonzero(keep) + 1, index=y.index).astype(str)),
        "treatment": (labels[keep] == treatment_value).astype(int),
        "outcome": y,
    })
    if revenue:
        out["revenue"] = pd.to_numeric(frame.loc[keep, revenue], errors="coerce").fillna(0.0)
    if "orders" in frame.columns and revenue == "revenue":
        out["orders"] = frame.loc[keep, "orders"]
    used = {treatment, outcome, revenue, id_column, "orders", "switched", "assigned_at", "variant"}
    chosen = features if features is not None else default_features(frame, used)
    if covariate and covariate not in chosen and covariate in frame.columns:
        chosen = [*chosen, covariate]
    for name in chosen:
        out[name] = frame.loc[keep, name]
    dropped = len(frame) - int(keep.sum())
    notes = (f"{dropped:,} rows in other arms or without an arm were left out.",) if dropped else ()
    return ExperimentData(
        source=source, frame=out.reset_index(drop=True), outcome_name=outcome, outcome_kind=kind,
        treatment_label=treatment_value, control_label=control_value, features=tuple(chosen),
        covariate=covariate if covariate in chosen else None, notes=notes)


def _check_arm_values(column: str, values: list[str], treated: str, control: str) -> None:
    missing = [v for v in (treated, control) if v not in values]
    if missing:
        raise ConfigError(f"The treatment column {column!r} has no value "
                          f"{', '.join(map(repr, missing))}. Values: {', '.join(values[:12])}.",
                          hint="Pick values that occur in the column.", title="Unknown arm")
    if treated == control:
        raise ConfigError(f"The treatment and control are both {treated!r}.",
                          hint="Pick two different arms.", title="Only one arm")


def _outcome(column: pd.Series, name: str) -> tuple[pd.Series, str]:
    if pd.api.types.is_bool_dtype(column):
        return column.astype(float), "binary"
    y = pd.to_numeric(column, errors="coerce")
    bad = int(y.isna().sum() - column.isna().sum())
    if bad > 0.5 * len(column) or y.notna().sum() == 0:
        raise ConfigError(f"The outcome column {name!r} is not numeric (e.g. "
                          f"{column.dropna().astype(str).iloc[0] if column.notna().any() else 'empty'}).",
                          hint="Pick a 0/1 outcome (converted, visited) or an amount (spend).",
                          title="Outcome not numeric")
    y = y.fillna(0.0).astype(float)
    return y, "binary" if set(y.unique()) <= {0.0, 1.0} else "continuous"


def default_features(frame: pd.DataFrame, exclude: set[str | None]) -> list[str]:
    """Numeric columns and categorical columns with at most MAX_ARMS levels, minus ``exclude``
    and columns named like outcomes."""
    out = []
    for name in frame.columns:
        if name in exclude or looks_like_outcome(str(name)):
            continue
        column = frame[name]
        numeric = pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
        if numeric or column.nunique(dropna=True) <= MAX_ARMS:
            out.append(str(name))
    return out


def check_columns(frame: pd.DataFrame, columns: list[str | None]) -> None:
    """Raise a ConfigError naming the first of ``columns`` (None: not asked for) not in ``frame``."""
    for column in columns:
        if column is not None and column not in frame.columns:
            raise ConfigError(f"Column {column!r} is not in the data. Columns: "
                              f"{', '.join(map(str, frame.columns))}.",
                              hint="Pick the column names exactly as in the file header.",
                              title="Unknown column")
