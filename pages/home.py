"""Home: what is loaded, headline numbers, activity over time, where to start."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from analytics import stored
from analytics.bundle import DEMO_DIR, load_bundle
from analytics.labels import currency, event_label
from analytics.overview import daily_events
from analytics.profiles import build_profiles
from analytics.versions import data_version
from pages._shared import cached_overview, data_changed, run, workspace

st.title("Shopper Lens")
st.write("Know your shoppers: profiles, segments, journeys, recommendations and campaign uplift "
         "from your own e-commerce exports.")

ws = workspace()
info = cached_overview(str(ws.path))

if info.empty:
    st.info("The workspace is empty. Upload your exports on the **Data** page, or load the demo "
            "shop (3,000 shoppers with known segments) to explore.", icon=":material/waving_hand:")
    st.page_link("pages/data.py", label="Upload data", icon=":material/upload_file:")
    if DEMO_DIR.exists() and st.button("Load the demo shop", type="primary"):
        # here, not at the top: the recommenders load scikit-learn, ~1.5 s of every first Home
        from analytics.recommend.store import PREVIEW_MODELS, ensure_models

        bar = st.progress(0.0, "Loading the demo shop")
        run(lambda: load_bundle(ws, DEMO_DIR, progress=lambda f, m: bar.progress(0.9 * f, m)))
        bar.progress(0.95, "Building shopper profiles")
        run(lambda: build_profiles(ws))
        bar.progress(0.97, "Training the recommenders Shopper 360 shows")
        run(lambda: ensure_models(ws, PREVIEW_MODELS))
        data_changed()
        st.rerun()
    st.stop()

cols = st.columns(5)
cols[0].metric("Events", f"{info.events:,}")
cols[1].metric("Shoppers", f"{info.users:,}")
cols[2].metric("Items", f"{max(info.catalogue_items, info.items_seen):,}")
cols[3].metric(f"Revenue ({currency()})", f"{info.revenue:,.0f}")  # the currency fits the label
cols[4].metric("Orders", f"{info.orders:,}",
               help="Purchases grouped by order id; without one, by visit; without that, by day — "
               "the way shopper profiles count orders.")
if info.first and info.last:
    st.caption(f"From {info.first:%d %b %Y} to {info.last:%d %b %Y} · "
               f"{info.offline_events:,} in-store events · {info.crm_users:,} CRM profiles")

daily = run(lambda: stored.load_or_build(ws, "overview.daily", {}, data_version(ws),
                                         lambda: daily_events(ws)))
if not daily.empty:
    step = daily["day"].drop_duplicates().diff().min()
    unit = "day" if pd.isna(step) or step.days <= 1 else "week" if step.days <= 7 else "month"
    fig = px.area(daily.assign(event_type=daily["event_type"].map(event_label)), x="day", y="events",
                  color="event_type",
                  title=f"Events per {unit} by type (non-standard types grouped as other)",
                  labels={"day": "", "events": "events"})
    fig.update_layout(legend_title_text="", height=360, margin={"t": 40, "b": 0})
    st.plotly_chart(fig, width="stretch")

st.subheader("Where to start")
for target, label, icon in (
        ("pages/data.py", "Add or inspect data: uploads, quality checks, rejects", "upload_file"),
        ("pages/profiles.py", "Profiles: one row of features per shopper", "badge"),
        ("pages/segments.py", "Segments: rules or clustering, the map, exports, living segments",
         "bubble_chart"),
        ("pages/journeys.py", "Journeys: funnels and paths to purchase", "route"),
        ("pages/recommendations.py", "Recommendations: models, evaluation, previews", "recommend"),
        ("pages/experiments.py", "Experiments & Uplift: did the campaign work, for whom", "science"),
        ("pages/shopper_360.py", "Shopper 360: everything about one shopper", "person_search")):
    st.page_link(target, label=label, icon=f":material/{icon}:")
