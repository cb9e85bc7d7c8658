"""Renderers of the Segments page: the run form, segment profiles, stability and export (the
map is in pages/_map_view.py)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from analytics.export import to_csv_bytes, to_parquet_bytes
from analytics.labels import column_labels, feature_label
from analytics.segments import (
    DEFAULT_FEATURES,
    METHODS,
    PRESETS,
    SCALINGS,
    SegmentRun,
    SegmentSpec,
    definition,
    export_frame,
    numeric_features,
    rename_segment,
    run_segmentation,
)
from analytics.segments.autok import DEFAULT_KS
from analytics.segments.features import CATEGORY_SHARES
from analytics.segments.views import heatmap, stability
from analytics.versions import model_inputs_version
from pages._shared import data_changed, escape_markdown, run, workspace

METHOD_LABELS = {"kmeans": "K-Means", "gmm": "Gaussian mixture", "hierarchical": "Hierarchical (Ward)",
                 "hdbscan": "HDBSCAN", "rules": "Rules"}


@st.cache_data(ttl=600, max_entries=8, show_spinner="Comparing the segments' features…")
def cached_heatmap(path: str, run_id: str, version: str, names: tuple[str, ...]) -> pd.DataFrame:
    """Per run, data version and segment names (a rename redraws it): not on every open."""
    return heatmap(workspace(), run_id)


def spec_form() -> SegmentSpec | None:
    """The inputs of a new run; returns a spec when the user presses Run."""
    method = st.segmented_control("Method", list(METHOD_LABELS), default="kmeans",
                                  format_func=METHOD_LABELS.__getitem__, key="seg_method") or "kmeans"
    st.caption(METHODS.get(method, "Named conditions on profile features; first match wins."))
    if method == "rules":
        return _rules_form()
    features = st.multiselect("Features", numeric_features(), default=list(DEFAULT_FEATURES),
                              format_func=feature_label,
                              help="Category shares expand into one share per top category.")
    c1, c2, c3 = st.columns(3)
    scaling = c1.selectbox("Scaling", list(SCALINGS), format_func=lambda s: f"{s} — {SCALINGS[s]}")
    pca = c2.number_input("PCA components (0 = off)", 0, 20, 0)
    name = c3.text_input("Run name (optional)")
    k: int | None = None
    ks = DEFAULT_KS
    k_broad = min_size = None
    if method == "hdbscan":
        min_size = st.number_input("Minimum cluster size", 5, 100_000, 30)
    elif st.toggle("Choose k automatically", value=True,
                   help="Best silhouette among stable k with no segment under 1% or over 80%."):
        low, high = st.slider("Search k between", 2, 20, (DEFAULT_KS[0], DEFAULT_KS[-1]))
        ks = tuple(range(low, high + 1))
    else:
        k = st.slider("Number of segments (k)", 2, 20, 6)
    if method == "hierarchical":
        k_broad = st.slider("Broad segments (upper level)", 2, 10, 3)
    if st.button("Run segmentation", type="primary", icon=":material/play_arrow:"):
        return SegmentSpec(method=method, k=k, ks=ks, features=tuple(features), scaling=scaling,
                           pca_components=int(pca) or None, k_broad=k_broad,
                           min_cluster_size=int(min_size) if min_size else None, name=name or None)
    return None


def sweep_chart(sweep: dict[str, Any]) -> go.Figure:
    """One small panel per criterion over k (no twin axes), rejected k marked, chosen k dashed."""
    rows = pd.DataFrame(sweep["rows"])
    panels = [("silhouette", "Silhouette ↑"), ("stability", "Stability (bootstrap ARI) ↑"),
              ("min_share", "Smallest segment share"), ("max_share", "Largest segment share"),
              ("davies_bouldin", "Davies-Bouldin ↓")]
    if "bic" in rows and rows["bic"].notna().any():
        panels.append(("bic", "BIC ↓"))
    panels = [(c, t) for c, t in panels if c in rows and rows[c].notna().any()]
    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        subplot_titles=[t for _, t in panels])
    bad = rows["rejected"].notna() if "rejected" in rows else pd.Series(False, index=rows.index)
    for i, (column, title) in enumerate(panels, start=1):
        fig.add_scatter(x=rows["k"], y=rows[column], mode="lines+markers", name=title, row=i, col=1,
                        marker={"symbol": np.where(bad, "x", "circle"), "size": 8},
                        hovertext=rows.get("rejected"), showlegend=False)
    _reference_lines(fig, sweep, [c for c, _ in panels])
    fig.add_vline(sweep["best_k"], line_dash="dash", line_color="green")
    fig.update_xaxes(dtick=1, title_text="k (number of segments)", row=len(panels), col=1)
    fig.update_layout(height=150 * len(panels) + 90, margin={"t": 90, "b": 40},
                      title=f"Why k = {sweep['best_k']} (✕ = rejected: a segment under 1% or over 80%)")
    return fig


def _reference_lines(fig: go.Figure, sweep: dict[str, Any], columns: list[str]) -> None:
    lines = {"min_share": (0.01, "1% floor"), "max_share": (0.8, "80% ceiling"),
             "stability": (0.8, "stable")}
    if sweep.get("null_silhouette") is not None:
        lines["silhouette"] = (sweep["null_silhouette"], "shuffled data")
    for row, column in enumerate(columns, start=1):
        if column in lines:
            value, text = lines[column]
            fig.add_hline(value, line_dash="dot", line_color="grey", annotation_text=text,
                          annotation_position="top left", row=row, col=1)


def _rules_form() -> SegmentSpec | None:
    preset = st.selectbox("Start from", list(PRESETS), format_func=lambda p: PRESETS[p]["name"])
    uploaded = st.file_uploader("…or upload a rule file (JSON)", type=["json"], key="rule_file")
    text = (uploaded.getvalue().decode("utf-8", "replace") if uploaded
            else json.dumps(PRESETS[preset], indent=2))
    edited = st.text_area("Rules (JSON)", text, height=260, key=f"rules_{preset}_{uploaded is not None}")
    if st.button("Run rules", type="primary", icon=":material/play_arrow:"):
        return SegmentSpec(method="rules", rules=edited)
    return None


def execute(spec: SegmentSpec) -> SegmentRun:
    with st.status("Segmenting shoppers…", expanded=True) as status:
        bar = st.progress(0.0)
        result = run(lambda: run_segmentation(workspace(), spec,
                                              lambda f, text: bar.progress(min(f, 1.0), text=text)))
        status.update(label=f"{escape_markdown(result.name)}: done", state="complete", expanded=False)
    data_changed()
    return result


def overview(result: SegmentRun) -> None:
    q = result.quality
    cols = st.columns(4)
    cols[0].metric("Segments", result.k)
    for col, key, label in zip(cols[1:], ("silhouette", "davies_bouldin", "calinski_harabasz"),
                               ("Silhouette ↑", "Davies-Bouldin ↓", "Calinski-Harabasz ↑"), strict=True):
        col.metric(label, "—" if q.get(key) is None else f"{q[key]:,.3f}")
    for note in result.notes:
        st.caption(f":material/info: {escape_markdown(note)}")
    if q.get("silhouette_sample"):
        st.caption(f"Silhouette computed on {q['silhouette_sample']:,} shoppers.")
    if q.get("mixed_share") is not None:
        st.caption(f"{q['mixed_share']:.1%} of shoppers are *mixed*: no segment above 80% membership.")
    if q.get("structure") == "none":
        st.warning("No cluster structure in these features: the segments are arbitrary cuts. "
                   "Rules (the RFM preset) or quantile segments will be easier to explain.",
                   icon=":material/scatter_plot:")
    if q.get("sweep"):
        st.plotly_chart(sweep_chart(q["sweep"]), width="stretch")
    table = pd.DataFrame([{"id": s.segment_id, "name": s.name, "shoppers": s.size, "share": s.share,
                           "revenue share": s.revenue_share,
                           "top categories": ", ".join(c for c, _ in s.top_categories),
                           "devices": ", ".join(f"{d} {v:.0%}" for d, v in s.device_mix),
                           "stands out by": ", ".join(f"{feature_label(f)} {z:+.1f}"
                                                      for f, z in s.distinguishing[:3])}
                          for s in result.segments])
    share = st.column_config.ProgressColumn(min_value=0, max_value=1)
    edited = st.data_editor(table, hide_index=True, width="stretch",
                            disabled=[c for c in table if c != "name"],
                            column_config={"share": share, "revenue share": share},
                            key=f"names_{result.run_id}")
    changed = edited[edited["name"] != table["name"]]
    if len(changed) and st.button("Save segment names", icon=":material/save:"):
        for _, row in changed.iterrows():
            run(lambda row=row: rename_segment(workspace(), result.run_id, int(row["id"]), str(row["name"])))
        data_changed()
        st.rerun()
    names = tuple(s.name for s in result.segments)
    z = run(lambda: cached_heatmap(str(workspace().path), result.run_id,
                                   model_inputs_version(workspace()), names))
    z = z.rename(columns=feature_label)
    fig = px.imshow(z, color_continuous_scale="RdBu_r", zmin=-2, zmax=2, aspect="auto",
                    height=120 + 40 * len(z), labels={"color": "z-score"})
    st.plotly_chart(fig, width="stretch")
    st.caption("Each cell: how far the segment's average sits from everyone's, in standard deviations.")


def stability_tab(result: SegmentRun) -> None:
    if result.method in ("rules", "selection"):
        st.info("Rules and hand-picked selections do not depend on a sample: there is no "
                "stability to measure.", icon=":material/info:")
        return
    resamples = st.slider("Resamples", 3, 30, 8)
    if not st.button("Check stability", icon=":material/balance:"):
        return
    with st.status("Refitting on resamples…") as status:
        bar = st.progress(0.0)
        found = run(lambda: stability(workspace(), result.run_id, resamples,
                                      lambda f, t: bar.progress(min(f, 1.0), text=t)))
        status.update(label="Done", state="complete")
    verdict = {"stable": st.success, "moderate": st.warning, "unstable": st.error}[found.verdict]
    verdict(f"**{found.verdict.capitalize()}** — mean agreement (adjusted Rand) {found.mean:.2f}, "
            f"lowest {found.low:.2f} over {found.resamples} refits on {found.fraction:.0%} samples. "
            f"{found.guidance}")
    st.bar_chart(pd.Series(found.scores, name="adjusted Rand index"), height=200)


def export_panel(result: SegmentRun) -> None:
    ws = workspace()
    profiles_columns = [f for f in numeric_features() if f != CATEGORY_SHARES]
    names = {s.segment_id: f"{s.name} ({s.size:,})" for s in result.segments}
    picked = st.multiselect("Segments to export", list(names), default=list(names),
                            format_func=names.__getitem__, key=f"export_segments_{result.run_id}",
                            help="One segment, a chosen few or the whole run.")
    chosen = st.multiselect("Features to include", profiles_columns, format_func=feature_label,
                            default=[f for f in result.features if f in profiles_columns])
    if not picked:
        st.info("Pick at least one segment to export.", icon=":material/info:")
        return
    whole = len(picked) == len(names)
    frame = run(lambda: export_frame(ws, result.run_id, chosen, None if whole else picked))
    # The file keeps machine-readable column names; the preview reads in plain words.
    st.dataframe(frame.head(200).rename(columns=column_labels(frame.columns)), hide_index=True,
                 width="stretch")
    c = st.columns(3)
    stem = f"segments_{result.run_id}" if whole else f"segments_{result.run_id}_" + "-".join(map(str, picked))
    st.caption(f"{len(frame):,} shoppers in {len(picked)} of {len(names)} segment(s).")
    c[0].download_button("CSV", to_csv_bytes(frame), f"{stem}.csv", "text/csv",
                         icon=":material/download:", key="export_csv")
    c[1].download_button("Parquet", to_parquet_bytes(frame), f"{stem}.parquet",
                         "application/octet-stream", icon=":material/download:", key="export_parquet")
    c[2].download_button("Definition (JSON)", json.dumps(run(lambda: definition(ws, result.run_id)),
                                                         indent=2, default=str),
                         f"segments_{result.run_id}.json", "application/json",
                         icon=":material/data_object:", key="export_definition")
