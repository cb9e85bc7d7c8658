"""The Predictions page's "Lifetime value" tab: fit, the parameters in plain words, the holdout
check against the naive baseline, P(alive) and CLV by segment, and the CSV export."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from analytics import staleness
from analytics.export import to_csv_bytes
from analytics.labels import column_labels, currency, money
from analytics.predict import DEFAULT_HORIZON_DAYS, predict
from analytics.predict.store import StoredFit, latest_fit, load_predictions
from analytics.predict.views import AT_RISK, describe_fit, segment_sample, segment_summary
from analytics.segments.primary import primary_run_id
from analytics.workspace import Workspace
from pages._shared import data_changed, escape_markdown, run, stale_notice

_FIT_HINT = "Fit again to use the data now loaded."


def render(ws: Workspace) -> None:
    """The whole tab: controls, then the latest fit (if any)."""
    st.caption("BG/NBD predicts each shopper's future orders and the chance they are still "
               "buying; Gamma-Gamma predicts what their orders are worth. Checked on a holdout: "
               "the model is fitted on the earlier part of the history and scored on the rest.")
    _controls(ws)
    fit = run(lambda: latest_fit(ws))
    if fit is None:
        st.info("No lifetime-value fit yet. Press **Fit lifetime value** (a few seconds for "
                "thousands of shoppers).", icon=":material/trending_up:")
        return
    stale_notice(staleness.PREDICTIONS, hint=_FIT_HINT)
    _parameters(fit)
    _validation(fit)
    _by_segment(ws)
    _export(ws)


def _controls(ws: Workspace) -> None:
    with st.form("ltv_fit"):
        left, mid, right = st.columns(3)
        horizon = left.number_input("Horizon (days)", 7, 3650, DEFAULT_HORIZON_DAYS, step=30,
                                    help="Expected orders and lifetime value cover this many days.")
        discount = mid.number_input("Monthly discount rate (%)", 0.0, 20.0, 0.0, step=0.5,
                                    help="Money in later months counts for less (0: no discount).")
        end = right.date_input("Calibration ends", value=None,
                               help="Empty: the last quarter of the history is the holdout.")
        if st.form_submit_button("Fit lifetime value", type="primary", icon=":material/play_arrow:"):
            _fit(ws, float(horizon), float(discount) / 100, end)


def _fit(ws: Workspace, horizon: float, discount: float, end: object) -> None:
    from datetime import date, datetime

    calibration_end = datetime.combine(end, datetime.min.time()) if isinstance(end, date) else None
    with st.status("Fitting lifetime value…", expanded=True) as status:
        bar = st.progress(0.0)
        report = run(lambda: predict(ws, calibration_end, horizon, discount,
                                     progress=lambda f, t: bar.progress(min(f, 1.0), t)))
        status.update(label=f"Fitted {report.users:,} shoppers in {report.seconds:.1f} s.",
                      state="complete")
    data_changed()


def _parameters(fit: StoredFit) -> None:
    st.subheader("What the fit says")
    a, b, c = st.columns(3)
    a.metric("Shoppers", f"{fit.users:,}")
    b.metric("As of", f"{fit.as_of:%Y-%m-%d}")
    c.metric("Horizon", f"{fit.horizon_days:,.0f} days",
             help=f"Monthly discount {fit.monthly_discount:.1%}.")
    st.markdown("\n".join(f"- {escape_markdown(line)}" for line in describe_fit(fit)))


def _validation(fit: StoredFit) -> None:
    h = fit.holdout
    st.subheader("How well it predicted the holdout")
    st.caption(f"Fitted on orders up to {fit.calibration_end:%Y-%m-%d}, then compared with the "
               f"{h['days']:,.0f} days that followed, for the {h['shoppers']:,} shoppers seen by "
               "then. The naive baseline carries each shopper's past order rate forward.")
    table = pd.DataFrame({
        "": ["Holdout orders (total)", "Correlation with actual, per shopper",
             "AUC of 'buys again'"],
        "Model": [f"{h['predicted_purchases']:,.0f}", _num(h["pearson"]), _num(h["auc"])],
        "Naive baseline": [f"{h['baseline_purchases']:,.0f}", _num(h["baseline_pearson"]),
                           _num(h["baseline_auc"])],
        "Actual": [f"{h['actual_purchases']:,}", "", ""]})
    if h.get("brier") is not None:  # fits from before the reliability check lack it
        table.loc[len(table)] = ["Brier score of 'buys again' (lower is better)", _num(h["brier"]),
                                 _num(h.get("baseline_brier")), ""]
    st.table(table.set_index(""))
    (st.success if h["better_than_baseline"] else st.warning)(escape_markdown(h["verdict"]))
    groups = pd.DataFrame(h["by_frequency"])
    long = groups.melt(id_vars=["repeat_orders", "shoppers"], value_vars=["actual", "predicted", "baseline"],
                       var_name="series", value_name="orders")
    fig = px.line(long, x="repeat_orders", y="orders", color="series", markers=True,
                  labels={"repeat_orders": "Repeat orders in the calibration period",
                          "orders": "Mean orders in the holdout", "series": ""},
                  title="Predicted vs actual holdout orders")
    st.plotly_chart(fig, key="ltv_validation")
    _reliability(h.get("reliability") or [])


def _reliability(bins: list[dict[str, float]]) -> None:
    """Predicted chance of buying in the holdout against the share that did, per bin."""
    if not bins:
        return
    frame = pd.DataFrame(bins)
    fig = px.scatter(frame, x="predicted", y="actual", size="shoppers", range_x=[0, 1], range_y=[0, 1],
                     labels={"predicted": "Predicted chance of buying in the holdout",
                             "actual": "Share that bought", "shoppers": "Shoppers"},
                     title="Are the chances right? (on the diagonal: yes)")
    fig.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line={"dash": "dot", "color": "grey"})
    st.plotly_chart(fig, key="ltv_reliability")


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _by_segment(ws: Workspace) -> None:
    run_id = run(lambda: primary_run_id(ws))
    st.subheader("By segment" if run_id else "Distribution")
    if run_id is None:
        st.caption("Choose a primary segmentation on the Segments page to split these by segment.")
    summary = run(lambda: segment_summary(ws, run_id))
    shown = summary.assign(median_p_alive=summary["median_p_alive"].map("{:.0%}".format),
                           at_risk_share=summary["at_risk_share"].map("{:.0%}".format),
                           mean_clv=summary["mean_clv"].map(money),
                           total_clv=summary["total_clv"].map(lambda v: money(v, 0)))
    st.dataframe(shown.rename(columns={
        "segment": "Segment", "shoppers": "Shoppers", "median_p_alive": "Median chance still buying",
        "at_risk_share": f"Share below {AT_RISK:.0%}", "mean_clv": "Mean CLV",
        "total_clv": "Total CLV"}), hide_index=True)
    sample = run(lambda: segment_sample(ws, run_id))
    left, right = st.columns(2)
    left.plotly_chart(px.box(sample, x="segment", y="p_alive", points=False,
                             labels={"segment": "", "p_alive": "Chance still buying"},
                             title="Chance still buying"), key="ltv_alive")
    right.plotly_chart(px.box(sample, x="segment", y="clv", points=False, log_y=True,
                              labels={"segment": "", "clv": f"CLV ({currency()})"},
                              title="Lifetime value"), key="ltv_clv")
    if len(sample) < int(summary["shoppers"].sum()):
        st.caption(f"The charts show a fixed sample of {len(sample):,} shoppers; the table counts all.")


def _export(ws: Workspace) -> None:
    frame = run(lambda: load_predictions(ws))
    st.download_button("Download predictions (CSV)", to_csv_bytes(frame.rename(
        columns=column_labels(frame.columns))), "predictions.csv", "text/csv",
        icon=":material/download:")
