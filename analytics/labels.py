"""Plain words for what pages show: one catalogue of feature, model and metric labels, and the
formatting of durations and money, so no internal name (``avg_order_value``, ``item_knn``) or
raw number of seconds reaches a marketer.

Feature explanations are the ``help`` of :data:`analytics.profiles.CATALOGUE`; model labels are one
dict (:data:`MODEL_LABELS`) taken from the recommender catalogue.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from analytics import settings
from analytics.profiles import CATALOGUE
from analytics.recommend.catalogue import MODEL_CATALOGUE

# Short labels of the profile features (their explanations are FEATURES' help texts).
FEATURE_LABELS: dict[str, str] = {
    "recency_days": "Days since last purchase", "frequency": "Orders", "monetary": "Spend",
    "avg_order_value": "Average order value", "r_score": "Recency score (1-5)",
    "f_score": "Frequency score (1-5)", "m_score": "Spend score (1-5)", "rfm_segment": "RFM segment",
    "last_purchase_at": "Last purchase", "events": "Events", "sessions": "Visits",
    "active_days": "Active days", "events_per_session": "Events per visit",
    "views_per_session": "Product views per visit", "avg_session_minutes": "Average visit length",
    "days_since_last_event": "Days since last activity", "cart_adds": "Cart adds",
    "cart_abandonment_rate": "Cart abandonment rate", "wishlist_adds": "Wishlist adds",
    "searches": "Searches", "cart_no_purchase_7d": "Abandoned a cart in the last 7 days",
    "high_value_category_visits": "Views in high-value categories", "main_device": "Main device",
    "mobile_share": "Mobile share", "preferred_hour_band": "Preferred time of day",
    "preferred_weekday": "Preferred weekday", "main_channel": "Main channel", "country": "Country",
    "top_category": "Top category", "top_category_share": "Top category share",
    "category_count": "Categories touched", "category_shares": "Category shares",
    "brand_concentration": "Brand loyalty (concentration)", "avg_price_viewed": "Average price viewed",
    "avg_price_bought": "Average price bought", "price_sensitivity": "Price sensitivity",
    "offline_purchases": "In-store purchases", "offline_share": "In-store share of spend",
    "omnichannel": "Buys online and in store", "events_7d": "Events, last 7 days",
    "events_30d": "Events, last 30 days", "purchases_30d": "Purchases, last 30 days",
    "revenue_30d": "Spend, last 30 days", "views_7d": "Product views, last 7 days",
    "crm_attributes": "CRM attributes", "ratings_given": "Ratings given",
    "mean_rating": "Mean rating", "high_rating_share": "Share of high ratings",
    # predicted lifetime value (analytics/predict)
    "p_alive": "Chance still buying", "expected_purchases": "Expected orders (horizon)",
    "expected_order_value": "Expected order value", "clv": "Lifetime value (CLV)",
    "predicted_as_of": "Predictions as of",
}

# Features that are amounts of money (shown with the currency).
MONEY_FEATURES = frozenset({"monetary", "avg_order_value", "avg_price_viewed", "avg_price_bought",
                            "revenue_30d", "expected_order_value", "clv"})

# Model registry name -> label: the recommender catalogue is the one source.
MODEL_LABELS: dict[str, str] = {name: info.label for name, info in MODEL_CATALOGUE.items()}

# Metric / result column -> label.
METRIC_LABELS: dict[str, str] = {
    "precision": "Precision", "recall": "Recall", "ndcg": "NDCG", "map": "MAP",
    "hit_rate": "Hit rate", "coverage": "Catalogue coverage", "novelty": "Novelty",
    "fit_seconds": "Training time", "users": "Shoppers", "model": "Model", "segment": "Segment",
    "silhouette": "Silhouette", "davies_bouldin": "Davies-Bouldin index",
    "calinski_harabasz": "Calinski-Harabasz index", "mixed_share": "Share with mixed behaviour",
    "ndcg_ci_low": "NDCG 95% CI low", "ndcg_ci_high": "NDCG 95% CI high",
    "tied_with_best": "Tied with the best", "chosen": "Chosen", "rule": "Rule",
    "exclusion": "Exclusion", "best_model": "Best model",
    # experiments: arms, lifts per segment, balance of pre-period features
    "outcome_mean": "Outcome mean", "conversions": "Conversions",
    "revenue_per_user": "Revenue per shopper", "n_treatment": "Shoppers treated",
    "n_control": "Shoppers in control", "ci_low": "Lower bound (95% CI)",
    "ci_high": "Upper bound (95% CI)", "p_value": "P-value", "p_adjusted": "P-value, corrected",
    "mean_treatment": "Mean, treatment", "mean_control": "Mean, control",
    "smd": "Standardised mean difference", "imbalanced": "Imbalanced",
    # uplift models
    # (short: six numeric columns beside the model's name must fit the page's width)
    "qini": "Qini", "qini_low": "Qini low (95%)", "qini_high": "Qini high (95%)",
    "auuc": "Area under curve", "uplift_at_10": "Top 10% uplift",
    "uplift_at_20": "Top 20% uplift", "uplift_at_30": "Top 30% uplift",
}

_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")


def feature_label(name: str) -> str:
    """A profile feature's label (unknown names, e.g. CRM columns, are de-snaked)."""
    return FEATURE_LABELS.get(name) or _desnake(name)


def feature_help(name: str) -> str:
    """What a profile feature means (FEATURES' help), empty when unknown."""
    return next((f.help for f in CATALOGUE if f.name == name), "")


def event_label(name: str) -> str:
    """A canonical event type as a word for legends ("remove_from_cart" → "Remove from cart")."""
    return _desnake(name)


def model_label(name: str) -> str:
    return MODEL_LABELS.get(name) or _desnake(name)


def metric_label(name: str) -> str:
    return METRIC_LABELS.get(name) or FEATURE_LABELS.get(name) or _desnake(name)


def column_labels(columns: Iterable[str]) -> dict[str, str]:
    """Labels for table columns named after features, metrics or models (others unchanged)."""
    known: Mapping[str, str] = {**MODEL_LABELS, **FEATURE_LABELS, **METRIC_LABELS}
    return {c: known.get(c, c) for c in columns}


def internal_names() -> set[str]:
    """Every internal name the catalogue translates that looks internal (has an underscore)."""
    return {n for n in (*FEATURE_LABELS, *MODEL_LABELS, *METRIC_LABELS) if _SNAKE.match(n)}


def _desnake(name: str) -> str:
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def duration(seconds: float | None) -> str:
    """Seconds as a person says them: 45 s, 12 min, 3.5 h, 4 days ("–" when unknown)."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms" if seconds > 0 else "0 s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    days = seconds / 86_400  # "180 days", not "179.9 days": tenths matter only for a few days
    return f"{days:.1f} days" if days < 10 else f"{days:.0f} days"


def currency() -> str:
    """The currency money is shown in (setting SHOPPER_LENS_CURRENCY)."""
    return str(settings.get("SHOPPER_LENS_CURRENCY"))


def money(amount: float | None, decimals: int = 2) -> str:
    """An amount with the currency, e.g. ``1,234.50 EUR`` ("–" when unknown)."""
    if amount is None or (isinstance(amount, float) and math.isnan(amount)):
        return "–"
    return f"{amount:,.{decimals}f} {currency()}"
