"""The inputs every recommender learns from: a weighted, time-decayed shopper × item matrix.

One DuckDB statement aggregates the events per (shopper, item): each event counts with the
weight of its type (view 1, wishlist 2, cart 3, purchase 5 by default) and, in ``matrix``,
halves every ``half_life_days`` before the end of the period, so recent browsing weighs more.
Beside it: which items each shopper bought, their most recent items, item-to-next-item
transitions, and per-shopper context (segment, device, channel) for cold-start fallbacks.
The catalogue (:class:`ItemCatalog`) joins the ``items`` table with what the events say.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, NoReturn

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from analytics.errors import ConfigError, NotFoundError, ShopperLensError
from analytics.segments.primary import resolve_run_id_of, run_name_of
from analytics.workspace import Workspace

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ObjArray = npt.NDArray[np.object_]

# h11a: "rate" (explicit feedback) counts by its rating, see RATING_SCALE_SQL.
DEFAULT_WEIGHTS: Mapping[str, float] = {"view": 1.0, "wishlist": 2.0, "cart": 3.0, "purchase": 5.0,
                                        "rate": 4.0}
DEFAULT_HALF_LIFE_DAYS = 30.0
RECENT_ITEMS = 5
SEQUENCE_GAP_HOURS = 48.0


@dataclass(frozen=True)
class Scope:
    """Which events to learn from: a SQL ``FROM``-able relation over ``events`` and its values.

    ``sql`` must be one of this package's named constants (never user text); values are bound.
    """

    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str = "all events"


SCOPE_ALL = Scope("SELECT * FROM events")

# Per-shopper aggregation: decayed and raw weights, bought flag, first/last time, recency rank.
INTERACTIONS_SQL = """
WITH scoped AS ({scope}),
weighted AS (
    SELECT user_id, item_id, event_time,
           $weights[list_position($types, event_type)] * {rating_scale} AS w,
           event_type = 'purchase' AS bought
    FROM scoped
    WHERE item_id IS NOT NULL
),
bounds AS (SELECT max(event_time) AS as_of FROM scoped)
SELECT user_id, item_id,
       greatest(sum(w * pow(0.5, date_diff('second', event_time, b.as_of) / 86400.0
                                / $half_life)), 1e-30) AS weight,
       sum(w) AS raw,
       bool_or(bought) AS purchased,
       date_diff('second', min(event_time), any_value(b.as_of)) / 86400.0 AS first_age_days,
       date_diff('second', max(event_time), any_value(b.as_of)) / 86400.0 AS last_age_days,
       count(*) FILTER (WHERE bought) AS purchases,
       date_diff('second', max(event_time) FILTER (WHERE bought), any_value(b.as_of)) / 86400.0
           AS last_purchase_age_days,
       row_number() OVER (PARTITION BY user_id ORDER BY max(event_time) DESC, item_id) AS recency
FROM weighted, bounds b
WHERE w IS NOT NULL AND w > 0
GROUP BY user_id, item_id
"""

# h11a: a rate event counts its type's weight times 2 * (rating / top rating - 0.5), so the top
# rating counts fully (5 of 5: 1.0, 4: 0.6, 3: 0.2) and the lower half of the scale (dislikes)
# not at all; a rate event without a rating counts fully.
RATING_SCALE_SQL = """(CASE WHEN event_type = 'rate' THEN coalesce(greatest(2 * (
    rating / nullif((SELECT max(rating) FROM scoped WHERE event_type = 'rate'), 0) - 0.5), 0), 1)
    ELSE 1 END)"""
INTERACTIONS_SQL = INTERACTIONS_SQL.replace("{rating_scale}", RATING_SCALE_SQL)

USERS_SQL = """
WITH scoped AS ({scope})
SELECT user_id, count(*) AS events,
       mode(device ORDER BY device) AS device, mode(channel ORDER BY channel) AS channel,  -- ties: first name
       max(event_time) AS last_event
FROM scoped
GROUP BY user_id
ORDER BY user_id
"""

# Consecutive distinct items of one shopper (any weighted event type) no more than $gap apart:
# "what shoppers view or buy after an item".
TRANSITIONS_SQL = """
WITH scoped AS ({scope}),
steps AS (
    SELECT item_id,
           lead(item_id) OVER w AS next_item,
           date_diff('second', event_time, lead(event_time) OVER w) AS gap
    FROM scoped
    WHERE item_id IS NOT NULL AND list_contains($types, event_type)
    WINDOW w AS (PARTITION BY user_id ORDER BY event_time, item_id)
)
SELECT item_id, next_item, count(*) AS n
FROM steps
WHERE next_item IS NOT NULL AND next_item <> item_id AND gap <= $gap
GROUP BY item_id, next_item
"""

CATALOGUE_SQL = """
WITH scoped AS ({scope}),
seen AS (
    SELECT item_id, mode(category ORDER BY category) AS category, mode(brand ORDER BY brand) AS brand,
           median(price) AS price
    FROM scoped WHERE item_id IS NOT NULL GROUP BY item_id
),
listed AS (
    SELECT item_id, arg_max(title, title IS NOT NULL) AS title,
           arg_max(category, category IS NOT NULL) AS category,
           arg_max(brand, brand IS NOT NULL) AS brand,
           arg_max(price, price IS NOT NULL) AS price
    FROM items WHERE item_id IS NOT NULL GROUP BY item_id
)
SELECT item_id,
       coalesce(l.title, item_id) AS title,
       coalesce(l.category, s.category) AS category,
       coalesce(l.brand, s.brand) AS brand,
       coalesce(l.price, s.price) AS price
FROM seen s FULL OUTER JOIN listed l USING (item_id)
ORDER BY item_id
"""

_TABLE_EXISTS_SQL = "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?"
_RUN_MEMBERS_SQL = "SELECT user_id, segment_name FROM segment_members WHERE run_id = ?"
_RFM_SQL = "SELECT user_id, rfm_segment FROM profiles"


@dataclass(frozen=True)
class ItemCatalog:
    """Item metadata aligned with :attr:`Interactions.item_ids` (one entry per column)."""

    item_ids: ObjArray
    titles: ObjArray
    categories: ObjArray
    brands: ObjArray
    prices: FloatArray

    @cached_property
    def index(self) -> dict[str, int]:
        return {item: i for i, item in enumerate(self.item_ids)}

    def title(self, i: int) -> str:
        return str(self.titles[i])

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"item_id": self.item_ids, "title": self.titles,
                             "category": self.categories, "brand": self.brands,
                             "price": self.prices})


@dataclass(frozen=True)
class Interactions:
    """Shopper × item evidence, all sparse matrices share the row/column order below.

    Attributes
    ----------
    user_ids, item_ids : arrays of str
        Row and column labels (sorted).
    matrix : csr_matrix (users × items)
        Weighted, time-decayed interaction strength (what the models learn from).
    raw : csr_matrix
        The same weights without decay (popularity counts).
    purchased : csr_matrix
        1 where the shopper bought the item.
    recent : csr_matrix
        The shopper's last ``RECENT_ITEMS`` items, weight 1 / recency rank.
    last_age_days, first_age_days : arrays aligned with ``matrix.data``
        Days from the last / first interaction of each entry to ``as_of``.
    bought : bool array aligned with ``matrix.data``
        Whether the entry includes a purchase (``purchased`` as entry flags).
    transitions : csr_matrix (items × items)
        How often one item was followed by another.
    events : int array per user
        Events of any type (search and checkout included) in scope.
    segments, devices, channels : arrays of str or None per user
        Context for cold-start fallbacks.
    segment_source : str
        Where the segment labels came from (a segmentation run, RFM segments, or none).
    purchases, last_purchase_age_days : arrays aligned with ``matrix.data``
        How many purchase events each entry holds, and days from its last purchase to
        ``as_of`` (NaN when never bought): what the buy-again model ranks by.
    """

    user_ids: ObjArray
    item_ids: ObjArray
    matrix: sp.csr_matrix
    raw: sp.csr_matrix
    purchased: sp.csr_matrix
    recent: sp.csr_matrix
    last_age_days: FloatArray
    first_age_days: FloatArray
    bought: npt.NDArray[np.bool_]
    transitions: sp.csr_matrix
    events: IntArray
    segments: ObjArray
    devices: ObjArray
    channels: ObjArray
    segment_source: str
    as_of: datetime | None
    scope: str = "all events"
    purchases: FloatArray = field(default_factory=lambda: np.zeros(0))
    last_purchase_age_days: FloatArray = field(default_factory=lambda: np.zeros(0))

    @cached_property
    def user_index(self) -> dict[str, int]:
        return {user: i for i, user in enumerate(self.user_ids)}

    @cached_property
    def item_index(self) -> dict[str, int]:
        return {item: i for i, item in enumerate(self.item_ids)}

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @cached_property
    def items_per_user(self) -> IntArray:
        return np.asarray(np.diff(self.matrix.indptr), dtype=np.int64)

    def rows(self, user_ids: Any) -> IntArray:
        """Row positions of ``user_ids``; -1 for shoppers not in the data."""
        index = self.user_index
        return np.fromiter((index.get(str(u), -1) for u in user_ids), dtype=np.int64)

    def without_recent(self, days: float) -> tuple[Interactions, sp.csr_matrix]:
        """Hold out entries first seen in the last ``days``: (earlier part, held-out entries).

        A temporal validation split inside a training set (no event log needed): the held-out
        matrix marks (shopper, item) pairs that are new in the window, bought ones with 2.
        """
        keep = self.first_age_days >= days
        held = self.matrix.copy()
        held.data = np.where(keep, 0.0, 1.0 + self.bought)
        held.eliminate_zeros()
        return replace_entries(self, keep), held


def replace_entries(inter: Interactions, keep: npt.NDArray[np.bool_]) -> Interactions:
    """A copy of ``inter`` keeping only the matrix entries where ``keep`` is true."""
    def masked(m: sp.csr_matrix) -> sp.csr_matrix:  # m shares the sparsity of inter.matrix
        out = m.copy()
        out.data = np.where(keep, out.data, 0.0).astype(np.float32)
        out.eliminate_zeros()
        return out

    matrix = masked(inter.matrix)
    present = matrix > 0
    return Interactions(
        user_ids=inter.user_ids, item_ids=inter.item_ids, matrix=matrix, raw=masked(inter.raw),
        purchased=inter.purchased.multiply(present).tocsr(),
        recent=inter.recent.multiply(present).tocsr(),
        last_age_days=inter.last_age_days[keep], first_age_days=inter.first_age_days[keep],
        bought=inter.bought[keep],
        transitions=inter.transitions, events=inter.events, segments=inter.segments,
        devices=inter.devices, channels=inter.channels, segment_source=inter.segment_source,
        as_of=inter.as_of, scope=inter.scope + ", validation part",
        purchases=inter.purchases[keep] if len(inter.purchases) else inter.purchases,
        last_purchase_age_days=(inter.last_purchase_age_days[keep]
                                if len(inter.last_purchase_age_days)
                                else inter.last_purchase_age_days))


def build(ws: Workspace, scope: Scope = SCOPE_ALL, *,
          weights: Mapping[str, float] | None = None,
          half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
          sequence_gap_hours: float = SEQUENCE_GAP_HOURS,
          segment_run: str | None = None) -> tuple[Interactions, ItemCatalog]:
    """Aggregate the events in ``scope`` into :class:`Interactions` and the item catalogue.

    Parameters
    ----------
    ws : Workspace
        The workspace with ``events`` (and optionally ``items``, profiles, segment runs).
    scope : Scope
        Which events count (default: all; evaluation passes a training window).
    weights : mapping of event type to weight, optional
        Default :data:`DEFAULT_WEIGHTS`; event types not listed are ignored.
    half_life_days : float
        Days after which an event counts half as much in ``matrix``.
    sequence_gap_hours : float
        Longest gap between two items that still counts as "next item".
    segment_run : str, optional
        The segmentation run whose segments the cold-start fallback uses (default: the primary).

    Raises
    ------
    NotFoundError
        When there are no events, or none carries an item id.
    ShopperLensError
        When only one distinct item exists (nothing to recommend besides it).

    Examples
    --------
    >>> inter, items = build(ws, weights={"view": 1, "purchase": 10})   # doctest: +SKIP
    """
    weights = _check_weights(weights or DEFAULT_WEIGHTS, half_life_days)
    values = {"types": list(weights), "weights": [float(w) for w in weights.values()]}
    with ws.cursor() as cur:
        users = _fetch(cur, USERS_SQL, scope, {})
        if users.empty:
            raise NotFoundError(f"There are no events to learn recommendations from ({scope.label}).",
                                hint="Load an events file on the Data page or with "
                                "`shopper-lens ingest PATH`.")
        catalogue = _fetch(cur, CATALOGUE_SQL, scope, {})
        _check_catalogue(catalogue, scope)
        user_ids = users["user_id"].astype(str).to_numpy(dtype=object)
        item_ids = catalogue["item_id"].astype(str).to_numpy(dtype=object)
        with _code_tables(cur, user_ids, item_ids):
            pairs = _coded_pairs(cur, scope, {**values, "half_life": half_life_days},
                                 (len(user_ids), len(item_ids)))
            if pairs.nnz == 0:
                _no_weighted_pairs(weights, scope)
            transitions = _coded_transitions(
                cur, scope, {"types": values["types"], "gap": sequence_gap_hours * 3600},
                len(item_ids))
        segments, source = _segments(cur, segment_run)
    return (_assemble(users, user_ids, item_ids, pairs, transitions, segments, source, scope),
            _catalog(catalogue))


def _check_weights(weights: Mapping[str, float], half_life_days: float) -> dict[str, float]:
    if half_life_days <= 0:
        raise ConfigError(f"half_life_days={half_life_days!r} must be positive.",
                          hint="Use e.g. 30 (an event a month old counts half).")
    clean = {str(k).strip().lower(): float(v) for k, v in weights.items()}
    if not any(w > 0 for w in clean.values()):
        raise ConfigError("Every event weight is zero, so no event would count.",
                          hint="Give at least one event type a positive weight, e.g. view=1.")
    return clean


def _fetch(cur: duckdb.DuckDBPyConnection, sql: str, scope: Scope,
           params: Mapping[str, Any]) -> pd.DataFrame:
    query = sql.replace("{scope}", scope.sql)
    used = {k: v for k, v in {**scope.params, **params}.items() if f"${k}" in query}
    try:
        return cur.execute(query, used).df()
    except duckdb.Error as e:
        raise ShopperLensError(f"Reading interactions from the events failed: {e}",
                               hint="Check that the events table is intact (Data page).",
                               title="Recommendations not trained") from e


def _check_catalogue(catalogue: pd.DataFrame, scope: Scope) -> None:
    if catalogue.empty:
        raise NotFoundError(
            f"No event carries an item id ({scope.label}), so there is nothing to recommend.",
            hint="Map the product / SKU column to item_id when loading events (Data page).")
    if len(catalogue) < 2:
        raise ShopperLensError(
            f"Only one item ({catalogue['item_id'].iloc[0]}) is known; recommendations need at "
            "least two items to choose from.",
            hint="Load the full catalogue or more events.", title="Too few items")


def _no_weighted_pairs(weights: Mapping[str, float], scope: Scope) -> NoReturn:
    types = ", ".join(t for t, w in weights.items() if w > 0)
    raise NotFoundError(
        f"No event of a weighted type ({types}) carries an item id ({scope.label}).",
        hint="Give a weight to the event types you have, e.g. --weight purchase=5.")


def _segments(cur: duckdb.DuckDBPyConnection,
              segment_run: str | None = None) -> tuple[dict[str, str], str]:
    """``segment_run``'s labels (default: the primary run's), else RFM segments, else none."""
    def exists(name: str) -> bool:
        return bool(cur.execute(_TABLE_EXISTS_SQL, [name]).fetchall()[0][0])

    if exists("segment_runs"):
        run_id = resolve_run_id_of(cur, segment_run)
        if run_id is not None:
            members = cur.execute(_RUN_MEMBERS_SQL, [run_id]).fetchall()
            return {str(u): str(s) for u, s in members}, f"segmentation run '{run_name_of(cur, run_id)}'"
    if exists("profiles"):
        rows = cur.execute(_RFM_SQL).fetchall()
        return {str(u): str(s) for u, s in rows if s is not None}, "RFM segments (profiles)"
    return {}, "none (build profiles or run a segmentation for segment popularity)"


# The (shopper, item) pairs as integer codes computed in DuckDB (a join to the code
# tables registered from the vocabularies), ordered by row then column, so they stream into
# NumPy arrays and a CSR matrix without one Python object per pair (at 100M events the pandas
# frame of string pairs alone outgrew 24 GB).
CODED_PAIRS_SQL = """
SELECT u.code AS "row", i.code AS col, CAST(p.weight AS FLOAT) AS weight,
       CAST(p.raw AS FLOAT) AS raw, p.purchased, p.first_age_days, p.last_age_days,
       CAST(p.purchases AS DOUBLE) AS purchases,
       coalesce(p.last_purchase_age_days, CAST('NaN' AS DOUBLE)) AS last_purchase_age_days,
       CAST(p.recency AS INTEGER) AS recency
FROM ({pairs}) p
JOIN _shopper_lens_user_codes u ON u.user_id = CAST(p.user_id AS VARCHAR)
JOIN _shopper_lens_item_codes i ON i.item_id = CAST(p.item_id AS VARCHAR)
ORDER BY "row", col
"""

CODED_TRANSITIONS_SQL = """
SELECT a.code AS "row", b.code AS col, CAST(t.n AS FLOAT) AS n
FROM ({transitions}) t
JOIN _shopper_lens_item_codes a ON a.item_id = CAST(t.item_id AS VARCHAR)
JOIN _shopper_lens_item_codes b ON b.item_id = CAST(t.next_item AS VARCHAR)
"""

FETCH_BATCH_ROWS = 1_000_000


@dataclass(frozen=True)
class _Pairs:
    """The coded pair columns (sorted by row, then column) and the CSR row pointer."""

    indptr: IntArray
    cols: npt.NDArray[np.int32]
    columns: dict[str, npt.NDArray[Any]]
    recent: sp.csr_matrix
    purchased: sp.csr_matrix

    @property
    def nnz(self) -> int:
        return len(self.cols)


@contextmanager
def _code_tables(cur: duckdb.DuckDBPyConnection, user_ids: ObjArray,
                 item_ids: ObjArray) -> Iterator[None]:
    """Register the vocabularies as (id, position) tables for the coded queries, then drop them."""
    import pyarrow as pa

    for name, key, ids in (("_shopper_lens_user_codes", "user_id", user_ids),
                           ("_shopper_lens_item_codes", "item_id", item_ids)):
        cur.register(name, pa.table({key: pa.array(ids, type=pa.string()),
                                     "code": pa.array(np.arange(len(ids), dtype=np.int32))}))
    try:
        yield
    finally:
        cur.unregister("_shopper_lens_user_codes")
        cur.unregister("_shopper_lens_item_codes")


def _batches(cur: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any]) -> Iterator[Any]:
    """The result of ``sql`` as Arrow record batches (streamed, not one materialised frame)."""
    try:
        relation = cur.sql(sql, params=dict(params))  # a relation streams; execute() copies it all
        reader = None if relation is None else relation.to_arrow_reader(FETCH_BATCH_ROWS)
        if reader is not None:
            yield from reader
    except duckdb.Error as e:
        raise ShopperLensError(f"Reading interactions from the events failed: {e}",
                               hint="Check that the events table is intact (Data page).",
                               title="Recommendations not trained") from e


def _scoped(sql: str, scope: Scope, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    query = sql.replace("{scope}", scope.sql)
    return query, {k: v for k, v in {**scope.params, **params}.items() if f"${k}" in query}


_PAIR_COLUMNS = ("weight", "raw", "purchased", "first_age_days", "last_age_days", "purchases",
                 "last_purchase_age_days")


def _coded_pairs(cur: duckdb.DuckDBPyConnection, scope: Scope, params: Mapping[str, Any],
                 shape: tuple[int, int]) -> _Pairs:
    """Stream the coded pairs into per-column arrays; rows become counts (the CSR indptr)."""
    inner, used = _scoped(INTERACTIONS_SQL, scope, params)
    sql = CODED_PAIRS_SQL.replace("{pairs}", inner)
    n_users = shape[0]
    counts = np.zeros(n_users, dtype=np.int64)
    chunks: dict[str, list[npt.NDArray[Any]]] = {c: [] for c in ("col", *_PAIR_COLUMNS)}
    recent: list[tuple[npt.NDArray[Any], ...]] = []
    bought: list[tuple[npt.NDArray[Any], ...]] = []
    for batch in _batches(cur, sql, used):
        arrays = {name: batch.column(name).to_numpy(zero_copy_only=False)
                  for name in batch.schema.names}
        rows, cols = arrays["row"], arrays["col"]
        counts += np.bincount(rows, minlength=n_users)
        for name, chunk in chunks.items():
            chunk.append(arrays[name])
        near = arrays["recency"] <= RECENT_ITEMS
        recent.append((rows[near], cols[near], arrays["recency"][near]))
        mask = arrays["purchased"].astype(bool)
        bought.append((rows[mask], cols[mask]))
    columns = {name: _concat(chunks.pop(name), _DTYPES[name]) for name in _PAIR_COLUMNS}
    cols_all = _concat(chunks.pop("col"), np.dtype(np.int32))
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return _Pairs(indptr=indptr, cols=cols_all, columns=columns,
                  recent=_recent_matrix(recent, shape), purchased=_flags(bought, shape))


_DTYPES = {"weight": np.dtype(np.float32), "raw": np.dtype(np.float32),
           "purchased": np.dtype(bool), "first_age_days": np.dtype(np.float64),
           "last_age_days": np.dtype(np.float64), "purchases": np.dtype(np.float64),
           "last_purchase_age_days": np.dtype(np.float64)}


def _concat(chunks: list[npt.NDArray[Any]], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """One array from the batches' pieces, freeing the pieces (the peak is one extra column)."""
    out = np.concatenate(chunks).astype(dtype, copy=False) if chunks else np.zeros(0, dtype)
    chunks.clear()
    return out


def _recent_matrix(parts: list[tuple[npt.NDArray[Any], ...]],
                   shape: tuple[int, int]) -> sp.csr_matrix:
    """Each shopper's last RECENT_ITEMS items, weight 1 / recency rank."""
    rows, cols, rank = _stack(parts, 3)
    return sp.csr_matrix(((1.0 / rank).astype(np.float32), (rows, cols)), shape=shape)


def _flags(parts: list[tuple[npt.NDArray[Any], ...]], shape: tuple[int, int]) -> sp.csr_matrix:
    """1 where the shopper bought the item."""
    rows, cols = _stack(parts, 2)
    return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=shape)


def _stack(parts: list[tuple[npt.NDArray[Any], ...]], width: int) -> list[npt.NDArray[Any]]:
    if not parts:
        return [np.zeros(0, dtype=np.int32) for _ in range(width)]
    return [np.concatenate(p) for p in zip(*parts, strict=True)]


def _coded_transitions(cur: duckdb.DuckDBPyConnection, scope: Scope, params: Mapping[str, Any],
                       n_items: int) -> sp.csr_matrix:
    inner, used = _scoped(TRANSITIONS_SQL, scope, params)
    rows, cols, counts = [], [], []
    for batch in _batches(cur, CODED_TRANSITIONS_SQL.replace("{transitions}", inner), used):
        rows.append(batch.column("row").to_numpy(zero_copy_only=False))
        cols.append(batch.column("col").to_numpy(zero_copy_only=False))
        counts.append(batch.column("n").to_numpy(zero_copy_only=False))
    if not rows:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    return sp.csr_matrix((np.concatenate(counts), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n_items, n_items))


def _assemble(users: pd.DataFrame, user_ids: ObjArray, item_ids: ObjArray, pairs: _Pairs,
              transitions: sp.csr_matrix, segments: dict[str, str], source: str,
              scope: Scope) -> Interactions:
    shape = (len(user_ids), len(item_ids))
    c = pairs.columns

    def csr(data: npt.NDArray[Any]) -> sp.csr_matrix:  # each matrix owns its index arrays
        return sp.csr_matrix((data, pairs.cols.copy(), pairs.indptr.copy()), shape=shape)

    return Interactions(
        user_ids=user_ids, item_ids=item_ids, matrix=csr(c["weight"]), raw=csr(c["raw"]),
        purchased=pairs.purchased, recent=pairs.recent,
        last_age_days=c["last_age_days"], first_age_days=c["first_age_days"],
        bought=c["purchased"], transitions=transitions,
        events=users["events"].to_numpy(dtype=np.int64),
        segments=np.array([segments.get(u) for u in user_ids], dtype=object),
        devices=users["device"].to_numpy(dtype=object),
        channels=users["channel"].to_numpy(dtype=object),
        segment_source=source,
        as_of=pd.Timestamp(users["last_event"].max()).to_pydatetime(),
        scope=scope.label,
        purchases=c["purchases"], last_purchase_age_days=c["last_purchase_age_days"],
    )


def _catalog(catalogue: pd.DataFrame) -> ItemCatalog:
    def text(column: str) -> ObjArray:
        return catalogue[column].astype(object).where(catalogue[column].notna(), None).to_numpy(
            dtype=object)

    return ItemCatalog(
        item_ids=catalogue["item_id"].astype(str).to_numpy(dtype=object),
        titles=catalogue["title"].astype(str).to_numpy(dtype=object),
        categories=text("category"), brands=text("brand"),
        prices=pd.to_numeric(catalogue["price"], errors="coerce").to_numpy(dtype=np.float64),
    )
