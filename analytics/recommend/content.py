"""Content-based: items described by their metadata, shoppers by the taste of what they touched.

Each item becomes one sparse vector: TF-IDF of its title words, one-hot category, brand and
price band (quintile within its category), scikit-learn doing the encoding. A shopper's taste
vector is the interaction-weighted sum of their items' vectors; a score is the cosine between
taste and item. Items nobody has interacted with yet are reachable this way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import OneHotEncoder, normalize

from analytics.recommend.base import Recommender, best_contributor
from analytics.recommend.catalogue import MODEL_CATALOGUE
from analytics.recommend.interactions import FloatArray, IntArray, Interactions, ItemCatalog

PRICE_BANDS = 5


def item_features(items: ItemCatalog, title_weight: float = 1.0,
                  attribute_weight: float = 1.0) -> sp.csr_matrix:
    """One L2-normalised row per item: title TF-IDF and one-hot category/brand/price band."""
    frame = items.frame()
    titles = frame["title"].fillna("").astype(str)
    blocks = []
    if titles.str.contains(r"\w\w", regex=True).any():
        tfidf = TfidfVectorizer(min_df=1, max_features=20_000, sublinear_tf=True)
        blocks.append(title_weight * normalize(tfidf.fit_transform(titles)))
    attributes = pd.DataFrame({
        "category": frame["category"].fillna("(none)").astype(str),
        "brand": frame["brand"].fillna("(none)").astype(str),
        "band": _price_bands(frame),
    })
    onehot = OneHotEncoder(handle_unknown="ignore", min_frequency=1).fit_transform(attributes)
    blocks.append(attribute_weight * normalize(sp.csr_matrix(onehot)))
    return sp.csr_matrix(normalize(sp.hstack(blocks).tocsr()))


def _price_bands(frame: pd.DataFrame) -> pd.Series:
    """Price quintile within the item's category ("band 1" cheapest), "(none)" without price."""
    ranks = frame.groupby(frame["category"].fillna("(none)"))["price"].rank(pct=True)
    band = np.ceil(ranks * PRICE_BANDS).clip(1, PRICE_BANDS)
    labels: pd.Series = band.map(lambda b: "(none)" if pd.isna(b) else f"band {int(b)}")
    return labels


class ContentBased(Recommender):
    """Cosine between a shopper's taste vector and item metadata vectors.

    Parameters
    ----------
    title_weight, attribute_weight : float
        Relative weight of title words versus category/brand/price band.

    Examples
    --------
    >>> ContentBased().fit(inter, items).similar_items("i0006", n=5)   # doctest: +SKIP
    """

    name = "content"
    label = MODEL_CATALOGUE["content"].label
    description = MODEL_CATALOGUE["content"].description

    def __init__(self, *, title_weight: float = 1.0, attribute_weight: float = 1.0,
                 exclude_purchased: bool = True, max_per_category: int | None = None,
                 cold_start_events: int = 2, random_state: int = 0) -> None:
        self.title_weight = title_weight
        self.attribute_weight = attribute_weight
        self.exclude_purchased = exclude_purchased
        self.max_per_category = max_per_category
        self.cold_start_events = cold_start_events
        self.random_state = random_state

    def _fit(self, interactions: Interactions, items: ItemCatalog) -> None:
        self.features_ = item_features(items, self.title_weight, self.attribute_weight)
        self.features_t_ = self.features_.T.tocsr()

    def _scores(self, rows: IntArray) -> FloatArray:
        taste = normalize(self.interactions_.matrix[rows] @ self.features_)
        return np.asarray((taste @ self.features_t_).todense(), dtype=np.float64)

    def _explain_row(self, row: int, item: int) -> str:
        inter = self.interactions_
        start, end = inter.matrix.indptr[row], inter.matrix.indptr[row + 1]
        mine = inter.matrix.indices[start:end]
        closeness = np.asarray((self.features_[mine] @ self.features_t_[:, item]).todense()).ravel()
        source = best_contributor(closeness * np.sqrt(inter.matrix.data[start:end]), mine)
        if source is None:
            return self.cold_start_.explain(row, item)
        return f"similar to {self.title(source)}"

    def _similar(self, item: int) -> FloatArray:
        return np.asarray((self.features_ @ self.features_t_[:, item]).todense(),
                          dtype=np.float64).ravel()
