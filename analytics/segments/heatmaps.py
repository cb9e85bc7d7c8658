"""The segment x feature heatmap of a run, stored when the run is recorded.

Computing it on a page open meant reading and re-encoding every profile (8 s of the Segments
page's first open at 240,000 shoppers). The run already has the scaled matrix and the labels in
hand, so it stores the table by segment id (``stored_results``, under the data version); the
page renames the rows with the run's current names, so a rename never invalidates it.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pandas as pd

from analytics import stored
from analytics.versions import data_version, data_version_of
from analytics.workspace import Workspace

KIND = "segments.heatmap"


def save(ws: Workspace, run_id: str, by_id: pd.DataFrame) -> None:
    """Keep ``by_id`` (segment id x feature mean z-scores) for run ``run_id`` and today's data."""
    stored.save(ws, KIND, {"run_id": run_id}, data_version(ws), by_id)


def save_on(cur: duckdb.DuckDBPyConnection, run_id: str, by_id: pd.DataFrame) -> None:
    """:func:`save` inside the transaction that records the run (both land or neither)."""
    stored.save_on(cur, KIND, {"run_id": run_id}, data_version_of(cur), by_id)


def load(ws: Workspace, run_id: str, names: Mapping[int, str]) -> pd.DataFrame | None:
    """The stored heatmap with rows named by ``names`` (segment id -> current name), sorted by
    name as a fresh computation would be; None when not stored, built from older data, or when
    two segments share a name (their rows would have to be pooled, so it is recomputed)."""
    by_id = stored.load(ws, KIND, {"run_id": run_id}, data_version(ws))
    return None if by_id is None else named(by_id, names)


def named(by_id: pd.DataFrame, names: Mapping[int, str]) -> pd.DataFrame | None:
    """``by_id`` with rows named and sorted by name (None: an unnamed id or a shared name)."""
    if set(by_id.index) - set(names):
        return None
    labels = [names[int(i)] for i in by_id.index]
    if len(set(labels)) != len(labels):
        return None
    named = by_id.copy()
    named.index = pd.Index(labels, dtype=object)
    return named.sort_index()


def forget(cur: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Drop a deleted run's heatmap (inside the deleting transaction)."""
    cur.execute("DELETE FROM stored_results WHERE kind = ? AND settings_key = ?",
                [KIND, stored.settings_key({"run_id": run_id})])
