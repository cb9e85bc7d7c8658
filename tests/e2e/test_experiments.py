"""In a real browser: upload campaign results, map the arms, fit models, export a target list."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.conftest import choose, screenshot, wait_idle
from tests.test_experiments import hillstrom_like

pytestmark = pytest.mark.e2e


def test_upload_results_map_arms_see_qini_and_export_targets(page, server, tmp_path: Path):
    results = hillstrom_like(2500, seed=11)
    path = tmp_path / "email_campaign.csv"
    results.to_csv(path, index=False)
    page.goto(server.url)
    wait_idle(page)
    page.get_by_role("link", name="Experiments & Uplift").first.click()
    wait_idle(page)
    page.get_by_test_id("stRadioGroup").get_by_text("Upload a results file").click()
    wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.get_by_text("choose the arm and the control").wait_for()
    wait_idle(page)
    choose(page, "Treatment arm", "Womens E-Mail")
    choose(page, "Control arm", "No E-Mail")
    page.get_by_text("Womens E-Mail vs No E-Mail").wait_for()
    page.get_by_role("button", name="Fit uplift models").click()
    page.get_by_text(re.compile("dashed straight line is random targeting")).wait_for(timeout=120_000)
    wait_idle(page)
    charts = page.locator('[data-testid="stPlotlyChart"]')
    assert charts.count() >= 2
    assert page.get_by_text(re.compile("Qini curve")).count() >= 1
    charts.filter(has_text="Qini curve").first.scroll_into_view_if_needed()
    screenshot(page, "experiments-uplift")
    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile("Download the targeting list")).click()
    targets = pd.read_csv(download.value.path())
    assert list(targets.columns) == ["rank", "user_id", "predicted_uplift", "percentile"]
    arms = results[results["segment"].isin(["Womens E-Mail", "No E-Mail"])]
    assert len(targets) == -(-len(arms) * 30 // 100)  # the default top 30%
    womens = set(results.loc[results["womens"] == 1, "customer_id"])
    assert targets["user_id"].isin(womens).mean() > 0.8  # the planted responders come first


def test_three_arms_all_against_control_and_best_arm_per_shopper(page, server, tmp_path: Path):
    from tests.test_experiments_multiarm import three_arm_results

    path = tmp_path / "three_arms.csv"
    three_arm_results(3000, seed=2).to_csv(path, index=False)
    page.goto(server.url)
    wait_idle(page)
    page.get_by_role("link", name="Experiments & Uplift").first.click()
    wait_idle(page)
    page.get_by_test_id("stRadioGroup").get_by_text("Upload a results file").click()
    wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.get_by_text("choose the arm and the control").wait_for()
    wait_idle(page)
    choose(page, "Revenue column", "spend")
    choose(page, "Treatment arm", "All arms against the control")
    choose(page, "Control arm", "No E-Mail")
    page.get_by_text("2 arms against No E-Mail").wait_for()
    page.get_by_text("Revenue per arm").wait_for()
    page.get_by_role("button", name="Find the best arm per shopper").click()
    verdict = page.get_by_text(re.compile("^Choosing the best arm per shopper"))
    verdict.wait_for(timeout=120_000)
    wait_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("Best arm per shopper (model)").count() >= 1
    verdict.scroll_into_view_if_needed()
    screenshot(page, "experiments-arms")
