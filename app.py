"""Shopper Lens dashboard: navigation, shared sidebar and the workspace every page uses."""

from __future__ import annotations

import streamlit as st

from analytics import settings
from analytics.jobs import FOREGROUND
from pages._auth import gate
from pages._jobs import map_warm_up
from pages._shared import sidebar

st.set_page_config(page_title="Shopper Lens", page_icon=":material/shopping_bag:", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/data.py", title="Data", icon=":material/upload_file:"),
    st.Page("pages/profiles.py", title="Profiles", icon=":material/badge:"),
    st.Page("pages/predictions.py", title="Predictions", icon=":material/trending_up:"),
    st.Page("pages/segments.py", title="Segments", icon=":material/bubble_chart:"),
    st.Page("pages/journeys.py", title="Journeys", icon=":material/route:"),
    st.Page("pages/recommendations.py", title="Recommendations", icon=":material/recommend:"),
    st.Page("pages/experiments.py", title="Experiments & Uplift", icon=":material/science:"),
    st.Page("pages/shopper_360.py", title="Shopper 360", icon=":material/person_search:"),
]

if settings.get("SHOPPER_LENS_MAP_WARMUP"):
    map_warm_up()  # UMAP's numba kernels compile in a thread, so the first map is quick
with FOREGROUND.running():  # background jobs pause at their next step while a page runs
    gate()  # stops here until the visitor signs in, when a login is configured
    navigation = st.navigation(PAGES)
    sidebar()
    navigation.run()
