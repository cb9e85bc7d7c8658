"""Predictions: lifetime value and retention cohorts."""

from __future__ import annotations

import importlib
import importlib.util

import streamlit as st

from pages import _cohorts_view
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
    if importlib.util.find_spec("pages._ltv_view") is not None:
        importlib.import_module("pages._ltv_view").render(ws)
    else:
        st.info("Lifetime value is not available in this version.", icon=":material/info:")
with cohort_tab:
    _cohorts_view.render(ws)
