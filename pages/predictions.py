"""Predictions: lifetime value (P(alive), expected orders and spend, holdout check) and
retention cohorts."""

from __future__ import annotations

import streamlit as st

from pages import _cohorts_view, _ltv_view
from pages._shared import cached_overview, rebuilt_message, workspace

ws = workspace()
st.title("Predictions")
rebuilt_message()
if cached_overview(str(ws.path)).events == 0:
    st.info("The workspace is empty. Load events on the **Data** page (or the demo shop on Home) "
            "first.", icon=":material/info:")
    st.stop()

ltv_tab, cohort_tab = st.tabs(["Lifetime value", "Retention cohorts"])
with ltv_tab:
    _ltv_view.render(ws)
with cohort_tab:
    _cohorts_view.render(ws)
