"""From the ``profiles`` table to the numeric matrix that clustering and the map work on.

:class:`ProfileEncoder` is a fitted transformer (scikit-learn contract): it learns which
categories to expand ``category_shares`` into and what to put in empty cells, so that a later
refresh encodes new profiles exactly as the run that defined the segments did.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, QuantileTransformer, RobustScaler, StandardScaler

from analytics.errors import ConfigError
from analytics.profiles import FEATURES

CATEGORY_SHARES = "category_shares"
SHARE_PREFIX = "share: "

#: Behaviour that separates shoppers well with little overlap: one or two features per group
#: (recency, frequency, spend, price level, intent, engagement, device) plus the category mix.
DEFAULT_FEATURES: tuple[str, ...] = (
    "days_since_last_event", "frequency", "monetary", "avg_price_viewed", "cart_adds",
    "cart_abandonment_rate", "high_value_category_visits", "events_30d", "avg_session_minutes",
    "views_per_session", "searches", "mobile_share", CATEGORY_SHARES,
)

SCALINGS: dict[str, str] = {
    "log1p": "log(1 + x), then standardise: tames long-tailed counts and spend (default)",
    "standard": "standardise: mean 0, standard deviation 1",
    "robust": "centre on the median, scale by the interquartile range",
    "quantile": "map each feature to a normal distribution by rank",
}

# Empty cells mean "never did it" (fill 0) except where 0 would be a claim: a shopper who never
# bought is the *least* recent (fill: beyond the largest value), and an unknown price level is
# taken to be typical (fill: median).
_FILL_MAX = frozenset({"recency_days"})
_FILL_MEDIAN = frozenset({"avg_price_viewed", "avg_price_bought", "price_sensitivity",
                          "avg_order_value", "mobile_share"})


def numeric_features() -> list[str]:
    """Profile features a model can use: the numeric ones plus the category mix."""
    return [f.name for f in FEATURES if f.kind == "numeric"] + [CATEGORY_SHARES]


class ProfileEncoder(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """Select profile features, expand the category mix, fill empty cells.

    Parameters
    ----------
    features : sequence of str
        Profile feature names (see :func:`numeric_features`).
    top_categories : int
        ``category_shares`` becomes one ``share: <category>`` column for each of this many
        most common categories.

    Examples
    --------
    >>> enc = ProfileEncoder(["frequency"]).fit(pd.DataFrame({"frequency": [1, 2]}))
    >>> enc.transform(pd.DataFrame({"frequency": [3, None]})).tolist()
    [[3.0], [0.0]]
    """

    def __init__(self, features: Sequence[str] = DEFAULT_FEATURES, top_categories: int = 8) -> None:
        self.features = features
        self.top_categories = top_categories

    def fit(self, profiles: pd.DataFrame, y: object = None) -> Self:
        _check_features(profiles, self.features)
        self.categories_ = (_top_categories(profiles[CATEGORY_SHARES], self.top_categories)
                            if CATEGORY_SHARES in self.features else [])
        frame = self._expand(profiles)
        self.fill_values_ = {c: _fill_value(c, frame[c]) for c in frame.columns}
        self.feature_names_out_ = list(frame.columns)
        _check_informative(frame)
        return self

    def transform(self, profiles: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
        frame = self._expand(profiles).fillna(self.fill_values_)
        return frame.to_numpy(dtype=float)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray[Any, Any]:
        return np.asarray(self.feature_names_out_, dtype=object)

    def frame(self, profiles: pd.DataFrame) -> pd.DataFrame:
        """The encoded features as a labelled frame (for profiling and export)."""
        return pd.DataFrame(self.transform(profiles), columns=self.feature_names_out_,
                            index=profiles.index)

    def _expand(self, profiles: pd.DataFrame) -> pd.DataFrame:
        plain = [f for f in self.features if f != CATEGORY_SHARES]
        frame = profiles[plain].astype("float64")
        if CATEGORY_SHARES in self.features:
            shares = _shares(profiles[CATEGORY_SHARES], getattr(self, "categories_", []))
            frame = pd.concat([frame, shares.set_axis(profiles.index)], axis=1)
        return frame


def scaler(scaling: str, random_state: int = 0) -> Pipeline:
    """The scaling step named in :data:`SCALINGS`."""
    if scaling not in SCALINGS:
        raise ConfigError(f"Unknown scaling {scaling!r}.", hint=f"Use one of: {', '.join(SCALINGS)}.",
                          title="Invalid scaling")
    steps: list[tuple[str, Any]] = []
    if scaling == "log1p":
        steps += [("log1p", FunctionTransformer(_signed_log1p, feature_names_out="one-to-one")),
                  ("standard", StandardScaler())]
    elif scaling == "standard":
        steps.append(("standard", StandardScaler()))
    elif scaling == "robust":
        steps.append(("robust", RobustScaler()))
    else:
        steps.append(("quantile", QuantileTransformer(output_distribution="normal", n_quantiles=500,
                                                      random_state=random_state)))
    return Pipeline(steps)


def preprocessor(features: Sequence[str], scaling: str = "log1p", pca_components: int | None = None,
                 top_categories: int = 8, random_state: int = 0) -> Pipeline:
    """Encoder -> scaling -> optional PCA, unfitted."""
    steps: list[tuple[str, Any]] = [("encode", ProfileEncoder(list(features), top_categories)),
                                    ("scale", scaler(scaling, random_state))]
    if pca_components:
        steps.append(("pca", PCA(n_components=pca_components, random_state=random_state)))
    return Pipeline(steps)


def _signed_log1p(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.asarray(np.sign(x) * np.log1p(np.abs(x)))


def _check_features(profiles: pd.DataFrame, features: Sequence[str]) -> None:
    if not features:
        raise ConfigError("No features were chosen for segmentation.",
                          hint="Pick at least two profile features.", title="No features")
    known = set(numeric_features())
    unknown = [f for f in features if f not in known]
    if unknown:
        raise ConfigError(f"Unknown or non-numeric feature(s): {', '.join(map(repr, unknown))}.",
                          hint=f"Numeric profile features are: {', '.join(sorted(known))}.",
                          title="Unknown feature")
    if len(profiles) < 3:
        raise ConfigError(f"Only {len(profiles)} shopper(s) have a profile; segmentation needs at "
                          "least 3.", hint="Load more events, then rebuild the profiles.",
                          title="Too few shoppers")


def _check_informative(frame: pd.DataFrame) -> None:
    empty = [c for c in frame.columns if frame[c].isna().all()]
    constant = [c for c in frame.columns if c not in empty and frame[c].nunique(dropna=False) <= 1]
    problems = [f"{c!r} is empty for every shopper" for c in empty]
    problems += [f"{c!r} has the same value for every shopper" for c in constant]
    if problems:
        raise ConfigError("These features cannot separate shoppers: " + "; ".join(problems) + ".",
                          hint="Remove them from the feature list (your data may not record them).",
                          title="Uninformative features")


def _fill_value(column: str, values: pd.Series) -> float:
    if values.isna().all():
        return 0.0
    if column in _FILL_MAX:
        return float(values.max()) + 1.0
    if column in _FILL_MEDIAN:
        return float(values.median())
    return 0.0


def _parse(cell: object) -> dict[str, float]:
    if not isinstance(cell, str) or not cell:
        return {}
    parsed = json.loads(cell)
    return parsed if isinstance(parsed, dict) else {}


def _top_categories(cells: pd.Series, n: int) -> list[str]:
    totals: dict[str, float] = {}
    for cell in cells:
        for category, share in _parse(cell).items():
            totals[category] = totals.get(category, 0.0) + float(share)
    return sorted(totals, key=lambda c: (-totals[c], c))[:n]


def _shares(cells: pd.Series, categories: Sequence[str]) -> pd.DataFrame:
    rows = [_parse(cell) for cell in cells]
    data = {f"{SHARE_PREFIX}{c}": [float(r.get(c, 0.0)) for r in rows] for c in categories}
    return pd.DataFrame(data, index=range(len(rows)))
