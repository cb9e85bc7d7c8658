"""Rule segments as Spark column expressions, with the pandas evaluator's semantics.

:func:`analytics.segments.rules.assign` is the reference; this compiles the same
:class:`~analytics.segments.rules.RuleSet` to one ``CASE WHEN`` column so the rules run where
the profiles are. The semantics that differ between pandas and SQL are made explicit here:

- an empty cell (NULL, or NaN in a float column) satisfies no comparison, ``in`` or
  ``not_in`` (SQL would give NULL; pandas compares only known values), only ``is_empty``;
- ``top``/``bottom`` cut at the exact linearly interpolated quantile of the known values
  (pandas ``Series.quantile``; Spark's ``percentile``, not ``percentile_approx``);
- the first matching segment wins, else ``otherwise`` ('' when there is none).

Rule values are bound as literals by the Column API (never spliced into SQL text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from analytics.segments.rules import (
    NULL_OPS,
    RANK_OPS,
    Condition,
    Group,
    RuleError,
    RuleResult,
    RuleSet,
    _rank_key,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

LABEL = "segment_name"


def compile_rules(rules: RuleSet, frame: DataFrame) -> tuple[Column, dict[str, float]]:
    """The segment-name column of ``rules`` over ``frame`` and the rank thresholds used."""
    from pyspark.sql import functions as F

    missing = sorted(rules.features() - set(frame.columns))
    if missing:
        raise RuleError(f"The rules use feature(s) the profiles do not have: {', '.join(missing)}.",
                        "Rebuild the profiles, or fix the feature names in the rules.")
    thresholds = _thresholds(rules, frame)
    label: Any = None
    for segment in rules.segments:
        mask = _column(segment.when, frame, thresholds)
        label = F.when(mask, F.lit(segment.name)) if label is None else label.when(
            mask, F.lit(segment.name))
    return label.otherwise(F.lit(rules.otherwise or "")), thresholds


def assign_spark(rules: RuleSet, frame: DataFrame) -> tuple[DataFrame, dict[str, float]]:
    """``user_id`` and ``segment_name`` per profile row of ``frame`` (lazy) and the thresholds."""
    column, thresholds = compile_rules(rules, frame)
    return frame.select("user_id", column.alias(LABEL)), thresholds


def assign_collected(rules: RuleSet, frame: DataFrame, user_ids: Any) -> RuleResult:
    """:func:`analytics.segments.rules.assign`'s result computed on Spark, in ``user_ids`` order."""
    import pandas as pd

    labelled, thresholds = assign_spark(rules, frame)
    got = labelled.toPandas().set_index("user_id")[LABEL]
    order = pd.Index(pd.Series(user_ids).astype(str))
    if len(got) != len(order) or not order.isin(got.index).all():
        raise RuleError("The Spark profiles do not hold the same shoppers as the workspace.",
                        "Rebuild the profiles, then run the rules again.")
    labels = pd.Series(got.reindex(order).to_numpy(dtype=object), dtype=object)
    names = tuple(s.name for s in rules.segments) + ((rules.otherwise,) if rules.otherwise else ())
    return RuleResult(labels, names, thresholds)


def _empty(frame: DataFrame, feature: str) -> Column:
    """NULL, or NaN in a floating column: what pandas' ``isna`` calls empty."""
    from pyspark.sql import functions as F

    column = F.col(feature)
    kind = dict(frame.dtypes)[feature]
    return column.isNull() | F.isnan(column) if kind in ("double", "float") else column.isNull()


def _thresholds(rules: RuleSet, frame: DataFrame) -> dict[str, float]:
    """Every top/bottom cut in one aggregation: the exact quantile of the known values."""
    from pyspark.sql import functions as F

    ranks = {_rank_key(c): c for s in rules.segments for c in _leaves(s.when) if c.op in RANK_OPS}
    if not ranks:
        return {}
    aggregates = []
    for key, c in ranks.items():
        assert c.percent is not None
        q = 1 - c.percent / 100 if c.op == "top" else c.percent / 100
        known = F.when(~_empty(frame, c.feature), F.col(c.feature).cast("double"))
        aggregates.append(F.percentile(known, F.lit(q)).alias(key))
    row = frame.agg(*aggregates).collect()[0].asDict()
    return {key: float(value) for key, value in row.items() if value is not None}


def _leaves(node: Condition | Group) -> list[Condition]:
    if isinstance(node, Condition):
        return [node]
    return [c for child in node.children for c in _leaves(child)]


def _column(node: Condition | Group, frame: DataFrame, thresholds: dict[str, float]) -> Column:
    """A never-NULL boolean column for one condition or group."""
    from functools import reduce

    from pyspark.sql import functions as F

    if isinstance(node, Group):
        parts = [_column(c, frame, thresholds) for c in node.children]
        if node.kind == "not":
            return ~parts[0]
        return reduce(lambda a, b: (a & b) if node.kind == "all" else (a | b), parts)
    empty = _empty(frame, node.feature)
    if node.op in NULL_OPS:
        return empty if node.op == "is_empty" else ~empty
    value = F.col(node.feature)
    if node.op in RANK_OPS:
        cut = thresholds.get(_rank_key(node))
        if cut is None:  # no known value at all: nobody is in the top or bottom
            return F.lit(False)
        inside = value >= F.lit(cut) if node.op == "top" else value <= F.lit(cut)
    elif node.op == "between":
        low, high = node.value
        inside = (value >= F.lit(low)) & (value <= F.lit(high))
    elif node.op in ("in", "not_in"):
        member = value.isin(list(node.value))
        inside = member if node.op == "in" else ~member
    else:
        inside = {"<": value < node.value, "<=": value <= node.value, ">": value > node.value,
                  ">=": value >= node.value, "==": value == node.value,
                  "!=": value != node.value}[node.op]
    return F.when(empty, F.lit(False)).otherwise(F.coalesce(inside, F.lit(False)))


__all__ = ["assign_collected", "assign_spark", "compile_rules"]
