"""Heavy work in the background: UMAP compiled once per server, recommenders trained off the page."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from analytics import embedding
from analytics.workspace import Workspace
from tests.app.conftest import no_exceptions


def test_the_map_warm_up_starts_once_per_process(app: AppTest, monkeypatch: pytest.MonkeyPatch):
    from pages import _jobs
    from pages._jobs import map_warm_up

    monkeypatch.setattr(_jobs, "_WARM", [])  # as in a fresh server process
    calls: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> None:
        calls.append(1)

    # The job's function, not embedding.warm_up: an earlier test's warm-up in this process may
    # still be waiting for a quiet second, and would call a patched embedding.warm_up too.
    monkeypatch.setattr(_jobs, "_warm_up", counted)
    app.run()
    no_exceptions(app)
    app.run()  # a second run (and a second session, below) must not start another
    AppTest.from_file(str(Path(app._script_path)), default_timeout=60).run()
    assert map_warm_up().wait(30)
    assert calls == [1]


def test_shopper_360_trains_missing_recommenders_in_the_background(demo_app: AppTest):
    with Workspace(Path(os.environ["SHOPPER_LENS_DB"])) as ws, ws.cursor() as cur:
        cur.execute("DELETE FROM stored_results")  # as after new data: nothing stored
    at = demo_app.run()
    at.switch_page("pages/shopper_360.py").run()
    no_exceptions(at)
    assert any("learn once per data version" in c.value for c in at.caption)
    assert not at.table, "the page must not wait for training"
    from pages._jobs import _registry

    jobs = list(_registry()[0].values())
    assert len(jobs) == 1 and jobs[0].wait(120) and jobs[0].error is None
    at.run()
    no_exceptions(at)
    assert len(at.table) == 3  # hybrid, item-kNN, popularity from the models just stored


def test_the_map_shows_pca_at_once_and_swaps_in_umap_when_it_is_ready(
        demo_app: AppTest, monkeypatch: pytest.MonkeyPatch):
    """The swap itself; UMAP's own quality is tested in tests/test_segments.py. UMAP is replaced
    by a stand-in that needs no numba compile (minutes on a busy 2-core machine)."""
    from analytics.jobs import Job
    from analytics.segments.runs import SegmentSpec, run_segmentation
    from pages import _jobs, _map_view
    from pages._jobs import _registry
    from tests.app.test_profiles_segments import open_tab

    real_embed = _map_view.embed
    release = threading.Event()  # UMAP "finishes" only when the test has seen the stand-in

    def quick_umap(X: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        found = real_embed(X, "pca", **kwargs)
        if method != "umap":
            return found
        release.wait(60)
        return embedding.Embedding(found.rows, found.xy[:, ::-1], method, {}, len(X), len(X))

    monkeypatch.setattr(_map_view, "embed", quick_umap)
    # a warm-up that has not finished (it waits for the pages to go quiet): the map must not wait
    quiet = threading.Event()
    monkeypatch.setattr(_jobs, "_WARM", [Job("warm", lambda say: quiet.wait(120), priority=True)])

    with Workspace(Path(os.environ["SHOPPER_LENS_DB"])) as ws:
        run_segmentation(ws, SegmentSpec(k=5))
    at = demo_app.run()
    at.switch_page("pages/segments.py").run()
    open_tab(at, "Map")
    no_exceptions(at)
    assert any("PCA map shown while the UMAP map is computed" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 1  # the stand-in map can already be lassoed
    jobs = [job for key, job in _registry()[0].items() if key.startswith("map|")]
    release.set()
    assert len(jobs) == 1 and jobs[0].wait(60) and jobs[0].error is None
    assert not _jobs._WARM[0].done  # the map did not wait for the warm-up
    quiet.set()
    at.run()
    no_exceptions(at)
    captions = " ".join(c.value for c in at.caption)
    assert "PCA map shown" not in captions and "fitted together" in captions


def test_recommendations_page_opens_without_training_and_trains_on_the_button(demo_app: AppTest):
    from pages._jobs import _registry

    at = demo_app.run()
    at.switch_page("pages/recommendations.py").run()
    no_exceptions(at)
    # the default seven models; loading the demo stored only hybrid, item-kNN and popularity
    assert any("not trained on the current data yet" in i.value for i in at.info)
    assert not at.tabs, "no preview before the models are trained"
    next(b for b in at.button if b.label == "Train models for the preview").click().run()
    jobs = [job for key, job in _registry()[0].items() if key.startswith("recommenders|")]
    assert len(jobs) == 1 and jobs[0].wait(280) and jobs[0].error is None
    at.run()
    no_exceptions(at)
    assert [t.label for t in at.tabs] == ["Shopper preview", "Similar items", "Batch export"]
    # a shopper's lists: each item with its reason, as wrapping text
    assert sum(m.value.startswith("**") and ":gray[" in m.value for m in at.markdown) >= 10
