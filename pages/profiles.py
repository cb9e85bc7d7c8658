"""Profiles: build per-shopper features, see their distributions and correlations, look one up."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from analytics import staleness
from analytics.engines.outputs import PROFILES as PROFILE_OUTPUT
from analytics.errors import NotFoundError
from analytics.export import to_csv_bytes
from analytics.identity.masking import mask_profile
from analytics.labels import column_labels, feature_help, feature_label
from analytics.profile_views import ProfileSample, profile_sample
from analytics.profiles import (
    FEATURES,
    build_profiles,
    correlations,
    feature_summary,
    load_profiles,
    lookup,
    numeric_columns,
)
from pages._shared import (
    cached_overview,
    data_changed,
    escape_markdown,
    rebuilt_message,
    run,
    spark_output_notice,
    stale_notice,
    workspace,
)

ws = workspace()
st.title("Shopper profiles")
st.caption("One row per shopper: RFM, engagement, purchase intent, context, category affinity, "
           "online and offline behaviour, lifetime and last 7/30 days.")


@st.cache_data(ttl=300, max_entries=2, show_spinner="Sampling shopper profiles…")
def cached_sample(path: str) -> ProfileSample:
    """At most SAMPLE_ROWS shoppers for the charts: the page never loads every profile."""
    return profile_sample(workspace())


def build() -> None:
    with st.spinner("Building profiles in DuckDB…"):
        summary = run(lambda: build_profiles(ws))
    data_changed()
    st.toast(f"Built {len(summary.features)} features for {summary.users:,} shoppers.",
             icon=":material/check_circle:")


if cached_overview(str(ws.path)).events == 0:
    st.info("The workspace is empty. Load events on the **Data** page (or the demo shop on Home) "
            "first.", icon=":material/info:")
    st.stop()

try:
    sample = cached_sample(str(ws.path))
except NotFoundError:
    st.info("Profiles have not been built yet.", icon=":material/info:")
    if st.button("Build profiles", type="primary", icon=":material/play_arrow:"):
        build()
        st.rerun()
    st.stop()

profiles, as_of = sample.frame, sample.as_of
left, mid, right = st.columns([1, 1, 2])
spilled = spark_output_notice(PROFILE_OUTPUT)  # a sample of a Spark --out-dir build
left.metric("Shoppers", f"{spilled.users if spilled else sample.total:,}")
mid.metric("Features", len(FEATURES))
right.metric("As of", f"{as_of:%Y-%m-%d %H:%M}" if as_of is not None else "—")
rebuilt_message()
stale_notice(staleness.PROFILES)
if st.button("Rebuild profiles", icon=":material/refresh:",
             help="Recompute every profile from the events now in the workspace."):
    build()
    st.rerun()

st.caption(sample.note)
numeric = numeric_columns(profiles)
help_of = {f.name: f.help for f in FEATURES}
tab_dist, tab_corr, tab_lookup, tab_table = st.tabs(
    ["Distributions", "Correlations", "Shopper lookup", "Table"])

with tab_dist:
    feature = st.selectbox("Feature", numeric, index=numeric.index("monetary"),
                           format_func=feature_label, help="\n".join(
                               f"- **{feature_label(f)}**: {help_of[f]}" for f in numeric))
    st.caption(escape_markdown(feature_help(feature)))
    log_y = st.toggle("Log scale counts", value=True)
    group = st.selectbox("Colour by", ["(none)", "rfm_segment", "main_device", "top_category",
                                       "main_channel"],
                         format_func=lambda g: g if g == "(none)" else feature_label(g))
    chart = px.histogram(profiles, x=feature, color=None if group == "(none)" else group,
                         nbins=60, log_y=log_y, height=380, labels=column_labels(profiles.columns))
    st.plotly_chart(chart, width="stretch")
    summary = feature_summary(profiles)
    if "feature" in summary.columns:
        summary = summary.assign(feature=summary["feature"].map(feature_label))
    st.dataframe(summary, hide_index=True, width="stretch",
                 column_config={"filled": st.column_config.ProgressColumn(
                     "filled", help="Share of shoppers with a value", min_value=0, max_value=1)})

with tab_corr:
    chosen = st.multiselect("Features", numeric, default=numeric[:16], format_func=feature_label)
    if len(chosen) >= 2:
        corr = correlations(profiles, chosen).rename(index=feature_label, columns=feature_label)
        heat = px.imshow(corr, color_continuous_scale="RdBu", zmin=-1, zmax=1, aspect="auto",
                         height=600)
        st.plotly_chart(heat, width="stretch")
        st.caption("Spearman rank correlation: +1 = always rise together, -1 = one rises as the "
                   "other falls.")
    else:
        st.info("Choose at least two features.")

with tab_lookup:
    user = st.text_input("User id", placeholder="e.g. " + str(profiles["user_id"].iloc[0]))
    if user:
        found = mask_profile(run(lambda: lookup(ws, user.strip())))  # hashes shortened
        if found is None:
            st.warning(f"No shopper with id {escape_markdown(repr(user.strip()))}.",
                       icon=":material/person_off:")
        else:
            groups: dict[str, list[tuple[str, object]]] = {}
            for f in FEATURES:
                value = found.get(f.name)
                shown = "" if value is None or (isinstance(value, float) and pd.isna(value)) else value
                groups.setdefault(f.group, []).append((feature_label(f.name), shown))
            for columns, (name, items) in zip(st.columns(3) * 4, groups.items(), strict=False):
                with columns.container(border=True):
                    st.markdown(f"**{name.upper()}**")
                    st.dataframe(pd.DataFrame(items, columns=["feature", "value"]).astype(str),
                                 hide_index=True, width="stretch")

with tab_table:
    st.dataframe(profiles.head(1_000).rename(columns=column_labels(profiles.columns)),
                 hide_index=True, width="stretch")
    st.caption(f"First 1,000 (by user id) of the {len(profiles):,} shoppers shown; "
               + (f"{spilled.users:,} in all, {sample.total:,} of them in this workspace."
                  if spilled else f"{sample.total:,} in all."))
    if st.button("Prepare CSV of all profiles", icon=":material/table:"):
        with st.spinner(f"Writing {sample.total:,} profiles as CSV…"):
            st.session_state["profiles_csv"] = to_csv_bytes(run(lambda: load_profiles(ws)))
    if "profiles_csv" in st.session_state:
        st.download_button(f"Download {'the sampled' if spilled else 'all'} {sample.total:,} "
                           "profiles (CSV)",
                           st.session_state["profiles_csv"], "profiles.csv", "text/csv",
                           icon=":material/download:")
