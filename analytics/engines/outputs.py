"""Spark results kept outside the workspace: the ``--out-dir`` folder check and the record of it.

A Spark run with ``--out-dir`` writes its full result (profiles, segment membership, top-k
recommendations) as partitioned Parquet to a folder or Hadoop URL; the workspace keeps only
what the dashboard can hold (a seeded sample, the aggregates) and one ``spark_outputs`` row
saying where the rest is. This module needs no Spark, so the pages can read the record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from analytics import settings
from analytics.errors import ConfigError
from analytics.workspace import Workspace

PROFILES = "profiles"
SEGMENTS = "segments"
RECOMMENDATIONS = "recommendations"
#: Hash buckets of user_id that profiles and recommendations are partitioned by.
BUCKETS = 16
BUCKET_COLUMN = "user_bucket"
WHAT = {PROFILES: "shopper profiles", SEGMENTS: "segment membership",
        RECOMMENDATIONS: "top-k recommendations"}

_UPSERT = "INSERT OR REPLACE INTO spark_outputs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_GET = ("SELECT kind, ref, path, rows_written, users, partitioning, sample_rows, as_of, written_at "
        "FROM spark_outputs WHERE kind = ? AND ref = ?")
_PROFILES_NOW = "SELECT count(*), max(as_of) FROM profiles"
_HAS_PROFILES = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'profiles'"


class OutDirError(ConfigError):
    """The ``--out-dir`` folder cannot take the result (not empty, not writable, a file)."""

    title = "Output folder not usable"


@dataclass(frozen=True)
class SparkOutput:
    """Where a full Spark result lives, how big it is, and how much of it the workspace holds."""

    kind: str
    ref: str
    path: str
    rows_written: int
    users: int
    partitioning: str
    sample_rows: int
    as_of: datetime | None
    written_at: datetime

    @property
    def sampled(self) -> bool:
        """True when the workspace holds fewer shoppers than the full result."""
        return self.sample_rows < self.users

    def sentence(self) -> str:
        """The one plain sentence a page shows."""
        where = (f"The full {WHAT[self.kind]} ({self.rows_written:,} rows for {self.users:,} "
                 f"shoppers) are Parquet at {self.path}, partitioned by {self.partitioning}, "
                 f"written {self.written_at:%Y-%m-%d %H:%M}")
        if self.kind == RECOMMENDATIONS:
            return f"{where}; the preview here scores any one shopper from the stored model."
        if self.sampled:
            return (f"{where}; this workspace holds a random sample of {self.sample_rows:,} "
                    "shoppers, and the counts shown are the full totals.")
        return f"{where}; this workspace holds all of them."

    def as_json(self) -> dict[str, Any]:
        return {"out_dir": self.path, "rows_written": self.rows_written, "users": self.users,
                "partitioning": self.partitioning, "sample_rows": self.sample_rows,
                "sampled": self.sampled, "written_at": self.written_at.isoformat()}


def sample_rows() -> int:
    """The sample size a ``--out-dir`` run keeps (setting SHOPPER_LENS_SPARK_SAMPLE_ROWS)."""
    return int(settings.get("SHOPPER_LENS_SPARK_SAMPLE_ROWS"))


def is_local(url: str) -> bool:
    """A plain path or ``file:`` URL (checked here); anything else Spark's Hadoop layer checks."""
    return "://" not in url or url.startswith("file:")


def local_path(url: str) -> Path:
    return Path(url.removeprefix("file://").removeprefix("file:")).expanduser().resolve()


def check_out_dir(url: str, overwrite: bool) -> None:
    """Refuse a local folder that is a file, not empty (without ``overwrite``) or not writable,
    before any work is done, so a refusal leaves the workspace unchanged."""
    if not url.strip():
        raise OutDirError("--out-dir is empty.", hint="Pass a folder or a Hadoop URL.")
    if not is_local(url):
        return
    path = local_path(url)
    if path.exists() and not path.is_dir():
        raise OutDirError(f"--out-dir {path} is a file, not a folder.",
                          hint="Pass a new or empty folder.")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise OutDirError(f"--out-dir {path} is not empty.",
                          hint="Pass a new or empty folder, or add --overwrite to replace its "
                          "contents.")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise OutDirError(f"Cannot write to --out-dir {path}: {existing} is a file, not a folder.",
                          hint="Pass a folder you may write to.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutDirError(f"Cannot write to --out-dir {path}: {existing} is not writable.",
                          hint="Pass a folder you may write to.")


def record(cur: duckdb.DuckDBPyConnection, out: SparkOutput) -> None:
    """Note where a full result lives; call it in the transaction that stores the sample."""
    cur.execute(_UPSERT, [out.kind, out.ref, out.path, out.rows_written, out.users,
                          out.partitioning, out.sample_rows, out.as_of, out.written_at])


def get(ws: Workspace, kind: str, ref: str = "") -> SparkOutput | None:
    """The record of ``kind``/``ref``, or None when its result is held whole in the workspace.

    A profiles record only counts while the ``profiles`` table is still the sample it wrote
    (same row count and as_of): any later rebuild, on either engine, replaces the table and so
    retires the record without having to know about it.
    """
    with ws.cursor() as cur:
        rows = cur.execute(_GET, [kind, ref]).fetchall()
        if not rows:
            return None
        out = SparkOutput(*rows[0])
        if kind == PROFILES:
            if not cur.execute(_HAS_PROFILES).fetchall()[0][0]:
                return None
            count, as_of = cur.execute(_PROFILES_NOW).fetchall()[0]
            if int(count) != out.sample_rows or as_of != out.as_of:
                return None
    return out


__all__ = ["BUCKETS", "OutDirError", "SparkOutput", "check_out_dir", "get", "record"]
