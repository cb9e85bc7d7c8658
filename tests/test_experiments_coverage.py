"""Over many generated shops the 95% CI of the ATE covers the planted effect ~95% of the time."""

from __future__ import annotations

import json
from pathlib import Path

from analytics.bundle import load_bundle
from analytics.experiments import workspace_data
from analytics.experiments.ab import analyse_ab
from analytics.sample import EXPERIMENT_NAME, generate
from analytics.workspace import Workspace

SEEDS = range(100, 120)
USERS = 800  # ~480 assigned, ~240 per arm: the CI (about ±6 points) still means something


def _true_ate(folder: Path, user_ids: list[str]) -> float:
    """As the generator defines it: the mean planted effect over the assigned users."""
    import pandas as pd

    truth = pd.read_csv(folder / "truth_users.csv.gz", dtype={"user_id": str}).set_index("user_id")
    return float(truth.loc[user_ids, "treatment_effect"].mean())


def test_ate_confidence_interval_covers_the_planted_effect(tmp_path: Path):
    covered, widths = 0, []
    for seed in SEEDS:
        folder = tmp_path / f"shop{seed}"
        generate(folder, users=USERS, seed=seed)
        with Workspace(tmp_path / f"ws{seed}" / "ws.duckdb", allow=[folder]) as ws:
            load_bundle(ws, folder)
            data = workspace_data(ws, EXPERIMENT_NAME)
        truth = _true_ate(folder, data.frame["user_id"].tolist())
        planted = json.loads((folder / "truth.json").read_text())["experiment"]["true_ate"]
        assert truth == planted or abs(truth - planted) < 1e-6
        lift = analyse_ab(data).primary
        assert lift.ci_low is not None and lift.ci_high is not None
        covered += lift.ci_low <= truth <= lift.ci_high
        widths.append(lift.ci_high - lift.ci_low)
    print(f"covered {covered} of {len(SEEDS)}; widest CI {max(widths):.3f}")
    assert covered >= 17, covered
    assert max(widths) < 0.2  # informative intervals, not trivially wide ones
