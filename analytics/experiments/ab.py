"""A/B analysis of two arms: lifts with confidence intervals, p-values and the checks around them.

Rates use the two-proportion z-test (statsmodels) with a Wald interval for the difference and a
log interval for the ratio; amounts use Welch's t-test (scipy). Around the lift: a sample-ratio
mismatch check, a balance check of pre-period features (standardised mean differences) that
calls the data observational when assignment was visibly not random, CUPED variance reduction
with a pre-period covariate, a power / minimum-detectable-effect calculator and a per-segment
breakdown with Holm or Benjamini-Hochberg correction.

Where a p-value would be meaningless (an arm under :data:`MIN_ARM_USERS` users, an outcome
that never varies) the result carries ``None`` and a note saying why, never a number.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    proportions_ztest,
)

from analytics.errors import ConfigError
from analytics.experiments.data import MIN_ARM_USERS, ExperimentData

#: |SMD| above this on a pre-period feature means the arms differ before the treatment ...
SMD_THRESHOLD = 0.1
#: ... provided it is also this many standard errors away from zero (not randomisation noise).
SMD_CHANCE_SE = 3.0
#: p-value of the sample-ratio chi-square below which the split is called a mismatch.
SRM_ALPHA = 0.001
CORRECTIONS = {"holm": "Holm", "fdr_bh": "Benjamini-Hochberg"}


@dataclass(frozen=True)
class Lift:
    """Treatment minus control for one metric; ``None`` where a number would be meaningless."""

    metric: str
    test: str
    control: float
    treatment: float
    n_control: int
    n_treatment: int
    diff: float
    ci_low: float | None = None
    ci_high: float | None = None
    relative: float | None = None
    rel_low: float | None = None
    rel_high: float | None = None
    p_value: float | None = None
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return clean_dict(asdict(self))


@dataclass(frozen=True)
class ArmSummary:
    label: str
    role: str  # treatment | control
    users: int
    outcome_mean: float
    conversions: int | None
    revenue_per_user: float | None
    avg_order_value: float | None

    def as_json(self) -> dict[str, Any]:
        return clean_dict(asdict(self))


@dataclass(frozen=True)
class SampleRatio:
    """Chi-square test of the observed split against the planned treatment share."""

    n_treatment: int
    n_control: int
    expected_share: float
    chi2: float
    p_value: float
    mismatch: bool

    def sentence(self) -> str:
        """The check in words that agree with the number (a p of 0.017 is not "as planned")."""
        head = (f"Sample ratio: {self.n_treatment:,} treated / {self.n_control:,} control against "
                f"a planned {self.expected_share:.0%} treated share, chi-square p = "
                f"{_p_text(self.p_value)}: ")
        if self.mismatch:
            return head + (f"a sample-ratio mismatch (p below {SRM_ALPHA}); check how users were "
                           "assigned and logged.")
        if self.p_value < 0.05:
            return head + (f"less even than chance usually gives, but not a mismatch by the usual "
                           f"p < {SRM_ALPHA} rule.")
        return head + "consistent with the plan."

    def as_json(self) -> dict[str, Any]:
        return clean_dict({**asdict(self), "sentence": self.sentence()})


def _p_text(p: float) -> str:
    return f"{p:.1e}" if p < 0.001 else f"{p:.3f}"


@dataclass(frozen=True)
class Balance:
    """Standardised mean differences of pre-period features between the arms."""

    table: pd.DataFrame  # feature, mean_treatment, mean_control, smd, imbalanced
    observational: bool

    def imbalanced(self) -> list[str]:
        return [str(f) for f in self.table.loc[self.table["imbalanced"], "feature"]]

    def as_json(self) -> dict[str, Any]:
        return {"observational": self.observational, "imbalanced": self.imbalanced(),
                "table": _records(self.table)}


@dataclass(frozen=True)
class ABResult:
    """Everything the A/B table shows: arms, lifts, checks and plain-language warnings."""

    arms: tuple[ArmSummary, ...]
    lifts: tuple[Lift, ...]  # the primary outcome first
    cuped: tuple[Lift, ...]
    sample_ratio: SampleRatio
    balance: Balance
    warnings: tuple[str, ...]
    testable: bool  # False: too few users or a constant outcome (no p-values, no models)

    @property
    def primary(self) -> Lift:
        return self.lifts[0]

    def as_json(self) -> dict[str, Any]:
        return {"arms": [a.as_json() for a in self.arms], "lifts": [x.as_json() for x in self.lifts],
                "cuped": [x.as_json() for x in self.cuped],
                "sample_ratio": self.sample_ratio.as_json(), "balance": self.balance.as_json(),
                "warnings": list(self.warnings), "testable": self.testable}


@dataclass(frozen=True)
class SegmentBreakdown:
    """Lift of the primary outcome per segment, p-values corrected for multiple testing."""

    table: pd.DataFrame
    correction: str

    def as_json(self) -> dict[str, Any]:
        return {"correction": self.correction, "table": _records(self.table)}


# --------------------------------------------------------------------------- lifts


def proportion_lift(conv_t: int, n_t: int, conv_c: int, n_c: int, metric: str = "conversion",
                    alpha: float = 0.05) -> Lift:
    """Difference of two rates: z-test p-value, Wald CI of the difference, log CI of the ratio."""
    rate_t, rate_c = conv_t / n_t if n_t else math.nan, conv_c / n_c if n_c else math.nan
    base = Lift(metric, "two-proportion z-test", rate_c, rate_t, n_c, n_t, rate_t - rate_c)
    note = _untestable(n_t, n_c, conv_t + conv_c in (0, n_t + n_c))
    if note:
        return _with(base, note=note)
    _, p = proportions_ztest([conv_t, conv_c], [n_t, n_c])
    low, high = confint_proportions_2indep(conv_t, n_t, conv_c, n_c, method="wald",
                                           compare="diff", alpha=alpha)
    lift = _with(base, ci_low=float(low), ci_high=float(high), p_value=float(p))
    if conv_c == 0 or conv_t == 0:
        return lift
    r_low, r_high = confint_proportions_2indep(conv_t, n_t, conv_c, n_c, method="log",
                                               compare="ratio", alpha=alpha)
    return _with(lift, relative=rate_t / rate_c - 1, rel_low=float(r_low) - 1,
                 rel_high=float(r_high) - 1)


def mean_lift(y_t: np.ndarray, y_c: np.ndarray, metric: str, alpha: float = 0.05,
              test: str = "Welch t-test") -> Lift:
    """Difference of two means: Welch's t-test and CI; delta-method CI of the relative lift."""
    y_t, y_c = np.asarray(y_t, dtype=float), np.asarray(y_c, dtype=float)
    n_t, n_c = len(y_t), len(y_c)
    m_t = float(y_t.mean()) if n_t else math.nan
    m_c = float(y_c.mean()) if n_c else math.nan
    base = Lift(metric, test, m_c, m_t, n_c, n_t, m_t - m_c)
    constant = n_t + n_c > 0 and np.ptp(np.concatenate([y_t, y_c])) == 0
    note = _untestable(n_t, n_c, bool(constant))
    if note:
        return _with(base, note=note)
    result = stats.ttest_ind(y_t, y_c, equal_var=False)
    ci = result.confidence_interval(1 - alpha)
    lift = _with(base, ci_low=float(ci.low), ci_high=float(ci.high), p_value=float(result.pvalue))
    if m_c == 0:
        return lift
    # Delta method for (m_t / m_c - 1): var = v_t / m_c^2 + m_t^2 v_c / m_c^4.
    v_t, v_c = y_t.var(ddof=1) / n_t, y_c.var(ddof=1) / n_c
    se = math.sqrt(v_t / m_c**2 + m_t**2 * v_c / m_c**4)
    z = stats.norm.ppf(1 - alpha / 2)
    rel = m_t / m_c - 1
    return _with(lift, relative=rel, rel_low=rel - z * se, rel_high=rel + z * se)


def _untestable(n_t: int, n_c: int, constant: bool) -> str:
    if min(n_t, n_c) < MIN_ARM_USERS:
        return (f"No p-value: {min(n_t, n_c):,} users in the smaller arm; at least "
                f"{MIN_ARM_USERS} per arm are needed for a test to mean anything.")
    if constant:
        return "No p-value: the outcome is the same for every user, so there is nothing to compare."
    return ""


def cuped_lift(y: np.ndarray, x: np.ndarray, treated: np.ndarray, metric: str,
               alpha: float = 0.05) -> tuple[Lift, float] | None:
    """CUPED: Welch's test on ``y - theta (x - mean x)``; returns the lift and variance cut.

    ``theta = cov(y, x) / var(x)`` over both arms, so the adjustment does not depend on the
    treatment. ``None`` when the covariate never varies.
    """
    y, x = np.asarray(y, dtype=float), np.nan_to_num(np.asarray(x, dtype=float))
    if len(x) < 3 or x.var() == 0 or y.var() == 0:
        return None
    theta = np.cov(y, x)[0, 1] / x.var(ddof=1)
    adjusted = y - theta * (x - x.mean())
    treated = np.asarray(treated, dtype=bool)
    lift = mean_lift(adjusted[treated], adjusted[~treated], metric, alpha,
                     test="Welch t-test, CUPED-adjusted")
    return lift, float(1 - adjusted.var() / y.var())


# --------------------------------------------------------------------------- checks


def sample_ratio(n_t: int, n_c: int, expected_share: float = 0.5) -> SampleRatio:
    """Chi-square goodness of fit of the split; a mismatch below p = :data:`SRM_ALPHA`."""
    if not 0 < expected_share < 1:
        raise ConfigError(f"The planned treatment share is {expected_share}; it must be "
                          "between 0 and 1.", hint="Use 0.5 for an even split.")
    total = n_t + n_c
    chi2, p = stats.chisquare([n_t, n_c], [total * expected_share, total * (1 - expected_share)])
    return SampleRatio(n_t, n_c, expected_share, float(chi2), float(p), bool(p < SRM_ALPHA))


def smd(a: np.ndarray, b: np.ndarray) -> float:
    """Standardised mean difference (mean_a - mean_b) / sqrt((var_a + var_b) / 2)."""
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2:
        return math.nan
    pooled = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    return 0.0 if pooled == 0 else float((a.mean() - b.mean()) / pooled)


def balance(data: ExperimentData) -> Balance:
    """SMD of every numeric pre-period feature; imbalanced = |SMD| > 0.1 and beyond chance."""
    frame = data.frame
    treated = frame["treatment"].to_numpy() == 1
    n_t, n_c = int(treated.sum()), int((~treated).sum())
    chance = SMD_CHANCE_SE * math.sqrt(1 / max(n_t, 1) + 1 / max(n_c, 1))
    rows = []
    for name in data.features:
        column = frame[name]
        if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
            continue
        values = column.to_numpy(dtype=float, na_value=np.nan)
        if np.isnan(values[treated]).all() or np.isnan(values[~treated]).all():
            continue  # never observed in an arm: nothing to compare
        d = smd(values[treated], values[~treated])
        rows.append({"feature": name, "mean_treatment": float(np.nanmean(values[treated])),
                     "mean_control": float(np.nanmean(values[~treated])), "smd": d,
                     "imbalanced": bool(abs(d) > max(SMD_THRESHOLD, chance)) if d == d else False})
    table = pd.DataFrame(rows, columns=["feature", "mean_treatment", "mean_control", "smd",
                                        "imbalanced"])
    return Balance(table, bool(table["imbalanced"].any()))


# --------------------------------------------------------------------------- the analysis


def analyse_ab(data: ExperimentData, expected_share: float = 0.5, alpha: float = 0.05) -> ABResult:
    """Arms, lifts (outcome, revenue per user), CUPED, SRM and balance checks of ``data``."""
    frame = data.frame
    treated = frame["treatment"].to_numpy() == 1
    arms = tuple(_arm(frame[treated == flag], label, role, data.outcome_kind)
                 for flag, label, role in ((True, data.treatment_label, "treatment"),
                                           (False, data.control_label, "control")))
    lifts = [_outcome_lift(data, treated, alpha)]
    if "revenue" in frame.columns and data.outcome_name != "revenue":
        revenue = frame["revenue"].to_numpy(dtype=float)
        lifts.append(mean_lift(revenue[treated], revenue[~treated], "revenue per user", alpha))
    cuped = _cuped(data, treated, alpha) if lifts[0].p_value is not None else ()
    srm = sample_ratio(int(treated.sum()), int((~treated).sum()), expected_share)
    bal = balance(data)
    return ABResult(arms, tuple(lifts), cuped, srm, bal, _warnings(data, lifts[0], srm, bal),
                    testable=lifts[0].p_value is not None)


def _outcome_lift(data: ExperimentData, treated: np.ndarray, alpha: float) -> Lift:
    y = data.frame["outcome"].to_numpy(dtype=float)
    if data.outcome_kind == "binary":
        return proportion_lift(int(y[treated].sum()), int(treated.sum()), int(y[~treated].sum()),
                               int((~treated).sum()), data.outcome_name, alpha)
    return mean_lift(y[treated], y[~treated], data.outcome_name, alpha)


def _cuped(data: ExperimentData, treated: np.ndarray, alpha: float) -> tuple[Lift, ...]:
    if data.covariate is None:
        return ()
    x = data.frame[data.covariate].to_numpy(dtype=float, na_value=np.nan)
    out = []
    for column, metric in (("outcome", data.outcome_name), ("revenue", "revenue per user")):
        if column not in data.frame.columns:
            continue
        result = cuped_lift(data.frame[column].to_numpy(dtype=float), x, treated, metric, alpha)
        if result is not None:
            lift, cut = result
            out.append(_with(lift, note=f"CUPED with {data.covariate}: variance "
                                        f"{'cut' if cut >= 0 else 'raised'} by {abs(cut):.0%}."))
    return tuple(out)


def _arm(rows: pd.DataFrame, label: str, role: str, kind: str) -> ArmSummary:
    n = len(rows)
    y = rows["outcome"]
    conversions = int((y > 0).sum()) if kind == "binary" else None
    revenue = float(rows["revenue"].sum()) if "revenue" in rows.columns else None
    if "orders" in rows.columns:
        orders = float(rows["orders"].sum())
    else:
        orders = float((rows["revenue"] > 0).sum()) if revenue is not None else 0.0
    return ArmSummary(
        label=label, role=role, users=n, outcome_mean=float(y.mean()) if n else math.nan,
        conversions=conversions, revenue_per_user=revenue / n if revenue is not None and n else None,
        avg_order_value=revenue / orders if revenue is not None and orders else None)


def _warnings(data: ExperimentData, primary: Lift, srm: SampleRatio, bal: Balance) -> tuple[str, ...]:
    out = list(data.notes)
    if primary.note:
        out.append(primary.note)
    if srm.mismatch:
        out.append(
            f"Sample-ratio mismatch: {srm.n_treatment:,} treated vs {srm.n_control:,} control "
            f"users is unlikely under a planned {srm.expected_share:.0%} treatment share "
            f"(chi-square p = {srm.p_value:.1e}). Check how users were assigned and logged "
            "before trusting the lift.")
    if bal.observational:
        out.append(
            "The arms differed before the treatment (" + ", ".join(bal.imbalanced()[:5]) +
            f": standardised mean difference above {SMD_THRESHOLD}), so assignment was not "
            "random. This looks like observational data: the lift is an association, not a "
            "causal effect of the treatment.")
    return tuple(out)


# --------------------------------------------------------------------------- power


def minimum_detectable_effect(baseline: float, n_treatment: int, n_control: int,
                              alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest absolute rate increase over ``baseline`` detectable with these arm sizes."""
    _check_rate(baseline)
    if min(n_treatment, n_control) < 2:
        raise ConfigError("The power calculation needs at least 2 users per arm.",
                          hint="Enter the planned users per arm.")
    h = NormalIndPower().solve_power(nobs1=n_treatment, alpha=alpha, power=power,
                                     ratio=n_control / n_treatment, alternative="two-sided")
    # Invert Cohen's h = 2 asin(sqrt(p2)) - 2 asin(sqrt(p1)) for the upper rate p2.
    angle = min(2 * math.asin(math.sqrt(baseline)) + float(h), math.pi)
    return math.sin(angle / 2) ** 2 - baseline


def users_needed(baseline: float, mde: float, alpha: float = 0.05, power: float = 0.8,
                 ratio: float = 1.0) -> int:
    """Users in the treated arm (control = ``ratio`` times as many) to detect ``mde``."""
    _check_rate(baseline)
    if not 0 < baseline + mde <= 1 or mde == 0:
        raise ConfigError(f"A lift of {mde:+.4f} on a {baseline:.2%} baseline is not a rate "
                          "change between 0 and 1.", hint="Enter a small positive lift.")
    h = abs(proportion_effectsize(baseline + mde, baseline))
    n = NormalIndPower().solve_power(effect_size=h, alpha=alpha, power=power, ratio=ratio,
                                     alternative="two-sided")
    return math.ceil(float(n))


def _check_rate(baseline: float) -> None:
    if not 0 < baseline < 1:
        raise ConfigError(f"The baseline rate {baseline} must be between 0 and 1.",
                          hint="Enter the control conversion rate, e.g. 0.05 for 5%.")


# --------------------------------------------------------------------------- segments


def segment_breakdown(data: ExperimentData, labels: pd.Series, correction: str = "holm",
                      alpha: float = 0.05) -> SegmentBreakdown:
    """Lift per segment; p-values of testable segments corrected with ``correction``.

    ``labels`` maps user_id to a segment name; users without one are grouped as "(none)".
    """
    if correction not in CORRECTIONS:
        raise ConfigError(f"Unknown correction {correction!r}.",
                          hint=f"Use one of {', '.join(CORRECTIONS)}.")
    frame = data.frame.assign(segment=data.frame["user_id"].map(labels).fillna("(none)"))
    rows = []
    for name, part in frame.groupby("segment", sort=True):
        sub = ExperimentData(data.source, part, data.outcome_name, data.outcome_kind,
                             data.treatment_label, data.control_label, ())
        lift = _outcome_lift(sub, part["treatment"].to_numpy() == 1, alpha)
        rows.append({"segment": str(name), "users": len(part), "n_treatment": lift.n_treatment,
                     "n_control": lift.n_control, "control": lift.control,
                     "treatment": lift.treatment, "lift": lift.diff, "ci_low": lift.ci_low,
                     "ci_high": lift.ci_high, "p_value": lift.p_value, "note": lift.note})
    table = pd.DataFrame(rows)
    p = table["p_value"].astype(float)
    table["p_adjusted"] = np.nan
    if p.notna().any():
        _, adjusted, _, _ = multipletests(p[p.notna()].to_numpy(), alpha=alpha, method=correction)
        table.loc[p.notna(), "p_adjusted"] = adjusted
    table["significant"] = table["p_adjusted"] < alpha
    return SegmentBreakdown(table.sort_values("lift", ascending=False, ignore_index=True),
                            CORRECTIONS[correction])


# --------------------------------------------------------------------------- display


def _fmt(value: float | None, rate: bool, signed: bool = False) -> str:
    if value is None or value != value:
        return "—"
    sign = "+" if signed else ""
    return f"{value:{sign}.2%}" if rate else f"{value:{sign},.2f}"


def lift_table(lifts: tuple[Lift, ...], binary: bool) -> pd.DataFrame:
    """The lifts as a readable table (rates in %, amounts in money); "—" where meaningless."""
    rows = []
    for x in lifts:
        rate = binary and x.metric != "revenue per user"
        ci = "—" if x.ci_low is None else \
            f"{_fmt(x.ci_low, rate, True)} to {_fmt(x.ci_high, rate, True)}"
        relative = "—" if x.relative is None or x.rel_low is None or x.rel_high is None else \
            f"{x.relative:+.1%} ({x.rel_low:+.1%} to {x.rel_high:+.1%})"
        rows.append({"metric": x.metric, "control": _fmt(x.control, rate),
                     "treatment": _fmt(x.treatment, rate), "lift": _fmt(x.diff, rate, True),
                     "95% CI": ci, "relative lift (95% CI)": relative,
                     "p-value": "—" if x.p_value is None else f"{x.p_value:.4f}", "test": x.test})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- helpers


def _with(lift: Lift, **changes: Any) -> Lift:
    return replace(lift, **changes)


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def clean_dict(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = _clean(value)
    return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [clean_dict({str(k): v for k, v in r.items()}) for r in frame.to_dict(orient="records")]
