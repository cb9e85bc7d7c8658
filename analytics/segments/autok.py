"""Choosing k a marketer can act on: no tiny or swallowing segments, stable, and honest about noise.

Silhouette alone picked k = 2 ("buyers vs everyone else") on most real exports and let a
Gaussian mixture put 95% of shoppers in one segment. Here every k of the sweep is also checked
for degenerate sizes and refitted on subsamples (bootstrap ARI); k is the best silhouette among
the usable, stable solutions, and the reason is written down. When even the best silhouette is
no better than on the same data with its columns shuffled independently (which keeps every
feature's distribution but destroys any joint grouping), the data has no cluster structure and
the verdict says so, suggesting rules, RFM or quantile segments instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score

from analytics.errors import ConfigError

Array = np.ndarray[Any, Any]

DEFAULT_KS: tuple[int, ...] = tuple(range(3, 13))
MIN_SHARE = 0.01  # a segment under 1% of shoppers is too small to target
MAX_SHARE = 0.80  # a segment over 80% is "everyone": no segmentation at all
STABLE_ARI = 0.8  # as analytics.segments.stability.STABLE
MODERATE_ARI = 0.6
# Structure test: the best silhouette must beat the column-shuffled reference by this much.
# Measured: uniform noise in 2-10 dimensions differs from its reference by < 0.01; the demo shop
# (planted segments) by 0.24 and Complete Journey by 0.15.
STRUCTURE_MARGIN = 0.05
# Kaufman & Rousseeuw's reading of the average silhouette: below 0.25 "no substantial structure".
WEAK_SILHOUETTE = 0.25
SUGGESTION = ("Use rules instead: the RFM preset (recency, frequency, spend scores) or quantile "
              "segments of one or two features a campaign targets (e.g. top 20% by spend).")


def size_problem(labels: Array, noise: int = -1) -> str | None:
    """Why the segment sizes are unusable (a segment < 1% or > 80% of shoppers), else None.

    HDBSCAN's noise is not a segment and is left out of the shares.
    """
    kept = labels[labels != noise]
    if len(kept) == 0:
        return "every shopper is noise"
    ids, counts = np.unique(kept, return_counts=True)
    shares = counts / len(kept)
    if shares.max() > MAX_SHARE:
        return f"segment {int(ids[shares.argmax()])} holds {shares.max():.0%} of shoppers (over 80%)"
    if shares.min() < MIN_SHARE:
        return (f"segment {int(ids[shares.argmin()])} holds {shares.min():.1%} of shoppers "
                "(under 1%)")
    return None


def shares(labels: Array, noise: int = -1) -> tuple[float, float]:
    """(smallest, largest) segment share, noise aside."""
    kept = labels[labels != noise]
    if len(kept) == 0:
        return 0.0, 0.0
    counts = np.unique(kept, return_counts=True)[1] / len(kept)
    return float(counts.min()), float(counts.max())


def agreement(a: Array, b: Array) -> float:
    """Adjusted Rand index of two assignments of the same shoppers."""
    return float(adjusted_rand_score(a, b))


def column_shuffled(X: Array, random_state: int = 0) -> Array:
    """X with each column permuted independently: same marginals, no joint structure."""
    rng = np.random.default_rng(random_state)
    return np.column_stack([rng.permutation(column) for column in X.T])


@dataclass(frozen=True)
class Choice:
    k: int
    reason: str


def choose(rows: Sequence[Any]) -> Choice:
    """The k to use from scored sweep rows (each with k, silhouette, stability, rejected).

    Usable rows (no size problem) are preferred; among them the stable ones (ARI >= 0.8), else
    the moderately stable (>= 0.6); the highest silhouette wins inside that group.
    """
    scored = [r for r in rows if np.isfinite(r.silhouette)]
    if not scored:
        raise ConfigError("No number of segments could be scored: every fit put all shoppers in "
                          "one group.", hint="Choose other features or a fixed k.",
                          title="No usable k")
    usable = [r for r in scored if r.rejected is None]
    if not usable:
        best = max(scored, key=lambda r: r.min_share - max(0.0, r.max_share - MAX_SHARE))
        return Choice(best.k, f"every k left a segment under 1% or over 80% of shoppers; k = {best.k} "
                              f"is the least lopsided ({best.rejected}).")
    for floor, word in ((STABLE_ARI, "stable"), (MODERATE_ARI, "moderately stable")):
        group = [r for r in usable if r.stability is not None and r.stability >= floor]
        if group:
            best = max(group, key=lambda r: r.silhouette)
            return Choice(best.k, _sentence(best, len(rows), len(usable), word))
    best = max(usable, key=lambda r: r.silhouette)
    return Choice(best.k, _sentence(best, len(rows), len(usable), "unstable"))


def _sentence(best: Any, n_rows: int, n_usable: int, word: str) -> str:
    rejected = n_rows - n_usable
    dropped = f"{rejected} k rejected for a segment under 1% or over 80%; " if rejected else ""
    stability = "n/a" if best.stability is None else f"{best.stability:.2f}"
    warning = "; no k was stable, so treat borders as rough" if word == "unstable" else ""
    return (f"{dropped}k = {best.k} has the highest silhouette ({best.silhouette:.2f}) among the "
            f"{word} solutions (bootstrap ARI {stability}){warning}.")


def structure(best_silhouette: float, reference: float) -> tuple[str, str]:
    """("none" | "weak" | "clear", sentence) for the chosen fit against the shuffled reference."""
    gain = best_silhouette - reference
    if not np.isfinite(gain) or gain < STRUCTURE_MARGIN:
        return "none", (f"No cluster structure: the silhouette ({best_silhouette:.2f}) is no better "
                        f"than on the same data with its columns shuffled ({reference:.2f}). These "
                        "segments are arbitrary cuts of one continuum. " + SUGGESTION)
    if best_silhouette < WEAK_SILHOUETTE:
        return "weak", (f"Weak structure: silhouette {best_silhouette:.2f} (shuffled data "
                        f"{reference:.2f}; below 0.25 segments overlap a lot). Check the profiles "
                        "before acting on them.")
    return "clear", (f"Cluster structure found: silhouette {best_silhouette:.2f} against "
                     f"{reference:.2f} on shuffled data.")


_RANGE = re.compile(r"^auto(?::(\d+)-(\d+))?$")


def parse_k(value: str, k_min: int | None = None, k_max: int | None = None) -> tuple[int | None,
                                                                                   tuple[int, ...]]:
    """``--k`` as (fixed k or None, k range to search): "6", "auto", "auto:3-12"."""
    value = value.strip().lower()
    match = _RANGE.match(value)
    if match is None:
        try:
            return int(value), DEFAULT_KS
        except ValueError:
            raise ConfigError(f"--k {value!r} is not a number of segments.",
                              hint="Use a number (e.g. 6), auto, or auto:3-12.",
                              title="Invalid k") from None
    low = int(match.group(1)) if match.group(1) else (k_min or DEFAULT_KS[0])
    high = int(match.group(2)) if match.group(2) else (k_max or DEFAULT_KS[-1])
    return None, k_range(low, high)


def k_range(low: int, high: int) -> tuple[int, ...]:
    """The k values from low to high, checked."""
    if low < 2 or high < low:
        raise ConfigError(f"k range {low}..{high} is empty or starts below 2.",
                          hint="Use a range like 3-12 (at least 2 segments).",
                          title="Invalid k range")
    return tuple(range(low, high + 1))
