"""The Recommendations page's parts: stored models and the preview, similar-items and export
tabs (the parameter form and the evaluation are in pages/_evaluation_view.py)."""

from __future__ import annotations

import streamlit as st

from analytics.errors import NotFoundError
from analytics.export import to_csv_bytes
from analytics.recommend import (
    MODELS,
    TrainedModels,
    TrainingOptions,
    check_user,
    preview,
    recommendations_table,
    similar_items,
)
from analytics.recommend.catalogue import model_label
from analytics.recommend.engine import item_choices
from analytics.recommend.store import ensure_models, stored_models
from pages._jobs import background, current, forget, progress
from pages._shared import (
    escape_markdown,
    run,
    user_errors,
    workspace,
)

SIMILARITY_MODELS = ["item_knn", "content", "als", "sequential", "hybrid"]


@st.cache_resource(show_spinner="Reading the stored models…", max_entries=2, ttl=3600)
def trained_models(path: str, models: tuple[str, ...], options: TrainingOptions,
                   version: str) -> TrainedModels | None:
    """The models stored for this data version and these options (None: not trained yet).

    Shared by sessions and never mutated; opening the page never trains."""
    return stored_models(workspace(), models, options, version)


def stored_or_training(models: list[str], options: TrainingOptions, version: str) -> TrainedModels:
    """The stored models; otherwise offer to train them in the background (and stop the page)."""
    ws = workspace()
    trained = run(lambda: trained_models(str(ws.path), tuple(models), options, version))
    if trained is not None:
        return trained
    trained_models.clear()  # "not trained" must not outlive the training
    key = f"recommenders|{ws.path}|{version}|{options}|{','.join(sorted(models))}"
    st.subheader("Shopper preview")
    st.info("These models are not trained on the current data yet. Training takes a while on a "
            "large shop; the fitted models are stored in the workspace, so every later preview, "
            "Shopper 360 and `shopper-lens recommend` reuse them.", icon=":material/model_training:")
    if st.button("Train models for the preview", icon=":material/model_training:"):
        background(key, "Training recommenders",
                   lambda say: ensure_models(ws, models, options, progress=say))
    job = current(key)
    if job is not None and job.done:
        forget(key)
        if job.error is not None:
            with user_errors():
                raise job.error
        st.rerun()  # stored now: the next run reads them
    if job is not None:
        progress(key)
    st.stop()
    raise AssertionError("unreachable")


def train_for_preview(models: list[str], options: TrainingOptions) -> None:
    """After an evaluation, fit and store the preview's models at once (with progress)."""
    ws = workspace()
    with st.status("Training the models for the preview…") as status:
        bar = st.progress(0.0)
        run(lambda: ensure_models(ws, models, options, progress=lambda f, m: bar.progress(
            f, f"Preview: {m}")))
        trained_models.clear()
        status.update(label="Models for the preview trained and stored", state="complete")


def preview_tab(trained: TrainedModels, models: list[str], k: int) -> None:
    """One shopper's lists from several models side by side, each item with its reason."""
    ws = workspace()
    inter = trained.interactions
    default_user = str(inter.user_ids[int(inter.items_per_user.argmax())])
    user = st.text_input("Shopper id", value=default_user, help="Any user id from your events.")
    shown_models = st.multiselect("Show models", models, default=models[:3],
                                  format_func=model_label)
    try:
        check_user(trained, user.strip())
    except NotFoundError as e:
        st.warning(f"{escape_markdown(e.message)} Showing what a brand-new visitor would get.",
                   icon=":material/person_search:")
    lists = run(lambda: preview(ws, user.strip(), shown_models, k=k, trained=trained))
    for column, result in zip(st.columns(max(len(lists), 1)), lists, strict=False):
        with column:
            st.markdown(f"**{result.label}**" + (" · cold start" if result.cold_start else ""))
            # The reason is the point of the preview: listed so it wraps instead of being cut off.
            for row in result.frame().itertuples():
                st.markdown(f"**{row.rank}. {escape_markdown(row.title)}** · {row.score:.2f}  \n"
                            f":gray[{escape_markdown(row.reason)}]")


def similar_tab(trained: TrainedModels, models: list[str], options: TrainingOptions) -> None:
    """Items similar to a chosen one, by a model that can say so (trained on demand)."""
    ws = workspace()
    choices = run(lambda: item_choices(trained))
    labels = {row.item_id: f"{row.title} ({row.item_id}, {row.category})"
              for row in choices.itertuples()}
    item = st.selectbox("Item", list(labels), format_func=lambda i: labels[i])
    usable = [m for m in SIMILARITY_MODELS if m in models] or ["item_knn"]
    similar_model = st.selectbox("Similar by", usable, format_func=model_label)
    if similar_model not in trained.models:
        with st.spinner(f"Training {MODELS[similar_model].label} (stored for next time)…"):
            trained = run(lambda: ensure_models(ws, [*models, similar_model], options))
    st.dataframe(run(lambda: similar_items(trained, similar_model, item, n=10)),
                 hide_index=True, width="stretch")


def export_tab(trained: TrainedModels, models: list[str], k: int) -> None:
    """Every shopper's top-k of one model as a CSV, prepared on request."""
    export_model = st.selectbox("Model", models, index=len(models) - 1,
                                format_func=model_label, key="export_model")
    st.caption(f"Top {k} for each of {trained.interactions.n_users:,} shoppers with user_id, "
               "rank, item_id, score, model and reason.")
    if st.button("Prepare CSV", icon=":material/table:"):
        bar = st.progress(0.0)
        frame = run(lambda: recommendations_table(trained, export_model, k=k,
                                                  progress=lambda f, m: bar.progress(f, m)))
        bar.empty()
        st.session_state["rec_export"] = (export_model, to_csv_bytes(frame), len(frame))
    if "rec_export" in st.session_state:
        name, data, rows = st.session_state["rec_export"]
        st.download_button(f"Download {rows:,} rows ({name})", data,
                           file_name=f"recommendations_{name}.csv", mime="text/csv",
                           icon=":material/download:")
