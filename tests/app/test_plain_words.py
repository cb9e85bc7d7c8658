"""No internal name on screen: every feature, model and metric shown comes from the catalogue
(analytics/labels.py), so no snake_case name like ``avg_order_value`` or ``item_knn`` appears."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from analytics.labels import internal_names
from tests.app.conftest import no_exceptions

PAGES = ["pages/home.py", "pages/data.py", "pages/profiles.py", "pages/segments.py", "pages/journeys.py",
         "pages/shopper_360.py", "pages/recommendations.py", "pages/experiments.py"]
SEGMENT_TABS = ["Map", "Stability", "Changes", "Export"]
# On these screens every table header and widget label is ours (no user column names), so any
# snake_case word there is an internal name, catalogued or not.
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
INTERNAL = re.compile(r"(?<![\w`])(" + "|".join(sorted(map(re.escape, internal_names()), key=len,
                                                         reverse=True)) + r")(?![\w`])")


def shown_texts(at: AppTest) -> list[str]:
    """Labels, options, column headers and sentences a visitor reads on the page."""
    texts: list[str] = [m.label for m in at.metric]
    for kind in ("selectbox", "multiselect", "radio"):
        for widget in at.get(kind):
            texts.append(widget.label)
            texts.extend(str(o) for o in widget.options)
    for frame in at.dataframe:
        texts.extend(str(c) for c in frame.value.columns)
    for kind in ("caption", "markdown", "info", "warning", "success", "subheader"):
        texts.extend(str(e.value) for e in at.get(kind))
    return texts


@pytest.fixture
def segmented(demo_app: AppTest) -> AppTest:
    """The demo with one K-Means run, so segment pages have segments to show."""
    import os
    from pathlib import Path

    from analytics.segments import SegmentSpec, run_segmentation
    from analytics.workspace import Workspace

    with Workspace(Path(os.environ["SHOPPER_LENS_DB"])) as ws:
        run_segmentation(ws, SegmentSpec(method="kmeans", k=4))
    return demo_app


def test_no_page_shows_an_internal_feature_model_or_metric_name(segmented: AppTest):
    at = segmented.run()
    found: dict[str, set[str]] = {}
    for page in PAGES:
        at.switch_page(page).run()
        no_exceptions(at)
        for text in shown_texts(at):
            for name in INTERNAL.findall(text):
                found.setdefault(page, set()).add(name)
    at.switch_page("pages/experiments.py").run()  # the demo experiment, arms inferred
    found.update(snake_headers("experiments", at))
    at.switch_page("pages/segments.py").run()
    for tab in SEGMENT_TABS:
        at.session_state["segment_tab"] = tab
        at.run()
        no_exceptions(at)
        names = {n for t in shown_texts(at) for n in INTERNAL.findall(t)}
        found.update({f"segments {tab}": names} if names else {})
        if tab != "Export":  # its preview shows the exported file's own column names
            found.update(snake_headers(f"segments {tab}", at))
    assert not found, found


def snake_headers(where: str, at: AppTest) -> dict[str, set[str]]:
    """snake_case table headers and widget labels on a screen that shows no user columns."""
    texts = [str(c) for frame in at.dataframe for c in frame.value.columns]
    texts += [w.label for kind in ("selectbox", "multiselect", "radio") for w in at.get(kind)]
    names = {t for t in texts if SNAKE.match(t)}
    return {f"{where} headers": names} if names else {}
