"""Journeys: ordered funnels with conversion and time to convert, the paths visits take to a
purchase or to abandonment, and the step-to-step flow of visits as a Sankey."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from analytics.errors import ShopperLensError
from analytics.export import to_csv_bytes
from analytics.journeys import (
    BREAKDOWNS,
    DEFAULT_STEPS,
    Funnel,
    Paths,
    Sankey,
)
from analytics.journeys_store import funnel_state, paths_state, sankey_state
from analytics.schema import EVENT_TYPES
from pages._counted import in_background
from pages._shared import cached_overview, escape_markdown, segment_run_picker, workspace

T = TypeVar("T")
NO_BREAKDOWN = "none"
DETAIL_LABELS = {"category": "Event and category", "event": "Event type"}

st.title("Journeys")
st.caption("How visits and shoppers move from browsing to buying, and where they drop off.")
ws = workspace()
if cached_overview(str(ws.path)).empty:
    st.info("No events yet. Load data on the **Data** page (or the demo shop on **Home**) to see "
            "funnels and paths.", icon=":material/route:")
    st.stop()


# Results are stored in the workspace per data version (counted over all events once). After
# new data, a large shop recounts in the background: the page shows the previous result flagged
# (or a prompt) with the job's progress instead of blocking for a minute.


def cached_funnel(path: str, steps: tuple[str, ...], per: str, window_days: float,
                  by: str | None, segment_run: str | None = None) -> Funnel | None:
    return in_background("the funnel", funnel_state(workspace(), steps=steps, per=per,
                                              window_days=window_days, by=by, segment_run=segment_run))


def cached_paths(path: str, detail: str, max_length: int, top: int, by: str | None,
                 segment_run: str | None = None) -> Paths | None:
    what = "the paths per segment" if by == "segment" else "the paths of all visits"
    return in_background(what, paths_state(workspace(), detail=detail, max_length=max_length, top=top,
                                     by=by, segment_run=segment_run))


def cached_sankey(path: str, detail: str, max_steps: int, min_share: float,
                  outcome: str) -> Sankey | None:
    return in_background("the flow of visits", sankey_state(workspace(), detail=detail, max_steps=max_steps,
                                                      min_share=min_share, outcome=outcome))


def shown(fn: Callable[[], T | None]) -> T | None:
    """Call ``fn``; show an expected error in place (the other tabs still render)."""
    try:
        return fn()
    except ShopperLensError as e:
        st.error(f"**{e.title}.** {escape_markdown(e.message)}\n\n{escape_markdown(e.hint)}".strip(),
                 icon=":material/error:")
        return None


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def funnel_chart(result: Funnel) -> go.Figure:
    fig = go.Figure(go.Funnel(y=list(result.steps), x=result.counts,
                              texttemplate="%{value:,}<br>%{percentInitial:.0%} of step 1<br>"
                                           "%{percentPrevious:.0%} of previous"))
    fig.update_layout(title=f"Funnel per {result.per}", height=380, margin={"t": 40, "b": 10})
    return fig


def breakdown_chart(result: Funnel) -> go.Figure:
    table = result.table()
    fig = px.bar(table[table["group"] != "all"], x="step", y="from_start", color="group",
                 barmode="group", title=f"Conversion from {result.steps[0]} by {result.by}",
                 labels={"from_start": f"share of step 1 ({result.steps[0]})", "step": ""})
    fig.update_layout(height=380, margin={"t": 40, "b": 10}, legend_title_text="",
                      yaxis_tickformat=".0%")
    return fig


# one colour per event type at every step (the same event reads the same across the flow).
EVENT_COLOURS = dict(zip((*EVENT_TYPES, "other"), px.colors.qualitative.Safe, strict=False))


def event_colour(label: str, alpha: float = 1.0) -> str:
    """The colour of a node label's event type ("view electronics" -> view's colour)."""
    event = label.split(" ")[0]
    hex_colour = EVENT_COLOURS.get(event, EVENT_COLOURS["other"])
    if hex_colour.startswith("rgb("):
        return hex_colour.replace("rgb(", "rgba(").replace(")", f", {alpha})")
    r, g, b = (int(hex_colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha})"


def sankey_chart(result: Sankey) -> go.Figure:
    labels = [f"{n.step}. {n.label}" for n in result.nodes]
    x, y = result.positions()
    per_step = max((sum(1 for n in result.nodes if n.step == s) for s in {n.step for n in result.nodes}),
                   default=1)
    fig = go.Figure(go.Sankey(
        arrangement="snap", node={"label": labels, "x": x, "y": y, "pad": 14, "thickness": 14,
                                  "color": [event_colour(n.label) for n in result.nodes]},
        link={"source": [k.source for k in result.links], "target": [k.target for k in result.links],
              "value": [k.sessions for k in result.links],
              "color": [event_colour(result.nodes[k.source].label, 0.35) for k in result.links]}))
    # Room for every label: taller with more nodes per step, and margins so none is clipped.
    fig.update_layout(title="Step-to-step flow of visits", height=max(520, 60 * per_step + 120),
                      margin={"t": 50, "b": 40, "l": 10, "r": 120})
    return fig


funnel_tab, paths_tab, flow_tab = st.tabs(["Funnel", "Paths", "Flow"])

with funnel_tab:
    left, mid, right, far = st.columns([3, 1, 1, 1])
    steps = left.multiselect("Steps, in order", EVENT_TYPES, default=list(DEFAULT_STEPS),
                             key="journeys:steps")
    per = mid.radio("Count per", ["session", "user"], horizontal=True, key="journeys:per",
                    help="A visit, or a shopper across visits")
    window = right.number_input("Window (days)", min_value=0.01, value=7.0, step=1.0,
                                key="journeys:window",
                                help="Every step within this many days of the first")
    breakdown = far.selectbox("Break down by", [NO_BREAKDOWN, *BREAKDOWNS], key="journeys:by")
    by = None if breakdown == NO_BREAKDOWN else breakdown
    funnel_run = segment_run_picker("journeys:funnel_run") if by == "segment" else None
    found = shown(lambda: cached_funnel(str(ws.path), tuple(steps), per, float(window), by,
                                        funnel_run))
    if found is not None and found.note:
        st.warning(found.note)
    if found is not None:
        last = found.total.steps[-1]
        cols = st.columns(4)
        cols[0].metric(f"{found.per.title()}s at {found.steps[0]}", f"{found.counts[0]:,}")
        cols[1].metric(f"Reached {found.steps[-1]}", f"{last.units:,}")
        cols[2].metric("Overall conversion", f"{(found.total.overall or 0):.1%}")
        cols[3].metric("Median time to convert", duration(last.median_seconds_from_start))
        st.plotly_chart(funnel_chart(found), width="stretch")
        if found.groups:
            if found.segment_source:
                st.caption(f"Segments from the {found.segment_source}.")
            st.plotly_chart(breakdown_chart(found), width="stretch")
        table = found.table()
        st.dataframe(table, hide_index=True, height=240, column_config={
            "from_previous": st.column_config.NumberColumn("from previous", format="percent"),
            "from_start": st.column_config.NumberColumn("from step 1", format="percent")})
        st.download_button("Download funnel (CSV)", to_csv_bytes(table), "funnel.csv", "text/csv")
        st.caption("Units reach a step when they did every earlier step in order, all within the "
                   "window of the first. Times are medians on each unit's first completion; a "
                   "breakdown uses the device and channel of the unit's first step.")

with paths_tab:
    left, mid, right = st.columns(3)
    detail = left.radio("Label events by", list(DETAIL_LABELS), format_func=DETAIL_LABELS.get,
                        horizontal=True, key="journeys:detail")
    max_length = mid.slider("Longest path", 2, 12, 6, key="journeys:length",
                            help="Longer paths keep their last steps (… marks the cut)")
    top = right.slider("Paths shown", 3, 30, 10, key="journeys:top")
    found_paths = shown(lambda: cached_paths(str(ws.path), str(detail), max_length, top, None))
    if found_paths is not None:
        share = st.column_config.NumberColumn("share", format="percent")
        for column, outcome, title in zip(
                st.columns(2), ("purchase", "abandonment"),
                ("To a purchase", "To abandonment (cart, no purchase)"), strict=True):
            total = found_paths.totals[outcome].get("all", 0)
            column.markdown(f"**{title}** · {total:,} visits")
            column.dataframe(found_paths.table(outcome)[["path", "sessions", "share"]],
                             hide_index=True, column_config={"share": share})
        st.subheader("Browse-to-purchase pathways per segment")
        paths_run = segment_run_picker("journeys:paths_run")
        by_segment = shown(lambda: cached_paths(str(ws.path), str(detail), max_length, top,
                                                "segment", paths_run))
        if by_segment is not None and by_segment.groups():
            segment = st.selectbox("Segment", by_segment.groups(), key="journeys:segment")
            st.caption(f"Segments from the {by_segment.segment_source}; "
                       f"{by_segment.totals['purchase'].get(segment, 0):,} purchase visits.")
            st.dataframe(by_segment.table("purchase", segment)[["path", "sessions", "share"]],
                         hide_index=True, column_config={"share": share})

with flow_tab:
    left, mid, right, far = st.columns(4)
    flow_detail = left.radio("Label events by", list(DETAIL_LABELS), index=1,
                             format_func=DETAIL_LABELS.get, horizontal=True, key="journeys:flow_detail")
    outcome = mid.selectbox("Visits", ["all", "purchase", "abandonment"], key="journeys:outcome")
    max_steps = right.slider("Steps", 2, 8, 5, key="journeys:flow_steps")
    min_share = far.slider("Fold nodes under (share of visits)", 0.0, 0.2, 0.02, 0.01,
                           key="journeys:min_share", help="Rarer nodes are merged into 'other'")
    flow = shown(lambda: cached_sankey(str(ws.path), str(flow_detail), max_steps, min_share,
                                       str(outcome)))
    if flow is not None:
        st.caption(f"{flow.sessions:,} visits from their first step, cut after a purchase, "
                   "repeats collapsed; store purchases are not visits and are left out.")
        st.plotly_chart(sankey_chart(flow), width="stretch")
