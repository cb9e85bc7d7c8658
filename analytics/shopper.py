"""Shopper 360: everything the workspace knows about one shopper, gathered in one view.

:func:`shopper_view` collects the profile row, the segments the shopper was put in by every
recorded segmentation run, their latest events, their aliases (loyalty cards, POS ids), CRM
attributes and predicted uplift. :func:`search_users` finds ids from a fragment for the search
box; an unknown id raises :class:`~analytics.errors.NotFoundError` naming look-alike ids.
Recommendations are not part of the view: they need trained models, which the caller keeps
(see :func:`analytics.recommend.preview`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd

from analytics.errors import ConfigError, NotFoundError
from analytics.experiments.store import UserUplift, user_uplift
from analytics.identity.masking import mask_digest, mask_hashed, mask_profile
from analytics.labels import money
from analytics.profiles import CATALOGUE, lookup
from analytics.segments.primary import primary_run_id
from analytics.workspace import Workspace

DEFAULT_RECENT = 50
MAX_RECENT = 5_000

# Is there anything about the id: events, a CRM record or a segment membership?
_KNOWN_SQL = """
SELECT EXISTS (SELECT 1 FROM events WHERE user_id = $id)
    OR EXISTS (SELECT 1 FROM users WHERE user_id = $id)
    OR EXISTS (SELECT 1 FROM segment_members WHERE user_id = $id)"""
_ALIAS_SQL = "SELECT user_id FROM identity_map WHERE alias = ?"

# Per event type: how many, first and last time, how many from offline sources (stores, POS).
_ACTIVITY_SQL = """
SELECT event_type, count(*) AS n, min(event_time) AS first_seen, max(event_time) AS last_seen,
       count(*) FILTER (WHERE source = 'offline') AS offline
FROM events WHERE user_id = ?
GROUP BY event_type ORDER BY n DESC, event_type"""

# The latest events, newest first, with the catalogue title when the item is in `items`.
_RECENT_SQL = """
SELECT e.event_time, e.event_type, e.item_id, t.title, e.category, e.brand, e.price, e.quantity,
       e.revenue, e.session_id, e.order_id, e.device, e.channel, e.source, e.search_query
FROM events e
LEFT JOIN (SELECT item_id, max(title) AS title FROM items GROUP BY item_id) t USING (item_id)
WHERE e.user_id = ?
ORDER BY e.event_time DESC, e.event_type
LIMIT ?"""

# One row per recorded segmentation run that contains the shopper, newest first.
_HISTORY_SQL = """
SELECT r.run_id, r.name AS run_name, r.method, r.created_at, m.segment_id, m.segment_name,
       m.probability
FROM segment_members m JOIN segment_runs r USING (run_id)
WHERE m.user_id = ?
ORDER BY r.created_at DESC, r.run_id"""

# Living segments: each spell the shopper spent in a segment of a refreshed run, newest first.
_SPELLS_SQL = """
SELECT h.run_id, r.name AS run_name, h.segment_name, h.valid_from, h.valid_to
FROM segment_history h JOIN segment_runs r USING (run_id)
WHERE h.user_id = ?
ORDER BY h.valid_from DESC, r.created_at DESC, h.run_id"""

_ALIASES_SQL = """
SELECT m.alias, max(i.alias_type) AS alias_type
FROM identity_map m LEFT JOIN identities i ON i.alias = m.alias  -- a chained alias keeps its type
WHERE m.user_id = ?
GROUP BY m.alias ORDER BY m.alias"""

# the shopper's CRM rows, then those of their aliases (a loyalty register's row for a
# linked card), each newest file first: merged key by key in that order (see _merged_crm).
_CRM_SQL = """
SELECT CAST(u.attributes AS VARCHAR) FROM users u JOIN datasets d USING (dataset_id)
WHERE u.user_id = $id
   OR u.user_id IN (SELECT alias FROM identity_map WHERE user_id = $id AND alias <> $id)
ORDER BY u.user_id = $id DESC, d.loaded_at DESC, u.user_id"""

# Ids (or aliases, which count for their master id) containing the typed text. Best first:
# exact id, then ids starting with the text, then the rest; shorter ids before longer ones.
# $pattern and $prefix are ILIKE patterns with % and _ escaped by a backslash.
_SEARCH_SQL = r"""
WITH hits AS (
    SELECT user_id, user_id AS matched FROM events
    WHERE user_id ILIKE $pattern ESCAPE '\' GROUP BY user_id
    UNION ALL
    SELECT user_id, user_id FROM users WHERE user_id ILIKE $pattern ESCAPE '\'
    UNION ALL
    SELECT user_id, alias FROM identity_map WHERE alias ILIKE $pattern ESCAPE '\'
)
SELECT user_id,
       min(CASE WHEN lower(matched) = lower($text) THEN 0
                WHEN matched ILIKE $prefix ESCAPE '\' THEN 1 ELSE 2 END) AS rank
FROM hits
GROUP BY user_id
ORDER BY rank, length(user_id), user_id
LIMIT $limit"""

# With nothing typed: the most active shoppers, a useful place to start.
_MOST_ACTIVE_SQL = """
SELECT user_id FROM events GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT ?"""

# Look-alike ids for an unknown one: the same letters and digits ignoring case, separators
# and leading zeros (u000012 for U-12) first, then close spellings (Jaro-Winkler).
_CLOSE_IDS_SQL = r"""
WITH known AS (SELECT DISTINCT user_id FROM events),
keyed AS (
    SELECT user_id,
           regexp_replace(regexp_replace(lower(user_id), '[^0-9a-z]', '', 'g'),
                          '(^|[^0-9])0+([0-9])', '\1\2', 'g') AS key,
           regexp_replace(regexp_replace(lower($id), '[^0-9a-z]', '', 'g'),
                          '(^|[^0-9])0+([0-9])', '\1\2', 'g') AS wanted,
           jaro_winkler_similarity(lower(user_id), lower($id)) AS similarity
    FROM known
)
SELECT user_id FROM keyed
WHERE key = wanted OR similarity >= $min_similarity
ORDER BY key = wanted DESC, similarity DESC, user_id
LIMIT $n"""

# Data that changes what the recommenders learn: events, loads, profiles and segmentations.
_VERSION_SQL = """
SELECT (SELECT count(*) FROM events), (SELECT max(loaded_at) FROM datasets),
       (SELECT max(created_at) FROM segment_runs),
       (SELECT count(*) FROM duckdb_tables() WHERE table_name = 'profiles')"""


@dataclass(frozen=True)
class SegmentMembership:
    """The segment one recorded segmentation run put the shopper in."""

    run_id: str
    run_name: str
    method: str
    created_at: datetime
    segment_id: int
    segment_name: str
    probability: float | None


@dataclass(frozen=True)
class SegmentSpell:
    """A stretch of time a refreshed (living) segmentation kept the shopper in one segment."""

    run_id: str
    run_name: str
    segment_name: str
    valid_from: datetime
    valid_to: datetime | None  # None: still in it


@dataclass(frozen=True)
class Alias:
    """Another id of the same shopper (loyalty card, POS id, hashed e-mail)."""

    alias: str
    alias_type: str | None


@dataclass(frozen=True)
class KeyMetric:
    """One profile number or label for the profile card, already formatted."""

    group: str
    name: str
    label: str
    value: str
    help: str


@dataclass(frozen=True)
class ShopperView:
    """What the workspace knows about one shopper.

    ``requested_id`` is the id asked for; ``user_id`` the master id it resolved to (they differ
    when an alias was given). ``profile`` is None when profiles are not built
    (``profiles_built`` False) or were built before the shopper's first event. ``segments``
    are newest first (one per run); ``spells`` the moves between segments that refreshes of
    living segmentations recorded, newest first; ``recent_events`` newest first.
    """

    user_id: str
    requested_id: str
    profile: dict[str, Any] | None
    profiles_built: bool
    events_total: int
    offline_events: int
    first_seen: datetime | None
    last_seen: datetime | None
    event_counts: dict[str, int]
    segments: tuple[SegmentMembership, ...]
    spells: tuple[SegmentSpell, ...]
    recent_events: pd.DataFrame
    aliases: tuple[Alias, ...]
    crm: dict[str, Any]
    uplift: UserUplift | None
    primary_run_id: str | None = None
    #: one plain sentence per predicted lifetime-value number (empty: no fit covers them)
    lifetime: tuple[str, ...] = ()

    @property
    def current_segment(self) -> SegmentMembership | None:
        """The shopper's segment in the primary segmentation, else in the newest run holding them."""
        return self.segment_of(self.primary_run_id) or (self.segments[0] if self.segments else None)

    def segment_of(self, run_id: str | None) -> SegmentMembership | None:
        """The shopper's segment in run ``run_id`` (None when that run does not hold them)."""
        return next((s for s in self.segments if s.run_id == run_id), None)

    @property
    def shopping_channel(self) -> str:
        """Where the shopper's events come from: online, in store or both."""
        online = self.events_total - self.offline_events
        if online and self.offline_events:
            return "omnichannel (online and in store)"
        if self.offline_events:
            return "in store only"
        return "online only" if online else "no events"

    def history_frame(self) -> pd.DataFrame:
        """The segment history as a table: run, method, when, segment, probability."""
        columns = ["run_name", "method", "created_at", "segment_name", "probability", "run_id"]
        return pd.DataFrame([asdict(s) for s in self.segments],
                            columns=[*columns, "segment_id"])[columns]

    def spells_frame(self) -> pd.DataFrame:
        """Moves between segments of living segmentations: run, segment, from, to."""
        columns = ["run_name", "segment_name", "valid_from", "valid_to", "run_id"]
        return pd.DataFrame([asdict(s) for s in self.spells], columns=columns)

    def as_json(self) -> dict[str, Any]:
        records = self.recent_events.to_dict(orient="records")
        return {
            "user_id": self.user_id, "requested_id": self.requested_id,
            "profile": _jsonable(self.profile), "profiles_built": self.profiles_built,
            "events_total": self.events_total, "offline_events": self.offline_events,
            "shopping_channel": self.shopping_channel,
            "first_seen": _jsonable(self.first_seen), "last_seen": _jsonable(self.last_seen),
            "event_counts": self.event_counts,
            "current_segment": _jsonable(asdict(self.current_segment))
            if self.current_segment else None,
            "segments": [_jsonable(asdict(s)) for s in self.segments],
            "primary_run_id": self.primary_run_id,
            "spells": [_jsonable(asdict(s)) for s in self.spells],
            "recent_events": [_jsonable(r) for r in records],
            "aliases": [asdict(a) for a in self.aliases], "crm": _jsonable(self.crm),
            "uplift": self.uplift.as_json() if self.uplift else None,
            "lifetime": list(self.lifetime),
        }


def shopper_view(ws: Workspace, user_id: str, recent: int = DEFAULT_RECENT) -> ShopperView:
    """Everything about one shopper: profile, segment history, latest events, aliases, CRM, uplift.

    Parameters
    ----------
    ws : Workspace
        The workspace.
    user_id : str
        A master user id, or an alias (loyalty card, POS id) that resolves to one.
    recent : int
        How many of the latest events to return (1..5,000).

    Raises
    ------
    NotFoundError
        When neither the id nor an alias of it is known, naming look-alike ids.
    ConfigError
        When ``recent`` is out of range.

    Examples
    --------
    >>> view = shopper_view(ws, "u000001")                   # doctest: +SKIP
    >>> view.current_segment.segment_name                    # doctest: +SKIP
    'Loyal high spenders'
    """
    if not 1 <= recent <= MAX_RECENT:
        raise ConfigError(f"recent={recent} is not between 1 and {MAX_RECENT:,}.",
                          hint="Ask for e.g. the latest 50 events.")
    requested = str(user_id).strip()
    master = resolve_user(ws, requested)
    profile, built = _profile(ws, master)
    with ws.cursor() as cur:
        activity = cur.execute(_ACTIVITY_SQL, [master]).fetchall()
        events = cur.execute(_RECENT_SQL, [master, recent]).df()
        history = cur.execute(_HISTORY_SQL, [master]).fetchall()
        spells = cur.execute(_SPELLS_SQL, [master]).fetchall()
        aliases = cur.execute(_ALIASES_SQL, [master]).fetchall()
        crm = _merged_crm(cur.execute(_CRM_SQL, {"id": master}).fetchall())
    return ShopperView(
        user_id=master, requested_id=requested, profile=mask_profile(profile), profiles_built=built,
        events_total=sum(int(row[1]) for row in activity),
        offline_events=sum(int(row[4]) for row in activity),
        first_seen=min((row[2] for row in activity), default=None),
        last_seen=max((row[3] for row in activity), default=None),
        event_counts={str(row[0]): int(row[1]) for row in activity},
        segments=tuple(SegmentMembership(*row) for row in history),
        spells=tuple(SegmentSpell(*row) for row in spells),
        recent_events=events,
        # hashed values (e-mail, phone, name and its Soundex code…) are shown shortened
        aliases=tuple(Alias(mask_digest(a), t) for a, t in aliases),
        crm=mask_hashed(crm),
        uplift=user_uplift(ws, master), primary_run_id=primary_run_id(ws),
        lifetime=_lifetime(ws, profile))


def _merged_crm(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """One set of CRM attributes from rows best first: each key from the first row that has
    it (not empty). Why merge: a loyalty register knows the card's home store and postcode,
    the CRM file the e-mail; linked, they describe one shopper."""
    merged: dict[str, Any] = {}
    for (text,) in rows:
        for key, value in (json.loads(text) if text else {}).items():
            if key not in merged and value not in (None, ""):
                merged[key] = value
    return merged


def _lifetime(ws: Workspace, profile: dict[str, Any] | None) -> tuple[str, ...]:
    """The latest lifetime-value fit's numbers for this shopper, in plain sentences."""
    from analytics.predict.store import latest_fit, sentences

    fit = latest_fit(ws) if profile is not None and "p_alive" in profile else None
    return tuple(sentences(profile, fit.horizon_days)) if fit and profile else ()


def resolve_user(ws: Workspace, user_id: str) -> str:
    """The master id of ``user_id`` (itself, or the shopper an alias belongs to).

    Raises NotFoundError with look-alike ids when nothing is known about it.
    """
    with ws.cursor() as cur:
        # an alias resolves to its master first, even when the alias has rows of its own
        # (a loyalty register gives card ids CRM rows)
        master = cur.execute(_ALIAS_SQL, [user_id]).fetchall()
        if master:
            return str(master[0][0])
        if cur.execute(_KNOWN_SQL, {"id": user_id}).fetchall()[0][0]:
            return user_id
        close = _close_ids(cur, user_id)
        empty = not cur.execute("SELECT EXISTS (SELECT 1 FROM events)").fetchall()[0][0]
    if empty:
        raise NotFoundError("There are no shoppers in this workspace yet.",
                            hint="Load events on the Data page or with `shopper-lens ingest PATH`.")
    suggestion = f" Similar ids: {', '.join(close)}." if close else ""
    raise NotFoundError(
        f"No shopper {user_id!r} in this workspace: no events, CRM record, segment or alias "
        f"has this id.{suggestion}",
        hint="Ids are case-sensitive. Type part of the id in the Shopper 360 search box to see "
        "matching ids.", title="Shopper not found")


def _close_ids(cur: duckdb.DuckDBPyConnection, user_id: str, n: int = 3,
               min_similarity: float = 0.8) -> list[str]:
    rows = cur.execute(_CLOSE_IDS_SQL, {"id": user_id, "n": n,
                                        "min_similarity": min_similarity}).fetchall()
    return [str(row[0]) for row in rows]


def _profile(ws: Workspace, user_id: str) -> tuple[dict[str, Any] | None, bool]:
    try:
        return lookup(ws, user_id), True
    except NotFoundError:
        return None, False


def search_users(ws: Workspace, text: str, limit: int = 20) -> list[str]:
    """Master ids whose id (or an alias) contains ``text``, case-insensitive; best match first.

    ``%`` and ``_`` in ``text`` are literal characters, not wildcards. An empty ``text`` lists
    the most active shoppers (most events first).

    Examples
    --------
    >>> search_users(ws, "00012", limit=3)                   # doctest: +SKIP
    ['u000120', 'u000121', 'u000122']
    """
    if limit < 1:
        raise ConfigError(f"limit={limit} must be at least 1.", hint="Ask for e.g. 20 matches.")
    if not text.strip():
        with ws.cursor() as cur:
            return [str(row[0]) for row in cur.execute(_MOST_ACTIVE_SQL, [limit]).fetchall()]
    literal = escape_like(text.strip())
    params = {"pattern": f"%{literal}%", "prefix": f"{literal}%", "text": text.strip(),
              "limit": limit}
    with ws.cursor() as cur:
        return [str(row[0]) for row in cur.execute(_SEARCH_SQL, params).fetchall()]


def escape_like(text: str) -> str:
    """``text`` as a literal inside a LIKE/ILIKE pattern with ``ESCAPE '\\'``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def data_version(ws: Workspace) -> str:
    """A token that changes whenever data that recommenders learn from changes (cache key)."""
    with ws.cursor() as cur:
        events, loaded, segmented, profiles = cur.execute(_VERSION_SQL).fetchall()[0]
    return f"{events}|{loaded}|{segmented}|{profiles}"


#: The profile card: (feature, label, format) per group; labels are categorical features.
CARD: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    ("Who", (("rfm_segment", "RFM segment", "{}"), ("top_category", "Top category", "{}"),
             ("main_device", "Device", "{}"), ("main_channel", "Channel", "{}"))),
    ("RFM", (("recency_days", "Days since purchase", "{:,.0f}"), ("frequency", "Orders", "{:,.0f}"),
             ("monetary", "Spend", "{:,.2f}"), ("avg_order_value", "Avg order value", "{:,.2f}"))),
    ("Engagement", (("events", "Events", "{:,.0f}"), ("sessions", "Sessions", "{:,.0f}"),
                    ("days_since_last_event", "Days since last visit", "{:,.0f}"),
                    ("events_30d", "Events (30 days)", "{:,.0f}"))),
    ("Intent", (("cart_adds", "Cart adds", "{:,.0f}"),
                ("cart_abandonment_rate", "Cart abandonment", "{:.0%}"),
                ("wishlist_adds", "Wishlist adds", "{:,.0f}"), ("searches", "Searches", "{:,.0f}"))),
    ("Context", (("mobile_share", "Mobile share", "{:.0%}"),
                 ("preferred_hour_band", "Usual time", "{}"),
                 ("offline_share", "In-store revenue share", "{:.0%}"),
                 ("country", "Country", "{}"))),
)


def key_metrics(profile: dict[str, Any]) -> tuple[KeyMetric, ...]:
    """The profile card's numbers and labels, formatted ("—" when a value is missing)."""
    help_of = {f.name: f.help for f in CATALOGUE}
    return tuple(KeyMetric(group, name, label, _format(profile.get(name), fmt), help_of[name])
                 for group, entries in CARD for name, label, fmt in entries)


def _format(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "—"
    if fmt == "{:,.2f}":  # the card's amounts are money, shown with the currency setting
        return money(float(value))
    return fmt.format(value)


def _jsonable(value: Any) -> Any:
    """Plain JSON values: NaN -> None, timestamps -> ISO text, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
