"""Stored uplift runs and per-user scores, and what one shopper's latest score means.

Tables are created on first use (``uplift_runs``: one row per scoring run with its metrics;
``uplift_scores``: the predicted uplift of every scored user), so results survive a restart
and the Shopper 360 page can show a shopper's predicted uplift.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from analytics import staleness
from analytics.experiments.ab import _clean, clean_dict
from analytics.experiments.data import ExperimentData
from analytics.experiments.uplift import UpliftResult
from analytics.workspace import Workspace

INSERT_RUN_SQL = """
INSERT INTO uplift_runs (run_id, source, outcome, outcome_kind, treatment, control, model, users,
                         metrics)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

# The newest run that scored the user (ties: the later insert).
USER_SCORE_SQL = """
SELECT r.run_id, r.created_at, r.source, r.outcome, r.outcome_kind, r.treatment, r.model,
       r.users, s.uplift, s.percentile
FROM uplift_scores s JOIN uplift_runs r USING (run_id)
WHERE s.user_id = ?
ORDER BY r.created_at DESC, r.rowid DESC
LIMIT 1
"""

#: Below this absolute predicted uplift (in outcome units) the treatment "makes little
#: difference" for the shopper (0.5 percentage points for a conversion).
NEUTRAL_UPLIFT = 0.005


@dataclass(frozen=True)
class UserUplift:
    """A shopper's latest predicted uplift and what it means in plain language."""

    user_id: str
    run_id: str
    created_at: datetime
    source: str
    outcome: str
    model: str
    uplift: float
    percentile: float
    meaning: str

    def as_json(self) -> dict[str, Any]:
        return clean_dict({**asdict(self), "created_at": self.created_at.isoformat()})


def save_scores(ws: Workspace, data: ExperimentData, result: UpliftResult) -> str:
    """Store the run and every user's predicted uplift; returns the new run id."""
    run_id = "u" + uuid.uuid4().hex[:12]
    metrics = {"models": result.as_json()["models"], "ate": _clean(result.ate),
               "window_days": data.window_days}
    scores = result.scores.assign(run_id=run_id)[["run_id", "user_id", "uplift", "percentile"]]
    with ws.transaction() as cur:
        cur.execute(INSERT_RUN_SQL, [run_id, data.source, data.outcome_name, data.outcome_kind,
                                     data.treatment_label, data.control_label, result.best,
                                     result.users, json.dumps(metrics)])
        cur.register("new_scores", scores)
        cur.execute("INSERT INTO uplift_scores SELECT run_id, user_id, uplift, percentile "
                    "FROM new_scores")
        cur.unregister("new_scores")
        staleness.record(cur, staleness.UPLIFT_RUN, run_id)
    return run_id


def user_uplift(ws: Workspace, user_id: str) -> UserUplift | None:
    """The latest stored predicted uplift of ``user_id`` with its meaning; None if unscored."""
    with ws.cursor() as cur:
        rows = cur.execute(USER_SCORE_SQL, [str(user_id)]).fetchall()
    if not rows:
        return None
    run_id, created, source, outcome, kind, treatment, model, users, uplift, pct = rows[0]
    return UserUplift(
        user_id=str(user_id), run_id=run_id, created_at=created, source=source, outcome=outcome,
        model=model, uplift=float(uplift), percentile=float(pct),
        meaning=describe_uplift(float(uplift), float(pct), outcome, kind, treatment, source))


def describe_uplift(uplift: float, percentile: float, outcome: str, kind: str, treatment: str,
                    source: str) -> str:
    """One plain-language sentence about a predicted uplift."""
    size = f"{abs(uplift) * 100:.1f} percentage points" if kind == "binary" else f"{abs(uplift):,.2f}"
    # Round first: (1 - 0.95) * 100 is 5.000000000000004 in floating point.
    rank = (f"top {max(1, math.ceil(round((1 - percentile) * 100, 9)))}%" if percentile >= 0.5
            else f"bottom {max(1, math.ceil(round(percentile * 100, 9)))}%")
    if abs(uplift) < NEUTRAL_UPLIFT:
        return (f"{treatment!r} ({source}) is predicted to make little difference to this "
                f"shopper's {outcome} ({uplift:+.4f}); they would act the same either way, so "
                "targeting them spends budget without gain.")
    if uplift < 0:
        return (f"{treatment!r} ({source}) is predicted to lower this shopper's {outcome} by "
                f"{size} ({rank} of scored shoppers): leave them out of the campaign.")
    return (f"{treatment!r} ({source}) is predicted to raise this shopper's {outcome} by {size} "
            f"({rank} of scored shoppers): a good candidate to target.")


def latest_runs(ws: Workspace, limit: int = 20) -> pd.DataFrame:
    """Recent uplift runs, newest first."""
    with ws.cursor() as cur:
        return cur.execute("SELECT run_id, created_at, source, outcome, treatment, control, model, "
                           "users FROM uplift_runs ORDER BY created_at DESC LIMIT ?",
                           [limit]).df()


def latest_run_id(ws: Workspace, source: str) -> str | None:
    """The newest stored uplift run of ``source`` (e.g. ``experiment NAME``), None if none.

    Pages ask it whether the scores Shopper 360 shows for that experiment are stale.
    """
    with ws.cursor() as cur:
        rows = cur.execute("SELECT run_id FROM uplift_runs WHERE source = ? "
                           "ORDER BY created_at DESC, rowid DESC LIMIT 1", [source]).fetchall()
    return str(rows[0][0]) if rows else None
