"""Read-side views of a recorded run: heatmap, stability, map data and selection summaries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analytics.errors import ConfigError
from analytics.profiles import load_profiles
from analytics.segments import heatmaps, matrix
from analytics.segments.clustering import METHODS, Clusterer
from analytics.segments.describe import zscores
from analytics.segments.features import DEFAULT_SCALING
from analytics.segments.labels import relabel
from analytics.segments.runs import feature_columns, get_run, load_model, members
from analytics.segments.stability import Stability, bootstrap_stability
from analytics.workspace import Workspace

#: Shown when hovering a shopper on the map.
HOVER_FEATURES = ("frequency", "monetary", "days_since_last_event", "top_category", "main_device")


def scaled_matrix(ws: Workspace, features: Sequence[str],
                  scaling: str = DEFAULT_SCALING) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(user ids, scaled features) of every profiled shopper, as clustering sees them."""
    found = matrix.encoded(ws, None, list(features), scaling)  # kept for re-runs and re-maps
    return found.users, found.X


def heatmap(ws: Workspace, run_id: str) -> pd.DataFrame:
    """Segment name x feature table of mean z-scores (the run's own scaled features).

    Read from what the run stored when it was recorded; computed from every profile only when
    that is missing or built from older data (and then stored for the next open).
    """
    names = {s.segment_id: s.name for s in get_run(ws, run_id).segments}
    found = heatmaps.load(ws, run_id, names)
    if found is not None:
        return found
    return _computed_heatmap(ws, run_id, names)


def _computed_heatmap(ws: Workspace, run_id: str, segment_names: dict[int, str]) -> pd.DataFrame:
    fitted = load_model(ws, run_id)
    profiles = load_profiles(ws)
    labels = members(ws, run_id).set_index("user_id")
    inside = profiles["user_id"].isin(labels.index).to_numpy()
    X = fitted["pipeline"].transform(profiles)
    readable = fitted.get("category_labels", {})
    columns = [relabel(c, readable) for c in feature_columns(fitted, X)]
    names = labels["segment_name"].reindex(profiles["user_id"][inside]).to_numpy()
    if "model" not in fitted and "rules" not in fitted:  # a selection: compare with everyone else
        names = np.where(inside, names[0] if len(names) else "", "Everyone else")
        return zscores(X, names, columns)
    ids = labels["segment_id"].reindex(profiles["user_id"][inside]).to_numpy()
    by_id = zscores(X[inside], ids, columns)
    heatmaps.save(ws, run_id, by_id)
    found = heatmaps.named(by_id, segment_names)
    return zscores(X[inside], names, columns) if found is None else found


def stability(ws: Workspace, run_id: str, resamples: int = 8,
              progress: Callable[[float, str], None] | None = None) -> Stability:
    """Bootstrap agreement of a clustering run (refit on 80% samples, compare with the run)."""
    run = get_run(ws, run_id)
    fitted = load_model(ws, run_id)
    model: Clusterer | None = fitted.get("model")
    if model is None:
        raise ConfigError(f"{run.name} is not a clustering run: rules and selections do not "
                          "depend on a sample, so there is no stability to measure.",
                          hint="Pick a K-Means, mixture, hierarchical or HDBSCAN run.",
                          title="No stability for this run")
    params = model.get_params()
    if params.get("method", "kmeans") not in METHODS:  # e.g. bisecting k-means, fitted on Spark
        raise ConfigError(f"{run.name} was fitted with {params['method'].replace('_', ' ')}, which "
                          "has no refit on this machine.",
                          hint="Its stability was measured on Spark while it ran (the run's quality "
                               "figures); or segment with K-Means or a mixture to check it here.",
                          title="No stability check for this run")
    X = fitted["pipeline"].transform(load_profiles(ws))
    return bootstrap_stability(X, lambda: Clusterer(**params), model.predict(X), resamples,
                               random_state=int(params["random_state"]), progress=progress)


_MAP_FRAME = """
SELECT m.user_id, m.x, m.y, {hover}coalesce(s.segment_name, $missing) AS segment_name
FROM mapped m LEFT JOIN profiles p ON p.user_id = m.user_id
LEFT JOIN segment_members s ON s.run_id = $run_id AND s.user_id = m.user_id
ORDER BY m.i"""


def map_frame(ws: Workspace, run_id: str | None, user_ids: np.ndarray[Any, Any],
              xy: np.ndarray[Any, Any]) -> pd.DataFrame:
    """x, y, user_id, segment and hover features for each mapped shopper (in the given order).

    One join in DuckDB of just the mapped shoppers: reading every profile's hover columns and
    every member of the run into pandas to merge 20,000 of them cost the map ~0.5 s per draw
    at 240,000 shoppers (and the map is drawn again on every selection).
    """
    mapped = pd.DataFrame({"i": np.arange(len(user_ids)), "user_id": user_ids,
                           "x": xy[:, 0], "y": xy[:, 1]})
    known = set(matrix.table_columns(ws))
    hover = "".join(f"p.{matrix.quote(f)}, " for f in HOVER_FEATURES if f in known)
    missing = "Not in this run" if run_id else "All shoppers"
    with ws.cursor() as cur:
        cur.register("mapped", mapped)
        try:  # hover names are fixed and checked against the catalogue
            return cur.execute(_MAP_FRAME.format(hover=hover),  # noqa: S608
                               {"run_id": run_id or "", "missing": missing}).df()
        finally:
            cur.unregister("mapped")
