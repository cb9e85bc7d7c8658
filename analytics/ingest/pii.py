"""Find columns holding personal data (e-mail, phone, person name) and say how to protect them.

Detection looks at column names and a sample of values. Protection happens while the file is
staged, before any row is written anywhere: values are replaced by a salted SHA-256 (so hashed
e-mails still link identities across sources) or the column is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from analytics.ingest.readers import quote_ident

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
EMAIL_SQL = r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"
_PHONE_VALUE = re.compile(r"^\+?[\d\s().-]{7,24}$")
_PHONE_NAME = re.compile(r"phone|mobile|\btel\b|telephone|msisdn|cell", re.I)
_NAME_NAME = re.compile(
    r"^(first|last|full|given|family|sur|customer|contact|billing|shipping|person)?[\s_.-]?name$",
    re.I)


def _share(values: Sequence[str], test: re.Pattern[str]) -> float:
    return sum(1 for v in values if test.match(v)) / len(values) if values else 0.0


def classify(column: str, values: Sequence[str]) -> str | None:
    """'email', 'phone', 'name' or None for one column, from its name and sample values."""
    values = [v.strip() for v in values if v is not None and str(v).strip()]
    leaf = column.rsplit(".", 1)[-1]
    if _share(values, _EMAIL) >= 0.5:
        return "email"
    if _PHONE_NAME.search(leaf) and _share(values, _PHONE_VALUE) >= 0.8:
        return "phone"
    with_digits = sum(1 for v in values if any(c.isdigit() for c in v))
    if _NAME_NAME.match(leaf) and values and with_digits / len(values) < 0.2:
        return "name"
    return None


def detect(sample: dict[str, list[str]], table_kind: str = "events") -> dict[str, str]:
    """Column -> PII class, for every column of the sample that looks personal.

    In a product catalogue a "name" column is the product's name, not a person's.
    """
    found = {}
    for column, values in sample.items():
        kind = classify(column, [str(v) for v in values if v is not None])
        if kind and not (kind == "name" and table_kind == "items"):
            found[column] = kind
    return found


def hash_sql(column: str, kind: str) -> str:
    """Salted SHA-256 of a normalised value; the salt is the query's first ``?``."""
    raw = f"trim(CAST({quote_ident(column)} AS VARCHAR))"
    value = f"regexp_replace({raw}, '[^0-9+]', '', 'g')" if kind == "phone" else f"lower({raw})"
    hashed = f"CASE WHEN {value} IS NULL OR {value} = '' THEN NULL ELSE sha256(? || {value}) END"
    if kind == "email":
        # An alias column may mix e-mails with loyalty ids: hash the e-mails, keep the ids.
        return f"CASE WHEN regexp_full_match({raw}, '{EMAIL_SQL}') THEN {hashed} ELSE {raw} END"
    return hashed


# person names are compared by identity linking without ever being stored. A name column
# is stored hashed (above); beside it the staging adds ``<column>_sounds``, the salted SHA-256
# of the name's American Soundex code (computed here, in the reading query, from the raw value
# that is never written), so "Jon" and "John", or "Smith" and "Smyth", still agree.
SOUNDS_SUFFIX = "_sounds"
_SOUNDEX_FROM = "aeiouybfpvcgjkqsxzdtlmnrhw"  # h and w have no code: deleted, they do not
_SOUNDEX_TO = "000000111122222222334556"  # separate two equal codes; vowels (0) do


def sounds_sql(column: str) -> str:
    """Salted SHA-256 of the Soundex code of a name (letters only; NULL if it has none); the
    salt is the query's first ``?``."""
    letters = f"regexp_replace(lower(trim(CAST({quote_ident(column)} AS VARCHAR))), '[^a-z]', '', 'g')"
    codes = f"translate({letters}, '{_SOUNDEX_FROM}', '{_SOUNDEX_TO}')"
    for digit in "0123456":
        codes = f"regexp_replace({codes}, '{digit}+', '{digit}', 'g')"
    code = (f"upper(left({letters}, 1)) || "
            f"rpad(left(replace(substr({codes}, 2), '0', ''), 3), 3, '0')")
    return f"CASE WHEN {letters} = '' THEN NULL ELSE sha256(? || {code}) END"
