"""Column mappings: which source column feeds which canonical field.

A mapping is either resolved from a preset (a known export format) or suggested from the
source's column names and values, then confirmed or edited by the user.
"""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field, replace
from typing import Any

from analytics.errors import MappingError
from analytics.schema import KIND_FIELDS, Field


@dataclass(frozen=True)
class ColumnMapping:
    """Canonical field -> source column, plus preset expressions and constants.

    ``expressions`` are SQL templates written in this code base (never by users) whose
    ``{column}`` placeholders name source columns; ``constants`` are literal values.
    """

    kind: str
    columns: dict[str, str] = field(default_factory=dict)
    expressions: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    null_strings: tuple[str, ...] = ()
    # event_type by value: source value (trimmed, lower case) -> canonical type or "skip".
    value_map: dict[str, str] = field(default_factory=dict)
    # source columns that identify one event (Mixpanel's event, distinct_id, time
    # and $insert_id). A row repeating an earlier row's key is a re-sent copy, rejected with
    # that reason; rows with any key column empty are never compared.
    dedup_key: tuple[str, ...] = ()

    def mapped(self) -> set[str]:
        return set(self.columns) | set(self.expressions) | set(self.constants)

    def with_columns(self, columns: MappingABC[str, str | None]) -> ColumnMapping:
        """A copy where the given fields map to the given source columns (None: unmapped)."""
        new_columns = dict(self.columns)
        new_expressions = dict(self.expressions)
        for name, source in columns.items():
            new_expressions.pop(name, None)
            if source:
                new_columns[name] = source
            else:
                new_columns.pop(name, None)
        return replace(self, columns=new_columns, expressions=new_expressions)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "columns": self.columns, "expressions": self.expressions,
                "constants": self.constants, "null_strings": list(self.null_strings),
                "value_map": self.value_map, "dedup_key": list(self.dedup_key)}


def normalise_name(name: str) -> str:
    """``Customer ID`` -> ``customer_id``; ``properties.product_id`` -> ``product_id``."""
    last = name.rsplit(".", 1)[-1]
    return re.sub(r"[^0-9a-z]+", "_", last.strip().lower()).strip("_")


def _match(field_: Field, column: str) -> tuple[int, int]:
    """How well a column name fits a field: (3 exact | 2 synonym | 1 partial | 0, preference).

    Among synonyms the earlier listed one wins (``product_category`` over ``department``).
    """
    norm = normalise_name(column)
    squashed = norm.replace("_", "")
    if norm == field_.name:
        return 3, 0
    for i, synonym in enumerate(field_.synonyms):
        if synonym in (norm, squashed):
            return 2, -i
    if len(field_.name) > 4 and field_.name in norm:
        return 1, 0
    return 0, 0


def suggest(kind: str, columns: list[str]) -> tuple[ColumnMapping, int]:
    """Best-guess mapping of ``columns`` onto ``kind``'s fields, and a score for it."""
    chosen: dict[str, str] = {}
    score = 0
    used: set[str] = set()
    for field_ in KIND_FIELDS[kind]:
        ranked = sorted(((_match(field_, c), -i, c) for i, c in enumerate(columns)
                         if c not in used), reverse=True)
        if ranked and ranked[0][0][0] > 0:
            (quality, _), _, column = ranked[0]
            chosen[field_.name] = column
            used.add(column)
            score += quality * (10 if field_.required else 1)
    return ColumnMapping(kind=kind, columns=chosen), score


# Required fields that ingestion can fill in when no column holds them (sales rows are purchases).
DEFAULTED = {("events", "event_type")}


def guess_kind(columns: list[str]) -> str:
    """The kind whose required fields the columns cover best (events first on ties)."""
    best_kind, best_key = "events", (-1, -1)
    for kind, fields in KIND_FIELDS.items():
        if kind == "identities" and len(columns) > 3:
            continue  # identity maps are narrow; a wide table with an e-mail is a CRM table
        mapping, score = suggest(kind, columns)
        required = [f.name for f in fields if f.required and (kind, f.name) not in DEFAULTED]
        covered = sum(1 for name in required if name in mapping.columns)
        if covered < len(required):
            continue
        key = (covered, score)
        if key > best_key:
            best_kind, best_key = kind, key
    return best_kind


def missing_required(mapping: ColumnMapping) -> list[Field]:
    return [f for f in KIND_FIELDS[mapping.kind] if f.required and f.name not in mapping.mapped()]


def validate(mapping: ColumnMapping, columns: list[str], file_name: str) -> None:
    """Raise MappingError unless every required field is mapped to a column that exists."""
    if mapping.kind not in KIND_FIELDS:
        raise MappingError(f"{file_name}: unknown kind {mapping.kind!r}.",
                           hint=f"Use one of: {', '.join(KIND_FIELDS)}.")
    known = {f.name for f in KIND_FIELDS[mapping.kind]}
    for target, source in mapping.columns.items():
        if target not in known:
            raise MappingError(
                f"{file_name}: {target!r} is not a field of {mapping.kind}.",
                hint=f"Fields of {mapping.kind}: {', '.join(sorted(known))}.")
        if source not in columns:
            raise MappingError(
                f"{file_name}: the mapping sends {target} to column {source!r}, which the file "
                "does not have.", hint=f"Columns in the file: {', '.join(columns[:40])}.")
    missing = missing_required(mapping)
    if missing:
        names = ", ".join(f.name for f in missing)
        raise MappingError(
            f"{file_name}: no column is mapped to the required field(s) {names} for {mapping.kind}.",
            hint="Pick the column for each on the Data page, or pass --map FIELD=COLUMN "
            f"(e.g. --map {missing[0].name}=<your column>)."
            + (" If every row is the same kind of event (a file of product views, say), give "
               "it a fixed type instead: --set event_type=view (Data page: Fixed value)."
               if "event_type" in {f.name for f in missing} else ""),
        )
