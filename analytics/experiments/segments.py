"""Which user -> segment labellings the per-segment breakdown can use.

In order of preference: the primary segmentation run, then every other run (``segment_members``),
the RFM segment of
``profiles``, and in file mode any categorical column of the results file.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from analytics.errors import NotFoundError
from analytics.experiments.data import MAX_ARMS, ExperimentData
from analytics.segments.primary import run_choices
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
