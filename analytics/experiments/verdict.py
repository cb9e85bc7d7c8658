"""One plain verdict on an A/B result: act on it, or why not.

The A/B table gives numbers and warnings; on a real campaign file (Complete Journey's mailing
13: no pre-period columns, 1,077 mailed against 1,300 not) it showed "+28.8 points, p = 5e-56"
beside two warnings, and nothing said whether the number can be acted on. Trust problems come
first (a sample-ratio mismatch, arms that differed before, nothing to check that they did not),
then what the effect is.
"""

from __future__ import annotations

from analytics.experiments.ab import ABResult, Lift, minimum_detectable_effect


def ab_verdict(ab: ABResult) -> str:
    """A sentence a marketer can act on, in the order the problems matter."""
    lift = ab.primary
    roles = {a.role: a for a in ab.arms}
    treatment, control = roles["treatment"].label, roles["control"].label
    binary = roles["treatment"].conversions is not None
    if not ab.testable or lift.p_value is None or lift.ci_low is None or lift.ci_high is None:
        return ("No verdict: " + (lift.note.removeprefix("No p-value: ") or
                                  "the outcome cannot be tested with these arms."))
    effect = _effect(lift, treatment, control, binary)
    srm = ab.sample_ratio
    if srm.mismatch:
        return (f"Do not act on this yet: the arm sizes ({srm.n_treatment:,} / {srm.n_control:,}) "
                f"are unlikely under the planned {srm.expected_share:.0%} split (p = "
                f"{srm.p_value:.1e}), so assignment or logging went wrong (or give the planned "
                f"share if it was not {srm.expected_share:.0%}); the measured effect ({effect}) "
                "counts only once that is explained.")
    if ab.balance.observational:
        return (f"Not a causal effect: the arms differed before the treatment, so {effect} is an "
                "association; compare like with like (a holdout drawn at random) before acting.")
    if ab.balance.table.empty:
        return (f"{effect[0].upper()}{effect[1:]}; there are no pre-period features to check that "
                "the arms were alike beforehand, so this is the campaign's effect only if shoppers "
                "were assigned at random.")
    return f"{effect[0].upper()}{effect[1:]}; the arms were alike before the treatment."


def _effect(lift: Lift, treatment: str, control: str, binary: bool) -> str:
    def unit(value: float) -> str:
        return f"{100 * value:+.1f} points" if binary else f"{value:+,.4g}"

    ci = f"95% CI {unit(float(lift.ci_low or 0))} to {unit(float(lift.ci_high or 0))}"
    if lift.ci_low is not None and lift.ci_high is not None and lift.ci_low <= 0 <= lift.ci_high:
        return (f"no effect of {treatment} over {control} is detectable ({unit(lift.diff)}, {ci} "
                f"includes 0){_mde(lift, binary)}")
    better = "beats" if lift.diff > 0 else "does worse than"
    return f"{treatment} {better} {control} by {unit(lift.diff)} on {lift.metric} ({ci})"


def _mde(lift: Lift, binary: bool) -> str:
    """With a rate outcome, the smallest effect these arm sizes could have detected."""
    if not binary or not 0 < lift.control < 1 or min(lift.n_treatment, lift.n_control) < 2:
        return ""
    mde = minimum_detectable_effect(lift.control, lift.n_treatment, lift.n_control)
    return f"; these arms could detect about {100 * mde:.1f} points or more"
