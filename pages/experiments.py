"""Experiments & Uplift: did a campaign work, for whom, and whom to target next."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from analytics import stored
from analytics.errors import ConfigError
from analytics.experiments import (
    ExperimentData,
    ExperimentReport,
    analyse,
    describe_columns,
    guess_columns,
    list_experiments,
    prepare,
    read_results,
    save_scores,
    workspace_data,
)
from analytics.experiments.ab import (
    ABResult,
    lift_table,
    minimum_detectable_effect,
    segment_breakdown,
    users_needed,
)
from analytics.experiments.data import MAX_ARMS, default_features, infer_arms
from analytics.experiments.multiarm import (
    ArmsData,
    arms_table,
    best_arm_policy,
    compare_arms,
    policy_table,
    prepare_arms,
    revenue_table,
    workspace_arms,
)
from analytics.experiments.segments import (
    AssignmentSegments,
    segment_labels,
    segment_sources,
    segments_at_assignment,
)
from analytics.experiments.targeting import simulate, targeting_list
from analytics.experiments.uplift import UpliftResult
from analytics.export import to_csv_bytes
from analytics.versions import data_version, model_inputs_version
from pages._counted import in_background
from pages._shared import escape_markdown, run, workspace

NONE = "(none)"
ALL_ARMS = "All arms against the control"
st.title("Experiments & Uplift")
st.caption("Did the campaign work, for whom, and whom should it target next?")
ws = workspace()


# h14a: computed over all events once per data version and stored; on a large shop after new
# data they are rebuilt in the background while the page shows progress (pages/_counted.py).
def cached_workspace_data(path: str, experiment: str, treated: str, control: str,
                          window: int) -> ExperimentData | None:
    settings = {"experiment": experiment, "treated": treated, "control": control, "window": window}
    return in_background("the outcomes and pre-period features", stored.state(
        ws, "experiments.data", settings, data_version,
        lambda: workspace_data(ws, experiment, treated, control, window_days=window)))


@st.cache_data(ttl=300, max_entries=4, show_spinner="Reading the results file…")
def cached_results(path: str) -> pd.DataFrame:
    return read_results(workspace(), Path(path))


@st.cache_data(ttl=300, max_entries=8, show_spinner="Computing outcomes of every arm…")
def cached_workspace_arms(path: str, experiment: str, control: str, window: int) -> ArmsData:
    return workspace_arms(workspace(), experiment, control, window_days=window)


def cached_segments_at(path: str, key: str, experiment: str) -> AssignmentSegments | None:
    return in_background("each shopper's segment at assignment", stored.state(
        ws, "experiments.segments_at", {"source": key, "experiment": experiment},
        model_inputs_version, lambda: segments_at_assignment(ws, key, experiment)))


@st.cache_data(ttl=300, max_entries=8, show_spinner="Comparing the arms…")
def cached_ab(key: str, _data: ExperimentData, share: float) -> ExperimentReport:
    return analyse(_data, fit_models=False, expected_share=share)


def arm_choice(values: list[str], column: str, key: str) -> tuple[str | None, str | None]:
    """Two select boxes; pre-filled only when the column leaves no doubt."""
    try:
        guess: tuple[str | None, str | None] = infer_arms(values, column)
    except ConfigError:  # ambiguous arms: the user must choose
        guess = (None, None)
    left, right = st.columns(2)
    options = [ALL_ARMS, *values] if len(values) > 2 else values
    treated = left.selectbox("Treatment arm", options, key=f"{key}:t", placeholder="Choose the arm",
                             index=options.index(guess[0]) if guess[0] else None)
    control = right.selectbox("Control arm", values, key=f"{key}:c", placeholder="Choose the control",
                              index=values.index(guess[1]) if guess[1] else None)
    return treated, control


Chosen = tuple[str, ExperimentData | ArmsData, str | None]


def workspace_mode() -> Chosen | None:
    experiments = run(lambda: list_experiments(ws))
    if experiments.empty:
        st.info("No experiment assignments in this workspace. Load a file with user_id, "
                "experiment, variant and assigned_at on the **Data** page (the demo shop has "
                "one), or upload a results file.", icon=":material/science:")
        return None
    left, right = st.columns([3, 1])
    name = left.selectbox("Experiment", experiments["experiment"].tolist(), key="exp:name")
    window = int(right.number_input("Conversion window (days)", 1, 365, 14, key="exp:window"))
    variants = [str(v) for v in experiments.set_index("experiment").loc[name, "variant_names"]]
    treated, control = arm_choice(variants, "variant", f"exp:{name}")
    if treated is None or control is None:
        st.info(f"{escape_markdown(name)} has {len(variants)} variants: choose the arm and the "
                "control to compare.")
        return None
    if treated == ALL_ARMS:
        arms = run(lambda: cached_workspace_arms(str(ws.path), name, control, window))
        return f"ws|{name}|*|{control}|{window}", arms, name
    data = run(lambda: cached_workspace_data(str(ws.path), name, treated, control, window))
    if data is None:  # being computed in the background (its progress is shown)
        return None
    return f"ws|{name}|{treated}|{control}|{window}", data, name


def file_mode() -> Chosen | None:
    upload = st.file_uploader("Results file: one row per customer with features, a treatment "
                              "column and outcomes (CSV/TSV, gzip or Parquet)", key="exp:upload")
    if upload is None:
        return None
    path = run(lambda: ws.save_upload(upload.name, upload.getvalue()))
    frame = run(lambda: cached_results(str(path)))
    columns = describe_columns(frame)
    names = [c.name for c in columns]
    guess = guess_columns(columns)
    st.caption(f"{len(frame):,} rows · {len(names)} columns")
    a, b, c, d = st.columns(4)
    treatment = a.selectbox("Treatment column", names, key="exp:tcol",
                            index=names.index(guess["treatment"]) if guess["treatment"] else None)
    outcome = b.selectbox("Outcome", names, key="exp:ocol",
                          index=names.index(guess["outcome"]) if guess["outcome"] else None)
    revenue = c.selectbox("Revenue column (optional)", [NONE, *names], key="exp:rcol")
    id_column = d.selectbox("Customer id (optional)", [NONE, *names], key="exp:icol",
                            index=names.index(guess["id"]) + 1 if guess["id"] else 0)
    if treatment is None or outcome is None:
        st.info("Choose the treatment column and the outcome.")
        return None
    info = next(x for x in columns if x.name == treatment)
    if info.distinct > MAX_ARMS:
        st.error(f"{escape_markdown(treatment)} has {info.distinct:,} values, too many for a "
                 f"treatment column (at most {MAX_ARMS} arms). Choose the column that says which arm each "
                 "customer was in.", icon=":material/error:")
        return None
    treated, control = arm_choice(list(info.values), treatment, f"exp:{treatment}")
    if treated is None or control is None:
        st.info(f"{escape_markdown(treatment)} has {info.distinct} values: choose the arm and the control.")
        return None
    used = {treatment, outcome, revenue, id_column}
    features = st.multiselect("Features for the uplift models (known before the treatment)",
                              [n for n in names if n not in used], key="exp:features",
                              default=default_features(frame, used))
    money = None if revenue == NONE else revenue
    ids = None if id_column == NONE else id_column
    sha = hashlib.sha256(upload.getvalue()).hexdigest()[:12]
    key = "|".join(["file", sha, treatment, outcome, treated, control, revenue, id_column, *features])
    if treated == ALL_ARMS:
        return key, run(lambda: prepare_arms(frame, treatment, outcome, control, revenue=money,
                                             features=features, id_column=ids,
                                             source=f"file {upload.name}")), None
    data = run(lambda: prepare(frame, treatment, outcome, treated, control, revenue=money,
                               features=features, id_column=ids, source=f"file {upload.name}"))
    return key, data, None


def show_ab(ab: ABResult, data: ExperimentData) -> None:
    binary = data.outcome_kind == "binary"
    for warning in ab.warnings:
        st.warning(warning, icon=":material/warning:")
    arms = pd.DataFrame([a.as_json() for a in ab.arms]).dropna(axis=1, how="all")
    st.dataframe(arms, hide_index=True)
    st.dataframe(lift_table(ab.lifts, binary), hide_index=True)
    revenue = next((x for x in ab.lifts if x.metric == "revenue per user"), None)
    if revenue is not None:
        per_arm = " · ".join(f"{a.label}: {a.revenue_per_user:,.2f}" for a in ab.arms
                             if a.revenue_per_user is not None)
        st.caption(escape_markdown(f"Revenue per user — {per_arm}."))
    if ab.cuped and st.toggle(f"CUPED: adjust for {data.covariate} (less noise, same effect)"):
        st.dataframe(lift_table(ab.cuped, binary), hide_index=True)
        st.caption(" ".join(x.note for x in ab.cuped))
    st.caption(ab.sample_ratio.sentence())
    with st.expander("Balance of pre-period features (standardised mean differences)"):
        st.dataframe(ab.balance.table, hide_index=True)


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
    st.dataframe(table, hide_index=True)


def uplift_section(result: UpliftResult, data: ExperimentData) -> None:
    if result.check is not None:
        (st.success if result.check.better_than_random else st.warning)(
            result.verdict, icon=":material/target:")
    st.dataframe(result.table, hide_index=True)
    fig = px.line(result.curves, x="fraction", y="qini", color="model",
                  title=f"Qini curve (held-out users) — best: {result.best}",
                  labels={"fraction": "share of users targeted, highest predicted uplift first",
                          "qini": "incremental outcomes per user"})
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
    for col, title, value, money in ((cols[0], f"Top {share:.0%}", plan.top, plan.revenue_top),
                                     (cols[1], "Everyone", plan.everyone, plan.revenue_everyone),
                                     (cols[2], f"Random {share:.0%}", plan.random, plan.revenue_random)):
        col.metric(f"{title}: incremental {data.outcome_name}", f"{value:+,.1f}",
                   None if money is None else f"{money:+,.0f} revenue", delta_color="off")
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
        st.markdown("**Revenue per arm**")
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


mode = st.radio("Source", ["Experiment in this workspace", "Upload a results file"],
                horizontal=True, key="exp:mode")
is_file = mode.startswith("Upload")
chosen = file_mode() if is_file else workspace_mode()
if chosen is None:
    st.stop()
key, data, experiment = chosen
if isinstance(data, ArmsData):
    arms_section(key, data)
    st.stop()
st.subheader(escape_markdown(f"{data.treatment_label} vs {data.control_label}: {data.outcome_name}"))
share = st.number_input("Planned treated share (for the sample-ratio check)", 0.01, 0.99, 0.5,
                        key="exp:share", width=320)
ab = run(lambda: cached_ab(f"{key}|{share}", data, share)).ab
show_ab(ab, data)
if ab.testable and data.outcome_kind == "binary":
    power_calculator(ab)
segments_section(data, experiment)

st.subheader("Uplift models: whom does the treatment move?")
results = st.session_state.setdefault("exp:results", {})
if not ab.testable:
    st.info("No uplift models: " + ab.primary.note.removeprefix("No p-value: "))
elif st.button("Fit uplift models", type="primary", key="exp:fit"):
    with st.spinner("Fitting T-, S-, X-learner and class-transformation models…"):
        report = run(lambda: analyse(data, expected_share=share))
        if report.uplift is not None:
            run(lambda: save_scores(ws, data, report.uplift))  # type: ignore[arg-type]
        results[key] = report
if key in results:
    found = results[key]
    if found.uplift is None:
        st.info(found.uplift_note)
    else:
        uplift_section(found.uplift, data)
