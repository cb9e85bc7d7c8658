"""What makes each segment different: size, revenue, feature z-scores, and a readable name.

z-scores are segment means of the *scaled* features (mean 0, standard deviation 1 over all
shoppers), so "+1.5 on mobile share" reads as "one and a half standard deviations above
everyone". Names are built from the strongest of those differences ("Mobile cart abandoners").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from analytics.segments import memo
from analytics.segments.labels import relabel

# (feature, direction, words, weight): the adjective and the noun that describe a strong
# difference. Weights let a telling trait (device, store) win over a generic one (activity).
ADJECTIVES: tuple[tuple[str, int, str, float], ...] = (
    ("offline_share", 1, "In-store", 1.5),
    ("mobile_share", 1, "Mobile", 1.4),
    ("avg_price_viewed", -1, "Bargain", 1.2),
    ("days_since_last_event", 1, "Lapsed", 1.0),
    ("monetary", 1, "High-value", 1.0),
    ("avg_price_viewed", 1, "Premium", 0.9),
    ("events_30d", 1, "Recently active", 0.8),
    ("days_since_last_event", -1, "Active", 0.7),
    ("sessions", -1, "Occasional", 0.7),
)
NOUNS: tuple[tuple[str, int, str, float], ...] = (
    ("cart_abandonment_rate", 1, "cart abandoners", 1.2),
    ("searches", 1, "hunters", 1.0),
    ("frequency", 1, "repeat buyers", 1.0),
    ("avg_session_minutes", 1, "window shoppers", 1.0),
    ("views_per_session", 1, "browsers", 0.9),
    ("cart_adds", 1, "cart fillers", 0.9),
    ("monetary", 1, "big spenders", 0.9),
    ("frequency", 1, "buyers", 0.85),
    ("frequency", -1, "non-buyers", 0.6),
    ("frequency", -1, "light buyers", 0.6),
)
NAMING_FEATURES = tuple(dict.fromkeys(f for f, *_ in ADJECTIVES + NOUNS))
FACT_COLUMNS = ("events",)  # read beside the traits: what :func:`untrue_words` checks
_STRONG = 0.4  # |z| below this is not a distinguishing difference


@dataclass(frozen=True)
class SegmentSummary:
    segment_id: int
    name: str
    size: int
    share: float
    revenue_share: float
    top_categories: tuple[tuple[str, float], ...]
    device_mix: tuple[tuple[str, float], ...]
    distinguishing: tuple[tuple[str, float], ...]  # (feature, z), strongest first
    auto_name: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def zscores(Z: np.ndarray[Any, Any], labels: np.ndarray[Any, Any], columns: list[str]) -> pd.DataFrame:
    """Segment x feature table of mean scaled values relative to the whole population."""
    centred: pd.DataFrame = memo.of_array(Z, "centred", _centred)  # kept matrix: once, not per re-run
    return centred.set_axis(columns, axis=1).groupby(labels).mean()


def _centred(Z: np.ndarray[Any, Any]) -> pd.DataFrame:
    frame = pd.DataFrame(Z)
    return (frame - frame.mean()) / frame.std(ddof=0).replace(0, 1)


def naming_matrix(profiles: pd.DataFrame) -> pd.DataFrame:
    """The traits names are made of, log-scaled and standardised over all shoppers."""
    raw = profiles[[f for f in NAMING_FEATURES if f in profiles]].astype("float64")
    frame = pd.DataFrame(np.sign(raw) * np.log1p(raw.abs()), columns=raw.columns, index=raw.index)
    return ((frame - frame.mean()) / frame.std(ddof=0).replace(0, 1)).fillna(0)


def summarise(labels: np.ndarray[Any, Any], Z: np.ndarray[Any, Any], columns: list[str],
              profiles: pd.DataFrame, names: dict[int, str] | None = None,
              naming: pd.DataFrame | None = None,
              category_labels: Mapping[str, str] | None = None,
              z: pd.DataFrame | None = None) -> list[SegmentSummary]:
    """One summary per segment id; ``names`` overrides the automatic names.

    ``Z`` holds the model's scaled features (the distinguishing list comes from them);
    ``naming`` the traits automatic names are built from (default: :func:`naming_matrix`);
    ``category_labels`` readable labels for numeric category ids (see :mod:`.labels`);
    ``z`` the :func:`zscores` of ``Z`` by ``labels`` with relabelled columns, when the caller
    already has it (the run stores it as its heatmap).
    """
    readable = dict(category_labels or {})
    if z is None:
        z = zscores(Z, labels, [relabel(c, readable) for c in columns])
    traits = (naming_matrix(profiles) if naming is None else naming).reset_index(drop=True)
    traits = traits.groupby(labels).mean()
    auto = auto_names(traits, profiles, labels, readable)
    revenue = profiles["monetary"].clip(lower=0).fillna(0).to_numpy() if "monetary" in profiles else None
    total_revenue = float(revenue.sum()) if revenue is not None else 0.0
    out = []
    for segment_id in sorted(z.index):
        members = labels == segment_id
        row = z.loc[segment_id].sort_values(key=abs, ascending=False)
        seg_revenue = float(revenue[members].sum()) if revenue is not None else 0.0
        out.append(SegmentSummary(
            segment_id=int(segment_id), name=(names or {}).get(int(segment_id), auto[segment_id]),
            size=int(members.sum()), share=float(members.mean()),
            revenue_share=seg_revenue / total_revenue if total_revenue else 0.0,
            top_categories=_mix(profiles.loc[members, "top_category"], labels=readable),
            device_mix=_mix(profiles.loc[members, "main_device"]),
            distinguishing=tuple((str(f), round(float(v), 3)) for f, v in row.head(6).items()),
            auto_name=auto[segment_id]))
    return out


def auto_names(z: pd.DataFrame, profiles: pd.DataFrame, labels: np.ndarray[Any, Any],
               category_labels: Mapping[str, str] | None = None) -> dict[Any, str]:
    """A distinct readable name per segment from its strongest differences.

    Two segments with the same traits are told apart by their top category, in its readable
    label (never a numeric id).
    """
    names: dict[Any, str] = {}
    untrue = _untrue_everywhere(profiles)
    for segment_id in z.index:
        members = profiles.loc[labels == segment_id]
        names[segment_id] = _name(z.loc[segment_id], untrue | untrue_words(members))
    for name in {n for n in names.values() if list(names.values()).count(n) > 1}:
        for segment_id in [s for s, n in names.items() if n == name]:
            category = _mix(profiles.loc[labels == segment_id, "top_category"],
                            labels=category_labels or {})
            names[segment_id] = f"{name} ({category[0][0]})" if category else name
    names = _qualified(names, z)
    seen: dict[str, int] = {}
    for segment_id, name in names.items():
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            names[segment_id] = f"{name} {seen[name]}"
    return names


# How two segments with one name differ, in words: (feature, higher, lower).
QUALIFIERS: tuple[tuple[str, str, str], ...] = (
    ("monetary", "higher spend", "lower spend"), ("frequency", "more orders", "fewer orders"),
    ("days_since_last_event", "longer away", "more recent"),
    ("sessions", "more visits", "fewer visits"), ("events_30d", "busier this month", "quieter this month"),
    ("avg_session_minutes", "longer visits", "shorter visits"),
)


def _qualified(names: dict[Any, str], z: pd.DataFrame) -> dict[Any, str]:
    """Segments still sharing a name get the trait they differ on most from the others sharing it.

    On Complete Journey three K-Means segments were "High-value repeat buyers", "… 2", "… 3":
    numbers a marketer cannot tell apart; "(higher spend)" / "(more recent)" can be.
    """
    out = dict(names)
    for name in {n for n in names.values() if list(names.values()).count(n) > 1}:
        group = [s for s, n in names.items() if n == name]
        traits = [f for f, *_ in QUALIFIERS if f in z.columns]
        if not traits:
            continue
        centre = z.loc[group, traits].mean()
        for segment_id in group:
            gap = z.loc[segment_id, traits] - centre
            feature = str(gap.abs().idxmax())
            higher, lower = next((h, lo) for f, h, lo in QUALIFIERS if f == feature)
            out[segment_id] = f"{name} ({higher if gap[feature] > 0 else lower})"
    return out


_LAPSED_DAYS = 7  # a shopper seen within the last week has not lapsed, whatever the others do


def untrue_words(members: pd.DataFrame) -> set[str]:
    """Name words the segment's own numbers contradict, so they are never used for it.

    The names come from z-scores, which are relative: in a purchase-only file where everyone
    buys, the segment below average frequency is not "non-buyers"; a segment whose shoppers
    buy once is not "repeat buyers"; without views nobody is a "window shopper" (on Complete
    Journey the audit found "Occasional non-buyers" with a median of 7 orders and "Window
    shoppers" with 15 orders and no view at all). Each word here needs the plain fact it
    states to hold for the segment's median (or majority) shopper.
    """
    def median(column: str) -> float:
        values = members[column].astype("float64") if column in members else pd.Series(dtype="float64")
        return float(values.median()) if values.notna().any() else float("nan")

    def share(column: str, at_least: float) -> float:
        return float((members[column].fillna(0) >= at_least).mean()) if column in members else 0.0

    buyers, repeaters = share("frequency", 1), share("frequency", 2)
    orders_per_visit = (members["frequency"].fillna(0) / members["sessions"].clip(lower=1)).median() \
        if {"frequency", "sessions"} <= set(members) else float("nan")
    facts = {
        "non-buyers": buyers < 0.5, "light buyers": buyers >= 0.5, "buyers": buyers >= 0.5,
        "repeat buyers": repeaters >= 0.5, "High-value": median("monetary") > 0,
        "big spenders": median("monetary") > 0, "Lapsed": median("days_since_last_event") >= _LAPSED_DAYS,
        "window shoppers": median("views_per_session") > 0 and orders_per_visit < 0.5,
        "browsers": median("views_per_session") > 0,
        "cart abandoners": median("cart_adds") > 0, "cart fillers": median("cart_adds") > 0,
        "hunters": median("searches") > 0,
    }
    return {words for words, holds in facts.items() if not holds}


def _untrue_everywhere(profiles: pd.DataFrame) -> set[str]:
    """Words no segment can earn in this data: "Recently active" when the history is a month."""
    if {"events", "events_30d"} <= set(profiles) and len(profiles):
        whole = (profiles["events_30d"].fillna(0) >= profiles["events"].fillna(0)).mean()
        if whole >= 0.9:  # nearly everyone's every event is in the last 30 days
            return {"Recently active"}
    return set()


def _name(z: pd.Series, untrue: set[str] | frozenset[str] = frozenset()) -> str:
    def best(parts: tuple[tuple[str, int, str, float], ...]) -> tuple[float, str]:
        scored = [(float(z[f]) * sign * weight, words) for f, sign, words, weight in parts
                  if f in z.index and words not in untrue]
        return max(scored, default=(0.0, ""))

    adj_score, adjective = best(ADJECTIVES)
    adjective = adjective if adj_score >= _STRONG else ""
    # A noun from the adjective's own feature says the same twice ("High-value big spenders").
    same = {f for f, _, words, _ in ADJECTIVES if words == adjective}
    noun_score, noun = best(tuple(part for part in NOUNS if part[0] not in same))
    noun = noun if noun_score >= _STRONG else ""
    if not adjective and not noun:
        return "Typical shoppers"
    if adjective and noun:
        return f"{adjective} {noun}"
    return adjective + " shoppers" if adjective else noun.capitalize()


def _mix(values: pd.Series, top: int = 3,
         labels: Mapping[str, str] | None = None) -> tuple[tuple[str, float], ...]:
    shares = values.dropna().astype(str).value_counts(normalize=True).head(top)
    return tuple((relabel(str(k), labels or {}), round(float(v), 3)) for k, v in shares.items())
