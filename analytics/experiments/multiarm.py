"""Experiments with more than two arms: every arm against the control, and which arm for whom.

:func:`compare_arms` tests each treatment arm against the control with the same statsmodels /
scipy tests as the two-arm analysis, corrects the p-values for the number of arms (Holm by
default) and also gives Bonferroni-widened intervals, so a marketer looking at several arms at
once is not fooled by the luckiest one. :func:`best_arm_policy` fits one outcome model per arm
(a multi-treatment T-learner) on a training split and, on held-out shoppers, compares the value
of "the best arm for each shopper" with "the best single arm for everyone" by inverse
propensity weighting, with paired bootstrap CIs. Arms are assumed randomised with the observed
shares as propensities (the balance check of the two-arm page says when that is doubtful).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from statsmodels.stats.multitest import multipletests
from threadpoolctl import threadpool_limits

from analytics.errors import ConfigError
from analytics.experiments.ab import (
    CORRECTIONS,
    SMD_THRESHOLD,
    Lift,
    _records,
    balance,
    clean_dict,
    mean_lift,
    proportion_lift,
)
from analytics.experiments.data import (
    MAX_ARMS,
    MIN_ARM_USERS,
    PRE_FEATURES,
    ExperimentData,
    _outcome,
    check_columns,
    default_features,
    load_experiment,
)
from analytics.experiments.uplift import (
    _OPENMP_THREADS,
    Array,
    _outcome_model,
    _predict,
    encode_features,
)
from analytics.workspace import Workspace

#: Bootstrap resamples of the held-out shoppers for the policy-value CIs.
BOOTSTRAP = 400


@dataclass(frozen=True)
class ArmsData:
    """One row per user of every arm: ``user_id``, ``arm``, ``outcome``, [``revenue``], features."""

    source: str
    frame: pd.DataFrame
    outcome_name: str
    outcome_kind: str  # binary | continuous
    control_label: str
    arms: tuple[str, ...]  # the treatment arms, largest first
    features: tuple[str, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def users(self) -> int:
        return len(self.frame)

    def sizes(self) -> dict[str, int]:
        counts = self.frame["arm"].value_counts()
        return {arm: int(counts.get(arm, 0)) for arm in (self.control_label, *self.arms)}


def prepare_arms(frame: pd.DataFrame, treatment: str, outcome: str, control_value: str,
                 revenue: str | None = None, features: list[str] | None = None,
                 id_column: str | None = None, source: str = "results file") -> ArmsData:
    """Check a mapped per-user frame and keep every arm (rows without an arm are counted out).

    Raises
    ------
    ConfigError
        Unknown columns, a control value that is not in the column, a single arm, or more
        than MAX_ARMS arms.
    """
    check_columns(frame, [treatment, outcome, revenue, id_column, *(features or [])])
    labels = frame[treatment].astype("string").str.strip()
    values = [str(v) for v in labels.value_counts().index]
    control = str(control_value).strip()
    _check_arms(treatment, values, control)
    keep = labels.notna().to_numpy(dtype=bool)
    y, kind = _outcome(frame.loc[keep, outcome], outcome)
    out = pd.DataFrame({
        "user_id": (frame.loc[keep, id_column].astype(str) if id_column
                    else pd.Series(np.flatnonzero(keep) + 1, index=y.index).astype(str)),
        "arm": labels[keep].astype(str), "outcome": y})
    if revenue:
        out["revenue"] = pd.to_numeric(frame.loc[keep, revenue], errors="coerce").fillna(0.0)
    used = {treatment, outcome, revenue, id_column, "orders", "switched", "assigned_at", "variant"}
    chosen = features if features is not None else default_features(frame, used)
    for name in chosen:
        out[name] = frame.loc[keep, name]
    dropped = len(frame) - int(keep.sum())
    notes = (f"{dropped:,} rows without an arm were left out.",) if dropped else ()
    return ArmsData(source, out.reset_index(drop=True), outcome, kind, control,
                    tuple(v for v in values if v != control), tuple(chosen), notes)


def _check_arms(column: str, values: list[str], control: str) -> None:
    if control not in values:
        raise ConfigError(f"The treatment column {column!r} has no value {control!r}. "
                          f"Values: {', '.join(values[:12])}.",
                          hint="Pick the control value as it appears in the column.",
                          title="Unknown arm")
    if len(values) < 2:
        raise ConfigError(f"The treatment column {column!r} has only the value {control!r}: "
                          "there is no arm to compare with the control.",
                          hint="An experiment needs users in at least one treated arm.",
                          title="Only one arm")
    if len(values) > MAX_ARMS + 1:
        raise ConfigError(f"The treatment column {column!r} has {len(values)} values, more than "
                          f"{MAX_ARMS} arms.", hint="Choose the column that says which arm each "
                          "customer was in.", title="Too many arms")


def workspace_arms(ws: Workspace, experiment: str, control_value: str,
                   window_days: int = 14) -> ArmsData:
    """:class:`ArmsData` of a workspace experiment: every variant, conversion in the window."""
    frame = load_experiment(ws, experiment, window_days)
    data = prepare_arms(frame, "variant", "converted", control_value, revenue="revenue",
                        features=list(PRE_FEATURES), id_column="user_id",
                        source=f"experiment {experiment}")
    return replace(data, outcome_name=f"conversion within {window_days} days")


# --------------------------------------------------------------------------- every arm vs control


@dataclass(frozen=True)
class ArmsResult:
    """Each treatment arm against the control; p-values and wide CIs corrected for the arms."""

    control: str
    table: pd.DataFrame  # arm, users, control, treatment, ate, ci_low, ci_high, p_value, ...
    correction: str
    outcome_name: str
    outcome_kind: str
    revenue: pd.DataFrame | None  # arm, users, revenue_per_user, diff, ci_low, ci_high, p_value
    notes: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """``arms: {arm: {ate, ci_low, ci_high, p_value, …}}`` (DESIGN.md §4)."""
        arms = {str(r["arm"]): {k: v for k, v in r.items() if k != "arm"}
                for r in _records(self.table)}
        out: dict[str, Any] = {"control": self.control, "correction": self.correction,
                               "outcome": self.outcome_name, "arms": arms, "notes": list(self.notes)}
        if self.revenue is not None:
            out["revenue"] = {str(r["arm"]): {k: v for k, v in r.items() if k != "arm"}
                              for r in _records(self.revenue)}
        return out


def compare_arms(data: ArmsData, correction: str = "holm", alpha: float = 0.05) -> ArmsResult:
    """Every arm against the control: lift, 95% CI, raw and corrected p-value, and the
    Bonferroni interval at ``alpha / arms`` (a family-wise 95% CI)."""
    if correction not in CORRECTIONS:
        raise ConfigError(f"Unknown correction {correction!r}.",
                          hint=f"Use one of {', '.join(CORRECTIONS)}.")
    m = len(data.arms)
    rows = []
    for arm in data.arms:
        lift = _arm_lift(data, "outcome", arm, alpha)
        wide = _arm_lift(data, "outcome", arm, alpha / m)
        rows.append({"arm": arm, "users": lift.n_treatment, "control": lift.control,
                     "treatment": lift.treatment, "ate": lift.diff, "ci_low": lift.ci_low,
                     "ci_high": lift.ci_high, "p_value": lift.p_value,
                     "ci_low_adjusted": wide.ci_low, "ci_high_adjusted": wide.ci_high,
                     "relative": lift.relative, "test": lift.test, "note": lift.note})
    table = _adjust(pd.DataFrame(rows), correction, alpha)
    revenue = _revenue_table(data, alpha) if "revenue" in data.frame.columns else None
    return ArmsResult(data.control_label, table, CORRECTIONS[correction], data.outcome_name,
                      data.outcome_kind, revenue, data.notes + _imbalance_notes(data))


def _imbalance_notes(data: ArmsData) -> tuple[str, ...]:
    """The two-arm balance check for each arm against the control: a lift between arms that
    differed before the treatment is an association, and the table must say so."""
    out = []
    for arm in data.arms:
        part = data.frame[data.frame["arm"].isin([arm, data.control_label])]
        pair = ExperimentData(data.source, part.assign(treatment=(part["arm"] == arm).astype(int)),
                              data.outcome_name, data.outcome_kind, arm, data.control_label,
                              data.features)
        found = balance(pair)
        if found.observational:
            out.append(f"{arm} and {data.control_label} differed before the treatment ("
                       + ", ".join(found.imbalanced()[:5]) + f": standardised mean difference "
                       f"above {SMD_THRESHOLD}), so assignment was not random: its lift is an "
                       "association, not a causal effect.")
    return tuple(out)


def _arm_lift(data: ArmsData, column: str, arm: str, alpha: float) -> Lift:
    frame = data.frame
    y_t = frame.loc[frame["arm"] == arm, column].to_numpy(dtype=float)
    y_c = frame.loc[frame["arm"] == data.control_label, column].to_numpy(dtype=float)
    if column == "outcome" and data.outcome_kind == "binary":
        return proportion_lift(int(y_t.sum()), len(y_t), int(y_c.sum()), len(y_c),
                               data.outcome_name, alpha)
    return mean_lift(y_t, y_c, data.outcome_name if column == "outcome" else "revenue per user",
                     alpha)


def _adjust(table: pd.DataFrame, method: str, alpha: float) -> pd.DataFrame:
    p = table["p_value"].astype(float)
    table["p_adjusted"] = np.nan
    if p.notna().any():
        table.loc[p.notna(), "p_adjusted"] = multipletests(p[p.notna()].to_numpy(), alpha=alpha,
                                                           method=method)[1]
    table["significant"] = table["p_adjusted"] < alpha
    return table


def _revenue_table(data: ArmsData, alpha: float) -> pd.DataFrame:
    """Revenue per user of every arm (control first) and each arm's difference to the control."""
    frame = data.frame
    control = frame.loc[frame["arm"] == data.control_label, "revenue"]
    rows: list[dict[str, Any]] = [{"arm": data.control_label, "users": len(control),
                                   "revenue": float(control.sum()),
                                   "revenue_per_user": float(control.mean())}]
    for arm in data.arms:
        lift = _arm_lift(data, "revenue", arm, alpha)
        part = frame.loc[frame["arm"] == arm, "revenue"]
        rows.append({"arm": arm, "users": len(part), "revenue": float(part.sum()),
                     "revenue_per_user": lift.treatment, "diff": lift.diff, "ci_low": lift.ci_low,
                     "ci_high": lift.ci_high, "p_value": lift.p_value})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- which arm for whom


@dataclass(frozen=True)
class PolicyValue:
    """Mean outcome per shopper under a policy on the held-out shoppers, with a bootstrap CI."""

    value: float
    ci_low: float
    ci_high: float

    def as_json(self) -> dict[str, Any]:
        return clean_dict({"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high})


@dataclass(frozen=True)
class PolicyResult:
    """"Best arm per shopper" against "best single arm for everyone" on held-out shoppers."""

    personal: PolicyValue
    single_arm: str
    single: PolicyValue
    gain: PolicyValue  # personal minus single, paired bootstrap
    control: PolicyValue  # nobody treated, for reference
    assigned: pd.DataFrame  # arm, shoppers, share (held-out shoppers the policy sends there)
    scores: pd.DataFrame  # user_id, best_arm, predicted outcome per arm (refit on everyone)
    test_users: int
    verdict: str

    def as_json(self) -> dict[str, Any]:
        return {"best_arm_per_shopper": self.personal.as_json(), "single_arm": self.single_arm,
                "best_single_arm": self.single.as_json(), "gain": self.gain.as_json(),
                "control_only": self.control.as_json(), "assigned": _records(self.assigned),
                "test_users": self.test_users, "verdict": self.verdict}


def best_arm_policy(data: ArmsData, test_size: float = 0.4, random_state: int = 0,
                    n_boot: int = BOOTSTRAP) -> PolicyResult:
    """Fit one outcome model per arm on a training split; judge the policies on held-out users.

    Raises
    ------
    ConfigError
        If an arm has too few users for both splits, the outcome never varies, or there are
        no usable features.
    """
    with threadpool_limits(limits=_OPENMP_THREADS, user_api="openmp"):
        return _policy(data, test_size, random_state, n_boot)


def _policy(data: ArmsData, test_size: float, random_state: int, n_boot: int) -> PolicyResult:
    frame = data.frame
    names = (data.control_label, *data.arms)
    X, _ = encode_features(frame, data.features)
    y = frame["outcome"].to_numpy(dtype=float)
    a = frame["arm"].map({n: i for i, n in enumerate(names)}).to_numpy(dtype=int)
    _check_policy_data(data, y, test_size)
    train, test = train_test_split(np.arange(len(y)), test_size=test_size,
                                   random_state=random_state, stratify=a)
    binary = data.outcome_kind == "binary"
    predicted = _arm_predictions(X[train], a[train], y[train], X[test], len(names), binary,
                                 random_state)
    choice = predicted.argmax(axis=1)
    single = int(np.argmax([y[train][a[train] == k].mean() for k in range(len(names))]))
    propensity = np.bincount(a, minlength=len(names)) / len(a)
    values = _bootstrap(y[test], a[test], propensity, [choice, np.full(len(test), single),
                                                        np.zeros(len(test), dtype=int)],
                        n_boot, random_state)
    personal, single_value, control, gain = values
    counts = np.bincount(choice, minlength=len(names))
    assigned = pd.DataFrame({"arm": names, "shoppers": counts, "share": counts / len(test)})
    scores = _score_everyone(frame["user_id"], X, a, y, names, binary, random_state)
    return PolicyResult(personal, names[single], single_value, gain, control, assigned, scores,
                        len(test), _verdict(gain, names[single], data.outcome_kind))


def _check_policy_data(data: ArmsData, y: Array, test_size: float) -> None:
    need = math.ceil(MIN_ARM_USERS / min(test_size, 1 - test_size))
    small = {arm: n for arm, n in data.sizes().items() if n < need}
    if small:
        shown = ", ".join(f"{arm} ({n:,})" for arm, n in small.items())
        raise ConfigError(f"Too few users to learn which arm suits whom: {shown}; each arm needs "
                          f"about {need:,} so that training and held-out parts both have "
                          f"{MIN_ARM_USERS}.", hint="Collect more users or compare the arms in "
                          "the table.", title="Too few users for the arm policy")
    if np.ptp(y) == 0:
        raise ConfigError("The outcome is the same for every user: nothing to model.",
                          hint="Pick another outcome column.", title="Constant outcome")


def _arm_predictions(X: Array, a: Array, y: Array, X_new: Array, arms: int, binary: bool,
                     random_state: int) -> Array:
    """Predicted outcome of every row of ``X_new`` under every arm (columns in arm order)."""
    out = np.empty((len(X_new), arms))
    for k in range(arms):
        model = _outcome_model(binary, "gbm", random_state, X[a == k], y[a == k])
        out[:, k] = _predict(model, X_new, binary)
    return out


def _policy_values(y: Array, a: Array, propensity: Array, choice: Array) -> float:
    """Self-normalised inverse propensity estimate of the mean outcome under ``choice``."""
    w = (a == choice) / propensity[a]
    total = w.sum()
    return float((w * y).sum() / total) if total > 0 else math.nan


def _bootstrap(y: Array, a: Array, propensity: Array, policies: list[Array], n_boot: int,
               random_state: int) -> tuple[PolicyValue, PolicyValue, PolicyValue, PolicyValue]:
    """Values of three policies and the gain of the first over the second, with percentile
    CIs from the same resamples (so the gain's CI accounts for their correlation)."""
    rng = np.random.default_rng(random_state)
    point = [_policy_values(y, a, propensity, c) for c in policies]
    draws = np.empty((n_boot, len(policies)))
    for b in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        draws[b] = [_policy_values(y[idx], a[idx], propensity, c[idx]) for c in policies]
    gains = draws[:, 0] - draws[:, 1]

    def value(estimate: float, sample: Array) -> PolicyValue:
        low, high = np.nanpercentile(sample, [2.5, 97.5])
        return PolicyValue(estimate, float(low), float(high))

    values = [value(point[i], draws[:, i]) for i in range(len(policies))]
    return values[0], values[1], values[2], value(point[0] - point[1], gains)


def _score_everyone(user_ids: pd.Series, X: Array, a: Array, y: Array, names: tuple[str, ...],
                    binary: bool, random_state: int) -> pd.DataFrame:
    """The arm models refitted on every user: each user's best arm and predicted outcomes."""
    predicted = _arm_predictions(X, a, y, X, len(names), binary, random_state)
    frame = pd.DataFrame(predicted, columns=[f"predicted_{n}" for n in names])
    frame.insert(0, "best_arm", [names[i] for i in predicted.argmax(axis=1)])
    frame.insert(0, "user_id", user_ids.astype(str).to_numpy())
    return frame


def _verdict(gain: PolicyValue, single: str, kind: str) -> str:
    def fmt(v: float) -> str:
        return f"{v * 100:+.2f} points" if kind == "binary" else f"{v:+,.3f}"

    ci = f"95% CI {fmt(gain.ci_low)} to {fmt(gain.ci_high)}"
    if gain.ci_low > 0:
        return (f"Choosing the best arm per shopper beats sending everyone {single!r}: "
                f"{fmt(gain.value)} per shopper ({ci}) on held-out shoppers.")
    if gain.ci_high < 0:
        return (f"Choosing an arm per shopper does worse than sending everyone {single!r} "
                f"({fmt(gain.value)} per shopper, {ci}): use the single arm.")
    return (f"Choosing the best arm per shopper is not clearly better than sending everyone "
            f"{single!r} ({fmt(gain.value)} per shopper, {ci} includes 0): the simpler single "
            "arm is the safer choice.")


# --------------------------------------------------------------------------- display


def _fmt(value: Any, rate: bool, signed: bool = False) -> str:
    if value is None or value != value:
        return "—"
    sign = "+" if signed else ""
    return f"{value:{sign}.2%}" if rate else f"{value:{sign},.2f}"


def _ci(low: Any, high: Any, rate: bool) -> str:
    return "—" if low is None or low != low else f"{_fmt(low, rate, True)} to {_fmt(high, rate, True)}"


def arms_table(result: ArmsResult) -> pd.DataFrame:
    """Every arm against the control as a readable table; "—" where a number would mislead."""
    rate = result.outcome_kind == "binary"
    rows = []
    for r in result.table.to_dict(orient="records"):
        rows.append({"arm": r["arm"], "users": f"{int(r['users']):,}",
                     "control": _fmt(r["control"], rate), "arm outcome": _fmt(r["treatment"], rate),
                     "lift": _fmt(r["ate"], rate, True), "95% CI": _ci(r["ci_low"], r["ci_high"], rate),
                     "family-wise 95% CI": _ci(r["ci_low_adjusted"], r["ci_high_adjusted"], rate),
                     "p-value": "—" if r["p_value"] != r["p_value"] else f"{r['p_value']:.4f}",
                     f"p ({result.correction})": "—" if r["p_adjusted"] != r["p_adjusted"]
                     else f"{r['p_adjusted']:.4f}",
                     "significant": "yes" if r["significant"] else "no"})
    return pd.DataFrame(rows)


def revenue_table(result: ArmsResult) -> pd.DataFrame | None:
    """Revenue per arm, readable; None when no revenue column was given."""
    if result.revenue is None:
        return None
    return pd.DataFrame([{"arm": r["arm"], "users": f"{int(r['users']):,}",
                          "revenue": _fmt(r["revenue"], False),
                          "revenue per user": _fmt(r["revenue_per_user"], False),
                          "vs control": _fmt(r.get("diff"), False, True),
                          "95% CI": _ci(r.get("ci_low"), r.get("ci_high"), False)}
                         for r in result.revenue.to_dict(orient="records")])


def policy_table(policy: PolicyResult, kind: str) -> pd.DataFrame:
    """The policies compared on held-out shoppers: mean outcome per shopper with 95% CIs."""
    rate = kind == "binary"
    rows = [("Best arm per shopper (model)", policy.personal),
            (f"Everyone gets {policy.single_arm}", policy.single),
            ("Nobody treated (control)", policy.control),
            ("Gain of per-shopper arms over the single arm", policy.gain)]
    return pd.DataFrame([{"policy": name, "outcome per shopper": _fmt(v.value, rate, i == 3),
                          "95% CI": _ci(v.ci_low, v.ci_high, rate)}
                         for i, (name, v) in enumerate(rows)])
