"""The sections of the Experiments page: the A/B comparison, power, lift per segment, uplift
models and targeting, and the multi-arm comparison."""


import pandas as pd
import plotly.express as px
import streamlit as st

from analytics import staleness
from analytics.experiments import (
    ExperimentData,
    analyse,
    save_scores,
)
from analytics.experiments.ab import (
    ABResult,
    lift_table,
    minimum_detectable_effect,
    segment_breakdown,
    users_needed,
)
from analytics.experiments.multiarm import (
    ArmsData,
    arms_table,
    best_arm_policy,
    compare_arms,
    policy_table,
    revenue_table,
)
from analytics.experiments.segments import (
    segment_labels,
    segment_sources,
)
from analytics.experiments.store import latest_run_id
from analytics.experiments.targeting import simulate, targeting_list
from analytics.experiments.uplift import UpliftResult
from analytics.experiments.verdict import ab_verdict
from analytics.export import to_csv_bytes
from analytics.labels import column_labels, currency, money
from pages._experiments_source_view import cached_segments_at
from pages._shared import escape_markdown, run, stale_notice, workspace


def show_ab(ab: ABResult, data: ExperimentData) -> None:
    binary = data.outcome_kind == "binary"
    st.info(ab_verdict(ab), icon=":material/gavel:")
    for warning in ab.warnings:
        st.warning(warning, icon=":material/warning:")
    arms = pd.DataFrame([a.as_json() for a in ab.arms]).dropna(axis=1, how="all")
    st.dataframe(readable(arms.rename(columns={"label": "arm"})), hide_index=True)
    st.dataframe(lift_table(ab.lifts, binary), hide_index=True)
    revenue = next((x for x in ab.lifts if x.metric == "revenue per user"), None)
    if revenue is not None:
        per_arm = " · ".join(f"{a.label}: {money(a.revenue_per_user)}" for a in ab.arms
                             if a.revenue_per_user is not None)
        st.caption(escape_markdown(f"Revenue per user — {per_arm}."))
    if ab.cuped and st.toggle(f"CUPED: adjust for {data.covariate} (less noise, same effect)"):
        st.dataframe(lift_table(ab.cuped, binary), hide_index=True)
        st.caption(" ".join(x.note for x in ab.cuped))
    st.caption(ab.sample_ratio.sentence())
    with st.expander("Balance of pre-period features (standardised mean differences)"):
        st.dataframe(readable(ab.balance.table), hide_index=True)


def power_calculator(ab: ABResult) -> None:
    control = next(a for a in ab.arms if a.role == "control")
    with st.expander("Power and minimum detectable effect"):
        a, b, c, d = st.columns(4)
        base = a.number_input("Baseline rate", 0.001, 0.999,
                              float(min(max(control.outcome_mean, 0.001), 0.999)), format="%.3f")
        n = int(b.number_input("Users per arm", 2, 10**8, max(control.users, 2)))
        alpha = c.number_input("Significance level", 0.001, 0.2, 0.05, format="%.3f")
        power = d.number_input("Power", 0.5, 0.99, 0.8)
        mde = run(lambda: minimum_detectable_effect(base, n, n, alpha, power))
        st.write(f"With {n:,} users per arm the smallest lift you can reliably detect is "
                 f"**{mde:+.2%}** (from {base:.2%} to {base + mde:.2%}).")
        want = st.number_input("Lift you want to detect", 0.0005, 0.5, 0.01, format="%.4f")
        st.write(f"Detecting {want:+.2%} needs **{run(lambda: users_needed(base, want, alpha, power)):,}** "
                 "users per arm.")


def segments_section(data: ExperimentData, experiment: str | None) -> None:
    """Lift per segment (a segmentation run, RFM or a column), corrected for many segments."""
    ws = workspace()
    sources = segment_sources(None if experiment is None else ws, data)
    if not sources:
        return
    st.subheader("Lift per segment")
    left, right = st.columns([3, 1])
    label = left.selectbox("Segments", list(sources), key="exp:segsource")
    method = right.radio("Correction", ["holm", "fdr_bh"], horizontal=True, key="exp:corr",
                         format_func=lambda m: {"holm": "Holm", "fdr_bh": "Benjamini-Hochberg"}[m])
    source = sources[label]
    if experiment is not None and not source.startswith("column:"):
        found = run(lambda: cached_segments_at(str(ws.path), source, experiment))
        if found is None:  # being computed in the background (its progress is shown)
            return
        at = found
        st.caption(escape_markdown(at.rule))
        labels = at.labels
    else:
        labels = run(lambda: segment_labels(None, source, data))
    table = run(lambda: segment_breakdown(data, labels, method)).table
    fig = px.bar(table, x="segment", y="lift", color="significant",
                 error_y=table["ci_high"] - table["lift"], error_y_minus=table["lift"] - table["ci_low"],
                 title="Lift per segment with 95% CI")
    st.plotly_chart(fig.update_xaxes(type="category"), width="stretch")
    st.dataframe(readable(table), hide_index=True, column_config=decimals(table, 3))


def uplift_section(result: UpliftResult, data: ExperimentData) -> None:
    if result.check is not None:
        (st.success if result.check.better_than_random else st.warning)(
            result.verdict, icon=":material/target:")
    st.dataframe(readable(result.table), hide_index=True,
                 column_config=decimals(result.table, 3))
    fig = px.line(result.curves, x="fraction", y="qini", color="model",
                  title=f"Qini curve (held-out users) — best: {result.best}",
                  labels={"fraction": "share of users targeted, highest predicted uplift first",
                          "qini": "incremental outcomes per user", "model": "Model"})
    fig.update_traces(line={"dash": "dash"}, selector={"name": "Random targeting"})
    st.plotly_chart(fig, width="stretch")
    st.caption("The dashed straight line is random targeting: picking X% of users at random gains "
               "X% of the total effect, so a useful model's curve bows above it.")
    st.plotly_chart(px.bar(result.deciles, x="decile", y="uplift",
                           title="Observed uplift by decile of predicted uplift (1 = highest)"),
                    width="stretch")
    share = st.slider("Target the top X% by predicted uplift", 1, 100, 30, key="exp:top") / 100
    plan = simulate(result, share)
    cols = st.columns(3)
    for col, title, value, gain in ((cols[0], f"Top {share:.0%}", plan.top, plan.revenue_top),
                                     (cols[1], "Everyone", plan.everyone, plan.revenue_everyone),
                                     (cols[2], f"Random {share:.0%}", plan.random, plan.revenue_random)):
        col.metric(f"{title}: incremental {data.outcome_name}", f"{value:+,.1f}",
                   None if gain is None else f"{gain:+,.0f} {currency()} revenue", delta_color="off")
    targets = targeting_list(result, share)
    st.download_button(f"Download the targeting list ({len(targets):,} users, CSV)",
                       to_csv_bytes(targets), file_name="targeting_list.csv", mime="text/csv")


def arms_section(key: str, arms: ArmsData) -> None:
    """Every arm against the control, revenue per arm, and which arm for whom."""
    st.subheader(escape_markdown(f"{len(arms.arms)} arms against {arms.control_label}: "
                                 f"{arms.outcome_name}"))
    method = st.radio("Correction for testing several arms", ["holm", "fdr_bh"], horizontal=True,
                      key="exp:armcorr",
                      format_func=lambda m: {"holm": "Holm", "fdr_bh": "Benjamini-Hochberg"}[m])
    result = run(lambda: compare_arms(arms, correction=method))
    for note in result.notes:
        st.warning(note, icon=":material/warning:")
    st.dataframe(arms_table(result), hide_index=True)
    st.caption(f"Each arm against {escape_markdown(arms.control_label)}; p-values corrected for "
               f"{len(arms.arms)} comparisons ({result.correction}). The family-wise interval "
               f"(Bonferroni, {0.05 / len(arms.arms):.3g} per arm) holds for all arms at once.")
    revenue = revenue_table(result)
    if revenue is not None:
        st.markdown(f"**Revenue per arm** ({escape_markdown(currency())})")
        st.dataframe(revenue, hide_index=True)
    st.subheader("Which arm for whom?")
    policies = st.session_state.setdefault("exp:policies", {})
    if st.button("Find the best arm per shopper", type="primary", key="exp:policy"):
        with st.spinner("Fitting one outcome model per arm…"):
            policies[key] = run(lambda: best_arm_policy(arms))
    if key not in policies:
        st.caption("Fits one outcome model per arm on 60% of shoppers and compares, on the other "
                   "40%, sending each shopper their best arm with sending everyone the best "
                   "single arm.")
        return
    policy = policies[key]
    gain = policy.gain
    (st.success if gain.ci_low > 0 else st.info)(policy.verdict, icon=":material/alt_route:")
    st.dataframe(policy_table(policy, arms.outcome_kind), hide_index=True)
    st.dataframe(policy.assigned.assign(share=policy.assigned["share"].map("{:.0%}".format)),
                 hide_index=True)
    st.caption(f"Held-out shoppers: {policy.test_users:,}; values by inverse propensity "
               "weighting with the observed arm shares, 95% CIs from a paired bootstrap.")
    st.download_button(f"Download each shopper's best arm ({len(policy.scores):,} shoppers, CSV)",
                       to_csv_bytes(policy.scores), file_name="best_arm_per_shopper.csv",
                       mime="text/csv")




def uplift_models(key: str, data: ExperimentData, ab: ABResult, share: float,
                  experiment: str | None) -> None:
    """Fit and store the uplift models on request; flag stored scores built from older data
    (only a workspace experiment's: a results file does not change when data is loaded)."""
    st.subheader("Uplift models: whom does the treatment move?")
    results = st.session_state.setdefault("exp:results", {})
    stored = None if experiment is None else run(lambda: latest_run_id(workspace(), data.source))
    if stored is not None:
        stale_notice(staleness.UPLIFT_RUN, stored, key="exp:uplift",
                     hint="Press **Fit uplift models** to score the shoppers again on the data now "
                     "loaded (Shopper 360 shows the stored scores).")
    if not ab.testable:
        st.info("No uplift models: " + ab.primary.note.removeprefix("No p-value: "))
    elif st.button("Fit uplift models", type="primary", key="exp:fit"):
        with st.spinner("Fitting T-, S-, X-learner and class-transformation models…"):
            report = run(lambda: analyse(data, expected_share=share))
            if report.uplift is not None:
                run(lambda: save_scores(workspace(), data, report.uplift))  # type: ignore[arg-type]
            results[key] = report
        if report.uplift is not None and stored is not None:
            st.rerun()  # the stale notice above refers to the scores just replaced
    if key in results:
        found = results[key]
        if found.uplift is None:
            st.info(found.uplift_note)
        else:
            uplift_section(found.uplift, data)


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """Table headers from the label catalogue (``n_control`` → "Shoppers in control")."""
    return frame.rename(columns=column_labels(frame.columns))


def decimals(frame: pd.DataFrame, places: int) -> dict[str, object]:
    """``places`` decimals for every float column, under its catalogue label."""
    labels = column_labels(frame.columns)
    return {labels[c]: st.column_config.NumberColumn(format=f"%.{places}f")
            for c in frame.columns if pd.api.types.is_float_dtype(frame[c])}
