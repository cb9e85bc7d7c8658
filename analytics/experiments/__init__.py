"""Experiments and uplift: did a campaign work, for whom, and whom to target next.

:mod:`.data` turns a workspace experiment or an uploaded results file into one frame per user;
:mod:`.ab` compares the arms; :mod:`.uplift` fits and judges uplift models; :mod:`.targeting`
simulates targeting the top X%; :mod:`.store` keeps per-user scores. :func:`analyse` runs the
lot the way the page and the CLI do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from analytics.errors import ShopperLensError
from analytics.experiments.ab import ABResult, analyse_ab, clean_dict
from analytics.experiments.data import (
    DEFAULT_WINDOW_DAYS,
    ExperimentData,
    describe_columns,
    guess_columns,
    list_experiments,
    prepare,
    read_results,
    workspace_data,
)
from analytics.experiments.store import UserUplift, save_scores, user_uplift
from analytics.experiments.uplift import UpliftResult, compare_models
from analytics.experiments.verdict import ab_verdict

__all__ = [
    "DEFAULT_WINDOW_DAYS", "ABResult", "ExperimentData", "ExperimentReport", "UpliftResult",
    "UserUplift", "analyse", "analyse_ab", "compare_models", "describe_columns", "guess_columns",
    "list_experiments", "prepare", "read_results", "save_scores", "user_uplift",
    "workspace_data",
]


@dataclass(frozen=True)
class ExperimentReport:
    """The A/B result and, when the data allow it, the uplift model comparison."""

    ab: ABResult
    uplift: UpliftResult | None
    uplift_note: str  # why there are no uplift models, when there are none

    def summary(self) -> dict[str, Any]:
        """The CLI's headline numbers (DESIGN.md §4 keys)."""
        primary = self.ab.primary
        best = self.uplift.best_row if self.uplift else {}
        check = self.uplift.check if self.uplift else None
        return clean_dict({"ate": primary.diff, "ci_low": primary.ci_low, "ci_high": primary.ci_high,
                "p_value": primary.p_value, "qini_auc": best.get("qini"),
                "uplift_at_30": best.get("uplift_at_30"), "qini_ci_low": check.ci_low if check else None,
                "qini_ci_high": check.ci_high if check else None,
                "uplift_verdict": self.uplift.verdict if self.uplift else None,
                "qini_check": check.as_json() if check else None,
                "best_model": self.uplift.best if self.uplift else None,
                "observational": self.ab.balance.observational,
                "sample_ratio_mismatch": self.ab.sample_ratio.mismatch,
                "verdict": self.verdict,
                "warnings": list(self.ab.warnings) + ([self.uplift_note] if self.uplift_note else []),
                **self._revenue()})

    @property
    def verdict(self) -> str:
        """Act on the A/B result or why not (:func:`analytics.experiments.verdict.ab_verdict`)."""
        return ab_verdict(self.ab)

    def _revenue(self) -> dict[str, Any]:
        """``revenue``: per-arm revenue per user and its lift, only when revenue is known."""
        lift = next((x for x in self.ab.lifts if x.metric == "revenue per user"), None)
        if lift is None:
            return {}
        arms = {a.label: {"users": a.users, "revenue_per_user": a.revenue_per_user,
                          "avg_order_value": a.avg_order_value} for a in self.ab.arms}
        return {"revenue": {"arms": arms, "diff": lift.diff, "ci_low": lift.ci_low,
                            "ci_high": lift.ci_high, "p_value": lift.p_value}}


def analyse(data: ExperimentData, fit_models: bool = True, expected_share: float = 0.5,
            test_size: float = 0.4, random_state: int = 0) -> ExperimentReport:
    """A/B analysis, then uplift models unless the A/B result says a test means nothing."""
    ab = analyse_ab(data, expected_share=expected_share)
    if not fit_models:
        return ExperimentReport(ab, None, "")
    if not ab.testable:
        return ExperimentReport(ab, None, "No uplift models: " + ab.primary.note.removeprefix(
            "No p-value: "))
    try:
        result = compare_models(data, test_size=test_size, random_state=random_state)
    except ShopperLensError as e:
        return ExperimentReport(ab, None, f"No uplift models: {e.message}")
    if ab.balance.observational and result.check is not None:
        caveat = ("But the arms differed before the treatment, so the models rank an association "
                  "with the campaign, not its causal effect.")
        result = replace(result, check=replace(result.check, caveat=caveat))
    return ExperimentReport(ab, result, "")
