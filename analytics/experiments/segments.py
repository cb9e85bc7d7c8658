"""Which user -> segment labellings the per-segment breakdown can use.

In order of preference: the primary segmentation run, then every other run (``segment_members``),
the RFM segment of ``profiles``, and in file mode any categorical column of the results file.
For a workspace experiment, :func:`segments_at_assignment` gives each shopper's segment as of
their assignment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from analytics.errors import NotFoundError
from analytics.experiments.data import MAX_ARMS, ExperimentData
from analytics.profiles import profiles_as_of
from analytics.refresh import assignments
from analytics.segments.primary import run_choices
from analytics.segments.runs import SegmentRun, get_run
from analytics.workspace import Workspace

RUN_MEMBERS_SQL = "SELECT user_id, segment_name FROM segment_members WHERE run_id = ?"
RFM_SQL = "SELECT user_id, rfm_segment FROM profiles"
RFM_SOURCE = "RFM segment (profiles)"


def _table_exists(cur: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                       [name]).fetchall()
    return bool(rows[0][0])


def segment_sources(ws: Workspace | None, data: ExperimentData | None = None) -> dict[str, str]:
    """Offered breakdowns: label -> source key (``run:ID``, ``rfm`` or ``column:NAME``)."""
    sources: dict[str, str] = {}
    has_runs = rfm = False
    if ws is not None:
        with ws.cursor() as cur:
            if _table_exists(cur, "segment_runs"):
                has_runs = True
            if _table_exists(cur, "profiles"):
                rfm = True
        # The primary run first (it is what the marketer chose), then the other runs.
        for choice in run_choices(ws) if has_runs else []:
            sources[f"Segmentation: {choice.label}"] = f"run:{choice.run_id}"
        if rfm:
            sources[RFM_SOURCE] = "rfm"
    if data is not None:
        # Text columns first (channel, region), then 0/1 flags, then small integer codes.
        def rank(name: str) -> int:
            column = data.frame[name]
            return 0 if not pd.api.types.is_numeric_dtype(column) else \
                1 if column.nunique() == 2 else 2
        for name in sorted(data.features, key=rank):
            column = data.frame[name]
            if not pd.api.types.is_float_dtype(column) and 2 <= column.nunique() <= MAX_ARMS:
                sources[f"Column {name}"] = f"column:{name}"
    return sources


def segment_labels(ws: Workspace | None, key: str, data: ExperimentData | None = None) -> pd.Series:
    """user_id -> segment name for a source key from :func:`segment_sources`."""
    kind, _, value = key.partition(":")
    if kind == "column" and data is not None:
        return pd.Series(data.frame[value].astype(str).to_numpy(),
                         index=data.frame["user_id"].to_numpy())
    if ws is None or kind not in ("run", "rfm"):
        raise NotFoundError(f"Unknown segment source {key!r}.",
                            hint="Pick one of the offered breakdowns.")
    with ws.cursor() as cur:
        frame = (cur.execute(RUN_MEMBERS_SQL, [value]) if kind == "run" else cur.execute(RFM_SQL)).df()
    return pd.Series(frame.iloc[:, 1].astype(str).to_numpy(), index=frame["user_id"].astype(str))


# --------------------------------------------------------------------------- as of assignment

# Each assigned user's segment in the run's history at the moment they were assigned.
# Parameters: $experiment, $run_id.
HISTORY_AT_ASSIGNMENT_SQL = """
WITH assigned AS (
    SELECT user_id, min(assigned_at) AS assigned_at FROM experiments
    WHERE experiment = $experiment AND assigned_at IS NOT NULL GROUP BY user_id
)
SELECT a.user_id, a.assigned_at, h.segment_name
FROM assigned a
LEFT JOIN segment_history h
  ON h.run_id = $run_id AND h.user_id = a.user_id AND h.valid_from <= a.assigned_at
 AND (h.valid_to IS NULL OR h.valid_to > a.assigned_at)
ORDER BY a.user_id
"""
NO_PROFILE = "(no history before assignment)"
NO_SEGMENT = "(in no segment)"


@dataclass(frozen=True)
class AssignmentSegments:
    """Each assigned shopper's segment *when they were assigned*, and the rule that gave it."""

    labels: pd.Series  # user_id -> segment name
    source: str  # run:ID or rfm
    name: str  # the run's name, or the RFM label
    rule: str  # one sentence: which as-of rule was used, for how many shoppers
    counts: dict[str, int]  # shoppers per rule: history, rescored, selection

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "name": self.name, "rule": self.rule, "counts": self.counts}


def segments_at_assignment(ws: Workspace, key: str, experiment: str) -> AssignmentSegments:
    """Segments as of assignment, so the lift per segment is not judged on segments built from
    what the treatment itself caused (a "lapsed" segment of today converts 0% in both arms).

    The rule, in order: (1) the run's ``segment_history`` row valid at the shopper's
    ``assigned_at`` (a living segmentation refreshed through the experiment); (2) otherwise the
    run's saved definition (rules, or the stored scaler and model, never refitted) applied to
    profiles recomputed as of the experiment's *first* assignment, so no shopper's segment
    uses anything after any treatment began; (3) a hand-picked map selection cannot be
    re-scored, so its members are used and flagged. ``key`` is ``run:ID`` or ``rfm`` (the RFM
    segment of those recomputed profiles).
    """
    kind, _, run_id = key.partition(":")
    if kind not in ("run", "rfm"):
        raise NotFoundError(f"Segments as of assignment need a segmentation run or RFM, not {key!r}.",
                            hint="Pick a segmentation run or the RFM segment.")
    with ws.cursor() as cur:
        assigned = cur.execute(HISTORY_AT_ASSIGNMENT_SQL,
                               {"experiment": experiment, "run_id": run_id or ""}).df()
    if assigned.empty:
        raise NotFoundError(f"Experiment {experiment!r} has no assignments with a time.",
                            hint="Load an experiments file with assigned_at.")
    start = assigned["assigned_at"].min().to_pydatetime()
    if kind == "rfm":
        return _rfm_at(ws, assigned, start)
    return _run_at(ws, run_id, assigned, start)


def _rfm_at(ws: Workspace, assigned: pd.DataFrame, start: datetime) -> AssignmentSegments:
    profiles = profiles_as_of(ws, start).set_index("user_id")["rfm_segment"]
    labels = assigned["user_id"].map(profiles).fillna(NO_PROFILE)
    return AssignmentSegments(
        pd.Series(labels.to_numpy(), index=assigned["user_id"].to_numpy()), "rfm", RFM_SOURCE,
        f"RFM segment of profiles recomputed as of the first assignment ({start:%Y-%m-%d %H:%M}) "
        f"for all {len(assigned):,} shoppers.", {"rescored": len(assigned)})


def _run_at(ws: Workspace, run_id: str, assigned: pd.DataFrame,
            start: datetime) -> AssignmentSegments:
    run = get_run(ws, run_id)
    from_history = assigned["segment_name"].notna()
    labels = assigned.set_index("user_id")["segment_name"].astype(object)
    missing = assigned.loc[~from_history, "user_id"]
    counts = {"history": int(from_history.sum())}
    if len(missing) and run.method == "selection":
        with ws.cursor() as cur:
            today = cur.execute(RUN_MEMBERS_SQL, [run_id]).df().set_index("user_id")["segment_name"]
        labels[missing] = missing.map(today).fillna(NO_SEGMENT).to_numpy()
        counts["selection"] = len(missing)
        how = ("a hand-picked selection cannot be re-scored as of an earlier moment, so "
               f"{len(missing):,} shoppers keep today's membership (after the experiment: "
               "read their lift with care)")
    elif len(missing):
        then = missing.map(_rescored(ws, run, start)).astype(object)
        labels[missing] = then.fillna(NO_PROFILE).to_numpy()
        counts["rescored"] = len(missing)
        how = (f"{len(missing):,} shoppers re-scored with the run's saved definition (not "
               f"refitted) on profiles recomputed as of the first assignment ({start:%Y-%m-%d %H:%M})")
    else:
        how = ""
    parts = [f"{counts['history']:,} shoppers from the run's segment history at their assignment "
             "time"] if counts["history"] else []
    rule = f"Segments of run {run.name!r} ({run_id}) as of assignment: " + \
        "; ".join([*parts, *([how] if how else [])]) + "."
    return AssignmentSegments(pd.Series(labels.astype(str).to_numpy(), index=labels.index.astype(str)),
                              f"run:{run_id}", run.name, rule, counts)


def _rescored(ws: Workspace, run: SegmentRun, at: datetime) -> pd.Series:
    """user_id -> the run's segment (not refitted) on the profiles of moment ``at``."""
    profiles = profiles_as_of(ws, at)
    if profiles.empty:  # nobody had an event yet: nothing to score
        return pd.Series(dtype=object)
    frame, _, _ = assignments(ws, run, profiles)
    frame = frame.set_index("user_id")
    return frame["segment_name"].where(frame["segment_id"] >= 0, NO_SEGMENT)
