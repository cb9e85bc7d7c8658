"""One source of truth for the SQL: named units, a few dialect macros, one small interface.

The feature SQL is written once, as named units in ``analytics/sql/<group>/<unit>.sql``: each
unit is one SELECT in the subset of SQL that DuckDB and Spark read alike (``FILTER (WHERE …)``,
``INTERVAL n DAY``, ``bool_or``, window functions, ``CAST(… AS STRING)``). Where the engines
genuinely differ, a unit calls a named macro, ``@name(arg, …)``, that each :class:`Engine`
spells in its own dialect; parameters are written ``$name`` and bound by the engine (never
spliced). :func:`compose` chains units into one ``WITH`` statement.

Why macros and not SQLGlot transpiling: with macros every dialect difference that changes an
answer (day-of-week numbering, day counts, exact vs approximate percentiles, ordered list
aggregation, ties) is a named, tested function, where a transpiler silently rewrites them
(measured traps: it drops ORDER BY inside list aggregates for Spark and rotates day-of-week);
and it adds no dependency.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

from analytics.errors import ShopperLensError

Macro = Callable[..., str]
_MACRO = re.compile(r"@([a-z_]+)\(")
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")
_IDENT = re.compile(r"[a-z_][a-z0-9_]*")


@cache
def unit(group: str, name: str) -> str:
    """The text of the SQL unit ``analytics/sql/<group>/<name>.sql`` (package data)."""
    path = resources.files("analytics").joinpath("sql", group, f"{name}.sql")
    return path.read_text(encoding="utf-8")


def units(group: str, names: Iterable[str]) -> list[tuple[str, str]]:
    """``(name, SQL)`` for the named units of ``group``, ready for :func:`compose`."""
    return [(name, unit(group, name)) for name in names]


def compose(parts: Iterable[tuple[str, str]], final: str, inline: Collection[str] = ()) -> str:
    """``WITH name AS (sql), … final``: the parts in dependency order, then the final query.

    Parts named in ``inline`` are marked ``NOT MATERIALIZED`` (DuckDB syntax: only for
    statements run on DuckDB), so each reader scans the tables below with just the columns and
    expressions it needs instead of one shared copy of every row being written first.
    """
    ctes = ",\n".join(f"{name} AS {'NOT MATERIALIZED ' if name in inline else ''}(\n{sql})"
                       for name, sql in parts)
    return f"WITH\n{ctes}\n{final}" if ctes else final


def identifier(name: str) -> str:
    """``name`` if it is a plain lower-case identifier (column names come from code only)."""
    if not _IDENT.fullmatch(name):
        raise ShopperLensError(f"{name!r} is not a plain column name.", title="Internal error")
    return name


class Engine(ABC):
    """How one engine spells the macros and binds the parameters of the SQL units."""

    name: str
    macros: Mapping[str, Macro]

    def render(self, sql: str) -> str:
        """``sql`` with every ``@macro(…)`` expanded (innermost arguments first)."""
        out: list[str] = []
        pos = 0
        while match := _MACRO.search(sql, pos):
            out.append(sql[pos:match.start()])
            args, end = _arguments(sql, match.end())
            macro = self.macros.get(match.group(1))
            if macro is None:
                raise ShopperLensError(f"The SQL macro @{match.group(1)} has no {self.name} "
                                       "spelling.", title="Internal error")
            out.append(macro(*(self.render(a) for a in args)))
            pos = end
        out.append(sql[pos:])
        return "".join(out)

    @abstractmethod
    def bind(self, sql: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Rendered SQL in the engine's parameter style, and the values to bind."""

    def prepare(self, sql: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Expand the macros, then bind only the parameters the statement uses."""
        rendered = self.render(sql)
        used = set(_PARAM.findall(rendered))
        missing = used - set(params)
        if missing:
            raise ShopperLensError(f"SQL parameters {sorted(missing)} have no value.",
                                   title="Internal error")
        return self.bind(rendered, {k: v for k, v in params.items() if k in used})


def _arguments(sql: str, start: int) -> tuple[list[str], int]:
    """Split the macro arguments from just after ``(`` to the matching ``)`` (quotes respected)."""
    args, depth, quote, begin = [], 0, False, start
    for i in range(start, len(sql)):
        ch = sql[i]
        if ch == "'":
            quote = not quote
        elif quote:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif ch == ")":
            args.append(sql[begin:i].strip())
            return args, i + 1
        elif ch == "," and not depth:
            args.append(sql[begin:i].strip())
            begin = i + 1
    raise ShopperLensError("Unbalanced parentheses in a SQL macro call.", title="Internal error")
