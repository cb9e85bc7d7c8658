"""Recommendations: train and compare models, preview a shopper's lists, similar items, export."""

from __future__ import annotations

import streamlit as st

from analytics.engines.outputs import RECOMMENDATIONS as RECOMMENDATION_OUTPUT
from analytics.recommend.base import EXCLUSION_LABELS, EXCLUSIONS
from analytics.recommend.evaluate import latest_summary
from analytics.versions import model_inputs_version
from pages._evaluation_view import AUTO, evaluate_now, params_form, show_evaluation
from pages._recommend_view import (
    export_tab,
    preview_tab,
    similar_tab,
    stored_or_training,
    train_for_preview,
)
from pages._shared import cached_overview, run, spark_output_notice, workspace

st.title("Recommendations")
st.write("Train recommenders on your shoppers' behaviour, compare them offline on what shoppers "
         "did next, and preview what each shopper would see — with the reason why.")

ws = workspace()
if cached_overview(str(ws.path)).empty:
    st.info("No data yet. Load events on the Data page or the demo shop on Home.",
            icon=":material/info:")
    st.stop()

stored = run(lambda: latest_summary(ws))
chosen = stored.choice.get("exclusion") if stored else None
params = params_form(stored)
if not params.models:
    st.warning("Choose at least one model.")
    st.stop()
if params.submitted:
    stored, chosen = evaluate_now(params)

st.subheader("Offline evaluation")
if stored is None:
    st.info("Not evaluated yet: press **Train and evaluate**.", icon=":material/info:")
else:
    show_evaluation(stored)

mode = (chosen or EXCLUSIONS[0]) if params.exclude == AUTO else params.exclude
options = params.options(mode)
st.caption(f"Lists below: **{EXCLUSION_LABELS[mode]}**"
           + (" (the evaluation's choice)" if params.exclude == AUTO and chosen else
              " (no evaluation yet: the default)" if params.exclude == AUTO else "") + ".")
if params.submitted:
    train_for_preview(params.models, options)
trained = stored_or_training(params.models, options, run(lambda: model_inputs_version(ws)))
for name in params.models:  # every shopper's lists written as Parquet by Spark
    spark_output_notice(RECOMMENDATION_OUTPUT, name)

TABS = {"Shopper preview": lambda: preview_tab(trained, params.models, params.k),
        "Similar items": lambda: similar_tab(trained, params.models, options),
        "Batch export": lambda: export_tab(trained, params.models, params.k)}
for tab, render in zip(st.tabs(list(TABS)), TABS.values(), strict=True):
    with tab:
        render()
