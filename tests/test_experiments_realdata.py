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
