"""Data page, Identities tab: coverage, the review list with its waterfall, accept, bulk reject
and unlink on a small linked shop (the linking run itself is tested in tests/test_identity.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics.identity.links import applied_links, candidates, coverage
from analytics.workspace import Workspace
from tests.app.conftest import no_exceptions


@pytest.fixture
def linked_app(app: AppTest, identity_linked) -> AppTest:  # type: ignore[no-untyped-def]
    target = Path(os.environ["SHOPPER_LENS_DB"])
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(identity_linked[0], target)
    return app


def _button(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    [button] = [b for b in at.button if b.label == label]
    return button


def test_identities_tab_reviews_accepts_rejects_and_unlinks(linked_app: AppTest):
    db = Path(os.environ["SHOPPER_LENS_DB"])
    with Workspace(db) as ws:
        cov, pending, links = coverage(ws), candidates(ws, "pending"), applied_links(ws)
    at = linked_app.run()
    at.switch_page("pages/data.py").run()
    no_exceptions(at)
    metrics = {m.label: m.value for m in at.metric}
    share = (cov["deterministic"] + cov["probabilistic"]) / cov["store_ids"]
    assert metrics["+ probabilistic links"] == f"{share:.1%}"
    assert metrics["Waiting for review"] == f"{len(pending):,}"
    review = next(d.value for d in at.dataframe if "evidence" in d.value.columns)
    assert list(review["pair"]) == list(pending["pair"])
    assert "L" not in "".join(p.split("…")[1] for p in review["pair"])  # masked, not whole ids
    assert len(at.get("plotly_chart")) >= 1  # the waterfall of the chosen pair
    _button(at, "Accept this pair").click().run()
    no_exceptions(at)
    applied = next(d.value for d in at.dataframe if "status" in d.value.columns)
    first = pending.iloc[0]
    assert applied.set_index("pair").loc[first["pair"], "status"] == "accepted"
    if len(pending) > 1:  # the surer model may leave one pair only (then no bulk list)
        low = int((pending["probability"].iloc[1:] < 0.8).sum())
        _button(at, "Reject all pending < 0.80").click().run()
        no_exceptions(at)
        assert any(s.value == f"Rejected {low:,} pairs." for s in at.success)
    else:
        assert any("No pairs wait for review" in i.value for i in at.info)
    _button(at, "Unlink").click().run()
    no_exceptions(at)
    assert any("events moved back" in s.value for s in at.success)
    applied = next(d.value for d in at.dataframe if "status" in d.value.columns)
    assert len(applied) == len(links)  # one accepted, one unlinked
