"""Journeys: ordered funnels, the paths sessions take to a purchase or to abandonment, and a
Sankey of step-to-step flow, all computed in DuckDB over the ``events`` table.

Funnel semantics. A *unit* is a session (``session_id``; events without one are grouped per
user and day, as in :mod:`analytics.profiles`) or a user. A unit reaches step *k* when it has
events of steps 1..k in that order (equal timestamps count as in order), all within
``window_days`` of the step-1 event that starts the chain. Any step-1 event may start a chain;
the unit counts at the deepest step any chain reaches. The SQL finds that in one window pass
per step: for every event it carries the latest chain start whose previous steps are complete
by then (a running ``max``), because a later start leaves the most room in the window.

Times to convert are measured on each unit's first completion of a step: seconds since the
latest previous-step event of that chain, and since the chain's step-1 event. Breakdowns
attribute a unit to the device and channel of its first step-1 event, and a user to their
segment in the latest segmentation run (else their RFM segment from ``profiles``).

Paths use online events only (store purchases have no visit to follow). Within each session
event labels (the event type, or type and category for browse events) are ordered by time,
cut after the first purchase and consecutive repeats collapsed; a session is a *purchase*
session if it bought, an *abandonment* session if it added to the cart without buying.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import duckdb
import pandas as pd

from analytics.errors import ConfigError, NotFoundError
from analytics.schema import EVENT_TYPES
from analytics.workspace import Workspace

DEFAULT_STEPS = ("view", "cart", "checkout", "purchase")
UNITS = ("session", "user")
BREAKDOWNS = ("device", "channel", "segment")
DETAILS = ("event", "category")
OUTCOMES = ("purchase", "abandonment")
SANKEY_OUTCOMES = ("all", *OUTCOMES)
#: Event types whose path label carries the category ("view shirts") at the category detail.
CATEGORY_TYPES = ("view", "search", "wishlist")
ALL = "all"
UNASSIGNED = "unassigned"
OTHER = "other"

# The step events of the funnel with the first layer of chain state ``g``: a step-1 event
# starts a chain at its own time. ``g`` is {s: chain start, t: this step's time, prev: the
# previous step's time}. A visit is the session id, else the user's calendar day (as in
# profiles). Parameters: $steps (list), $per_user (bool).
_FUNNEL_EVENTS_SQL = """
SELECT user_id,
       CASE WHEN $per_user THEN ''
            ELSE coalesce(session_id, 'day:' || strftime(event_time, '%Y-%m-%d')) END AS session_key,
       event_time, list_position($steps, event_type) AS step,
       coalesce(device, 'unknown') AS device, coalesce(channel, 'unknown') AS channel,
       CASE WHEN event_type = $steps[1]
            THEN struct_pack(s := event_time, t := event_time, prev := event_time) END AS g
FROM events
WHERE list_contains($steps, event_type)
"""

# One more step of the chain: a step-{k} event continues the latest chain whose step {k_prev}
# happened at or before it, if it is within the window ($window, an INTERVAL) of its start.
_FUNNEL_STEP_SQL = """
SELECT * EXCLUDE (g, prior),
       CASE WHEN step <> {k} THEN g
            WHEN event_time <= prior.s + $window
            THEN struct_pack(s := prior.s, t := event_time, prev := prior.t) END AS g
FROM (SELECT *,
             max(g) FILTER (step = {k_prev}) OVER (
                 PARTITION BY user_id, session_key ORDER BY event_time, step
                 ROWS UNBOUNDED PRECEDING) AS prior
      FROM ({source}))
"""

# Per step and group: units reaching it and the median times of their first completions.
# Parameters: $by (breakdown name or NULL). {chain} is the chained events, {segments} one of
# the segment queries below.
_FUNNEL_COUNTS_SQL = """
WITH chained AS ({chain}),
segments AS ({segments}),
entry AS (
    SELECT user_id, session_key, arg_min(device, event_time) AS device,
           arg_min(channel, event_time) AS channel
    FROM chained WHERE step = 1 GROUP BY user_id, session_key
),
reached AS (
    SELECT user_id, session_key, step, arg_min(g, g.t) AS first
    FROM chained WHERE g IS NOT NULL GROUP BY user_id, session_key, step
),
grouped AS (
    SELECT r.step, r.first,
           CASE $by WHEN 'device' THEN e.device WHEN 'channel' THEN e.channel
                    WHEN 'segment' THEN coalesce(s.segment, $unassigned) END AS grp
    FROM reached r
    JOIN entry e USING (user_id, session_key)
    LEFT JOIN segments s USING (user_id)
)
SELECT grouping(grp) = 1 AS is_total, grp, step, count(*) AS units,
       median(epoch(first.t) - epoch(first.prev)) AS from_previous_s,
       median(epoch(first.t) - epoch(first.s)) AS from_start_s
FROM grouped
GROUP BY GROUPING SETS ((step), (grp, step))
HAVING grouping(grp) = 1 OR $by IS NOT NULL
ORDER BY is_total DESC, grp, step
"""

_SEGMENTS_FROM_RUN_SQL = """
SELECT user_id, any_value(segment_name) AS segment
FROM segment_members WHERE run_id = $run_id GROUP BY user_id
"""
_SEGMENTS_FROM_PROFILES_SQL = "SELECT user_id, rfm_segment AS segment FROM profiles"
_NO_SEGMENTS_SQL = "SELECT NULL::VARCHAR AS user_id, NULL::VARCHAR AS segment WHERE false"
_TABLE_EXISTS_SQL = "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?"
_EVENT_TYPES_SQL = "SELECT DISTINCT event_type FROM events ORDER BY 1"

# Each online session's labels in time order, cut after the first purchase, repeats collapsed:
# one row per kept label with its position from the start (pos) and from the end (pos_back).
# Parameters: $detail, $category_types, $type_order.
_SESSION_PATHS_SQL = """
WITH labelled AS (
    SELECT user_id, coalesce(session_id, 'day:' || strftime(event_time, '%Y-%m-%d')) AS session_key,
           event_time, event_type,
           CASE WHEN $detail = 'category' AND category IS NOT NULL
                     AND list_contains($category_types, event_type)
                THEN event_type || ' ' || category ELSE event_type END AS label
    FROM events
    WHERE source IS DISTINCT FROM 'offline'
),
ordered AS (
    SELECT *, row_number() OVER (PARTITION BY user_id, session_key
                                 ORDER BY event_time, list_position($type_order, event_type),
                                          label) AS seq
    FROM labelled
),
flagged AS (
    SELECT *,
           min(seq) FILTER (event_type = 'purchase') OVER visit AS purchase_seq,
           bool_or(event_type = 'cart') OVER visit AS carted
    FROM ordered
    WINDOW visit AS (PARTITION BY user_id, session_key)
),
kept AS (
    SELECT *, lag(label) OVER (PARTITION BY user_id, session_key ORDER BY seq) AS previous
    FROM flagged
    WHERE seq <= coalesce(purchase_seq, seq)
)
SELECT user_id, session_key, label,
       CASE WHEN purchase_seq IS NOT NULL THEN 'purchase'
            WHEN carted THEN 'abandonment' ELSE 'browse' END AS outcome,
       row_number() OVER (PARTITION BY user_id, session_key ORDER BY seq) AS pos,
       row_number() OVER (PARTITION BY user_id, session_key ORDER BY seq DESC) AS pos_back
FROM kept
WHERE previous IS DISTINCT FROM label
"""

# The most frequent paths per outcome and group, keeping each session's last $max_length
# labels (a leading '…' marks a cut). Parameters: $by, $top, $max_length, $unassigned.
_TOP_PATHS_SQL = """
WITH steps AS ({session_paths}),
segments AS ({segments}),
paths AS (
    SELECT user_id, session_key, any_value(outcome) AS outcome,
           CASE WHEN max(pos_back) > $max_length THEN '… > ' ELSE '' END
               || string_agg(label, ' > ' ORDER BY pos) FILTER (pos_back <= $max_length) AS path
    FROM steps
    WHERE outcome <> 'browse'
    GROUP BY user_id, session_key
),
grouped AS (
    SELECT p.outcome, p.path,
           CASE WHEN $by = 'segment' THEN coalesce(s.segment, $unassigned) ELSE $all END AS grp
    FROM paths p LEFT JOIN segments s USING (user_id)
),
counted AS (
    SELECT outcome, grp, path, count(*) AS sessions,
           sum(count(*)) OVER (PARTITION BY outcome, grp) AS total
    FROM grouped GROUP BY outcome, grp, path
)
SELECT outcome, grp, path, sessions, sessions / total AS share, total
FROM counted
QUALIFY row_number() OVER (PARTITION BY outcome, grp ORDER BY sessions DESC, path) <= $top
ORDER BY outcome DESC, grp, sessions DESC, path
"""

# Sankey of the first $max_steps labels of the chosen sessions; a node (position, label) seen
# in fewer than $min_share of those sessions becomes (position, 'other').
# Parameters: $outcome, $max_steps, $min_share, $other.
_SANKEY_SQL = """
WITH steps AS ({session_paths}),
chosen AS (
    SELECT user_id, session_key, pos, label
    FROM steps
    WHERE pos <= $max_steps AND ($outcome = 'all' OR outcome = $outcome)
),
total AS (SELECT count(*) AS sessions FROM chosen WHERE pos = 1),
rare AS (
    SELECT pos, label FROM chosen GROUP BY pos, label
    HAVING count(*) < $min_share * (SELECT sessions FROM total)
),
folded AS (
    SELECT c.user_id, c.session_key, c.pos, t.sessions,
           CASE WHEN r.pos IS NULL THEN c.label ELSE $other END AS label
    FROM chosen c CROSS JOIN total t LEFT JOIN rare r USING (pos, label)
),
linked AS (
    SELECT pos, label, sessions,
           lead(label) OVER (PARTITION BY user_id, session_key ORDER BY pos) AS next_label
    FROM folded
)
-- Node rows (is_node) and link rows (a NULL next_label is a session ending there).
SELECT grouping(next_label) = 1 AS is_node, pos, label, next_label, count(*) AS n,
       any_value(sessions) AS sessions
FROM linked
GROUP BY GROUPING SETS ((pos, label), (pos, label, next_label))
ORDER BY is_node DESC, pos, n DESC, label, next_label
"""


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class FunnelStep:
    """One step of a funnel for one group of units."""

    name: str
    units: int
    from_previous: float | None
    from_start: float | None
    median_seconds_from_previous: float | None
    median_seconds_from_start: float | None


@dataclass(frozen=True)
class FunnelGroup:
    """A funnel for all units (value ``all``) or for one breakdown value."""

    value: str
    steps: tuple[FunnelStep, ...]

    @property
    def counts(self) -> list[int]:
        return [s.units for s in self.steps]

    @property
    def overall(self) -> float | None:
        return self.steps[-1].from_start


@dataclass(frozen=True)
class Funnel:
    """What :func:`funnel` found: the total funnel and, with ``by``, one funnel per value."""

    steps: tuple[str, ...]
    per: str
    window_days: float
    by: str | None
    segment_source: str | None
    total: FunnelGroup
    groups: tuple[FunnelGroup, ...]
    missing: tuple[str, ...] = ()  # steps no loaded event has: they and every later step count 0

    @property
    def counts(self) -> list[int]:
        return self.total.counts

    @property
    def note(self) -> str | None:
        """Why the funnel ends at 0 when a step's event type is not in the data at all.

        A purchase-only export (Complete Journey) or a clickstream without checkout events
        showed "purchase 0 (0.0%)" beside thousands of purchases; the zero is the data's shape,
        not the shoppers' behaviour, and the funnel without those steps is the useful one.
        """
        if not self.missing:
            return None
        kept = [s for s in self.steps if s not in self.missing]
        fix = (f"leave {'it' if len(self.missing) == 1 else 'them'} out ({', '.join(kept)})"
               if len(kept) >= 2 else "load events of at least two funnel steps")
        return (f"No {', '.join(self.missing)} events are loaded, so "
                f"{'that step' if len(self.missing) == 1 else 'those steps'} and every later "
                f"step count 0 whatever shoppers did: {fix}.")

    def conversion(self) -> dict[str, Any]:
        """Step conversion (from the previous step and from step 1) and overall conversion."""
        return {"from_previous": [s.from_previous for s in self.total.steps],
                "from_start": [s.from_start for s in self.total.steps],
                "overall": self.total.overall}

    def table(self) -> pd.DataFrame:
        """One row per group and step (the total first), for tables, charts and CSV."""
        rows = [{"group": g.value, "step_number": i + 1, **asdict(s)}
                for g in (self.total, *self.groups) for i, s in enumerate(g.steps)]
        return pd.DataFrame(rows).rename(columns={"name": "step"})

    def as_json(self) -> dict[str, Any]:
        return {"steps": list(self.steps), "per": self.per, "window_days": self.window_days,
                "by": self.by, "segment_source": self.segment_source, "counts": self.counts,
                "missing_steps": list(self.missing), "note": self.note,
                "conversion": self.conversion(),
                "median_seconds_from_previous": [s.median_seconds_from_previous
                                                 for s in self.total.steps],
                "breakdown": {g.value: {"counts": g.counts, "overall": g.overall}
                              for g in self.groups}}


@dataclass(frozen=True)
class PathRow:
    """A path and how many sessions of its outcome (in its group) took it."""

    outcome: str
    group: str
    path: str
    sessions: int
    share: float


@dataclass(frozen=True)
class Paths:
    """The most frequent paths to purchase and to abandonment (per group with ``by``)."""

    detail: str
    max_length: int
    by: str | None
    segment_source: str | None
    rows: tuple[PathRow, ...]
    totals: dict[str, dict[str, int]]  # outcome -> group -> sessions with that outcome

    def top(self, outcome: str, group: str = ALL) -> list[PathRow]:
        return [r for r in self.rows if r.outcome == outcome and r.group == group]

    def groups(self) -> list[str]:
        return sorted({r.group for r in self.rows})

    def table(self, outcome: str, group: str = ALL) -> pd.DataFrame:
        return pd.DataFrame([asdict(r) for r in self.top(outcome, group)],
                            columns=["outcome", "group", "path", "sessions", "share"])

    def as_json(self) -> dict[str, Any]:
        return {"detail": self.detail, "max_length": self.max_length, "by": self.by,
                "segment_source": self.segment_source, "totals": self.totals,
                "paths": [asdict(r) for r in self.rows]}


@dataclass(frozen=True)
class SankeyNode:
    step: int
    label: str
    sessions: int


@dataclass(frozen=True)
class SankeyLink:
    source: int  # index into Sankey.nodes
    target: int
    sessions: int


@dataclass(frozen=True)
class Sankey:
    """Step-to-step flow of sessions; rare nodes are folded into ``other`` per step."""

    detail: str
    outcome: str
    max_steps: int
    min_share: float
    sessions: int
    nodes: tuple[SankeyNode, ...]
    links: tuple[SankeyLink, ...]

    def positions(self) -> tuple[list[float], list[float]]:
        """Node centres in 0-1 (x: one column per step; y: stacked by size), so each node sits in
        its step's column even when no flow leaves it."""
        last = max((n.step for n in self.nodes), default=1)
        column = {step: sum(n.sessions for n in self.nodes if n.step == step)
                  for step in {n.step for n in self.nodes}}
        above: dict[int, int] = {}
        xs, ys = [], []
        for node in self.nodes:  # ordered by step, then size
            start = above.get(node.step, 0)
            above[node.step] = start + node.sessions
            xs.append(0.001 + 0.998 * (node.step - 1) / max(last - 1, 1))
            ys.append(0.06 + 0.88 * (start + node.sessions / 2) / column[node.step])
        return xs, ys

    def as_json(self) -> dict[str, Any]:
        return {"detail": self.detail, "outcome": self.outcome, "max_steps": self.max_steps,
                "min_share": self.min_share, "sessions": self.sessions,
                "nodes": [asdict(n) for n in self.nodes], "links": [asdict(k) for k in self.links]}


# ---------------------------------------------------------------------------------------------
# Analyses


def funnel(ws: Workspace, steps: Sequence[str] = DEFAULT_STEPS, per: str = "session",
           window_days: float = 7.0, by: str | None = None,
           segment_run: str | None = None) -> Funnel:
    """Count the units that go through ``steps`` in order, with conversion and time to convert.

    Parameters
    ----------
    ws : Workspace
        The workspace holding ``events``.
    steps : sequence of str
        Two or more distinct event types, in funnel order.
    per : {"session", "user"}
        Whether a unit is a visit or a shopper.
    window_days : float
        Every step must happen within this many days of the chain's first step (> 0).
    by : {None, "device", "channel", "segment"}
        Also break the funnel down by this attribute.

    Returns
    -------
    Funnel
        Counts, conversions and median times per step, in total and per breakdown value.

    Raises
    ------
    ConfigError
        Fewer than two steps, a repeated or unknown step, a bad ``per``/``by``, window <= 0.
    NotFoundError
        No events, or ``by="segment"`` with neither a segmentation run nor profiles.

    Examples
    --------
    >>> funnel(ws, per="user", by="device").counts              # doctest: +SKIP
    [2993, 2486, 2083, 1657]
    """
    chosen = tuple(steps)
    _check_choice("per", per, UNITS)
    _check_choice("by", by, BREAKDOWNS, optional=True)
    if not window_days > 0:
        raise ConfigError(f"The conversion window of {window_days!r} days is not positive.",
                          hint="Use a window of at least a fraction of a day, e.g. 7.")
    with ws.cursor() as cur:
        present = _check_steps(cur, chosen)
        segments_sql, params, source = _segments(cur, segment_run) if by == "segment" \
            else (_NO_SEGMENTS_SQL, {}, None)
        sql = _FUNNEL_COUNTS_SQL.format(chain=_chain_sql(len(chosen)), segments=segments_sql)
        rows = cur.execute(sql, {**params, "steps": list(chosen), "per_user": per == "user",
                                 "window": timedelta(days=window_days), "by": by,
                                 "unassigned": UNASSIGNED}).fetchall()
    groups = _funnel_groups(rows, chosen)
    total = groups.pop(None, FunnelGroup(ALL, _funnel_steps(chosen, {})))
    return Funnel(steps=chosen, per=per, window_days=float(window_days), by=by,
                  segment_source=source, total=total,
                  groups=tuple(groups[k] for k in sorted(groups, key=str)),
                  missing=tuple(s for s in chosen if s not in present))


def default_steps(ws: Workspace) -> tuple[str, ...]:
    """:data:`DEFAULT_STEPS` that the loaded events have (all of them when fewer than two do).

    A clickstream without checkout events gets view, cart, purchase instead of a funnel that
    stops at checkout; a purchase-only file keeps the full list, and its funnel's note says why.
    """
    with ws.cursor() as cur:
        present = set(_require_events(cur))
    found = tuple(s for s in DEFAULT_STEPS if s in present)
    return found if len(found) >= 2 else DEFAULT_STEPS


def paths(ws: Workspace, detail: str = "category", max_length: int = 6, top: int = 10,
          by: str | None = None, segment_run: str | None = None) -> Paths:
    """The most frequent session paths that end in a purchase and in abandonment.

    Parameters
    ----------
    ws : Workspace
        The workspace holding ``events``.
    detail : {"event", "category"}
        Label events by type only, or browse events (:data:`CATEGORY_TYPES`) by type and category.
    max_length : int
        Keep each path's last labels up to this many (the ones leading to the outcome).
    top : int
        Paths per outcome (and group).
    by : {None, "segment"}
        Also list the top paths per shopper segment.

    Returns
    -------
    Paths
        Rows of outcome, group, path, sessions and share of the outcome's sessions.

    Raises
    ------
    ConfigError
        Unknown ``detail`` or ``by``; ``max_length`` or ``top`` below 1.
    NotFoundError
        No events, or ``by="segment"`` with neither a segmentation run nor profiles.

    Examples
    --------
    >>> paths(ws).top("purchase")[0].path                        # doctest: +SKIP
    'view electronics > cart > checkout > purchase'
    """
    _check_choice("detail", detail, DETAILS)
    _check_choice("by", by, ("segment",), optional=True)
    _check_positive("max_length", max_length)
    _check_positive("top", top)
    with ws.cursor() as cur:
        _require_events(cur)
        segments_sql, params, source = _segments(cur, segment_run) if by else (_NO_SEGMENTS_SQL, {}, None)
        sql = _TOP_PATHS_SQL.format(session_paths=_SESSION_PATHS_SQL, segments=segments_sql)
        rows = cur.execute(sql, {**params, **_path_params(detail), "by": by, "top": top,
                                 "max_length": max_length, "unassigned": UNASSIGNED, "all": ALL}).fetchall()
    totals: dict[str, dict[str, int]] = {outcome: {} for outcome in OUTCOMES}
    for outcome, group, _, _, _, total in rows:
        totals[outcome][group] = int(total)
    return Paths(detail=detail, max_length=max_length, by=by, segment_source=source,
                 rows=tuple(PathRow(o, g, p, int(n), float(s)) for o, g, p, n, s, _ in rows),
                 totals=totals)


def sankey(ws: Workspace, detail: str = "event", max_steps: int = 5, min_share: float = 0.02,
           outcome: str = "all") -> Sankey:
    """Flow of sessions from their first label to their ``max_steps``-th (to the first purchase).

    Parameters
    ----------
    ws : Workspace
        The workspace holding ``events``.
    detail : {"event", "category"}
        As in :func:`paths`.
    max_steps : int
        Positions shown (>= 2).
    min_share : float
        A node seen in fewer than this share of the sessions is folded into ``other`` (0-1).
    outcome : {"all", "purchase", "abandonment"}
        Which sessions to draw.

    Returns
    -------
    Sankey
        Nodes (step, label, sessions) and links between consecutive steps.

    Raises
    ------
    ConfigError
        Unknown ``detail``/``outcome``, ``max_steps`` < 2 or ``min_share`` outside 0-1.
    NotFoundError
        No events.
    """
    _check_choice("detail", detail, DETAILS)
    _check_choice("outcome", outcome, SANKEY_OUTCOMES)
    if max_steps < 2:
        raise ConfigError(f"max_steps={max_steps!r}: a flow needs at least 2 steps.",
                          hint="Use 2 or more, e.g. 5.")
    if not 0 <= min_share <= 1:
        raise ConfigError(f"min_share={min_share!r} is not between 0 and 1.",
                          hint="Use e.g. 0.02 to fold nodes seen in under 2% of sessions.")
    with ws.cursor() as cur:
        _require_events(cur)
        rows = cur.execute(_SANKEY_SQL.format(session_paths=_SESSION_PATHS_SQL),
                           {**_path_params(detail), "outcome": outcome, "max_steps": max_steps,
                            "min_share": min_share, "other": OTHER}).fetchall()
    return _sankey_result(rows, detail, outcome, max_steps, min_share)


# ---------------------------------------------------------------------------------------------
# Helpers


def _chain_sql(n_steps: int) -> str:
    """The funnel events with chain state carried through steps 2..n (one window per step)."""
    sql = _FUNNEL_EVENTS_SQL
    for k in range(2, n_steps + 1):
        sql = _FUNNEL_STEP_SQL.format(k=k, k_prev=k - 1, source=sql)
    return sql


def _funnel_groups(rows: list[tuple[Any, ...]], steps: tuple[str, ...]) -> dict[str | None, FunnelGroup]:
    by_group: dict[str | None, dict[int, tuple[int, float | None, float | None]]] = {}
    for is_total, grp, step, units, from_prev, from_start in rows:
        key = None if is_total else str(grp)
        by_group.setdefault(key, {})[int(step)] = (int(units), from_prev, from_start)
    return {key: FunnelGroup(ALL if key is None else key, _funnel_steps(steps, found))
            for key, found in by_group.items()}


def _funnel_steps(steps: tuple[str, ...],
                  found: dict[int, tuple[int, float | None, float | None]]) -> tuple[FunnelStep, ...]:
    out: list[FunnelStep] = []
    first = found.get(1, (0, None, None))[0]
    for k, name in enumerate(steps, start=1):
        units, from_prev, from_start = found.get(k, (0, None, None))
        previous = out[-1].units if out else None
        out.append(FunnelStep(
            name=name, units=units,
            from_previous=None if previous is None else _ratio(units, previous),
            from_start=_ratio(units, first),
            median_seconds_from_previous=None if k == 1 or from_prev is None else float(from_prev),
            median_seconds_from_start=None if k == 1 or from_start is None else float(from_start)))
    return tuple(out)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _sankey_result(rows: list[tuple[Any, ...]], detail: str, outcome: str, max_steps: int,
                   min_share: float) -> Sankey:
    nodes = [SankeyNode(int(pos), str(label), int(n)) for is_node, pos, label, _, n, _ in rows
             if is_node]
    index = {(n.step, n.label): i for i, n in enumerate(nodes)}
    links = tuple(SankeyLink(index[(pos, label)], index[(pos + 1, after)], int(n))
                  for is_node, pos, label, after, n, _ in rows if not is_node and after is not None)
    sessions = int(rows[0][5]) if rows else 0
    return Sankey(detail=detail, outcome=outcome, max_steps=max_steps, min_share=min_share,
                  sessions=sessions, nodes=tuple(nodes), links=links)


def _path_params(detail: str) -> dict[str, Any]:
    return {"detail": detail, "category_types": list(CATEGORY_TYPES),
            "type_order": list(EVENT_TYPES)}


def _segments(cur: duckdb.DuckDBPyConnection,
              segment_run: str | None = None) -> tuple[str, dict[str, Any], str]:
    """The query giving each user's segment: ``segment_run``'s (default: the primary run's),
    else the RFM segment."""
    from analytics.segments.primary import resolve_run_id_of, run_name_of  # package loads sklearn

    if _table_exists(cur, "segment_runs"):
        run_id = resolve_run_id_of(cur, segment_run)
        if run_id is not None:
            name = run_name_of(cur, run_id)
            return _SEGMENTS_FROM_RUN_SQL, {"run_id": run_id}, f"segmentation run {name!r}"
    if _table_exists(cur, "profiles"):
        return _SEGMENTS_FROM_PROFILES_SQL, {}, "RFM segments (profiles)"
    raise NotFoundError(
        "There are no segments to break journeys down by: no segmentation run and no shopper "
        "profiles in this workspace.",
        hint="Build profiles (Profiles page or `shopper-lens profiles`) or run a segmentation, "
        "then try again.")


def _table_exists(cur: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(cur.execute(_TABLE_EXISTS_SQL, [name]).fetchall()[0][0])


def _require_events(cur: duckdb.DuckDBPyConnection) -> list[str]:
    """The event types present; raises NotFoundError when there are no events."""
    present = [str(r[0]) for r in cur.execute(_EVENT_TYPES_SQL).fetchall()]
    if not present:
        raise NotFoundError("There are no events to follow journeys in.",
                            hint="Load an events file on the Data page or with "
                            "`shopper-lens ingest PATH` (or load the demo shop).")
    return present


def _check_steps(cur: duckdb.DuckDBPyConnection, steps: tuple[str, ...]) -> list[str]:
    """Refuse a bad step list; return the event types the data has."""
    if len(steps) < 2:
        raise ConfigError(f"A funnel needs at least two steps; got {list(steps)}.",
                          hint="Add the step shoppers should reach, e.g. view,cart,purchase.")
    repeated = sorted({s for s in steps if steps.count(s) > 1})
    if repeated:
        raise ConfigError(f"Funnel steps must differ; repeated: {', '.join(repeated)}.",
                          hint="List each event type once, in funnel order.")
    present = _require_events(cur)
    unknown = [s for s in steps if s not in EVENT_TYPES and s not in present]
    if unknown:
        known = sorted(set(EVENT_TYPES) | set(present))
        raise ConfigError(f"Unknown funnel step(s): {', '.join(map(repr, unknown))}.",
                          hint=f"Use event types of this workspace: {', '.join(known)}.")
    return present


def _check_choice(name: str, value: str | None, choices: Sequence[str], optional: bool = False) -> None:
    if value is None and optional:
        return
    if value not in choices:
        allowed = ", ".join(choices) + (" or none" if optional else "")
        raise ConfigError(f"{name}={value!r} is not one of the choices.", hint=f"Use {allowed}.")


def _check_positive(name: str, value: int) -> None:
    if value < 1:
        raise ConfigError(f"{name}={value!r} must be at least 1.", hint=f"Use a positive {name}.")
