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
    ("frequency", -1, "non-buyers", 0.6),
)
NAMING_FEATURES = tuple(dict.fromkeys(f for f, *_ in ADJECTIVES + NOUNS))
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
    for segment_id in z.index:
        names[segment_id] = _name(z.loc[segment_id])
    for name in {n for n in names.values() if list(names.values()).count(n) > 1}:
        for segment_id in [s for s, n in names.items() if n == name]:
            category = _mix(profiles.loc[labels == segment_id, "top_category"],
                            labels=category_labels or {})
            names[segment_id] = f"{name} ({category[0][0]})" if category else name
    seen: dict[str, int] = {}
    for segment_id, name in names.items():
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            names[segment_id] = f"{name} {seen[name]}"
    return names


def _name(z: pd.Series) -> str:
    def best(parts: tuple[tuple[str, int, str, float], ...]) -> tuple[float, str]:
        scored = [(float(z[f]) * sign * weight, words) for f, sign, words, weight in parts
                  if f in z.index]
        return max(scored, default=(0.0, ""))

    adj_score, adjective = best(ADJECTIVES)
    noun_score, noun = best(NOUNS)
    adjective = adjective if adj_score >= _STRONG else ""
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
