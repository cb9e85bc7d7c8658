"""From the ``profiles`` table to the numeric matrix that clustering and the map work on.

:class:`ProfileEncoder` is a fitted transformer (scikit-learn contract): it learns which
categories to expand ``category_shares`` into and what to put in empty cells, so that a later
refresh encodes new profiles exactly as the run that defined the segments did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import duckdb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, QuantileTransformer, RobustScaler, StandardScaler

from analytics.errors import ConfigError
from analytics.profiles import CATALOGUE, PREDICTED_FEATURES

CATEGORY_SHARES = "category_shares"
SHARE_PREFIX = "share: "

#: Behaviour that separates shoppers well with little overlap: one or two features per group
#: (recency, frequency, spend, price level, intent, engagement, device) plus the category mix.
DEFAULT_FEATURES: tuple[str, ...] = (
    "days_since_last_event", "frequency", "monetary", "avg_price_viewed", "cart_adds",
    "cart_abandonment_rate", "high_value_category_visits", "events_30d", "avg_session_minutes",
    "views_per_session", "searches", "mobile_share", CATEGORY_SHARES,
)

#: The first is the default. Chosen by measurement (README, "Choosing the scaling"): on the demo
#: shop winsor keeps the planted-segment ARI (0.924 vs 0.923 for log1p) and on Complete Journey
#: it is the only treatment where no k in 3..12 leaves a segment of a few extreme households.
SCALINGS: dict[str, str] = {
    "winsor": "clip each feature to its 1st-99th percentile, then log(1 + x) and standardise "
              "(default): heavy tails tamed, a few extreme shoppers cannot form a segment",
    "log1p": "log(1 + x), then standardise: tames long-tailed counts and spend",
    "standard": "standardise: mean 0, standard deviation 1",
    "robust": "centre on the median, scale by the interquartile range",
    "quantile": "map each feature to a normal distribution by rank",
}
DEFAULT_SCALING = next(iter(SCALINGS))
_PREDICTED = frozenset(f.name for f in PREDICTED_FEATURES)

# Empty cells mean "never did it" (fill 0) except where 0 would be a claim: a shopper who never
# bought is the *least* recent (fill: beyond the largest value), and an unknown price level is
# taken to be typical (fill: median).
_FILL_MAX = frozenset({"recency_days"})
_FILL_MEDIAN = frozenset({"avg_price_viewed", "avg_price_bought", "price_sensitivity",
                          "avg_order_value", "mobile_share",
                          # unknown (never bought) is not "certainly gone" or "worth 0"
                          "p_alive", "expected_order_value"})


def numeric_features() -> list[str]:
    """Profile features a model can use: the numeric ones plus the category mix."""
    return [f.name for f in CATALOGUE if f.kind == "numeric"] + [CATEGORY_SHARES]


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
        self._fit(profiles)
        return self

    def fit_transform(self, profiles: pd.DataFrame, y: object = None,
                      **fit_params: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Fit and encode in one pass over the category mix (decoding it is the slow part)."""
        return self._fill(self._fit(profiles))

    def transform(self, profiles: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
        return self._fill(self._expand(profiles))

    def _fit(self, profiles: pd.DataFrame) -> pd.DataFrame:
        _check_features(profiles, self.features)
        self.categories_: list[str] = []
        frame = self._expand(profiles, top=self.top_categories)
        self.fill_values_ = {c: _fill_value(c, frame[c]) for c in frame.columns}
        self.feature_names_out_ = list(frame.columns)
        _check_informative(frame)
        return frame

    def _fill(self, frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
        return frame.fillna(self.fill_values_).to_numpy(dtype=float)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray[Any, Any]:
        return np.asarray(self.feature_names_out_, dtype=object)

    def frame(self, profiles: pd.DataFrame) -> pd.DataFrame:
        """The encoded features as a labelled frame (for profiling and export)."""
        return pd.DataFrame(self.transform(profiles), columns=self.feature_names_out_,
                            index=profiles.index)

    def _expand(self, profiles: pd.DataFrame, top: int | None = None) -> pd.DataFrame:
        """The plain features plus one share column per category (``top``: choose them now)."""
        plain = [f for f in self.features if f != CATEGORY_SHARES]
        frame = profiles[plain].astype("float64")
        if CATEGORY_SHARES in self.features:
            categories, shares = _category_mix(profiles[CATEGORY_SHARES], top,
                                               getattr(self, "categories_", []))
            if top is not None:
                self.categories_ = categories
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
    elif scaling == "winsor":
        steps += [("winsor", Winsorizer()),
                  ("log1p", FunctionTransformer(_signed_log1p, feature_names_out="one-to-one")),
                  ("standard", StandardScaler())]
    elif scaling == "standard":
        steps.append(("standard", StandardScaler()))
    elif scaling == "robust":
        steps.append(("robust", RobustScaler()))
    else:
        steps.append(("quantile", QuantileTransformer(output_distribution="normal", n_quantiles=500,
                                                      random_state=random_state)))
    return Pipeline(steps)


def preprocessor(features: Sequence[str], scaling: str = DEFAULT_SCALING, pca_components: int | None = None,
                 top_categories: int = 8, random_state: int = 0) -> Pipeline:
    """Encoder -> scaling -> optional PCA, unfitted."""
    steps: list[tuple[str, Any]] = [("encode", ProfileEncoder(list(features), top_categories)),
                                    ("scale", scaler(scaling, random_state))]
    if pca_components:
        steps.append(("pca", PCA(n_components=pca_components, random_state=random_state)))
    return Pipeline(steps)


class Winsorizer(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """Clip each column to its fitted ``low``-``high`` quantiles, so a few extreme shoppers
    (one household with 50x the median spend) cannot become a segment of their own.

    Examples
    --------
    >>> Winsorizer(0.0, 0.5).fit(np.array([[1.0], [2.0], [9.0]])).transform(np.array([[9.0]])).tolist()
    [[2.0]]
    """

    def __init__(self, low: float = 0.01, high: float = 0.99) -> None:
        self.low = low
        self.high = high

    def fit(self, X: np.ndarray[Any, Any], y: object = None) -> Self:
        self.bounds_ = np.nanquantile(np.asarray(X, dtype=float), [self.low, self.high], axis=0)
        return self

    def transform(self, X: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return np.asarray(np.clip(np.asarray(X, dtype=float), self.bounds_[0], self.bounds_[1]))

    def get_feature_names_out(self, input_features: object = None) -> object:
        return input_features


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
    unfitted = [f for f in features if f in _PREDICTED and f not in profiles.columns]
    if unfitted:  # predicted features exist once lifetime value has been fitted
        raise ConfigError(f"{', '.join(unfitted)}: lifetime value has not been fitted yet.",
                          hint="Fit it on the Predictions page or with `shopper-lens predict`, "
                          "or leave these features out.", title="Not fitted yet")
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


# The category mix is a JSON object per shopper; decoding 240,000 of them with json.loads took
# seconds per pass, so DuckDB decodes them (vectorised) into a MAP, once per fit, and looks the
# chosen categories up.
_MAPS = """
CREATE TEMP TABLE maps AS
SELECT i, json_transform(nullif(trim(j), ''), '"MAP(VARCHAR, DOUBLE)"') AS m FROM cells"""
_TOP = """
SELECT e.key FROM (SELECT unnest(map_entries(m)) AS e FROM maps)
WHERE e.key IS NOT NULL GROUP BY e.key ORDER BY sum(coalesce(e.value, 0)) DESC, e.key LIMIT $n"""
_SHARES = """
SELECT unnest([coalesce(m[c], 0)::DOUBLE FOR c IN $categories::VARCHAR[]]) AS share
FROM (SELECT m FROM maps ORDER BY i)"""


def _category_mix(cells: pd.Series, top: int | None,
                  categories: Sequence[str] = ()) -> tuple[list[str], pd.DataFrame]:
    """(categories, one share column per category) from the JSON cells, in one decoding.

    With ``top`` the categories are the ``top`` largest by total share; else ``categories``.
    """
    frame = pd.DataFrame({"i": np.arange(len(cells)), "j": cells.to_numpy()})
    with duckdb.connect() as con:
        con.register("cells", frame)
        try:
            con.execute(_MAPS)
            if top is not None:
                keys: Any = con.execute(_TOP, {"n": top}).fetchnumpy()["key"] if top > 0 else []
                categories = [str(k) for k in keys]
            values = (con.execute(_SHARES, {"categories": list(categories)}).fetchnumpy()["share"]
                      if categories and len(cells) else np.zeros(0))
        except duckdb.Error as e:
            raise ConfigError("The category mix (category_shares) of some profiles is not a JSON "
                              f"object of shares: {e}", hint="Rebuild the profiles.",
                              title="Unreadable category mix") from e
    matrix = np.asarray(values, dtype=float).reshape(len(cells), len(categories))
    names = [f"{SHARE_PREFIX}{c}" for c in categories]
    return list(categories), pd.DataFrame(matrix, columns=names, index=range(len(cells)))


def check_pca(components: int | None, columns: int) -> None:
    """PCA keeps between 1 and as many components as there are encoded columns."""
    if components is not None and not 1 <= components <= columns:
        raise ConfigError(f"PCA cannot keep {components} components of {columns} encoded "
                          "feature columns.", hint=f"Use --pca between 1 and {columns}, or "
                          "leave it off.", title="Invalid option")
