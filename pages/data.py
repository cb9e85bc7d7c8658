"""Data: upload exports, confirm how they map, load them, check their quality, manage datasets.

Each tab is rendered by its own module; to add a tab, add one entry to ``TABS``.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from pages import _identities_view
from pages._datasets_view import datasets_tab
from pages._load_view import load_flow
from pages._privacy_view import privacy_tab
from pages._shared import workspace

st.title("Data")
ws = workspace()  # signs the visitor in (or stops) before any tab is drawn

# Tab title -> renderer (no arguments). Every tab runs on each rerun, as Streamlit tabs do.
TABS: dict[str, Callable[[], None]] = {
    "Upload": load_flow,
    "Datasets & quality": datasets_tab,
    "Privacy": privacy_tab,
    "Identities": lambda: _identities_view.render(ws),  # probabilistic identity links
}
for tab, render in zip(st.tabs(list(TABS)), TABS.values(), strict=True):
    with tab:
        render()
