"""Retention cohorts tab: a heatmap of who comes back, per cohort and period; a clicked cell's
shoppers can be listed, downloaded and saved as a segment."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from analytics import staleness
from analytics.cohorts import OVERALL, CohortTable, cell_shoppers, cohort_table, save_cell
from analytics.export import to_csv_bytes
from analytics.versions import model_inputs_version
from analytics.workspace import Workspace
from pages._shared import data_changed, escape_markdown, run, stale_notice, workspace

CHART_KEY = "cohort_heatmap"
CELL_KEYS = ("cohort_pick", "cohort_period_pick")
WIDE = 14  # columns beyond which a cell shows only its share
BASIS_LABELS = {"purchase": "First purchase (active = buys)", "seen": "First visit (active = any event)"}


@st.cache_data(ttl=300, max_entries=8, show_spinner="Counting cohorts in DuckDB…")
def cached_table(path: str, version: str, by: str, basis: str) -> CohortTable:
    """Keyed by the data and segmentation version, so a new upload or run recounts."""
    return cohort_table(workspace(), by=by, basis=basis)


def render(ws: Workspace) -> None:
    c = st.columns(4)
    by = c[0].radio("Cohorts by", ["month", "week"], horizontal=True, key="cohort_by")
    basis = c[1].radio("Cohort starts at", list(BASIS_LABELS), format_func=BASIS_LABELS.__getitem__,
                       key="cohort_basis")
    show = c[2].radio("Show", ["shares", "counts"], horizontal=True, key="cohort_show")
    st.caption(f"Shoppers grouped by the {by} they first {'bought' if basis == 'purchase' else 'visited'}; "
               f"each cell is the share of the group active again that many {by}s later. Click a cell "
               "to see its shoppers.")
    table = run(lambda: cached_table(str(ws.path), model_inputs_version(ws), by, basis))
    if st.session_state.get("cohort_segment") not in table.segments:  # another primary run now
        st.session_state.pop("cohort_segment", None)
    segment = c[3].selectbox("Segment", table.segments, key="cohort_segment",
                             help=f"Segments of the primary segmentation"
                             f" ({table.segment_run_name})." if table.segment_run_name else
                             "Run a segmentation on the Segments page to split cohorts by segment.")
    if table.segment_run and segment != OVERALL:
        stale_notice(staleness.SEGMENT_RUN, table.segment_run, run_id=table.segment_run, key="cohorts")
    _heatmap(table, segment, show)
    _summary(table, segment)
    st.download_button(f"Download the cohort table ({len(table.cells):,} cells, CSV)",
                       to_csv_bytes(table.cells), f"cohorts_by_{by}.csv", "text/csv",
                       icon=":material/download:", key="download_cohorts")
    _cell(ws, table, segment)


def _figure(table: CohortTable, segment: str, show: str) -> go.Figure:
    shares, counts = table.grid(segment, "share"), table.grid(segment, "shoppers")
    complete = table.grid(segment, "complete")
    rows = [_label(d, table.by) for d in shares.index]
    wide = shares.shape[1] > WIDE  # many weeks: the share only, the count on hover
    text = [[_cell_text(counts.iat[i, j], shares.iat[i, j], complete.iat[i, j], wide)
             for j in range(shares.shape[1])] for i in range(shares.shape[0])]
    z = shares if show == "shares" else counts
    later = z.loc[:, [c for c in z.columns if c > 0]]
    # Period 0 is the whole cohort by definition: the colours spread over the later periods.
    top = float(later.max().max()) if later.size and later.notna().any().any() else None
    fig = go.Figure(go.Heatmap(z=z.to_numpy(), x=list(shares.columns), y=rows, text=text,
                               texttemplate="%{text}", textfont={"size": 11}, colorscale="Blues",
                               zmin=0, zmax=top, hoverinfo="skip",
                               colorbar={"title": "share" if show == "shares" else "shoppers",
                                         "tickformat": ".0%" if show == "shares" else ","}))
    # Heatmaps report no selection in Streamlit: invisible markers on the cells take the clicks.
    cells = table.of(segment)
    fig.add_trace(go.Scatter(
        x=cells["period"], y=[_label(d, table.by) for d in cells["cohort"]], mode="markers",
        showlegend=False, marker={"size": 26, "symbol": "square", "opacity": 0.01},
        customdata=cells[["cohort", "period", "shoppers", "share"]].to_numpy(dtype=object),
        hovertemplate=f"%{{customdata[0]}} cohort, {table.by} %{{customdata[1]}}: "
                      "%{customdata[2]:,} shoppers, %{customdata[3]:.0%}<extra></extra>"))
    unit = "months" if table.by == "month" else "weeks"
    start = "purchase" if table.basis == "purchase" else "visit"
    fig.update_layout(xaxis_title=f"{unit} since the first {start}", xaxis={"dtick": 1},
                      yaxis_title="cohort", yaxis={"autorange": "reversed", "type": "category"},
                      height=max(300, 34 * len(rows) + 110), clickmode="event+select",
                      margin={"t": 20, "b": 50, "l": 10, "r": 10})
    return fig


def _label(day: date, by: str) -> str:
    return f"{day:%Y-%m}" if by == "month" else f"{day:%Y-%m-%d}"


def _cell_text(count: float, share: float, complete: object, wide: bool) -> str:
    if pd.isna(count):
        return ""
    flag = "" if bool(complete) else "*"
    return f"{share:.0%}{flag}" if wide else f"{int(count):,}<br>{share:.0%}{flag}"


def _heatmap(table: CohortTable, segment: str, show: str) -> None:
    event = st.plotly_chart(_figure(table, segment, show), on_select="rerun", selection_mode="points",
                            key=CHART_KEY, width="stretch")
    if not table.of(segment)["complete"].all():
        st.caption("\\* the period has not ended when the data ends: the share so far, not a final rate.")
    for note in table.notes():  # the left-censored first cohort, with the curve without it
        st.caption(note)
    points = event.selection.points if event and event.selection else []
    picked = _picked(points)
    if picked and picked != st.session_state.get("cohort_clicked"):
        st.session_state["cohort_clicked"] = picked  # apply a click once, then the pickers rule
        st.session_state[CELL_KEYS[0]], st.session_state[CELL_KEYS[1]] = picked


def _picked(points: list[Any]) -> tuple[date, int] | None:
    for point in points:
        data = point.get("customdata") if isinstance(point, dict) else None
        if isinstance(data, list | tuple) and len(data) >= 2:
            return date.fromisoformat(str(data[0])), int(data[1])
    return None


def _summary(table: CohortTable, segment: str) -> None:
    pooled = table.retention(segment)
    if len(pooled) < 2:
        return
    unit = table.by
    steps = [f"{unit} {int(r.period)}: **{r.share:.0%}**" for r in pooled.head(4).itertuples()][1:]
    st.markdown(f"Pooled over the cohorts that got that far ({escape_markdown(segment)}): "
                + " · ".join(steps))


def _cell(ws: Workspace, table: CohortTable, segment: str) -> None:
    st.subheader("Shoppers of a cell")
    cells = table.of(segment)
    cohorts = list(dict.fromkeys(cells["cohort"]))
    if st.session_state.get(CELL_KEYS[0]) not in cohorts:  # after switching month/week or segment
        st.session_state[CELL_KEYS[0]] = cohorts[0]
    c = st.columns(2)
    cohort = c[0].selectbox("Cohort", cohorts, key=CELL_KEYS[0],
                             format_func=lambda d: _label(d, table.by))
    periods = cells.loc[cells["cohort"] == cohort, "period"].tolist()
    if st.session_state.get(CELL_KEYS[1]) not in periods:
        st.session_state[CELL_KEYS[1]] = 0
    period = c[1].selectbox(f"{table.by.capitalize()}s since", periods, key=CELL_KEYS[1])
    users = run(lambda: cell_shoppers(ws, cohort, period, table.by, table.basis, segment,
                                      table.segment_run))
    unit = table.by if period == 1 else f"{table.by}s"
    st.caption(f"{len(users):,} shoppers of the {_label(cohort, table.by)} cohort "
               f"({escape_markdown(segment)}) active {period} {unit} later.")
    if not users:
        return
    frame = pd.DataFrame({"user_id": users})
    st.dataframe(frame, hide_index=True, width="stretch", height=240)
    left, right = st.columns(2)
    left.download_button(f"Download these {len(users):,} shoppers (CSV)", to_csv_bytes(frame),
                         f"cohort_{cohort}_{table.by}_{period}.csv", "text/csv",
                         icon=":material/download:", key="download_cohort_cell")
    name = right.text_input("Segment name", value=f"Cohort {_label(cohort, table.by)}, {table.by} {period}",
                            key="cohort_segment_name")
    if right.button("Save as segment", icon=":material/bookmark_add:", key="cohort_save"):
        saved = run(lambda: save_cell(ws, users, name, table.segment_run))
        data_changed()
        st.session_state["cohort_saved"] = saved
    saved = st.session_state.get("cohort_saved")
    if saved is not None:
        st.success(f"Saved '{escape_markdown(saved.name)}' with {saved.saved:,} shoppers; it is on "
                   "the Segments page.", icon=":material/check_circle:")
        if saved.not_profiled:
            st.warning(f"{saved.not_profiled:,} of the cell's shoppers have no profile yet and were "
                       "not saved: rebuild the profiles (Profiles page) and save again.",
                       icon=":material/warning:")
