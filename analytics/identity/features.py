"""What each unlinked identity looks like, for comparing store identities with online ones.

One row per identity, computed in DuckDB from the CRM/register rows (``users.attributes``)
and the events. Every text value that could identify a person (e-mail, phone, postcode, city,
store, device) leaves DuckDB only as a salted SHA-256 of the normalised value, so equal
values still compare equal and nothing raw is handed to the linker; birth year and gender
stay plain (a year and a word, needed for "one year apart"). Nothing here is written to the
database: the frames live in memory for one linking run.

Sides. A *store identity* is an id whose events are in-store (loaded as an offline source or
on the ``store`` channel) and that no identities file maps; an *online identity* is an id with
online events that no store card is mapped to yet. Ids linked by an identities file never
become candidates (deterministic links always win).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from analytics.ingest.pii import SOUNDS_SUFFIX

_NAMES = ("first_name", "given_name", "forename", "name", "full_name", "customer_name")
# Attribute keys read from users.attributes, by meaning (first present wins).
ATTRIBUTE_KEYS: dict[str, tuple[str, ...]] = {
    "email": ("email", "e_mail", "email_address", "mail"),
    "phone": ("phone", "mobile", "telephone", "phone_number", "cell"),
    "postcode": ("postcode", "postal_code", "post_code", "zip", "zip_code", "zipcode"),
    "city": ("city", "town"),
    "store": ("home_store", "collect_store", "preferred_store", "store", "store_id"),
    "device": ("app_device", "device_id", "device_fingerprint"),
    "birth_year": ("birth_year", "year_of_birth", "yob", "birthyear"),
    "gender": ("gender", "sex"),
    # a person's name arrives hashed at ingest, with the hash of its Soundex code beside
    # it (analytics/ingest/pii.py): never the raw name.
    "name": _NAMES,
    "name_sounds": tuple(f"{k}{SOUNDS_SUFFIX}" for k in _NAMES),
}
#: Attributes hashed before they leave DuckDB.
HASHED = ("email", "phone", "postcode", "city", "store", "device", "name", "name_sounds")

_STORE_EVENT = "(e.source = 'offline' OR lower(coalesce(e.channel, '')) = 'store')"


def _attribute_sql(name: str) -> str:
    keys = ", ".join(f"nullif(trim(attributes->>'{k}'), '')" for k in ATTRIBUTE_KEYS[name])
    value = f"coalesce({keys})"
    if name in HASHED:
        value = f"sha256($salt || lower({value}))"
    elif name == "birth_year":
        value = f"TRY_CAST(TRY_CAST({value} AS DOUBLE) AS INTEGER)"
    else:
        value = f"lower({value})"
    return f"any_value({value}) FILTER (WHERE {value} IS NOT NULL) AS {name}"


_ATTRIBUTE_COLUMNS = ", ".join(_attribute_sql(n) for n in ATTRIBUTE_KEYS)
_ATTRIBUTES_SQL = f"SELECT user_id AS unique_id, {_ATTRIBUTE_COLUMNS} FROM users GROUP BY user_id"  # noqa: S608

# Per identity (the id it was loaded under): country, active span and category mix.
_BEHAVIOUR_SQL = f"""
WITH ev AS (
    SELECT coalesce(e.source_user_id, e.user_id) AS unique_id, e.event_time, e.country,
           e.category, {_STORE_EVENT} AS in_store
    FROM events e),
side AS (
    SELECT unique_id, bool_and(in_store) AS store_only, bool_or(NOT in_store) AS online,
           mode(country ORDER BY country) AS country, CAST(min(event_time) AS DATE) AS first_day,
           CAST(max(event_time) AS DATE) AS last_day
    FROM ev GROUP BY unique_id),
mix AS (
    SELECT unique_id, c.category, count(ev.category) AS n
    FROM (SELECT DISTINCT unique_id FROM ev) u CROSS JOIN (SELECT unnest($cats) AS category) c
    LEFT JOIN ev USING (unique_id, category) GROUP BY ALL),
vec AS (
    SELECT unique_id, list(CAST(n AS DOUBLE) ORDER BY category) AS cats, sum(n) AS total
    FROM mix GROUP BY unique_id)
SELECT s.*, CASE WHEN v.total > 0 THEN v.cats END AS cats
FROM side s JOIN vec v USING (unique_id)"""  # noqa: S608 - a fixed condition

# Store ids mapped by an identities file, and online ids a store id is mapped to already.
_DETERMINISTIC_SQL = """
SELECT DISTINCT i.alias AS unique_id FROM identities i
UNION SELECT DISTINCT m.user_id FROM identity_map m JOIN identities i ON i.alias = m.alias
"""


_KNOWN_SQL = """
SELECT i.alias, any_value(m.user_id) FROM identities i JOIN identity_map m ON m.alias = i.alias
WHERE m.user_id <> i.alias GROUP BY i.alias"""


def known_pairs(cur: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Store alias -> online id of the identities file: the labelled pairs precision is
    checked on."""
    return {str(a): str(u) for a, u in cur.execute(_KNOWN_SQL).fetchall()}


@dataclass(frozen=True)
class Sides:
    """The two frames a linking run compares (one row per identity)."""

    store: pd.DataFrame
    online: pd.DataFrame

    @property
    def comparisons_if_all(self) -> int:
        return len(self.store) * len(self.online)


def _categories(cur: duckdb.DuckDBPyConnection, limit: int = 24) -> list[str]:
    rows = cur.execute("SELECT category FROM events WHERE category IS NOT NULL "
                       "GROUP BY category ORDER BY count(*) DESC, category LIMIT ?",
                       [limit]).fetchall()
    return sorted(str(r[0]) for r in rows)


def identity_frames(cur: duckdb.DuckDBPyConnection, salt: str) -> tuple[Sides, set[str]]:
    """Every store-side and online-side identity with its features, and the ids an identities
    file already links (store aliases and the online ids they map to).

    The linked ones are kept in the frames: they teach the model what true pairs look like,
    but only the others become candidates.
    """
    cats = _categories(cur)
    behaviour = cur.execute(_BEHAVIOUR_SQL, {"cats": cats}).df() if cats else \
        cur.execute(_BEHAVIOUR_SQL.replace("$cats", "['']")).df()
    attributes = cur.execute(_ATTRIBUTES_SQL, {"salt": salt}).df()
    frame = behaviour.merge(attributes, on="unique_id", how="left")
    deterministic = {str(r[0]) for r in cur.execute(_DETERMINISTIC_SQL).fetchall()}
    aliases = frame["unique_id"].isin(deterministic) & frame["store_only"]
    store = frame[frame["store_only"]]
    online = frame[frame["online"] & ~aliases]
    columns = ["unique_id", *ATTRIBUTE_KEYS, "country", "first_day", "last_day", "cats"]
    return Sides(_clean(store[columns]), _clean(online[columns])), deterministic


def _clean(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.reset_index(drop=True).copy()
    out["birth_year"] = out["birth_year"].astype("Int64")
    for column in ("first_day", "last_day"):
        out[column] = pd.to_datetime(out[column])
    return out
