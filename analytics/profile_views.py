"""What the Profiles and Segments pages show of the profiles table without loading all of it:
the headline numbers from DuckDB, and a seeded random sample for the charts (flagged as such)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from analytics.errors import NotFoundError
from analytics.identity.masking import mask_json_text
from analytics.workspace import Workspace

#: Charts of a feature's distribution or correlations are drawn from at most this many shoppers.
SAMPLE_ROWS = 20_000
_EXISTS_SQL = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'profiles'"
_SUMMARY_SQL = "SELECT count(*), max(as_of) FROM profiles"
_NOT_BUILT = NotFoundError("Shopper profiles have not been built in this workspace.",
                           hint="Build them first: analytics.profiles.build_profiles(ws) or the "
                           "Profiles page.")


@dataclass(frozen=True)
class ProfileSample:
    """``frame`` holds ``len(frame)`` of ``total`` shoppers (all of them when total is small)."""

    frame: pd.DataFrame
    total: int
    as_of: datetime | None

    @property
    def note(self) -> str:
        if len(self.frame) >= self.total:
            return f"All {self.total:,} shoppers."
        return (f"Charts and statistics from a random sample of {len(self.frame):,} of "
                f"{self.total:,} shoppers.")


def profiles_built(ws: Workspace) -> bool:
    with ws.cursor() as cur:
        return bool(cur.execute(_EXISTS_SQL).fetchall()[0][0])


def profile_sample(ws: Workspace, rows: int = SAMPLE_ROWS, seed: int = 0) -> ProfileSample:
    """A repeatable random sample of ``rows`` profiles (ordered by user id) and the total count.

    Raises NotFoundError when profiles have not been built.
    """
    if not profiles_built(ws):
        raise _NOT_BUILT
    limit, repeat = int(rows), int(seed)  # integers: safe to place in the sample clause
    with ws.cursor() as cur:
        total, as_of = cur.execute(_SUMMARY_SQL).fetchall()[0]
        if total <= limit:
            frame = cur.execute("SELECT * FROM profiles ORDER BY user_id").df()
        else:
            frame = cur.execute(
                f"SELECT * FROM (SELECT * FROM profiles USING SAMPLE reservoir({limit} ROWS) "  # noqa: S608
                f"REPEATABLE ({repeat})) ORDER BY user_id").df()
    if "crm_attributes" in frame.columns:  # shown on screen, so no hashed value in full
        frame["crm_attributes"] = [mask_json_text(t) for t in frame["crm_attributes"]]
    return ProfileSample(frame, int(total), as_of)
