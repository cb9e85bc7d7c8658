"""Which data each derived result was built from, so a page can say when a result is stale.

The *data version* is :func:`analytics.versions.data_version`: loading or deleting a file, or
forgetting a shopper, changes it; nothing else does. Every writer of a derived result (profiles, segmentation
runs, recommender evaluations, uplift runs) records the version it read in ``result_versions``;
a result whose recorded version differs from the current one is stale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import duckdb

from analytics import versions
from analytics.workspace import Workspace

PROFILES = "profiles"
SEGMENT_RUN = "segment_run"
RECOMMEND_EVALUATION = "recommend_evaluation"
UPLIFT_RUN = "uplift_run"
PREDICTIONS = "predictions"  # the lifetime-value fit and its per-shopper values
KINDS = (PROFILES, SEGMENT_RUN, RECOMMEND_EVALUATION, UPLIFT_RUN, PREDICTIONS)
# What each kind is called on screen, and its verb ("are" / "is").
WHAT = {PROFILES: ("The shopper profiles", "are"), SEGMENT_RUN: ("This segmentation", "is"),
        RECOMMEND_EVALUATION: ("This evaluation", "is"), UPLIFT_RUN: ("These uplift scores", "are"),
        PREDICTIONS: ("The lifetime-value predictions", "are")}

_RECORD_SQL = "INSERT OR REPLACE INTO result_versions VALUES (?, ?, ?, ?, ?)"
_GET_SQL = ("SELECT data_version, built_at, datasets FROM result_versions "
            "WHERE kind = ? AND result_id = ?")
_COUNT_SQL = "SELECT count(*) FROM datasets"
_PROFILES_EXIST_SQL = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'profiles'"


def data_version_of(cur: duckdb.DuckDBPyConnection) -> str:
    """The current data version on an open cursor (one definition: :mod:`analytics.versions`)."""
    return versions.data_version_of(cur)


def data_version(ws: Workspace) -> str:
    """The current data version (changes whenever a dataset is loaded or deleted)."""
    with ws.cursor() as cur:
        return data_version_of(cur)


def record(cur: duckdb.DuckDBPyConnection, kind: str, result_id: str = "",
           based_on_profiles: bool = False) -> None:
    """Note that result ``kind``/``result_id`` was just built from the data now loaded.

    Call it inside the transaction that writes the result, so the two commit together. A
    result computed from the stored profiles (a segmentation) inherits their version: built on
    stale profiles, it is stale too.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown result kind {kind!r}")
    version: str = data_version_of(cur)
    datasets: int | None = int(cur.execute(_COUNT_SQL).fetchall()[0][0])
    if based_on_profiles:
        rows = cur.execute(_GET_SQL, [PROFILES, ""]).fetchall()
        version, datasets = (rows[0][0], rows[0][2]) if rows else ("unknown", None)
    cur.execute(_RECORD_SQL, [kind, result_id, version, datetime.now(), datasets])


@dataclass(frozen=True)
class Freshness:
    """Whether a result was built from the data now loaded.

    ``known`` is False for results built before versions were recorded (or from profiles that
    were); they are reported as stale, since nothing shows they are current.
    """

    kind: str
    result_id: str
    built_version: str | None
    current_version: str
    built_at: datetime | None
    datasets_then: int | None
    datasets_now: int

    missing: bool = False

    @property
    def known(self) -> bool:
        return self.built_version not in (None, "unknown")

    @property
    def stale(self) -> bool:
        return self.built_version != self.current_version

    @property
    def message(self) -> str:
        """One sentence for the page (empty when the result is current)."""
        if not self.stale:
            return ""
        what, verb = WHAT.get(self.kind, ("This result", "is"))
        pronoun = "they were" if verb == "are" else "it was"
        if self.missing:
            return f"{what} {'have' if verb == 'are' else 'has'} not been built yet."
        if not self.known:
            return (f"{what} may be out of date: {pronoun} built before Shopper Lens recorded which "
                    "data a result comes from. Rebuild to be sure of the data now loaded.")
        when = f" on {self.built_at:%Y-%m-%d %H:%M}" if self.built_at else ""
        then = f" from {self.datasets_then:,} dataset(s)" if self.datasets_then is not None else ""
        return (f"{what} {verb} out of date: {pronoun} built{when}{then}; the data has changed "
                f"since ({self.datasets_now:,} dataset(s) loaded now).")

    def as_json(self) -> dict[str, object]:
        return {"kind": self.kind, "result_id": self.result_id, "stale": self.stale,
                "built_version": self.built_version, "current_version": self.current_version,
                "built_at": str(self.built_at) if self.built_at else None, "missing": self.missing}


def freshness(ws: Workspace, kind: str, result_id: str = "") -> Freshness:
    """How result ``kind``/``result_id`` compares with the data now loaded."""
    with ws.cursor() as cur:
        rows = cur.execute(_GET_SQL, [kind, result_id]).fetchall()
        current = data_version_of(cur)
        now = int(cur.execute(_COUNT_SQL).fetchall()[0][0])
        missing = kind == PROFILES and not cur.execute(_PROFILES_EXIST_SQL).fetchall()[0][0]
    version, built_at, then = rows[0] if rows else (None, None, None)
    return Freshness(kind, result_id, version, current, built_at, then, now, missing)


def forget(cur: duckdb.DuckDBPyConnection, kind: str, result_id: str) -> None:
    """Drop the record of a deleted result."""
    cur.execute("DELETE FROM result_versions WHERE kind = ? AND result_id = ?", [kind, result_id])


Progress = Callable[[float, str], None]


def rebuild(ws: Workspace, run_id: str | None = None, progress: Progress | None = None) -> list[str]:
    """The one-click rebuild: profiles in full when stale, then ``run_id`` re-applied to them.

    A full build (not the incremental refresh) because data loaded on the Data page did not
    say which shoppers it touched. The segmentation is re-scored with its saved model, not
    refitted, so segment ids and names stay. Returns what was done, one sentence each.
    """
    from analytics.profiles import build_profiles  # these modules record versions themselves
    from analytics.refresh import refresh

    say = progress or (lambda fraction, text: None)
    done = []
    if freshness(ws, PROFILES).stale:
        say(0.05, "Rebuilding shopper profiles")
        summary = build_profiles(ws)
        done.append(f"Rebuilt {summary.users:,} shopper profiles.")
    if run_id is not None and _method(ws, run_id) == "selection":
        done.append("A map selection has no rule or model to re-apply: select the shoppers again "
                    "on the map of a rebuilt segmentation.")
    elif run_id is not None and freshness(ws, SEGMENT_RUN, run_id).stale:
        say(0.6, "Re-applying the segmentation to the new profiles")
        report = refresh(ws, (), run_id)
        moved = sum(report.moved.values())
        done.append(f"Re-applied {report.run_name}: {moved:,} shopper(s) changed segment.")
    say(1.0, "Done")
    return done


def _method(ws: Workspace, run_id: str) -> str | None:
    with ws.cursor() as cur:
        rows = cur.execute("SELECT method FROM segment_runs WHERE run_id = ?", [run_id]).fetchall()
    return str(rows[0][0]) if rows else None
