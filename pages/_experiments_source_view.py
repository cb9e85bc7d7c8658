"""Where an experiment's data comes from on the Experiments page: an experiment in the workspace
(assignments plus outcomes from the events) or an uploaded results file; both end in the
chosen arms' data, keyed so results can be kept per choice."""

import hashlib
from pathlib import Path

import pandas as pd
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
    workspace_data,
)
from analytics.experiments.data import MAX_ARMS, default_features, infer_arms
from analytics.experiments.multiarm import (
    ArmsData,
    prepare_arms,
    workspace_arms,
)
from analytics.experiments.segments import (
    AssignmentSegments,
    segments_at_assignment,
)
from analytics.versions import data_version, model_inputs_version
from pages._counted import in_background
from pages._shared import escape_markdown, run, workspace

NONE = "(none)"
ALL_ARMS = "All arms against the control"


# Computed over all events once per data version and stored; on a large shop after new data
# they are rebuilt in the background while the page shows progress (pages/_counted.py).
def cached_workspace_data(path: str, experiment: str, treated: str, control: str,
                          window: int) -> ExperimentData | None:
    ws = workspace()
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
    ws = workspace()
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
    """An experiment of the workspace, its window and its arms (None until they are chosen)."""
    ws = workspace()
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
    """An uploaded results file, its columns and arms (None until they are chosen)."""
    ws = workspace()
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


