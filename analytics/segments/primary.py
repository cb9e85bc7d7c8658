"""The workspace's *primary* segmentation: the run every other page uses unless told otherwise.

Before this, each consumer took "the latest run", so saving a map selection silently changed the
segments Journeys, Experiments and Recommendations broke down by. Now the primary run is a
choice stored in ``meta`` (key ``primary_segment_run``); with no choice (or a deleted run) it is
the latest clustering or rules run — never a hand-picked map selection, which is its own kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from analytics.errors import NotFoundError
from analytics.workspace import Workspace

META_KEY = "primary_segment_run"
SELECTION = "selection"
METHOD_KINDS = {"kmeans": "K-Means clustering", "gmm": "Gaussian mixture clustering",
                "hierarchical": "Hierarchical clustering", "hdbscan": "HDBSCAN clustering",
                "rules": "Rules", SELECTION: "Map selection"}

_RUNS_SQL = """
SELECT run_id, name, method, created_at FROM segment_runs
ORDER BY (method = 'selection'), created_at DESC, run_id"""
_CHOSEN_SQL = "SELECT value FROM meta WHERE key = ?"
_SET_SQL = "INSERT OR REPLACE INTO meta VALUES (?, ?)"
_CLEAR_SQL = "DELETE FROM meta WHERE key = ?"


@dataclass(frozen=True)
class RunChoice:
    """One run as a picker offers it."""

    run_id: str
    name: str
    method: str
    created_at: datetime
    primary: bool = False

    @property
    def kind(self) -> str:
        return METHOD_KINDS.get(self.method, self.method)

    @property
    def label(self) -> str:
        star = " — primary" if self.primary else ""
        return f"{self.name} · {self.kind} · {self.created_at:%Y-%m-%d %H:%M}{star}"


def _runs(cur: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, datetime]]:
    return [tuple(r) for r in cur.execute(_RUNS_SQL).fetchall()]  # type: ignore[misc]


def primary_run_id_of(cur: duckdb.DuckDBPyConnection) -> str | None:
    """The primary run's id on an open cursor (None when there is no segmentation run)."""
    runs = _runs(cur)
    chosen = cur.execute(_CHOSEN_SQL, [META_KEY]).fetchall()
    if chosen and any(r[0] == chosen[0][0] for r in runs):
        return str(chosen[0][0])
    defaults = [r for r in runs if r[2] != SELECTION]
    return defaults[0][0] if defaults else None


def primary_run_id(ws: Workspace) -> str | None:
    """The primary run's id: the one chosen on the Segments page, else the latest non-selection."""
    with ws.cursor() as cur:
        return primary_run_id_of(cur)


def set_primary(ws: Workspace, run_id: str | None) -> None:
    """Make ``run_id`` the primary segmentation (None: back to the default, the latest run)."""
    with ws.transaction() as cur:
        if run_id is None:
            cur.execute(_CLEAR_SQL, [META_KEY])
            return
        if not any(r[0] == run_id for r in _runs(cur)):
            raise NotFoundError(f"No segmentation run {run_id!r} to make primary.",
                                hint="Pick one of the runs listed on the Segments page "
                                "(`shopper-lens segment-runs` lists them).")
        cur.execute(_SET_SQL, [META_KEY, run_id])


def run_choices(ws: Workspace) -> list[RunChoice]:
    """Every run, the primary first, then clustering/rules runs newest first, then selections."""
    with ws.cursor() as cur:
        runs = _runs(cur)
        primary = primary_run_id_of(cur)
    choices = [RunChoice(r[0], r[1], r[2], r[3], r[0] == primary) for r in runs]
    return sorted(choices, key=lambda c: not c.primary)


def resolve_run_id_of(cur: duckdb.DuckDBPyConnection, run_id: str | None) -> str | None:
    """``run_id`` checked to exist, or the primary run when None."""
    if run_id is None:
        return primary_run_id_of(cur)
    if not any(r[0] == run_id for r in _runs(cur)):
        raise NotFoundError(f"No segmentation run {run_id!r}.",
                            hint="Use a run id from `shopper-lens segment-runs`, or leave "
                            "--segment-run out to use the primary segmentation.")
    return run_id


def resolve_run_id(ws: Workspace, run_id: str | None) -> str | None:
    """``run_id`` checked to exist, or the primary run when None (None: no runs at all)."""
    with ws.cursor() as cur:
        return resolve_run_id_of(cur, run_id)


def run_name_of(cur: duckdb.DuckDBPyConnection, run_id: str) -> str:
    rows = cur.execute("SELECT name FROM segment_runs WHERE run_id = ?", [run_id]).fetchall()
    return str(rows[0][0]) if rows else run_id
