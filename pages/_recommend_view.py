"""The Recommendations page's parts: the parameter form, the evaluation, stored models and
the preview, similar-items and export tabs."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.express as px
import streamlit as st

from analytics import staleness
from analytics.errors import NotFoundError
from analytics.export import to_csv_bytes
from analytics.labels import column_labels, duration, metric_label
from analytics.recommend import (
    MODELS,
    TrainedModels,
    TrainingOptions,
    check_user,
    preview,
    recommendations_table,
    similar_items,
)
from analytics.recommend.base import EXCLUSION_LABELS, EXCLUSIONS
from analytics.recommend.catalogue import MODEL_CATALOGUE, model_label
from analytics.recommend.engine import item_choices
from analytics.recommend.evaluate import EvaluationSummary, Split, evaluate
from analytics.recommend.store import ensure_models, stored_models
from pages._jobs import background, current, forget, progress
from pages._shared import (
    escape_markdown,
    run,
    segment_run_picker,
    stale_notice,
    user_errors,
    workspace,
)

DEFAULT_CHOICE = ["popularity", "segment_popularity", "item_knn", "als", "content", "sequential",
                  "hybrid", "buy_again"]
SIMILARITY_MODELS = ["item_knn", "content", "als", "sequential", "hybrid"]
AUTO = "auto"


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


METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "coverage", "novelty")


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """Model labels, formatted training times and human column names from the catalogue."""
    out = frame.copy()
    if "model" in out:
        out["model"] = out["model"].map(model_label)
    if "fit_seconds" in out:
        out["fit_seconds"] = out["fit_seconds"].map(duration)
    return out.rename(columns=column_labels(out.columns))


def number_columns(frame: pd.DataFrame) -> dict[str, object]:
    """Three decimals for every metric column a table has (under its catalogue label)."""
    return {metric_label(m): st.column_config.NumberColumn(format="%.3f")
            for m in (*METRICS, "ndcg_ci_low", "ndcg_ci_high") if m in frame}


def show_evaluation(summary: EvaluationSummary) -> None:
    """Known-shopper headline with CIs, the tie verdict, the chosen exclusion, cold start."""
    k = summary.k
    choice = summary.choice
    if summary.evaluation_id:
        stale_notice(staleness.RECOMMEND_EVALUATION, summary.evaluation_id,
                     hint="Press **Train and evaluate** to measure the models on the data now loaded.")
    st.caption(f"Metrics @{k} on {choice.get('known_users', 0):,} **known** shoppers (history "
               f"before the test period); test period: {summary.split}. Relevant = everything "
               "they bought in the test period, repeats included.")
    if choice.get("verdict"):
        st.info(choice["verdict"], icon=":material/balance:")
    table = summary.table()[["model", "users", "precision", "recall", "ndcg", "ndcg_ci_low",
                             "ndcg_ci_high", "tied_with_best", "chosen", "map", "hit_rate",
                             "coverage", "novelty", "fit_seconds"]]
    st.dataframe(labelled(table), hide_index=True, width="stretch",
                 column_config=number_columns(table))
    long = table.melt(id_vars="model", value_vars=["precision", "recall", "ndcg", "map",
                                                   "hit_rate"], var_name="metric")
    long["model"] = long["model"].map(model_label)
    long["metric"] = long["metric"].map(metric_label)
    fig = px.bar(long, x="model", y="value", color="metric", barmode="group",
                 labels={"model": metric_label("model"), "value": "", "metric": ""},
                 title=f"Ranking quality per model (@{k}, known shoppers)")
    fig.update_layout(height=380, margin={"t": 40, "b": 0}, legend_title_text="", xaxis_title="")
    st.plotly_chart(fig, width="stretch")
    st.markdown("**What lists leave out** — each rule evaluated, the best used by default:")
    st.dataframe(labelled(summary.exclusion_table()), hide_index=True, width="stretch")
    with st.expander(f"Cold start: {choice.get('new_users', 0):,} new shoppers"):
        st.caption("Shoppers with no history before the test period. Every model gives them "
                   "the same fallback (popular in their segment or device, else trending), so "
                   "these numbers are reported apart and never pick the best model.")
        cold = summary.cold_start[["model", "users", "precision", "recall", "ndcg", "hit_rate"]]
        st.dataframe(labelled(cold), hide_index=True, width="stretch",
                     column_config=number_columns(cold))
    with st.expander("Per segment (known shoppers)"):
        st.caption(summary.note)
        st.dataframe(labelled(summary.per_segment), hide_index=True, width="stretch",
                     column_config=number_columns(summary.per_segment))



@dataclass(frozen=True)
class Params:
    """What the form asked for; ``submitted`` is True on the run the button was pressed."""

    models: list[str]
    k: int
    half_life: float
    test_days: float
    cap: int
    weights: tuple[tuple[str, float], ...]
    exclude: str
    segment_run: str | None
    submitted: bool

    def options(self, exclude: str | None = None) -> TrainingOptions:
        """Training options; ``exclude`` the rule lists use (None: the evaluation's default)."""
        return TrainingOptions(weights=self.weights, half_life_days=self.half_life,
                               exclude_purchased=True if exclude is None else exclude,
                               max_per_category=self.cap or None, segment_run=self.segment_run)


def params_form(stored: EvaluationSummary | None) -> Params:
    """Models and parameters, in one form so nothing trains until the button is pressed."""
    with st.form("rec_params"):
        st.subheader("Models and parameters")
        models = st.multiselect("Models", list(MODELS), default=DEFAULT_CHOICE, format_func=model_label,
                                help="\n".join(f"- **{c.label}**: {c.description}"
                                               for n, c in MODEL_CATALOGUE.items() if n in MODELS))
        c1, c2, c3, c4 = st.columns(4)
        k = c1.number_input("List length (k)", 1, 50, 10)
        half_life = c2.number_input("Half-life (days)", 1.0, 3650.0, 30.0,
                                    help="An event this old counts half as much as one today.")
        test_days = c3.number_input("Test period (days)", 0.0, 365.0, 0.0,
                                    help="Evaluation trains before the last N days and checks the "
                                    "purchases in them. 0 = adapt: 30 days, or the last 20% of the "
                                    "data's span when it covers under 150 days.")
        cap = c4.number_input("Max items per category", 0, 50, 0, help="Diversity; 0 = no cap.")
        w1, w2, w3, w4, w5 = st.columns(5)
        weights = (("view", w1.number_input("View weight", 0.0, 100.0, 1.0)),
                   ("wishlist", w2.number_input("Wishlist weight", 0.0, 100.0, 2.0)),
                   ("cart", w3.number_input("Cart weight", 0.0, 100.0, 3.0)),
                   ("purchase", w4.number_input("Purchase weight", 0.0, 100.0, 5.0)))
        exclude = w5.selectbox(
            "Leave out of lists", [AUTO, *EXCLUSIONS],
            format_func=lambda m: "Evaluation's pick" if m == AUTO else EXCLUSION_LABELS[m],
            help="The evaluation tries each rule and picks the one that ranks best for this data.")
        segment_run = segment_run_picker("rec:segment_run", "Segmentation used by segment popularity")
        submitted = st.form_submit_button("Train and evaluate", type="primary",
                                          icon=":material/model_training:")
    return Params(models, int(k), float(half_life), float(test_days), int(cap),
                  tuple((e, float(w)) for e, w in weights), str(exclude), segment_run, submitted)


def evaluate_now(params: Params) -> tuple[EvaluationSummary, str]:
    """Train and evaluate the chosen models, with progress; the summary and the chosen rule."""
    ws = workspace()
    with st.status("Training and evaluating…", expanded=True) as status:
        bar = st.progress(0.0)
        split = Split(test_days=params.test_days or None)
        report = run(lambda: evaluate(ws, params.models, k=params.k, split=split,
                                      options=params.options(),
                                      progress=lambda f, m: bar.progress(f, m)))
        status.update(label=f"Evaluated {len(params.models)} models on {report.known_users:,} known "
                      f"and {report.new_users:,} new shoppers ({report.split})",
                      state="complete", expanded=False)
    return report.summary(), report.exclusion


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
