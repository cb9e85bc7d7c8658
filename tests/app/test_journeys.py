"""Journeys page driven headless with AppTest on the demo shop."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.conftest import no_exceptions


def charts(at: AppTest) -> str:
    return " ".join(chart.proto.spec for chart in at.get("plotly_chart"))


def test_journeys_renders_funnel_paths_and_sankey(demo_app: AppTest):
    at = demo_app.run()
    at.switch_page("pages/journeys.py").run()
    no_exceptions(at)
    assert at.title[0].value == "Journeys"
    assert '"type":"funnel"' in charts(at) and '"type":"sankey"' in charts(at)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Sessions at view"].replace(",", "")) > 10_000
    assert any("To a purchase" in m.value for m in at.markdown)
    assert len(at.dataframe) >= 4  # funnel table, two path tables, per-segment pathways
    assert at.selectbox(key="journeys:segment").options  # RFM segments of the demo profiles


def test_changing_steps_and_breakdown_updates_the_funnel(demo_app: AppTest):
    at = demo_app.run()
    at.switch_page("pages/journeys.py").run()
    at.multiselect(key="journeys:steps").set_value(["search", "cart", "purchase"]).run()
    no_exceptions(at)
    assert "Sessions at search" in {m.label for m in at.metric}
    at.radio(key="journeys:per").set_value("user").run()
    at.selectbox(key="journeys:by").set_value("device").run()
    no_exceptions(at)
    assert "Users at search" in {m.label for m in at.metric}
    assert "Conversion from search by device" in charts(at)


def test_one_step_shows_a_clear_message_and_the_rest_still_renders(demo_app: AppTest):
    at = demo_app.run()
    at.switch_page("pages/journeys.py").run()
    at.multiselect(key="journeys:steps").set_value(["view"]).run()
    no_exceptions(at)
    assert any("at least two steps" in e.value for e in at.error)
    assert '"type":"sankey"' in charts(at)


def test_journeys_on_an_empty_workspace_points_to_data(app: AppTest):
    at = app.run()
    at.switch_page("pages/journeys.py").run()
    no_exceptions(at)
    assert any("No events yet" in i.value for i in at.info)


def test_after_new_data_a_large_shop_counts_in_the_background(demo_app: AppTest, monkeypatch):
    """Above the threshold the page never blocks on a count: it shows a prompt with progress,
    the job stores the result, the next run shows it; results from older data show flagged."""
    from analytics import stored
    from analytics.journeys_store import funnel_state
    from analytics.workspace import default_path
    from pages._jobs import current
    from pages._shared import _open_workspace

    monkeypatch.setattr(stored, "BACKGROUND_FROM_EVENTS", 0)  # every shop counts as large
    at = demo_app.run()
    at.switch_page("pages/journeys.py").run()
    no_exceptions(at)
    assert not at.metric and any("for the first time" in i.value for i in at.info)
    ws = _open_workspace(str(default_path().resolve()))
    job = current(funnel_state(ws).key)
    assert job is not None and job.wait(120) and job.error is None
    at.run()
    no_exceptions(at)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Sessions at view"].replace(",", "")) > 10_000
    assert funnel_state(ws).fresh and not any("older data" in w.value for w in at.warning)
    with ws.cursor() as cur:  # planted: the stored funnel was counted from older data
        cur.execute("UPDATE stored_results SET data_version = 'older' WHERE kind = 'journeys.funnel'")
    at.run()
    no_exceptions(at)
    assert any("computed from older data" in w.value for w in at.warning)
    assert {m.label: m.value for m in at.metric}["Sessions at view"] == metrics["Sessions at view"]
    current(funnel_state(ws).key).wait(120)  # type: ignore[union-attr]
