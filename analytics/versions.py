"""The data version: one short token per state of the loaded data, the key of stored results.

Anything derived from the data (a fitted recommender, a default funnel, a map) is stored or
cached under the version it was built from; when the token changes the result is stale. The
token is a hash of every dataset's id and load time plus the number of events (and the applied
probabilistic identity links), so loading,
deleting a dataset or forgetting a shopper (which deletes events) all change it, while reading
never does. Computing it is two catalogue-sized queries (milliseconds at any size).
"""

from __future__ import annotations

import hashlib

import duckdb

from analytics.workspace import Workspace

_DATASETS_SQL = "SELECT dataset_id, CAST(loaded_at AS VARCHAR) FROM datasets ORDER BY dataset_id"
_EVENTS_SQL = "SELECT count(*) FROM events"
# applying or undoing a probabilistic identity link moves events between shoppers without
# changing any dataset or the event count, so the applied links are part of the version.
_LINKS_SQL = "SELECT count(*), coalesce(sum(hash(alias, user_id)), 0) FROM identity_links"
# Recommenders also learn from the segmentation runs (segment popularity) and, without a run,
# from the RFM segments of the profiles.
_DERIVED_SQL = """
SELECT (SELECT max(run_id || '@' || CAST(created_at AS VARCHAR)) FROM segment_runs),
       (SELECT count(*) FROM duckdb_tables() WHERE table_name = 'profiles')"""


def data_version_of(cur: duckdb.DuckDBPyConnection) -> str:
    """:func:`data_version` on an open cursor (inside a transaction: the state it sees)."""
    datasets = cur.execute(_DATASETS_SQL).fetchall()
    events = cur.execute(_EVENTS_SQL).fetchall()[0][0]
    links = tuple(cur.execute(_LINKS_SQL).fetchall()[0])
    return _digest(repr((datasets, events) if links == (0, 0) else (datasets, events, links)))


def data_version(ws: Workspace) -> str:
    """A 16-hex-digit token that changes whenever the loaded data changes.

    Examples
    --------
    >>> before = data_version(ws)                            # doctest: +SKIP
    >>> ingest_file(ws, "more.csv"); data_version(ws) != before  # doctest: +SKIP
    True
    """
    with ws.cursor() as cur:
        return data_version_of(cur)


def model_inputs_version(ws: Workspace) -> str:
    """:func:`data_version` plus what models and breakdowns read besides events: the
    segmentation runs and which is primary (segment popularity and journeys' segment breakdown
    use it) and whether profiles exist."""
    from analytics.segments.primary import primary_run_id_of  # sklearn-heavy package: lazily

    with ws.cursor() as cur:
        run, profiles = cur.execute(_DERIVED_SQL).fetchall()[0]
        return _digest(repr((data_version_of(cur), run, primary_run_id_of(cur), profiles)))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
