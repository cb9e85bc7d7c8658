"""The Changes tab of the Segments page: refresh with new events, migrations, triggers, drift."""

from __future__ import annotations

from datetime import datetime

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from analytics.export import to_csv_bytes
from analytics.refresh import (
    Trigger,
    drift_table,
    fire,
    inbox_files,
    migration,
    moments,
    refresh_inbox,
    sankey,
    sizes_over_time,
)
from analytics.segments import SegmentRun
from pages._load_view import load_flow
from pages._shared import data_changed, escape_markdown, run, workspace


def changes_tab(result: SegmentRun) -> None:
    if result.method == "selection":
        st.info("A hand-picked selection has no rule or model to re-apply; refresh a rules or "
                "clustering run instead.", icon=":material/info:")
        return
    upload(result)
    inbox(result)
    ws = workspace()
    points = run(lambda: moments(ws, result))
    if len(points) < 2:
        st.info("No refresh yet: load new events above (or drop files into the inbox folder) to "
                "see who moves between segments.", icon=":material/info:")
        return
    sizes = run(lambda: sizes_over_time(ws, result))
    st.plotly_chart(px.line(sizes, x="at", y="shoppers", color="segment", markers=True, height=320,
                            title="Segment sizes over time", labels={"at": "", "segment": ""}),
                    width="stretch")
    flows(result, points)
    triggers(result)
    drift(result)


def upload(result: SegmentRun) -> None:
    """New data for the living segments: the Data page's own upload flow (one component), whose
    rebuild re-applies this run, so the moves show below."""
    st.markdown("**Load new data**")
    st.caption("The same upload as on the **Data** page: check the mapping, load, then rebuild the "
               f"profiles, which re-applies **{escape_markdown(result.name)}** and records who moved.")
    load_flow("changes:uploader", result.run_id)


@st.fragment(run_every=30)
def inbox(result: SegmentRun) -> None:
    """Files dropped into the workspace inbox are picked up while the page is open."""
    ws = workspace()
    waiting = inbox_files(ws)
    st.caption(f":material/inbox: Inbox `{ws.inbox_dir}`: {len(waiting)} file(s) waiting; checked "
               "every 30 s.")
    if waiting:
        report = run(lambda: refresh_inbox(ws, result.run_id))
        if report is not None:
            data_changed()
            st.toast(f"Inbox refresh: {sum(report.moved.values()):,} shoppers moved.",
                     icon=":material/update:")


def flows(result: SegmentRun, points: list[tuple[str, datetime]]) -> None:
    ws = workspace()
    labels = [label for label, _ in points]
    c1, c2 = st.columns(2)
    start = c1.selectbox("From", labels, index=0, key="migration_from")
    end = c2.selectbox("To", labels, index=len(labels) - 1, key="migration_to")
    at = dict(points)
    matrix = run(lambda: migration(ws, result.run_id, at[start], at[end]))
    moved = matrix[matrix["from_segment"] != matrix["to_segment"]]
    only_moves = st.toggle("Only shoppers who changed segment", value=not moved.empty, key="movers_only")
    links = sankey(moved if only_moves and not moved.empty else matrix)
    palette = px.colors.qualitative.Plotly  # one colour per segment, before and after alike
    names = sorted(set(links["segments"]))
    colours = [palette[names.index(n) % len(palette)] for n in links["segments"]]
    figure = go.Figure(go.Sankey(node={"label": links["labels"], "pad": 14, "color": colours},
                                 link={k: links[k] for k in ("source", "target", "value")}))
    figure.update_layout(title="Who moved where", height=460)
    st.plotly_chart(figure, width="stretch", key="migration_sankey")
    st.caption(f"{int(moved['shoppers'].sum()):,} of {int(matrix['shoppers'].sum()):,} shoppers changed "
               "segment between these two moments.")
    table = matrix.pivot_table(index="from_segment", columns="to_segment", values="shoppers",
                               fill_value=0)
    table.index.name = "From ↓ / to →"
    table.columns.name = None
    st.dataframe(table, width="stretch")


def triggers(result: SegmentRun) -> None:
    ws = workspace()
    names = [s.name for s in result.segments]
    c1, c2 = st.columns(2)
    kind = c1.selectbox("Trigger", ["entered", "left", "crossed"], key="trigger_kind",
                        format_func={"entered": "Entered a segment", "left": "Left a segment",
                                     "crossed": "Days since last activity crossed…"}.__getitem__)
    if kind == "crossed":
        trigger = Trigger("crossed", threshold=c2.number_input("Days", 1, 3650, 30))
    else:
        trigger = Trigger(kind, c2.selectbox("Segment", names, key="trigger_segment"))
    fired = run(lambda: fire(ws, result.run_id, trigger))
    st.caption(f"{len(fired):,} shoppers: {escape_markdown(trigger.label())} (since the previous refresh).")
    st.dataframe(fired.head(500), hide_index=True, width="stretch")
    st.download_button("Download for activation (CSV)", to_csv_bytes(fired), "trigger.csv", "text/csv",
                       icon=":material/download:", key="trigger_csv")


def drift(result: SegmentRun) -> None:
    table = run(lambda: drift_table(workspace(), result))
    if table.empty:
        return
    st.plotly_chart(px.imshow(table, color_continuous_scale="Reds", zmin=0, zmax=0.5, aspect="auto",
                              height=140 + 22 * len(table),
                              title="Feature drift since fitting (PSI; > 0.25 = shifted)"),
                    width="stretch")
