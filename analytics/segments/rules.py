"""Rule-based segments: named conditions on profile features, saved and shared as JSON.

A rule set is an ordered list of segments; each shopper joins the first segment whose
condition holds, else the ``otherwise`` segment (or none). Conditions compare a feature with
a value, or with the population (``top``/``bottom`` percent), and combine with ``all``, ``any``
and ``not``::

    {"name": "Intent", "otherwise": "Everyone else",
     "segments": [{"name": "Hot", "when": {"all": [
         {"feature": "events_7d", "op": ">", "value": 0},
         {"feature": "avg_session_minutes", "op": "top", "percent": 25}]}}]}

Rules are evaluated in pandas over the profiles, never turned into SQL, so a rule file can
not reach the database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analytics.errors import ConfigError
from analytics.profiles import CATALOGUE, NEVER_PURCHASED, PREDICTED_FEATURES, RFM_GRID

COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
LIST_OPS = ("in", "not_in", "between")
RANK_OPS = ("top", "bottom")
NULL_OPS = ("is_empty", "not_empty")
OPS = COMPARISONS + LIST_OPS + RANK_OPS + NULL_OPS
_MAX_DEPTH = 12
_MAX_CONDITIONS = 200
_MAX_SEGMENTS = 50


class RuleError(ConfigError):
    """A rule file or rule condition that cannot be used."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message, hint=hint or "Fix the rule and try again.", title="Invalid rule")


@dataclass(frozen=True)
class Condition:
    feature: str
    op: str
    value: Any = None
    percent: float | None = None


@dataclass(frozen=True)
class Group:
    kind: str  # all | any | not
    children: tuple[Condition | Group, ...]


@dataclass(frozen=True)
class RuleSegment:
    name: str
    when: Condition | Group
    description: str = ""


@dataclass(frozen=True)
class RuleSet:
    name: str
    segments: tuple[RuleSegment, ...]
    otherwise: str | None = "Everyone else"

    @classmethod
    def from_json(cls, source: str | dict[str, Any]) -> RuleSet:
        """Parse and validate a rule set (text or an already-parsed object)."""
        data = _load(source)
        segments = data.get("segments")
        if not isinstance(segments, list) or not segments:
            raise RuleError("The rule set has no 'segments' list.",
                            'Add "segments": [{"name": ..., "when": {...}}].')
        if len(segments) > _MAX_SEGMENTS:
            raise RuleError(f"{len(segments)} segments; at most {_MAX_SEGMENTS} are allowed.")
        counter = [0]
        parsed = tuple(_segment(s, f"segments[{i}]", counter) for i, s in enumerate(segments))
        names = [s.name for s in parsed]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise RuleError(f"Segment names must be unique; repeated: {', '.join(duplicates)}.")
        otherwise = data.get("otherwise", "Everyone else")
        if otherwise is not None and (not isinstance(otherwise, str) or not otherwise.strip()):
            raise RuleError("'otherwise' must be a segment name or null.")
        return cls(_text(data.get("name", "Rules"), "name"), parsed, otherwise)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "otherwise": self.otherwise,
                "segments": [{"name": s.name, "description": s.description, "when": _dump(s.when)}
                             for s in self.segments]}

    def features(self) -> set[str]:
        return {c.feature for s in self.segments for c in _conditions(s.when)}


@dataclass(frozen=True)
class RuleResult:
    """Segment name per profile row ('' when no segment matched and there is no otherwise)."""

    labels: pd.Series
    names: tuple[str, ...]
    thresholds: dict[str, float] = field(default_factory=dict)


def assign(rules: RuleSet, profiles: pd.DataFrame) -> RuleResult:
    """Evaluate the rules on profiles; the first matching segment wins."""
    missing = sorted(rules.features() - set(profiles.columns))
    if missing:
        predicted = {f.name for f in PREDICTED_FEATURES} & set(missing)
        raise RuleError(f"The rules use feature(s) the profiles do not have: {', '.join(missing)}.",
                        "Fit lifetime value first (Predictions page or `shopper-lens predict`)."
                        if predicted else "Rebuild the profiles, or fix the feature names in the rules.")
    thresholds: dict[str, float] = {}
    labels = pd.Series(rules.otherwise or "", index=profiles.index, dtype=object)
    taken = np.zeros(len(profiles), dtype=bool)
    for segment in rules.segments:
        mask = _evaluate(segment.when, profiles, thresholds) & ~taken
        labels[mask] = segment.name
        taken |= mask
    names = tuple(s.name for s in rules.segments) + ((rules.otherwise,) if rules.otherwise else ())
    return RuleResult(labels, names, thresholds)


def describe(when: Condition | Group, thresholds: dict[str, float] | None = None) -> str:
    """A condition in words, e.g. ``events_7d > 0 and avg_session_minutes in the top 25%``."""
    if isinstance(when, Group):
        parts = [describe(c, thresholds) for c in when.children]
        if when.kind == "not":
            return f"not ({parts[0]})"
        return f" {'and' if when.kind == 'all' else 'or'} ".join(
            f"({p})" if isinstance(c, Group) and c.kind != "not" else p
            for p, c in zip(parts, when.children, strict=True))
    if when.op in RANK_OPS:
        cut = (thresholds or {}).get(_rank_key(when))
        bound = f" ({'≥' if when.op == 'top' else '≤'} {cut:,.4g})" if cut is not None else ""
        return f"{when.feature} in the {when.op} {when.percent:g}%{bound}"
    if when.op in NULL_OPS:
        return f"{when.feature} {'is empty' if when.op == 'is_empty' else 'is not empty'}"
    return f"{when.feature} {when.op.replace('_', ' ')} {json.dumps(when.value)}"


def _load(source: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(source, dict):
        return source
    try:
        data = json.loads(source)
    except (json.JSONDecodeError, RecursionError) as e:
        where = f" at line {e.lineno}, column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        raise RuleError(f"The rule file is not valid JSON{where}: {e}.",
                        "Check brackets, quotes and commas, or start from a preset.") from e
    if not isinstance(data, dict):
        raise RuleError("The rule file must hold one JSON object with a 'segments' list.")
    return data


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise RuleError(f"{where}: expected a non-empty name of at most 100 characters.")
    return value.strip()


def _segment(data: object, where: str, counter: list[int]) -> RuleSegment:
    if not isinstance(data, dict) or "when" not in data:
        raise RuleError(f"{where}: each segment needs a 'name' and a 'when' condition.")
    return RuleSegment(_text(data.get("name"), f"{where}.name"),
                       _node(data["when"], f"{where}.when", 0, counter),
                       str(data.get("description", "")))


def _node(data: object, where: str, depth: int, counter: list[int]) -> Condition | Group:
    if depth > _MAX_DEPTH:
        raise RuleError(f"{where}: conditions are nested more than {_MAX_DEPTH} levels deep.")
    if not isinstance(data, dict):
        raise RuleError(f"{where}: expected a condition object, got {json.dumps(data)[:60]}.")
    for kind in ("all", "any"):
        if kind in data:
            children = data[kind]
            if not isinstance(children, list) or not children:
                raise RuleError(f"{where}.{kind}: expected a non-empty list of conditions.")
            return Group(kind, tuple(_node(c, f"{where}.{kind}[{i}]", depth + 1, counter)
                                     for i, c in enumerate(children)))
    if "not" in data:
        return Group("not", (_node(data["not"], f"{where}.not", depth + 1, counter),))
    counter[0] += 1
    if counter[0] > _MAX_CONDITIONS:
        raise RuleError(f"More than {_MAX_CONDITIONS} conditions; simplify the rules.")
    return _condition(data, where)


def _condition(data: dict[str, Any], where: str) -> Condition:
    feature, op = data.get("feature"), data.get("op")
    kinds = {f.name: f.kind for f in CATALOGUE if f.kind in ("numeric", "categorical")}
    if not isinstance(feature, str) or feature not in kinds:
        close = [k for k in kinds if isinstance(feature, str) and feature.lower() in k][:3]
        raise RuleError(f"{where}: unknown feature {json.dumps(feature)}.",
                        (f"Did you mean {', '.join(close)}? " if close else "")
                        + "Features are the columns of the profiles (see the Profiles page).")
    if op not in OPS:
        raise RuleError(f"{where}: unknown operator {json.dumps(op)}.", f"Use one of: {', '.join(OPS)}.")
    value, percent = data.get("value"), data.get("percent")
    if kinds[feature] == "categorical" and op not in ("==", "!=", "in", "not_in", *NULL_OPS):
        raise RuleError(f"{where}: {feature} is a label; it can only be compared with ==, !=, in, "
                        "not_in, is_empty or not_empty.")
    if op in RANK_OPS:
        if not isinstance(percent, int | float) or not 0 < percent <= 100:
            raise RuleError(f"{where}: '{op}' needs a 'percent' between 0 and 100.")
        return Condition(feature, op, percent=float(percent))
    _check_value(feature, op, value, kinds[feature], where)
    return Condition(feature, op, tuple(value) if isinstance(value, list) else value)


def _check_value(feature: str, op: str, value: object, kind: str, where: str) -> None:
    scalar = str if kind == "categorical" else (int, float)
    if op in NULL_OPS:
        return
    if op == "between":
        ok = isinstance(value, list) and len(value) == 2 and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        if not ok:
            raise RuleError(f"{where}: 'between' needs a value [low, high] of two numbers.")
    elif op in ("in", "not_in"):
        if not isinstance(value, list) or not value or not all(isinstance(v, scalar) for v in value):
            raise RuleError(f"{where}: '{op}' needs a non-empty list of "
                            f"{'labels' if kind == 'categorical' else 'numbers'}.")
    elif not isinstance(value, scalar) or isinstance(value, bool):
        raise RuleError(f"{where}: {feature} {op} needs a "
                        f"{'text label' if kind == 'categorical' else 'number'}, got "
                        f"{json.dumps(value)}.")


def _dump(node: Condition | Group) -> dict[str, Any]:
    if isinstance(node, Group):
        if node.kind == "not":
            return {"not": _dump(node.children[0])}
        return {node.kind: [_dump(c) for c in node.children]}
    out: dict[str, Any] = {"feature": node.feature, "op": node.op}
    if node.op in RANK_OPS:
        out["percent"] = node.percent
    elif node.op not in NULL_OPS:
        out["value"] = list(node.value) if isinstance(node.value, tuple) else node.value
    return out


def _conditions(node: Condition | Group) -> list[Condition]:
    if isinstance(node, Condition):
        return [node]
    return [c for child in node.children for c in _conditions(child)]


def _rank_key(c: Condition) -> str:
    return f"{c.feature} {c.op} {c.percent:g}%"


def _evaluate(node: Condition | Group, profiles: pd.DataFrame,
              thresholds: dict[str, float]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    if isinstance(node, Group):
        masks = [_evaluate(c, profiles, thresholds) for c in node.children]
        if node.kind == "not":
            return ~masks[0]
        combined = np.logical_and.reduce(masks) if node.kind == "all" else np.logical_or.reduce(masks)
        return np.asarray(combined, dtype=bool)
    column = profiles[node.feature]
    if node.op in NULL_OPS:
        empty = column.isna().to_numpy()
        return empty if node.op == "is_empty" else ~empty
    if node.op in RANK_OPS:
        return _rank(node, column.astype("float64"), thresholds)
    values = column.to_numpy(dtype=object)
    known = column.notna().to_numpy()
    result = np.zeros(len(column), dtype=bool)
    result[known] = _compare(node, pd.Series(values[known]))
    return result


def _rank(c: Condition, column: pd.Series,
          thresholds: dict[str, float]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    assert c.percent is not None
    known = column.dropna()
    if known.empty:
        return np.zeros(len(column), dtype=bool)
    q = 1 - c.percent / 100 if c.op == "top" else c.percent / 100
    cut = float(known.quantile(q))
    thresholds[_rank_key(c)] = cut
    inside = (column >= cut) if c.op == "top" else (column <= cut)
    result: np.ndarray[Any, np.dtype[np.bool_]] = inside.fillna(False).to_numpy(dtype=bool)
    return result


def _compare(c: Condition, values: pd.Series) -> np.ndarray[Any, np.dtype[np.bool_]]:
    if c.op == "between":
        low, high = c.value
        matched = (values >= low) & (values <= high)
    elif c.op in ("in", "not_in"):
        matched = values.isin(list(c.value)) == (c.op == "in")
    else:
        ops = {"<": values.lt, "<=": values.le, ">": values.gt, ">=": values.ge,
               "==": values.eq, "!=": values.ne}
        matched = ops[c.op](c.value)
    result: np.ndarray[Any, np.dtype[np.bool_]] = matched.to_numpy(dtype=bool)
    return result


def _rfm_preset() -> dict[str, Any]:
    names = list(dict.fromkeys(n for row in RFM_GRID for n in row))
    return {"name": "RFM segments", "otherwise": NEVER_PURCHASED, "segments": [
        {"name": n, "when": {"feature": "rfm_segment", "op": "==", "value": n}} for n in names]}


PRESETS: dict[str, dict[str, Any]] = {
    "high_intent": {
        "name": "High purchase intent & engaged", "otherwise": "Everyone else", "segments": [{
            "name": "High purchase intent & engaged",
            "description": "Active in the last 7 days, top quarter for session length and page "
                           "views, carted without buying, and back to high-value categories.",
            "when": {"all": [
                {"feature": "events_7d", "op": ">", "value": 0},
                {"feature": "avg_session_minutes", "op": "top", "percent": 25},
                {"feature": "views_per_session", "op": "top", "percent": 25},
                {"feature": "cart_abandonment_rate", "op": ">", "value": 0},
                {"feature": "high_value_category_visits", "op": ">=", "value": 2}]}}]},
    "low_engagement": {
        "name": "Low engagement & browsing", "otherwise": "Everyone else", "segments": [{
            "name": "Low engagement & browsing",
            "description": "Few, short visits that end without a cart or a purchase.",
            "when": {"all": [
                {"feature": "sessions", "op": "<=", "value": 2},
                {"feature": "frequency", "op": "==", "value": 0},
                {"feature": "cart_adds", "op": "==", "value": 0},
                {"feature": "avg_session_minutes", "op": "bottom", "percent": 50}]}}]},
    "rfm": _rfm_preset(),
}
