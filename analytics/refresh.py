"""Living segments: new events in, profiles updated, shoppers re-scored, movements recorded.

A refresh ingests new files, recomputes only the profiles that can have changed, and
re-applies a saved segmentation *without refitting*: rules are re-evaluated, clustering runs
use their stored scaler and model. Every change of segment is kept in ``segment_history``
(valid_from / valid_to), so migrations between any two moments, entered/left lists and
trigger lists can be read back; ``segment_refreshes`` records each refresh with segment sizes
and feature drift (PSI).
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analytics import staleness
from analytics.errors import ConfigError, NotFoundError
from analytics.ingest import ingest_file
from analytics.ingest.load import FileReport
from analytics.profiles import build_profiles, load_profiles, refresh_profiles
from analytics.segments import drift
from analytics.segments.primary import primary_run_id
from analytics.segments.rules import RuleSet, assign
from analytics.segments.runs import SegmentRun, get_run, list_runs, load_model
from analytics.workspace import Workspace

Progress = Callable[[float, str], None]
NEW = "(new shopper)"
GONE = "(no profile)"
PROCESSED = "processed"
FAILED = "failed"

_CURRENT = """
SELECT user_id, segment_id, segment_name FROM segment_history WHERE run_id = ? AND valid_to IS NULL"""
_HAS_HISTORY = "SELECT count(*) FROM segment_history WHERE run_id = ?"
_SEED_HISTORY = """
INSERT INTO segment_history
SELECT run_id, user_id, segment_id, segment_name, ?, NULL FROM segment_members WHERE run_id = ?"""
_CLOSE = """
UPDATE segment_history SET valid_to = $at
WHERE run_id = $run_id AND valid_to IS NULL AND user_id IN (SELECT user_id FROM changed_frame)"""
_OPEN = """
INSERT INTO segment_history
SELECT $run_id, user_id, segment_id, segment_name, $at, NULL FROM changed_frame
WHERE segment_id IS NOT NULL"""
_DELETE_MEMBERS = "DELETE FROM segment_members WHERE run_id = ?"
_INSERT_MEMBERS = """
INSERT INTO segment_members
SELECT ?, user_id, segment_id, segment_name, probability FROM members_frame"""
_UPDATE_RUN_SEGMENTS = "UPDATE segment_runs SET segments = ? WHERE run_id = ?"
_INSERT_REFRESH = """
INSERT INTO segment_refreshes VALUES ($refresh_id, $run_id, $created_at, $as_of, $previous_as_of,
    $files, $recomputed, $moved, $sizes, $drift, $suggestion)"""
_NEW_USERS = "SELECT DISTINCT user_id FROM events WHERE dataset_id = ?"
_AT = """
SELECT user_id, segment_name FROM segment_history
WHERE run_id = $run_id AND valid_from <= $at AND (valid_to IS NULL OR valid_to > $at)"""
_CHANGES = """
SELECT n.user_id, coalesce(o.segment_name, $new) AS from_segment, n.segment_name AS to_segment,
       n.valid_from AS changed_at
FROM segment_history n
LEFT JOIN segment_history o
  ON o.run_id = n.run_id AND o.user_id = n.user_id AND o.valid_to = n.valid_from
WHERE n.run_id = $run_id AND n.valid_from > $since AND n.valid_from > $seeded
ORDER BY changed_at, n.user_id"""
_LEFT_ONLY = """
SELECT o.user_id, o.segment_name AS from_segment, $gone AS to_segment, o.valid_to AS changed_at
FROM segment_history o
WHERE o.run_id = $run_id AND o.valid_to > $since AND NOT EXISTS (
    SELECT 1 FROM segment_history n WHERE n.run_id = o.run_id AND n.user_id = o.user_id
    AND n.valid_from = o.valid_to)"""
_REFRESHES = """
SELECT refresh_id, created_at, as_of, previous_as_of, files, recomputed, moved, sizes, drift, suggestion
FROM segment_refreshes WHERE run_id = ? ORDER BY created_at"""
_SEEDED_AT = "SELECT min(valid_from) FROM segment_history WHERE run_id = ?"


@dataclass(frozen=True)
class RefreshFile:
    """A file of new events and where its events come from (online, offline, ...)."""

    path: Path
    source: str | None = None


@dataclass(frozen=True)
class RefreshReport:
    """What one refresh did."""

    refresh_id: str
    run_id: str
    run_name: str
    files: tuple[FileReport, ...]
    recomputed: int
    as_of: datetime
    moved: dict[str, int]
    entered: dict[str, int]
    left: dict[str, int]
    sizes: dict[str, int]
    drift: dict[str, dict[str, float]]
    suggestion: str | None
    created_at: datetime = field(default_factory=datetime.now)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"refresh_id": self.refresh_id, "run_id": self.run_id, "run_name": self.run_name,
                "files": [f.as_json() for f in self.files], "recomputed": self.recomputed,
                "as_of": str(self.as_of), "moved": self.moved, "entered": self.entered,
                "left": self.left, "sizes": self.sizes, "drift": self.drift,
                "suggestion": self.suggestion, "seconds": self.seconds}


def refresh(ws: Workspace, files: Sequence[Path | RefreshFile] = (), run_id: str | None = None,
            progress: Progress | None = None, **ingest_options: Any) -> RefreshReport:
    """Load ``files`` as new events, update profiles and re-score the saved segmentation.

    Raises
    ------
    NotFoundError
        When no segmentation has been run (checked before anything is loaded).
    """
    run = living_run(ws, run_id)
    say = progress or (lambda f, t: None)
    started = time.perf_counter()
    # Profiles already behind the data (files loaded elsewhere) cannot be caught up by
    # recomputing only this refresh's shoppers: rebuild them in full first.
    behind = staleness.freshness(ws, staleness.PROFILES).stale
    reports = []
    for i, item in enumerate(files):
        file = item if isinstance(item, RefreshFile) else RefreshFile(Path(item))
        say(0.6 * i / max(len(files), 1), f"Loading {file.path.name}")
        options = ingest_options | ({"source": file.source} if file.source else {})
        reports.append(ingest_file(ws, file.path, kind="events", **options))
    say(0.6, "Updating profiles")
    loaded = time.perf_counter()
    if behind:
        build_profiles(ws)
    summary = refresh_profiles(ws, _users_of(ws, reports))
    profiled = time.perf_counter()
    say(0.8, "Re-scoring shoppers with the saved segmentation")
    report = _rescore(ws, run, tuple(reports), summary.recomputed, summary.as_of,
                      summary.previous_as_of)
    timings = {"ingest": loaded - started, "profiles": profiled - loaded,
               "rescore": time.perf_counter() - profiled}
    return replace(report, seconds={k: round(v, 3) for k, v in timings.items()})


def living_run(ws: Workspace, run_id: str | None = None) -> SegmentRun:
    """The segmentation a refresh re-applies: ``run_id``, else the primary (if it is a rules or
    clustering run), else the latest rules/clustering run."""
    if run_id:
        run = get_run(ws, run_id)
    else:
        runs = list_runs(ws)
        runs = runs[runs["method"] != "selection"]
        if runs.empty:
            raise NotFoundError("There is no segmentation to keep up to date yet.",
                                hint="Run one first on the Segments page or with `shopper-lens "
                                "segment`; then refresh with new events.", title="Nothing to refresh")
        ids, primary = [str(r) for r in runs["run_id"]], primary_run_id(ws)
        run = get_run(ws, primary if primary in ids else ids[0])
    if run.method == "selection":
        raise ConfigError(f"{run.name} is a hand-picked selection; it has no rule or model to "
                          "re-apply.", hint="Refresh a rules or clustering run.", title="Cannot refresh")
    return run


def _users_of(ws: Workspace, reports: Sequence[FileReport]) -> set[str]:
    users: set[str] = set()
    with ws.cursor() as cur:
        for report in reports:
            users.update(r[0] for r in cur.execute(_NEW_USERS, [report.dataset_id]).fetchall())
    return users


def assignments(ws: Workspace, run: SegmentRun, profiles: pd.DataFrame | None = None,
                ) -> tuple[pd.DataFrame, np.ndarray[Any, Any], Any]:
    """Segment of every profiled shopper under the run's saved definition (no refit).

    Rows are in profile order; shoppers no rule matches have segment_id -1. ``profiles``
    (default: the stored table) lets a caller score profiles of another moment.
    """
    fitted = load_model(ws, run.run_id)
    profiles = load_profiles(ws) if profiles is None else profiles
    names = {s.segment_id: s.name for s in run.segments}
    pipeline = fitted["pipeline"]
    X = pipeline.transform(profiles)
    probability = None
    if "rules" in fitted:
        result = assign(RuleSet.from_json(fitted["rules"]), profiles)
        ids = {n: i for i, n in names.items()}
        labels = result.labels.map(lambda n: ids.get(n, -1)).to_numpy()
    else:
        model = fitted["model"]
        raw = model.predict(X)
        id_map = fitted.get("id_map", {})
        labels = np.array([id_map.get(int(v), int(v)) for v in raw])
        proba = model.predict_proba(X)
        probability = proba.max(axis=1) if proba is not None else None
    frame = pd.DataFrame({"user_id": profiles["user_id"].to_numpy(), "segment_id": labels.astype(int),
                          "segment_name": [names.get(int(v), f"Segment {v}") for v in labels],
                          "probability": probability if probability is not None else np.nan})
    return frame, X, fitted


def _rescore(ws: Workspace, run: SegmentRun, reports: tuple[FileReport, ...], recomputed: int,
             as_of: datetime, previous_as_of: datetime) -> RefreshReport:
    now = datetime.now()
    everyone, X, fitted = assignments(ws, run)
    labels = everyone["segment_id"].to_numpy()
    frame = everyone[everyone["segment_id"] >= 0].reset_index(drop=True)
    _seed(ws, run)
    with ws.cursor() as cur:
        before = cur.execute(_CURRENT, [run.run_id]).df()
    changed, moved, entered, left = _diff(before, frame)
    sizes = frame["segment_name"].value_counts().to_dict()
    psi = drift.psi(fitted["baseline"], X, labels) if "baseline" in fitted else {}
    suggestion = _suggest(psi)
    refresh_id = uuid.uuid4().hex[:12]
    segments = [s.as_json() | {"size": int((frame["segment_id"] == s.segment_id).sum()),
                               "share": float((frame["segment_id"] == s.segment_id).mean())}
                for s in run.segments]
    with ws.transaction() as cur:
        cur.register("changed_frame", changed)
        cur.execute(_CLOSE, {"at": now, "run_id": run.run_id})
        cur.execute(_OPEN, {"at": now, "run_id": run.run_id})
        cur.unregister("changed_frame")
        cur.register("members_frame", frame)
        cur.execute(_DELETE_MEMBERS, [run.run_id])
        cur.execute(_INSERT_MEMBERS, [run.run_id])
        cur.unregister("members_frame")
        cur.execute(_UPDATE_RUN_SEGMENTS, [json.dumps(segments), run.run_id])
        cur.execute(_INSERT_REFRESH, {
            "refresh_id": refresh_id, "run_id": run.run_id, "created_at": now, "as_of": as_of,
            "previous_as_of": previous_as_of, "files": json.dumps([r.as_json() for r in reports]),
            "recomputed": recomputed, "moved": int(sum(moved.values())),
            "sizes": json.dumps(sizes), "drift": json.dumps(psi), "suggestion": suggestion})
        staleness.record(cur, staleness.SEGMENT_RUN, run.run_id, based_on_profiles=True)
    return RefreshReport(refresh_id, run.run_id, run.name, reports, recomputed, as_of, moved,
                         entered, left, {str(k): int(v) for k, v in sizes.items()}, psi, suggestion,
                         now)


def _seed(ws: Workspace, run: SegmentRun) -> None:
    """The run's own assignment is the first chapter of its history."""
    with ws.transaction() as cur:
        if not cur.execute(_HAS_HISTORY, [run.run_id]).fetchall()[0][0]:
            cur.execute(_SEED_HISTORY, [run.created_at, run.run_id])


def _diff(before: pd.DataFrame, after: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int],
                                                              dict[str, int], dict[str, int]]:
    both = before.merge(after[["user_id", "segment_id", "segment_name"]], on="user_id", how="outer",
                        suffixes=("_old", ""))
    differs = both["segment_id_old"].fillna(-2) != both["segment_id"].fillna(-2)
    changed = both.loc[differs, ["user_id", "segment_id", "segment_name"]].reset_index(drop=True)
    old = both.loc[differs, "segment_name_old"].fillna(NEW)
    new = both.loc[differs, "segment_name"].fillna(GONE)
    moved = (old + " → " + new).value_counts().to_dict()
    return (changed.astype({"segment_id": "Int64"}), {str(k): int(v) for k, v in moved.items()},
            {str(k): int(v) for k, v in new.value_counts().items()},
            {str(k): int(v) for k, v in old.value_counts().items()})


def _suggest(psi: dict[str, dict[str, float]]) -> str | None:
    shifted = sorted(((v, g, f) for g, features in psi.items() for f, v in features.items()
                      if v > drift.SHIFT), reverse=True)
    if not shifted:
        return None
    value, group, feature = shifted[0]
    where = "across all shoppers" if group == "all" else f"in segment {group}"
    return (f"{len(shifted)} feature distribution(s) shifted since the segmentation was fitted "
            f"(largest: {feature} {where}, PSI {value:.2f} > {drift.SHIFT}). Consider re-running "
            "the segmentation so the segments describe today's shoppers.")


def membership_at(ws: Workspace, run_id: str, at: datetime) -> pd.Series:
    """Segment name per user id at a moment (from the history)."""
    with ws.cursor() as cur:
        frame = cur.execute(_AT, {"run_id": run_id, "at": at}).df()
    return frame.set_index("user_id")["segment_name"]


def migration(ws: Workspace, run_id: str, start: datetime, end: datetime) -> pd.DataFrame:
    """from_segment x to_segment counts between two moments (new shoppers come from NEW)."""
    a, b = membership_at(ws, run_id, start), membership_at(ws, run_id, end)
    both = pd.DataFrame({"from_segment": a, "to_segment": b})
    both["from_segment"] = both["from_segment"].fillna(NEW)
    both["to_segment"] = both["to_segment"].fillna(GONE)
    return both.value_counts().rename("shoppers").reset_index()


def changes(ws: Workspace, run_id: str, since: datetime | None = None) -> pd.DataFrame:
    """Every move after the run was first recorded: user_id, from, to, changed_at."""
    with ws.cursor() as cur:
        seeded = cur.execute(_SEEDED_AT, [run_id]).fetchall()[0][0]
        if seeded is None:
            return pd.DataFrame(columns=["user_id", "from_segment", "to_segment", "changed_at"])
        params = {"run_id": run_id, "since": since or datetime.min, "seeded": seeded}
        moves = cur.execute(_CHANGES, params | {"new": NEW}).df()
        gone = cur.execute(_LEFT_ONLY, {"run_id": run_id, "since": since or datetime.min, "gone": GONE}).df()
    return pd.concat([moves, gone], ignore_index=True).sort_values(["changed_at", "user_id"],
                                                                   ignore_index=True)


def refreshes(ws: Workspace, run_id: str) -> pd.DataFrame:
    """The refresh log of a run, oldest first."""
    with ws.cursor() as cur:
        return cur.execute(_REFRESHES, [run_id]).df()


def sizes_over_time(ws: Workspace, run: SegmentRun) -> pd.DataFrame:
    """Segment sizes at the run and after each refresh (long format: at, segment, shoppers)."""
    with ws.cursor() as cur:
        seeded = cur.execute(_SEEDED_AT, [run.run_id]).fetchall()[0][0]
    first = membership_at(ws, run.run_id, seeded).value_counts() if seeded else pd.Series(dtype=int)
    rows = [{"at": run.created_at, "segment": k, "shoppers": int(v)} for k, v in first.items()]
    for r in refreshes(ws, run.run_id).itertuples():
        sizes: dict[str, int] = json.loads(str(r.sizes))
        rows += [{"at": r.created_at, "segment": k, "shoppers": v} for k, v in sizes.items()]
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Trigger:
    """Who to act on: entered / left a segment, or a day count crossed a threshold."""

    kind: str  # entered | left | crossed
    segment: str | None = None
    feature: str = "days_since_last_event"
    threshold: float = 30.0

    def label(self) -> str:
        if self.kind == "crossed":
            return f"{self.feature} crossed {self.threshold:g}"
        return f"{self.kind} '{self.segment}'"


TRIGGER_FEATURES = ("days_since_last_event", "recency_days")


def fire(ws: Workspace, run_id: str, trigger: Trigger, since: datetime | None = None) -> pd.DataFrame:
    """The shoppers a trigger selects since ``since`` (default: the last refresh)."""
    if trigger.kind in ("entered", "left"):
        moves = changes(ws, run_id, since or _last_refresh(ws, run_id))
        column = "to_segment" if trigger.kind == "entered" else "from_segment"
        picked = moves[moves[column] == trigger.segment]
        return picked.assign(trigger=trigger.label()).reset_index(drop=True)
    if trigger.kind != "crossed" or trigger.feature not in TRIGGER_FEATURES:
        raise ConfigError(f"Unknown trigger {trigger.kind!r} on {trigger.feature!r}.",
                          hint="Use entered/left with a segment, or crossed on "
                               f"{', '.join(TRIGGER_FEATURES)}.",
                          title="Invalid trigger")
    log = refreshes(ws, run_id)
    profiles = load_profiles(ws)
    days = 0 if log.empty else (log["as_of"].iloc[-1].date() - log["previous_as_of"].iloc[-1].date()).days
    value = profiles[trigger.feature].astype("float64")
    crossed = (value >= trigger.threshold) & (value - days < trigger.threshold)
    out = profiles.loc[crossed, ["user_id", trigger.feature]].assign(
        trigger=trigger.label(), changed_at=log["created_at"].iloc[-1] if len(log) else None)
    return out.reset_index(drop=True)


def _last_refresh(ws: Workspace, run_id: str) -> datetime | None:
    log = refreshes(ws, run_id)
    if len(log) < 2:
        return None
    return log["created_at"].iloc[-2]  # type: ignore[no-any-return]


def inbox_files(ws: Workspace) -> list[Path]:
    """Files waiting in the workspace's inbox folder (hidden and partial files skipped)."""
    return sorted(p for p in ws.inbox_dir.iterdir()
                  if p.is_file() and not p.name.startswith((".", "~")) and not p.name.endswith(".part"))


def refresh_inbox(ws: Workspace, run_id: str | None = None) -> RefreshReport | None:
    """Refresh with every inbox file; move them to inbox/processed (or inbox/failed with a note)."""
    files = inbox_files(ws)
    if not files:
        return None
    try:
        report = refresh(ws, files, run_id)
    except Exception as e:
        _move(files, ws.inbox_dir / FAILED, note=str(e))
        raise
    _move(files, ws.inbox_dir / PROCESSED)
    return report


def watch(ws: Workspace, interval: float = 10.0, run_id: str | None = None,
          rounds: int | None = None) -> Iterator[RefreshReport]:
    """Poll the inbox every ``interval`` seconds and refresh when files arrive."""
    done = 0
    while rounds is None or done < rounds:
        report = refresh_inbox(ws, run_id)
        if report is not None:
            yield report
        done += 1
        if rounds is None or done < rounds:
            time.sleep(interval)


def _move(files: Sequence[Path], folder: Path, note: str | None = None) -> None:
    folder.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for path in files:
        target = folder / f"{stamp}-{path.name}"
        shutil.move(str(path), target)
        if note:
            target.with_suffix(target.suffix + ".error.txt").write_text(note, encoding="utf-8")


def sankey(matrix: pd.DataFrame) -> dict[str, list[Any]]:
    """Nodes and links of a migration matrix: left column 'before', right column 'after'."""
    left = sorted(matrix["from_segment"].unique())
    right = sorted(matrix["to_segment"].unique())
    labels = [f"{name} (before)" for name in left] + [f"{name} (after)" for name in right]
    # The segment of each node, so a page can colour a segment the same on both sides.
    return {"labels": labels, "segments": [*left, *right],
            "source": [left.index(v) for v in matrix["from_segment"]],
            "target": [len(left) + right.index(v) for v in matrix["to_segment"]],
            "value": matrix["shoppers"].astype(int).tolist()}


def moments(ws: Workspace, run: SegmentRun) -> list[tuple[str, datetime]]:
    """Labelled points in time to compare: the run itself and each refresh."""
    out = [(f"Segmentation ({run.created_at:%Y-%m-%d %H:%M})", run.created_at)]
    for r in refreshes(ws, run.run_id).to_dict(orient="records"):
        at: datetime = r["created_at"]
        out.append((f"Refresh {at:%Y-%m-%d %H:%M:%S} (data to {r['as_of']:%Y-%m-%d})", at))
    return out


def drift_table(ws: Workspace, run: SegmentRun) -> pd.DataFrame:
    """PSI of the latest refresh: one row per feature, one column per group (all + segments)."""
    log = refreshes(ws, run.run_id)
    if log.empty:
        return pd.DataFrame()
    psi: dict[str, dict[str, float]] = json.loads(str(log["drift"].iloc[-1]))
    names = {str(s.segment_id): s.name for s in run.segments} | {"all": "All shoppers"}
    return pd.DataFrame({names.get(g, g): v for g, v in psi.items()})
