"""Complete Journey campaign 13: a targeted (not randomised) mailing, so the app must say so."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analytics.experiments import analyse, workspace_data
from analytics.ingest import ingest_file
from tests.conftest import COMPLETEJOURNEY, needs_shared

pytestmark = [needs_shared, pytest.mark.realdata]

CAMPAIGN = 13  # Type A: sent to chosen households, 2017-08-08 to 2017-09-24


def _assignments(folder: Path) -> Path:
    """Households sent the campaign are 'treatment', every other shopping household 'control'."""
    sent = pd.read_csv(COMPLETEJOURNEY / "campaigns.csv")
    start = pd.read_csv(COMPLETEJOURNEY / "campaign_descriptions.csv").set_index("campaign_id")
    households = pd.read_csv(COMPLETEJOURNEY / "transactions_sample.csv",
                             usecols=["household_id"])["household_id"].unique()
    treated = set(sent.loc[sent["campaign_id"] == CAMPAIGN, "household_id"])
    frame = pd.DataFrame({
        "household_id": households, "campaign": f"campaign_{CAMPAIGN}",
        "arm": ["treatment" if h in treated else "control" for h in households],
        "start_date": start.loc[CAMPAIGN, "start_date"]})
    path = folder / "campaign_assignments.csv"
    frame.to_csv(path, index=False)
    return path


def test_targeted_campaign_runs_and_is_called_observational(ws, tmp_path):
    ingest_file(ws, COMPLETEJOURNEY / "transactions_sample.csv", source="offline")
    ingest_file(ws, _assignments(tmp_path), kind="experiments")
    data = workspace_data(ws, f"campaign_{CAMPAIGN}", window_days=47)
    assert min(data.arm_sizes()) > 500
    report = analyse(data)
    assert report.ab.balance.observational
    assert "pre_revenue" in report.ab.balance.imbalanced()  # heavier shoppers were picked
    assert any("not a causal effect" in w for w in report.summary()["warnings"])
    assert report.ab.primary.p_value is not None and report.uplift is not None
    assert "not its causal effect" in report.uplift.verdict


def _two_july_campaigns(folder: Path) -> Path:
    """Campaigns 11 and 12 both started 2017-07-12: three arms (11, 12, neither)."""
    sent = pd.read_csv(COMPLETEJOURNEY / "campaigns.csv")
    households = pd.read_csv(COMPLETEJOURNEY / "transactions_sample.csv",
                             usecols=["household_id"])["household_id"].unique()
    got = {c: set(sent.loc[sent["campaign_id"] == c, "household_id"]) for c in (11, 12)}
    arm = ["both" if h in got[11] and h in got[12] else "campaign 11" if h in got[11]
           else "campaign 12" if h in got[12] else "none" for h in households]
    path = folder / "july_assignments.csv"
    pd.DataFrame({"household_id": households, "campaign": "july", "arm": arm,
                  "start_date": "2017-07-12"}).to_csv(path, index=False)
    return path


def test_segments_as_of_assignment_and_two_campaigns_as_arms(ws, tmp_path):
    from analytics.experiments.ab import segment_breakdown
    from analytics.experiments.multiarm import best_arm_policy, compare_arms, workspace_arms
    from analytics.experiments.segments import NO_PROFILE, segment_labels, segments_at_assignment
    from analytics.profiles import build_profiles

    ingest_file(ws, COMPLETEJOURNEY / "transactions_sample.csv", source="offline")
    ingest_file(ws, _assignments(tmp_path), kind="experiments")
    ingest_file(ws, _two_july_campaigns(tmp_path), kind="experiments")
    build_profiles(ws)
    data = workspace_data(ws, f"campaign_{CAMPAIGN}", window_days=47)
    at = segments_at_assignment(ws, "rfm", f"campaign_{CAMPAIGN}")
    assert "2017-08-08" in at.rule and len(at.labels) == data.users
    # Today's RFM segments are built from the campaign period itself; as of assignment they
    # are not, and households first seen after the start have no segment (none was mailed).
    today = segment_breakdown(data, segment_labels(ws, "rfm")).table.set_index("segment")
    then = segment_breakdown(data, at.labels).table.set_index("segment")
    assert NO_PROFILE in then.index and NO_PROFILE not in today.index
    assert then.loc[NO_PROFILE, "n_treatment"] == 0
    assert (at.labels != segment_labels(ws, "rfm").reindex(at.labels.index)).mean() > 0.2

    arms = workspace_arms(ws, "july", "none", window_days=32)
    assert set(arms.arms) == {"campaign 11", "campaign 12"}  # no household got both
    result = compare_arms(arms)
    assert result.table["significant"].all() and (result.table["ci_low"] > 0).all()
    assert any("not random" in note for note in result.notes)  # targeted, so flagged
    policy = best_arm_policy(arms)
    assert policy.gain.ci_low < policy.gain.value < policy.gain.ci_high and policy.verdict
