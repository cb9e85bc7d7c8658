"""Product-analytics and shop-platform exports: the quirks their presets cannot say in a mapping.

Mixpanel's raw export is not deduplicated: Mixpanel itself counts events with the same event
name, ``distinct_id``, ``time`` and ``$insert_id`` once (its query-time deduplication), so the
loader rejects the repeats with that reason (counted, never silently dropped) instead of
keeping them as records the way identical lines of other files are. Amplitude rows without a
``user_id`` are anonymous: they are keyed by ``device_id``, and the report says how many.
"""

from __future__ import annotations

import re

import duckdb

from analytics.errors import MappingError
from analytics.ingest.mapping import ColumnMapping
from analytics.ingest.normalise import SAMPLE_ROWS
from analytics.ingest.readers import quote_ident

DUP_COLUMN = "__dup"


def dup_reason(key: tuple[str, ...]) -> str:
    """The reject reason of a repeated key, as an SQL literal."""
    names = ", ".join(c.rsplit(".", 1)[-1] for c in key)
    text = f"repeats the {names} of an earlier row: a re-sent copy (the analytics tool counts it once)"
    return "'" + text.replace("'", "''") + "'"


def dup_sql(key: tuple[str, ...], record: str | None) -> str:
    """The copy number of a row among rows sharing every ``key`` column (NULL if one is empty).

    The first in the file is kept when its position is known (NDJSON), else any one of them:
    they agree on what identifies the event."""
    cols = [quote_ident(c) for c in key]
    present = " AND ".join(f"NULLIF(trim(CAST({c} AS VARCHAR)), '') IS NOT NULL" for c in cols)
    order = f" ORDER BY {record}" if record else ""
    return (f"CASE WHEN {present} THEN row_number() OVER (PARTITION BY {', '.join(cols)}{order}) "
            f"END AS {DUP_COLUMN}")


def notes(cur: duckdb.DuckDBPyConnection, preset: str | None, mapping: ColumnMapping) -> list[str]:
    """For Amplitude, how many rows were keyed by the device id (the preset's own caveat is
    its ``note``)."""
    if preset == "amplitude" and "{user_id}" in mapping.expressions.get("user_id", ""):
        return _anonymous(cur)
    return []


def _anonymous(cur: duckdb.DuckDBPyConnection) -> list[str]:
    """Rows with no user_id (keyed by device_id): of the whole file if it is staged (NDJSON)."""
    staged = cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = '_src' "
                         "AND temporary").fetchall()[0][0]
    table = "_src" if staged else "_raw"
    rows, anonymous = cur.execute(
        f"SELECT count(*), count(*) FILTER (NULLIF(trim(CAST(user_id AS VARCHAR)), '') IS NULL) "  # noqa: S608
        f"FROM {table}").fetchall()[0]
    if not anonymous:
        return []
    scope = "the first " if not staged and rows >= SAMPLE_ROWS else ""
    return [f"Amplitude: {anonymous:,} of {scope}{rows:,} rows have no user_id and are keyed by "
            "their device_id. To join them to the user who later logged in on that device, load "
            "the same file once more as identities: --kind identities --map alias=device_id "
            "--map user_id=user_id."]


# per-customer results files of uplift tests (Criteo: treatment, conversion, visit,
# exposure and no id; X5 RetailHero: client_id, treatment_flg, target; Hillstrom: segment,
# visit, conversion, spend). Their outcomes are already in the file, so they are neither events
# nor assignments (whose outcomes come from events after assigned_at).
_ARM = re.compile(r"^(treatment|treatment_flg|treatment_group|treat|is_treatment|segment|variant"
                  r"|arm|group)$", re.I)
_RESULT = re.compile(r"^(conversion|converted|target|visit|visited|spend|response|outcome)$", re.I)
_TIME = re.compile(r"time|date|_at$|stamp", re.I)


def results_file_refusal(name: str, columns: list[str]) -> MappingError | None:
    """A refusal saying where a results file goes, if ``columns`` are one (else None)."""
    arm = next((c for c in columns if _ARM.match(c.strip())), None)
    outcome = next((c for c in columns if _RESULT.match(c.strip())), None)
    if arm is None or outcome is None or any(_TIME.search(c) for c in columns):
        return None
    ident = next((c for c in columns if re.fullmatch(r".*(_id|id)", c.strip(), re.I)), None)
    who = f"one row per customer ({ident})" if ident else "one row per customer, with no customer id"
    flag = f" --id {ident}" if ident else ""
    return MappingError(
        f"{name}: this is a results file of an uplift test ({who}; `{arm}` is the arm, "
        f"`{outcome}` the outcome), not events or assignments: its outcomes are already measured, "
        "and it has no dates to place them in time.",
        hint=f"Analyse it with `shopper-lens uplift --file {name} --treatment {arm} --outcome "
        f"{outcome}{flag}` or on the Experiments page (upload a results file). Nothing was changed.")
