"""Segments: run rules or clustering, read the segment profiles, explore the map, export."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics import staleness
from analytics.engines.outputs import SEGMENTS as SEGMENT_OUTPUT
from analytics.profile_views import profiles_built
from analytics.segments import SegmentRun, get_run, list_runs
from analytics.segments.primary import set_primary
from pages._living_view import changes_tab
from pages._map_view import shopper_map
from pages._segments_view import execute, export_panel, overview, spec_form, stability_tab
from pages._shared import (
    cached_run_choices,
    data_changed,
    escape_markdown,
    rebuilt_message,
    run,
    spark_output_notice,
    stale_notice,
    workspace,
)

ws = workspace()
st.title("Segments")
st.caption("Find groups of shoppers by rules or by clustering, see them on a map, save a lasso "
           "selection as a segment and export any of them.")


@st.cache_data(ttl=300, max_entries=4, show_spinner=False)
def cached_runs(path: str) -> pd.DataFrame:
    return list_runs(workspace())


@st.cache_data(ttl=300, max_entries=16, show_spinner=False)
def cached_run(path: str, run_id: str) -> SegmentRun:
    return get_run(workspace(), run_id)


if not profiles_built(ws):  # a catalogue lookup: the page never loads every profile
    st.info("Segments are built from shopper profiles, which have not been built yet. Open the "
            "**Profiles** page and build them first.", icon=":material/info:")
    st.page_link("pages/profiles.py", label="Go to Profiles", icon=":material/badge:")
    st.stop()

runs = cached_runs(str(ws.path))
with st.expander("New segmentation", expanded=runs.empty, icon=":material/tune:"):
    spec = spec_form()
    if spec is not None:
        st.session_state["run_id"] = execute(spec).run_id
        st.rerun()

if runs.empty:
    st.info("No segmentation yet: choose a method above and press **Run**.", icon=":material/info:")
    st.stop()

choices = {c.run_id: c for c in cached_run_choices(str(ws.path))}  # the primary run first
ids = list(choices)
current = st.session_state.get("run_id")
pick, make = st.columns([4, 1], vertical_alignment="bottom")
run_id = pick.selectbox("Run", ids, index=ids.index(current) if current in ids else 0,
                        format_func=lambda r: choices[r].label,
                        help="Map selections are runs of their own kind; saving one never changes "
                        "the primary segmentation.")
primary = next(iter(choices.values()))
if not choices[run_id].primary and make.button("Make primary", icon=":material/star:", key="make_primary",
                 help="Use this run on every page that shows segments."):
    run(lambda: set_primary(ws, run_id))
    data_changed()
    st.session_state["run_id"] = run_id
    st.rerun()
if primary.primary:
    st.caption(f":material/star: Primary segmentation: **{escape_markdown(primary.name)}** — Journeys, "
               "Recommendations, Experiments, Shopper 360 and exports use it unless you pick another "
               "there.")
result = cached_run(str(ws.path), run_id)
rebuilt_message()
stale_notice(staleness.SEGMENT_RUN, run_id, run_id=run_id)
spark_output_notice(SEGMENT_OUTPUT, run_id)  # membership kept as Parquet by Spark

# Lazy tabs: only the open one runs, so the map is drawn only when someone looks at it.
SECTIONS = {"Segment profiles": overview, "Map": shopper_map, "Stability": stability_tab,
            "Changes": changes_tab, "Export": export_panel}
for tab, render in zip(st.tabs(list(SECTIONS), on_change="rerun", key="segment_tab"),
                       SECTIONS.values(), strict=True):
    if tab.open:
        with tab:
            render(result)
