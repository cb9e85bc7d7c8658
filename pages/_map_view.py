"""The Segments page's Map tab: a PCA map at once, UMAP computed in the background and swapped
in, lasso or box selection, and saving the selection as a segment."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.express as px
import streamlit as st

from analytics.embedding import FIT_SAMPLE, METRICS, PROJECTIONS, embed
from analytics.export import to_csv_bytes
from analytics.jobs import FOREGROUND
from analytics.profiles import load_profiles, numeric_columns
from analytics.segments import (
    DEFAULT_FEATURES,
    SegmentRun,
    compare_selection,
    export_frame,
    save_selection,
)
from analytics.segments.views import HOVER_FEATURES, map_frame, scaled_matrix
from pages._jobs import background, forget, progress
from pages._shared import data_changed, escape_markdown, run, user_errors, workspace

MAP_KEY = "segment_map"

MapPoints = tuple[Any, Any, str]
MAX_MAPS = 6
# 20,000 points by default (50,000 took seconds to draw and to pan in the browser)
POINT_CHOICES = (5_000, 20_000, 50_000)
MAP_POINTS = 20_000


@st.cache_resource(ttl=600, max_entries=4, show_spinner="Reading the scaled profile features…")
def cached_matrix(path: str, as_of: str, features: tuple[str, ...], scaling: str) -> tuple[Any, Any]:
    """Read once per data and features: a parameter change only re-projects (never mutated)."""
    return scaled_matrix(workspace(), features, scaling)


@st.cache_data(ttl=600, max_entries=6, show_spinner=False)
def cached_embedding(path: str, as_of: str, features: tuple[str, ...], scaling: str, method: str,
                     n_neighbors: int, min_dist: float, metric: str,
                     max_points: int = MAP_POINTS) -> MapPoints:
    """Keyed by data, features and projection only: re-clustering never re-draws the map."""
    users, X = cached_matrix(path, as_of, features, scaling)
    result = embed(X, method, n_neighbors, min_dist, metric, max_points=max_points)
    return users[result.rows], result.xy, result.note


@st.cache_resource(show_spinner=False)
def _umap_maps() -> dict[str, MapPoints]:
    """Finished UMAP maps by key (the newest MAX_MAPS; shared by sessions, values never mutated)."""
    return {}


def umap_points(args: tuple[Any, ...], max_points: int = MAP_POINTS) -> MapPoints:
    """The UMAP map if it is ready; otherwise start it in the background and return a PCA map
    (drawn in a moment) with the job's progress under it. The page reruns when UMAP is done."""
    key = "map|" + repr((*args, max_points))
    maps = _umap_maps()
    if key in maps:
        return maps[key]
    users, X = cached_matrix(*args[:4])
    n_neighbors, min_dist, metric = args[5:]

    def compute(say: Any) -> MapPoints:
        # Not waiting for the warm-up: it may still be waiting for the pages to go quiet. A
        # kernel it is compiling right now is compiled once (numba's compiler lock) and shared.
        say(0.2, f"Fitting UMAP on up to {FIT_SAMPLE:,} shoppers and placing the rest")
        with FOREGROUND.running():  # the user is looking at it: background counts pause
            result = embed(X, "umap", n_neighbors, min_dist, metric, max_points=max_points)
        return users[result.rows], result.xy, result.note

    job = background(key, "Computing the UMAP map", compute, priority=True)
    if job.done:
        forget(key)
        if job.error is not None:
            with user_errors():
                raise job.error
        while len(maps) >= MAX_MAPS:
            maps.pop(next(iter(maps)))
        maps[key] = job.result
        return job.result
    pca_users, xy, note = cached_embedding(*args[:4], "pca", 15, 0.1, "euclidean", max_points)
    progress(key)
    return pca_users, xy, ("PCA map shown while the UMAP map is computed; it replaces this one "
                           f"when ready. {note}")


@st.fragment
def shopper_map(result: SegmentRun) -> None:
    ws = workspace()
    c = st.columns(5)
    method = c[0].selectbox("Projection", list(PROJECTIONS), format_func=lambda p: p.upper(),
                            key="map_projection",
                            help="\n".join(f"{k}: {v}" for k, v in PROJECTIONS.items()))
    neighbours = c[1].slider("n_neighbors", 2, 100, 15, disabled=method != "umap")
    min_dist = c[2].slider("min_dist", 0.0, 1.0, 0.1, disabled=method != "umap")
    metric = c[3].selectbox("Metric", METRICS, disabled=method == "pca")
    shown = c[4].selectbox("Shoppers shown", POINT_CHOICES, index=POINT_CHOICES.index(MAP_POINTS),
                           format_func="{:,}".format, key="map_points",
                           help="A random sample of this many shoppers is drawn (more is slower "
                           "to draw and to move around); the map says how many there are.")
    features = tuple(f for f in result.features) or DEFAULT_FEATURES
    args = (str(ws.path), str(result.as_of), features, str(result.params.get("scaling", "log1p")),
            method, neighbours, min_dist, metric)
    if method == "umap":
        users, xy, note = run(lambda: umap_points(args, shown))
    else:
        with st.spinner(f"Drawing the {method.upper()} map…"):
            users, xy, note = run(lambda: cached_embedding(*args, shown))
    frame = run(lambda: map_frame(ws, result.run_id, np.asarray(users), np.asarray(xy)))
    st.caption(note)
    hover = {"user_id": True, **{f: _hover_format(frame, f) for f in HOVER_FEATURES if f in frame},
             "x": False, "y": False}
    fig = px.scatter(frame, x="x", y="y", color="segment_name", custom_data=["user_id"], hover_data=hover,
                     render_mode="webgl", height=620, labels={"segment_name": "segment"},
                     color_discrete_sequence=px.colors.qualitative.Bold)
    fig.update_traces(marker={"size": 4, "opacity": 0.7})
    fig.update_layout(dragmode="lasso", legend={"itemsizing": "constant"})
    event = st.plotly_chart(fig, on_select="rerun", selection_mode=("lasso", "box"), key=MAP_KEY,
                            width="stretch")
    points = event.selection.points if event and event.selection else []
    chosen = sorted({_user_of(p) for p in points} - {None})
    if not chosen:
        st.info("Draw a lasso (or box) around shoppers to see how they differ and save them as a "
                "segment.", icon=":material/gesture_select:")
        return
    _selection(result, chosen)


def _hover_format(frame: Any, column: str) -> str | bool:
    """Money and other fractional values with two decimals (not 2029.8000000000002)."""
    return ":,.2f" if frame[column].dtype.kind == "f" else True


def _user_of(point: dict[str, Any]) -> str | None:
    data = point.get("customdata")
    value = data[0] if isinstance(data, list | tuple) and data else data
    return None if value is None else str(value)


def _selection(result: SegmentRun, chosen: list[str]) -> None:
    ws = workspace()
    st.success(f"{len(chosen):,} shoppers selected.", icon=":material/select_all:")
    profiles = load_profiles(ws)
    diff = compare_selection(profiles, chosen, numeric_columns(profiles))
    st.dataframe(diff.head(12), hide_index=True, width="stretch",
                 column_config={"difference (sd)": st.column_config.NumberColumn(format="%+.2f")})
    name = st.text_input("Name for this selection", value="Selected shoppers", key="selection_name")
    if st.button("Save selection as a segment", icon=":material/bookmark_add:"):
        saved = run(lambda: save_selection(ws, chosen, name, result.run_id))
        data_changed()
        st.session_state["saved_selection"] = saved.run_id
        st.toast(f"Saved '{escape_markdown(saved.name)}' with {saved.segments[0].size:,} shoppers.")
    saved_id = st.session_state.get("saved_selection")
    if saved_id:
        frame = run(lambda: export_frame(ws, saved_id))
        st.download_button(f"Download saved selection ({len(frame):,} rows, CSV)", to_csv_bytes(frame),
                           "selection.csv", "text/csv", icon=":material/download:", key="download_selection")
