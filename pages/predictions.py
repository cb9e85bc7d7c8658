"""Predictions: lifetime value (P(alive), expected orders and spend, holdout check) and, when
present, retention cohorts."""

from __future__ import annotations

import importlib
import importlib.util

import streamlit as st

from pages import _ltv_view
from pages._shared import cached_overview, workspace

ws = workspace()
st.title("Predictions")
if cached_overview(str(ws.path)).events == 0:
    st.info("The workspace is empty. Load events on the **Data** page (or the demo shop on Home) "
            "first.", icon=":material/info:")
    st.stop()

if importlib.util.find_spec("pages._cohorts_view") is not None:  # h16b's tab, merged separately
    _cohorts_view = importlib.import_module("pages._cohorts_view")
    tab_ltv, tab_cohorts = st.tabs(["Lifetime value", "Retention cohorts"])
    with tab_ltv:
        _ltv_view.render(ws)
    with tab_cohorts:
        _cohorts_view.render(ws)
else:
    _ltv_view.render(ws)
