"""Experiments & Uplift: did a campaign work, for whom, and whom to target next."""

from __future__ import annotations

import streamlit as st

from analytics.experiments.multiarm import ArmsData
from pages._experiments_source_view import cached_ab, file_mode, workspace_mode
from pages._experiments_view import (
    arms_section,
    power_calculator,
    segments_section,
    show_ab,
    uplift_models,
)
from pages._shared import escape_markdown, run, workspace

st.title("Experiments & Uplift")
workspace()  # signs the visitor in (or stops) before any control is drawn
st.caption("Did the campaign work, for whom, and whom should it target next?")

mode = st.radio("Source", ["Experiment in this workspace", "Upload a results file"],
                horizontal=True, key="exp:mode")
is_file = mode.startswith("Upload")
chosen = file_mode() if is_file else workspace_mode()
if chosen is None:
    st.stop()
key, data, experiment = chosen
if isinstance(data, ArmsData):
    arms_section(key, data)
    st.stop()
st.subheader(escape_markdown(f"{data.treatment_label} vs {data.control_label}: {data.outcome_name}"))
share = st.number_input("Planned treated share (for the sample-ratio check)", 0.01, 0.99, 0.5,
                        key="exp:share", width=320)
ab = run(lambda: cached_ab(f"{key}|{share}", data, share)).ab
show_ab(ab, data)
if ab.testable and data.outcome_kind == "binary":
    power_calculator(ab)
segments_section(data, experiment)
uplift_models(key, data, ab, share, experiment)
