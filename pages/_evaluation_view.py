"""The Recommendations page's parameter form and offline evaluation: which models, the split,
what to leave out of lists, and the evaluation's tables, charts and verdict."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.express as px
import streamlit as st

from analytics import staleness
from analytics.labels import column_labels, duration, metric_label
from analytics.recommend import (
    MODELS,
    TrainingOptions,
)
from analytics.recommend.base import EXCLUSION_LABELS, EXCLUSIONS
from analytics.recommend.catalogue import MODEL_CATALOGUE, model_label
from analytics.recommend.evaluate import EvaluationSummary, Split, evaluate
from pages._shared import (
    run,
    segment_run_picker,
    stale_notice,
    workspace,
)

DEFAULT_CHOICE = ["popularity", "segment_popularity", "item_knn", "als", "content", "sequential",
                  "hybrid", "buy_again"]
AUTO = "auto"


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
