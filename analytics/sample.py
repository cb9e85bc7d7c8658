"""Seeded, realistic shop data with planted, known structure.

:func:`generate` writes a synthetic e-commerce data set (online clickstream, in-store POS
purchases, a partial loyalty-id map, a CRM table, the catalogue and a randomised e-mail
experiment). Realism matters, but the real point is *known answers*: five behavioural
segments, ~40 co-purchase bundles and an experiment with a heterogeneous effect are planted,
and ``truth.json`` / ``truth_users.csv.gz`` record them so tests can check that the app
recovers them.

Generation streams. Users are simulated in chunks with vectorised numpy; each chunk is
formatted by pyarrow and gzip-compressed on a background thread while the next chunk is
simulated, so memory is bounded by ``chunk_users``, not by ``users``. Every random draw comes
from a numpy Generator seeded from ``(seed, stream, chunk)`` and gzip headers carry mtime 0,
so the same arguments always give byte-identical files.

Times are handled internally as whole seconds since the start of the period (``end - days``)
so session arithmetic is exact integer arithmetic; they are written as UTC
``YYYY-MM-DD HH:MM:SS``.
"""

from __future__ import annotations

import gzip
import io
import json
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from analytics.errors import ConfigError

Array = npt.NDArray[Any]

EVENT_COLUMNS: tuple[str, ...] = (
    "user_id", "event_time", "event_type", "item_id", "category", "brand", "price",
    "quantity", "session_id", "order_id", "device", "channel", "country", "search_query",
)
EVENT_TYPES: tuple[str, ...] = (
    "view", "search", "cart", "remove_from_cart", "wishlist", "checkout", "purchase", "refund",
)
VIEW, SEARCH, CART, REMOVE, WISHLIST, CHECKOUT, PURCHASE, REFUND = range(len(EVENT_TYPES))
CATEGORIES: tuple[str, ...] = (
    "electronics", "fashion", "home", "beauty", "sports", "books", "toys", "grocery",
)
DEVICES: tuple[str, ...] = ("mobile", "desktop", "tablet")
CHANNELS: tuple[str, ...] = ("direct", "organic", "paid_search", "email", "social", "affiliate")
COUNTRIES: tuple[str, ...] = ("GB", "DE", "FR", "NL", "IE", "ES", "US")
IDENTITY_COLUMNS: tuple[str, ...] = ("alias", "user_id", "alias_type")
CUSTOMER_COLUMNS: tuple[str, ...] = (
    "user_id", "email", "phone", "first_name", "signup_date", "loyalty_tier", "gender",
    "birth_year", "city",
)
ITEM_COLUMNS: tuple[str, ...] = ("item_id", "title", "category", "brand", "price")
EXPERIMENT_COLUMNS: tuple[str, ...] = ("user_id", "experiment", "variant", "assigned_at")
TRUTH_USER_COLUMNS: tuple[str, ...] = (
    "user_id", "segment", "treatment_effect", "offline_loyalty_id",
)
FILES: dict[str, str] = {
    "events": "events.csv.gz",
    "pos": "pos_purchases.csv.gz",
    "identities": "identities.csv",
    "customers": "customers.csv",
    "items": "items.csv",
    "experiment": "experiment.csv",
    "truth": "truth.json",
    "truth_users": "truth_users.csv.gz",
    # attributes to compare for probabilistic identity linking, and its hidden answer
    "loyalty_members": "loyalty_members.csv",
    "online_accounts": "online_accounts.csv",
    "identity_truth": "identity_truth.csv",
}
EXPERIMENT_NAME = "personalised_email"
VARIANTS: tuple[str, ...] = ("control", "treatment")
CONVERSION_WINDOW_DAYS = 14
LAPSED_QUIET_DAYS = 60
LOYALTY_TIERS: tuple[str, ...] = ("none", "silver", "gold")

_DAY = 86_400
_HOUR = 3_600
# Sessions of one user start > 30 min after the previous one's last event (31 min + margin).
_MIN_SESSION_GAP = 31 * 60
# Carts, checkout and purchase rows after a session's last browse event all fit in this.
_TAIL_BOUND = 15 * 60
_MAX_EVENT_GAP = 15 * 60  # within-session gaps stay far below the 30-min sessionising gap
_MAX_SESSIONS = 150
_MAX_BROWSE = 60
_MAX_ORDER_ROWS = 8
_MAX_STORE_VISITS = 40
_EXPERIMENT_OFFSET_DAYS = 21
_EXPERIMENT_SPREAD_DAYS = 3
_EXPERIMENT_RATE = 0.6
_LINK_RATE = 0.7
_CRM_RATE = 0.8
_OFFLINE_ONLY_RATE = 0.1
_N_BUNDLES = 40
_BUNDLE_FOLLOW = 0.6
_BUNDLE_SAME_ORDER = 0.7
_FOCUS_SHARE = 0.75
_PRIMARY_DEVICE_SHARE = 0.8
_REFUND_WINDOW_DAYS = 30
_GZIP_LEVEL = 5
_WRITE_ROWS = 65_536
# Offsets that keep per-user groups apart in one flat cumulative max / searchsorted.
_BIG = 2**34
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="none")


@dataclass(frozen=True)
class SampleSummary:
    """What :func:`generate` wrote."""

    out_dir: Path
    users: int
    events: int
    pos_rows: int
    files: dict[str, str]


@dataclass(frozen=True)
class Segment:
    """One planted behavioural segment: how its members browse, buy and respond.

    Rates are segment means; each user draws personal rates around them so members differ.
    """

    name: str
    description: str
    share: float
    sessions: float  # mean online sessions over the period
    browse: float  # mean browse events per session (beyond the first)
    gap_s: float  # mean seconds between browse events
    browse_mix: tuple[float, float, float, float]  # view, search, cart, wishlist
    remove_rate: float  # share of cart adds later removed
    checkout_abandon: float  # share of non-buying sessions with carts that reach checkout
    buy_rate: float  # per-session purchase probability
    order_cap: int  # most natural orders per user (0: no cap)
    first_buy: bool  # the first session always buys ("used to buy")
    extra_items: float  # mean order lines beyond the first
    price_tilt: float  # item weight multiplier (price / category median) ** tilt
    refund_rate: float
    device: tuple[float, float, float]
    channel: tuple[float, float, float, float, float, float]
    category: tuple[float, float, float, float, float, float, float, float]
    hours: tuple[tuple[float, float], ...]  # (peak hour UTC, weight) bumps
    weekdays: tuple[float, float, float, float, float, float, float]  # Monday first
    recency_tilt: float  # < 1 pushes sessions towards the end of the period
    join_spread: float  # first active day is uniform in [0, spread * days)
    quiet_days: int  # no sessions in the last quiet_days (+1..30) days
    recent_session: bool  # at least one session in the last 7 days
    offline_rate: float
    store_visits: float
    tiers: tuple[float, float, float]  # none, silver, gold
    birth_year: float
    control: float  # true conversion probability in control
    effect: float  # true treatment effect on conversion (probability points)


SEGMENTS: tuple[Segment, ...] = (
    Segment(
        name="loyal_high_value",
        description=(
            "Frequent, recent, high-basket buyers on desktop; electronics and home; arrive "
            "by e-mail; also shop in store."
        ),
        share=0.17, sessions=11, browse=3.0, gap_s=60, browse_mix=(0.66, 0.12, 0.16, 0.06),
        remove_rate=0.1, checkout_abandon=0.1, buy_rate=0.42, order_cap=0, first_buy=False,
        extra_items=1.0, price_tilt=0.6, refund_rate=0.03, device=(0.2, 0.7, 0.1),
        channel=(0.28, 0.1, 0.05, 0.45, 0.06, 0.06), category=(6, 0.5, 5, 0.5, 0.4, 0.5, 0.4, 0.5),
        hours=((20.5, 1.0), (12.5, 0.5)), weekdays=(1.2, 1.2, 1.2, 1.2, 1.0, 0.7, 0.8),
        recency_tilt=1.0, join_spread=0.0, quiet_days=0, recent_session=False, offline_rate=0.7,
        store_visits=5.0, tiers=(0.15, 0.35, 0.5), birth_year=1978, control=0.45, effect=0.02,
    ),
    Segment(
        name="mobile_cart_abandoners",
        description=(
            "Many short mobile sessions with many cart adds and few purchases; fashion and "
            "beauty; social and paid traffic; active this week."
        ),
        share=0.24, sessions=14, browse=2.0, gap_s=35, browse_mix=(0.55, 0.07, 0.33, 0.05),
        remove_rate=0.3, checkout_abandon=0.25, buy_rate=0.02, order_cap=0, first_buy=False,
        extra_items=0.3, price_tilt=0.0, refund_rate=0.05, device=(0.88, 0.07, 0.05),
        channel=(0.08, 0.07, 0.3, 0.05, 0.45, 0.05), category=(0.5, 6, 0.5, 5, 0.5, 0.5, 0.5, 0.5),
        hours=((22.5, 1.0), (8.0, 0.6)), weekdays=(1.0, 1.0, 1.0, 1.0, 1.1, 1.0, 1.0),
        recency_tilt=0.5, join_spread=0.25, quiet_days=0, recent_session=True, offline_rate=0.2,
        store_visits=2.0, tiers=(0.7, 0.25, 0.05), birth_year=1998, control=0.08, effect=0.12,
    ),
    Segment(
        name="bargain_hunters",
        description=(
            "Search a lot and view many cheap items; moderate purchases of cheap items; "
            "affiliate and paid search; sports, toys and grocery."
        ),
        share=0.22, sessions=10, browse=3.5, gap_s=50, browse_mix=(0.55, 0.35, 0.07, 0.03),
        remove_rate=0.15, checkout_abandon=0.1, buy_rate=0.1, order_cap=0, first_buy=False,
        extra_items=0.6, price_tilt=-1.6, refund_rate=0.06, device=(0.5, 0.4, 0.1),
        channel=(0.05, 0.1, 0.35, 0.05, 0.05, 0.4), category=(0.5, 0.5, 0.5, 0.5, 4, 0.5, 4, 4),
        hours=((13.0, 1.0), (21.0, 0.8)), weekdays=(0.9, 0.9, 0.9, 0.9, 1.0, 1.3, 1.2),
        recency_tilt=1.0, join_spread=0.25, quiet_days=0, recent_session=False, offline_rate=0.3,
        store_visits=2.0, tiers=(0.6, 0.3, 0.1), birth_year=1988, control=0.1, effect=0.06,
    ),
    Segment(
        name="lapsed",
        description=(
            "Bought several times early in the period, mostly groceries, then nothing "
            f"online for the last {LAPSED_QUIET_DAYS}+ days."
        ),
        share=0.17, sessions=5, browse=3.0, gap_s=60, browse_mix=(0.7, 0.12, 0.13, 0.05),
        remove_rate=0.1, checkout_abandon=0.1, buy_rate=0.45, order_cap=0, first_buy=True,
        extra_items=0.7, price_tilt=0.0, refund_rate=0.04, device=(0.45, 0.45, 0.1),
        channel=(0.25, 0.25, 0.15, 0.2, 0.1, 0.05), category=(0.5, 0.5, 1.5, 0.5, 0.5, 0.5, 0.5, 6),
        hours=((11.0, 1.0), (15.5, 0.8)), weekdays=(1.1, 1.1, 1.1, 1.1, 1.1, 0.8, 0.7),
        recency_tilt=1.0, join_spread=0.0, quiet_days=LAPSED_QUIET_DAYS, recent_session=False,
        offline_rate=0.3, store_visits=2.0, tiers=(0.5, 0.35, 0.15), birth_year=1982, control=0.02,
        effect=0.04,
    ),
    Segment(
        name="window_shoppers",
        description=(
            "Long browsing sessions with many views, almost no carts and at most one "
            "purchase; organic and direct; books and home; weekend afternoons."
        ),
        share=0.2, sessions=7, browse=5.5, gap_s=140, browse_mix=(0.86, 0.06, 0.005, 0.075),
        remove_rate=0.3, checkout_abandon=0.05, buy_rate=0.06, order_cap=1, first_buy=False,
        extra_items=0.2, price_tilt=0.1, refund_rate=0.03, device=(0.35, 0.35, 0.3),
        channel=(0.45, 0.4, 0.04, 0.03, 0.05, 0.03), category=(0.4, 0.4, 4, 0.4, 0.4, 6, 0.4, 0.4),
        hours=((15.0, 1.0), (17.5, 0.8)), weekdays=(0.6, 0.6, 0.6, 0.6, 0.8, 1.8, 1.8),
        recency_tilt=1.0, join_spread=0.25, quiet_days=0, recent_session=False, offline_rate=0.3,
        store_visits=2.0, tiers=(0.75, 0.2, 0.05), birth_year=1985, control=0.03, effect=0.0,
    ),
)

# Catalogue word lists, one entry per category in CATEGORIES order.
_BRANDS: tuple[tuple[str, ...], ...] = (
    ("Acme", "Voltix", "Nordtek", "Pixelon", "Sonara"),
    ("Marlow", "Vela", "Northcoat", "Ardent", "Loomis"),
    ("Hearthly", "Casa Nova", "Oakridge", "Lumen", "Nestwell"),
    ("Glowe", "Purely", "Velvetine", "Aurelle", "Bloomskin"),
    ("Stride", "Peakform", "Kinetic", "Trailhead", "Flexa"),
    ("Penwright", "Inkwell Press", "Foliant", "Bramble Books", "Quill & Co"),
    ("Tinker", "Jumbly", "Brickworks", "Playnest", "Wonderbox"),
    ("Harvest", "Good Pantry", "Roastery", "Greenleaf", "Mill & Stone"),
)
_ADJECTIVES: tuple[tuple[str, ...], ...] = (
    ("wireless", "compact", "smart", "portable", "pro", "ultra"),
    ("classic", "slim fit", "oversized", "linen", "organic cotton", "vintage"),
    ("ceramic", "oak", "minimalist", "cosy", "scented", "stainless steel"),
    ("hydrating", "vegan", "matte", "gentle", "radiant", "fragrance free"),
    ("lightweight", "breathable", "pro", "all weather", "adjustable", "grip"),
    ("bestselling", "illustrated", "hardback", "paperback", "collected", "annotated"),
    ("wooden", "deluxe", "mini", "junior", "classic", "glow in the dark"),
    ("organic", "fairtrade", "italian", "dark roast", "wholegrain", "extra virgin"),
)
_NOUNS: tuple[tuple[str, ...], ...] = (
    ("earbuds", "phone charger", "phone case", "smartphone", "laptop stand",
     "bluetooth speaker", "smart watch", "usb c cable", "tablet", "headphones"),
    ("summer dress", "sneakers", "denim jacket", "wool scarf", "leather belt", "linen shirt",
     "hoodie", "chinos", "rain coat", "beanie"),
    ("candle", "bath towels", "coffee maker", "desk lamp", "storage boxes", "bed sheets",
     "cushion", "vase", "frying pan", "throw blanket"),
    ("face serum", "lipstick", "hair dryer", "sunscreen", "shampoo", "nail polish",
     "moisturiser", "eye cream", "body lotion", "perfume"),
    ("yoga mat", "running shoes", "dumbbells", "water bottle", "cycling gloves",
     "tennis balls", "gym bag", "foam roller", "sports socks", "resistance bands"),
    ("crime novel", "cookbook", "kids book", "sci fi novel", "travel guide", "biography",
     "poetry collection", "history book", "graphic novel", "notebook"),
    ("lego set", "board game", "plush toy", "jigsaw puzzle", "rc car", "dolls house",
     "train set", "craft kit", "card game", "building blocks"),
    ("coffee beans", "olive oil", "dark chocolate", "green tea", "protein bars", "pasta",
     "granola", "honey", "spice set", "oat milk"),
)
_QUERY_MODIFIERS: tuple[str, ...] = ("", "cheap ", "best ", "sale ")
_QUERY_MODIFIER_P: dict[str, tuple[float, float, float, float]] = {
    "bargain_hunters": (0.3, 0.4, 0.1, 0.2),
}
_DEFAULT_MODIFIER_P = (0.7, 0.05, 0.2, 0.05)
_CATEGORY_SHARE = (0.16, 0.18, 0.14, 0.12, 0.11, 0.12, 0.09, 0.08)
_PRICE_MEDIAN = (120.0, 40.0, 55.0, 20.0, 45.0, 12.0, 25.0, 5.0)
_PRICE_SIGMA = (0.8, 0.6, 0.7, 0.6, 0.7, 0.4, 0.6, 0.5)
# Bundles are built from nouns that belong together, as (category, noun index) slots.
# Within a category: noun triples such as smartphone + phone case + phone charger.
_NOUN_SETS: tuple[tuple[tuple[int, int, int], ...], ...] = (
    ((3, 2, 1), (8, 7, 4), (6, 1, 0)),
    ((2, 5, 4), (8, 3, 9), (0, 1, 4)),
    ((5, 6, 9), (0, 7, 3), (2, 8, 4)),
    ((0, 6, 7), (4, 2, 8), (1, 5, 9)),
    ((0, 7, 9), (1, 8, 3), (2, 6, 4)),
    ((4, 9, 5), (0, 3, 8), (1, 7, 6)),
    ((0, 9, 6), (1, 8, 3), (5, 2, 7)),
    ((0, 9, 2), (5, 1, 8), (6, 7, 3)),
)
# Across categories: complementary pairs.
_COMPLEMENTS: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((0, 4), (2, 3)),  # laptop stand + desk lamp
    ((4, 3), (7, 4)),  # water bottle + protein bars
    ((6, 7), (5, 2)),  # craft kit + kids book
    ((3, 9), (1, 0)),  # perfume + summer dress
    ((1, 6), (4, 1)),  # hoodie + running shoes
    ((2, 2), (7, 0)),  # coffee maker + coffee beans
    ((0, 8), (5, 4)),  # tablet + travel guide
)
_COUNTRY_P = (0.40, 0.14, 0.12, 0.08, 0.06, 0.05, 0.15)
_CITIES: tuple[tuple[str, ...], ...] = (
    ("London", "Manchester", "Birmingham", "Leeds", "Glasgow", "Bristol"),
    ("Berlin", "Hamburg", "Munich", "Cologne"),
    ("Paris", "Lyon", "Marseille", "Toulouse"),
    ("Amsterdam", "Rotterdam", "Utrecht"),
    ("Dublin", "Cork", "Galway"),
    ("Madrid", "Barcelona", "Valencia"),
    ("New York", "Chicago", "Austin", "Seattle"),
)
# Phone numbers in ranges reserved for fiction where a country has one.
_PHONES: tuple[Callable[[int], str], ...] = (
    lambda n: f"+44 7700 900{n % 1000:03d}",
    lambda n: f"+49 30 5550 {n % 10000:04d}",
    lambda n: f"+33 6 39 98 {n // 100 % 100:02d} {n % 100:02d}",
    lambda n: f"+31 6 1200 {n % 10000:04d}",
    lambda n: f"+353 20 910 {n % 10000:04d}",
    lambda n: f"+34 600 {n // 1000 % 1000:03d} {n % 1000:03d}",
    lambda n: f"+1 202 555 01{n % 100:02d}",
)
_FIRST_NAMES: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("Olivia", "Amelia", "Isla", "Ava", "Mia", "Sophie", "Grace", "Lily", "Emma", "Hannah",
     "Chloe", "Lucy", "Anna", "Laura", "Sara", "Elena", "Julia", "Lea", "Clara", "Nora"),
    ("Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Oscar", "James", "Lucas", "Ben",
     "Tom", "Daniel", "Adam", "Max", "Paul", "David", "Hugo", "Liam", "Sam", "Felix"),
)
_LAST_NAMES: tuple[str, ...] = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Walker",
    "Wright", "Thompson", "Evans", "Roberts", "Green", "Hall", "Wood", "Clarke", "Hughes",
    "Murphy", "Kelly", "Muller", "Schmidt", "Fischer", "Weber", "Martin", "Bernard", "Dubois",
    "Moreau", "Jansen", "DeVries", "Bakker", "Garcia", "Lopez", "Martinez", "Sanchez",
    "Miller", "Moore", "Clark", "Lewis", "Young",
)
_EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.org", "example.net")
_STORE_HOURS: tuple[tuple[float, float], ...] = ((12.5, 1.0), (17.5, 1.0))
_STORE_WEEKDAYS = (0.8, 0.8, 0.9, 1.0, 1.2, 1.7, 0.7)


# --------------------------------------------------------------------------- small helpers


def _seg(name: str) -> Array:
    """One Segment field across all segments, as an array indexed by segment number."""
    return np.array([getattr(s, name) for s in SEGMENTS])


def _hour_weights(bumps: Sequence[tuple[float, float]]) -> Array:
    """24 hourly weights: a floor plus circular Gaussian bumps at the peak hours."""
    hours = np.arange(24) + 0.5
    weights = np.full(24, 0.04)
    for peak, weight in bumps:
        distance = np.abs((hours - peak + 12) % 24 - 12)
        weights += weight * np.exp(-0.5 * (distance / 1.8) ** 2)
    return weights


class _Table:
    """Many categorical distributions packed into one sorted array.

    Drawing one value per element from *different* distributions is then a single
    ``searchsorted`` instead of a Python loop over distributions.
    """

    def __init__(self, weights: Sequence[Array]) -> None:
        sizes = np.array([len(w) for w in weights], dtype=np.int64)
        cdfs = []
        for row, w in enumerate(weights):
            cdf = np.cumsum(np.asarray(w, dtype=np.float64))
            cdf /= cdf[-1]
            cdf[-1] = 1.0  # exact, so a draw in [0, 1) never runs past its block
            cdfs.append(cdf + row)
        self._flat = np.concatenate(cdfs) if cdfs else np.zeros(0)
        self.start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.size = sizes

    @classmethod
    def rows_of(cls, matrix: Array) -> _Table:
        """One distribution per row of a 2-D weight matrix."""
        return cls(list(matrix))

    def draw(self, rng: np.random.Generator, rows: Array) -> Array:
        """For each ``rows[i]``, an index into distribution ``rows[i]``."""
        rows = np.asarray(rows, dtype=np.int64)
        pos = np.searchsorted(self._flat, rows + rng.random(len(rows)), side="right")
        index: Array = np.minimum(pos - self.start[rows], self.size[rows] - 1)
        return index


def _group_starts(keys: Array) -> Array:
    """True where a run of equal (sorted) keys begins."""
    flag = np.ones(len(keys), dtype=bool)
    flag[1:] = keys[1:] != keys[:-1]
    return flag


def _group_cumsum(values: Array, keys: Array) -> Array:
    """Running sum of ``values`` that restarts at every new key (keys sorted)."""
    starts = _group_starts(keys)
    total = np.cumsum(values)
    first = np.flatnonzero(starts)
    offset = total[first] - values[first]
    result: Array = total - offset[np.cumsum(starts) - 1]
    return result


def _rank_in_runs(counts: Array) -> Array:
    """0, 1, ... within each run for ``np.repeat(x, counts)``."""
    ends = np.cumsum(counts)
    rank: Array = np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - counts, counts)
    return rank


def _dirichlet_rows(rng: np.random.Generator, alpha: Array) -> Array:
    """One Dirichlet draw per row of ``alpha`` (vectorised through gamma variates)."""
    draws = rng.gamma(alpha) + 1e-9
    rows: Array = draws / draws.sum(axis=1, keepdims=True)
    return rows


@dataclass(frozen=True)
class _Scramble:
    """A keyed pseudo-random permutation of ``range(m)``: unique ids that reveal no order.

    A 4-round Feistel network permutes ``[0, 4**k) >= m``; values landing outside
    ``range(m)`` go through it again until they land inside (cycle walking). That keeps it a
    bijection on ``range(m)`` without storing anything of size m.
    """

    m: int
    half_bits: int
    keys: tuple[int, ...]

    @classmethod
    def make(cls, m: int, rng: np.random.Generator) -> _Scramble:
        half_bits = max(1, math.ceil(math.log2(max(m, 2)) / 2))
        return cls(m, half_bits, tuple(int(k) for k in rng.integers(1, 2**31, 4)))

    def _feistel(self, x: Array) -> Array:
        mask = np.uint64((1 << self.half_bits) - 1)
        left, right = x >> np.uint64(self.half_bits), x & mask
        for key in self.keys:
            # Unsigned arithmetic wraps silently; the masks keep a 32-bit mixing hash.
            mixed = ((right + np.uint64(key)) * np.uint64(0x9E3779B1)) & np.uint64(0xFFFFFFFF)
            mixed ^= mixed >> np.uint64(15)
            mixed = (mixed * np.uint64(0x85EBCA6B)) & np.uint64(0xFFFFFFFF)
            mixed ^= mixed >> np.uint64(13)
            left, right = right, left ^ (mixed & mask)
        result: Array = (left << np.uint64(self.half_bits)) | right
        return result

    def __call__(self, i: Array) -> Array:
        x = self._feistel(np.asarray(i, dtype=np.uint64))
        outside = x >= self.m
        while outside.any():
            x[outside] = self._feistel(x[outside])
            outside = x >= self.m
        return x.astype(np.int64)


# --------------------------------------------------------------------------- arrow helpers


def _ids(prefix: str, numbers: Array, width: int) -> Any:
    """Arrow strings ``prefix + zero-padded number`` (vectorised in Arrow, not Python)."""
    text = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(text, width, "0"), "")


def _coded(codes: Array, dictionary: Any) -> Any:
    """A dictionary-encoded Arrow column; negative codes become empty fields."""
    codes = np.asarray(codes)
    missing = codes < 0
    indices = pa.array(np.where(missing, 0, codes).astype(np.int32), mask=missing)
    if not isinstance(dictionary, pa.Array):
        dictionary = pa.array(list(dictionary), type=pa.string())
    return pa.DictionaryArray.from_arrays(indices, dictionary)


def _times(plan: _Plan, seconds: Array) -> Any:
    """Arrow timestamps (written as ``YYYY-MM-DD HH:MM:SS``) from period seconds."""
    return pa.array(plan.epoch0 + np.asarray(seconds, dtype=np.int64), type=pa.timestamp("s"))


# --------------------------------------------------------------------------- plan & catalogue


@dataclass(frozen=True)
class _Plan:
    """Everything fixed for a whole run: period, id widths, id scramblers.

    Internal seconds count from ``origin``, midnight before the period start, so "day d,
    hour h" is a real UTC hour even when ``end`` is not midnight; the period itself is
    ``[lead, horizon)``.
    """

    seed: int
    users: int
    end: datetime
    days: int
    offline_only: int
    origin: datetime
    epoch0: int
    lead: int
    start_weekday: int
    user_width: int
    serial_width: int
    loyalty: _Scramble
    loyalty_width: int
    email_tag: _Scramble

    @property
    def horizon(self) -> int:
        return self.lead + self.days * _DAY

    @property
    def experiment_from(self) -> int:
        return self.horizon - _EXPERIMENT_OFFSET_DAYS * _DAY


def _make_plan(seed: int, users: int, end: datetime, days: int) -> _Plan:
    if end.tzinfo is not None:
        end = end.astimezone(UTC).replace(tzinfo=None)
    start = end - timedelta(days=days)
    origin = datetime(start.year, start.month, start.day)
    offline_only = round(_OFFLINE_ONLY_RATE * users)
    loyalty_m = users + offline_only
    rng = np.random.default_rng([seed, 0, 1])
    return _Plan(
        seed=seed, users=users, end=end, days=days, offline_only=offline_only,
        origin=origin, epoch0=int(origin.replace(tzinfo=UTC).timestamp()),
        lead=int((start - origin).total_seconds()), start_weekday=origin.weekday(),
        user_width=max(6, len(str(users))),
        serial_width=len(str(loyalty_m * (_MAX_SESSIONS + _MAX_STORE_VISITS + 2))),
        loyalty=_Scramble.make(loyalty_m, rng), loyalty_width=max(5, len(str(loyalty_m))),
        email_tag=_Scramble.make(max(users, 1000), rng),
    )


@dataclass(frozen=True)
class _Catalogue:
    """Items plus the per-(segment, category) item choice tables and the planted bundles."""

    ids: Any  # arrow strings
    brand_names: Any  # arrow strings, one per item
    category: Array
    price: Array
    titles: list[str]
    choice: _Table  # row = segment * n_categories + category
    members: list[Array]  # item numbers per category, in table order
    bundles: Array  # (n_bundles, 3) item numbers, -1 padded
    bundle_of: Array  # item -> bundle number or -1
    queries: Any  # arrow strings; index = (category * nouns + noun) * modifiers + modifier

    def draw_items(self, rng: np.random.Generator, seg: Array, cat: Array) -> Array:
        """One item per row, following segment price taste and item popularity."""
        cat = np.asarray(cat)
        within = self.choice.draw(rng, np.asarray(seg) * len(CATEGORIES) + cat)
        flat = np.concatenate(self.members)
        offsets = np.cumsum([0] + [len(m) for m in self.members])
        items: Array = flat[offsets[cat] + within]
        return items


def _n_items(users: int) -> int:
    """About 400 items for the demo size, growing sublinearly, never fewer than 200."""
    return max(200, int(400 * (users / 3000) ** 0.3 + 0.5))


def _item_attributes(rng: np.random.Generator, n: int) -> tuple[Array, ...]:
    """Category, brand, price, adjective and noun (indices into the word lists) per item."""
    counts = np.floor(np.array(_CATEGORY_SHARE) * n).astype(np.int64)
    counts[: n - counts.sum()] += 1
    category = rng.permutation(np.repeat(np.arange(len(CATEGORIES)), counts))
    brand = rng.integers(0, 5, n)
    median = np.array(_PRICE_MEDIAN)[category]
    raw = rng.lognormal(np.log(median), np.array(_PRICE_SIGMA)[category])
    # Shop-style prices ending in .99; never a whole number so CSV shows two decimals.
    price = np.round(np.maximum(np.round(raw), 1.0) - 0.01, 2)
    adjective = rng.integers(0, len(_ADJECTIVES[0]), n)
    noun = rng.integers(0, len(_NOUNS[0]), n)
    return category, brand, price, adjective, noun


def _titles(category: Array, brand: Array, adjective: Array, noun: Array) -> list[str]:
    """Titles like "Acme wireless earbuds" from the word lists."""
    return [
        f"{_BRANDS[c][b]} {_ADJECTIVES[c][a]} {_NOUNS[c][k]}"
        for c, b, a, k in zip(category, brand, adjective, noun, strict=True)
    ]


def _choice_table(category: Array, price: Array, popularity: Array) -> tuple[_Table, list[Array]]:
    """Item choice weights per (segment, category): popularity times price taste."""
    members = [np.flatnonzero(category == c) for c in range(len(CATEGORIES))]
    weights = []
    for tilt in _seg("price_tilt"):
        for c, items in enumerate(members):
            relative = price[items] / _PRICE_MEDIAN[c]
            weights.append(popularity[items] * relative**tilt)
    return _Table(weights), members


def _popularity(rng: np.random.Generator, category: Array) -> Array:
    """Zipf-like popularity within each category over a random item ranking."""
    popularity = np.zeros(len(category))
    for c in range(len(CATEGORIES)):
        items = np.flatnonzero(category == c)
        ranks = rng.permutation(len(items)) + 1
        popularity[items] = 1.0 / ranks**1.0
    return popularity


def _bundle_slots(rng: np.random.Generator) -> list[list[tuple[int, int]]]:
    """(category, noun) slots per bundle: 60% within a category (2-3 items), 40% pairs."""
    slots: list[list[tuple[int, int]]] = []
    for _ in range(_N_BUNDLES):
        if rng.random() < 0.6:
            cat = int(rng.choice(len(CATEGORIES), p=_CATEGORY_SHARE))
            nouns = _NOUN_SETS[cat][int(rng.integers(len(_NOUN_SETS[cat])))]
            size = 2 + int(rng.random() < 0.5)
            slots.append([(cat, noun) for noun in nouns[:size]])
        else:
            slots.append(list(_COMPLEMENTS[int(rng.integers(len(_COMPLEMENTS)))]))
    return slots


def _plant_bundles(
    rng: np.random.Generator, category: Array, popularity: Array
) -> tuple[Array, Array]:
    """~40 bundles of 2-3 complementary items: (n, 3) item numbers and their nouns (-1 pad)."""
    free = np.ones(len(category), dtype=bool)
    bundles = np.full((_N_BUNDLES, 3), -1, dtype=np.int64)
    nouns = np.full((_N_BUNDLES, 3), -1, dtype=np.int64)
    for b, slots in enumerate(_bundle_slots(rng)):
        for s, (cat, noun) in enumerate(slots):
            candidates = np.flatnonzero(free & (category == cat))
            if len(candidates) == 0:
                candidates = np.flatnonzero(free)
            # Mid-popular items: bought often enough to matter, not just the top sellers.
            weights = np.sqrt(popularity[candidates])
            item = int(rng.choice(candidates, p=weights / weights.sum()))
            bundles[b, s], nouns[b, s] = item, noun
            free[item] = False
    return bundles, nouns


def _query_vocabulary() -> list[str]:
    return [
        f"{modifier}{noun}"
        for nouns in _NOUNS for noun in nouns for modifier in _QUERY_MODIFIERS
    ]


def _make_catalogue(seed: int, users: int) -> _Catalogue:
    rng = np.random.default_rng([seed, 0, 0])
    n = _n_items(users)
    category, brand, price, adjective, noun = _item_attributes(rng, n)
    popularity = _popularity(rng, category)
    choice, members = _choice_table(category, price, popularity)
    bundles, bundle_nouns = _plant_bundles(rng, category, popularity)
    planted = bundles >= 0
    noun[bundles[planted]] = bundle_nouns[planted]  # bundle titles visibly belong together
    titles = _titles(category, brand, adjective, noun)
    bundle_of = np.full(n, -1, dtype=np.int64)
    for b, row in enumerate(bundles):
        bundle_of[row[row >= 0]] = b
    brand_names = [_BRANDS[c][b] for c, b in zip(category, brand, strict=True)]
    return _Catalogue(
        ids=_ids("i", np.arange(1, n + 1), max(4, len(str(n)))),
        brand_names=pa.array(brand_names, type=pa.string()), category=category, price=price,
        titles=titles, choice=choice, members=members, bundles=bundles, bundle_of=bundle_of,
        queries=pa.array(_query_vocabulary(), type=pa.string()),
    )


# Per-segment distributions used for every chunk.
_HOURS = _Table([_hour_weights(s.hours) for s in SEGMENTS])
_WEEKDAYS = _Table([np.array(s.weekdays) for s in SEGMENTS])
_DEVICE = _Table([np.array(s.device) for s in SEGMENTS])
_CHANNEL = _Table([np.array(s.channel) for s in SEGMENTS])
_BROWSE = _Table([np.array(s.browse_mix) for s in SEGMENTS])
_BROWSE_KINDS = np.array([VIEW, SEARCH, CART, WISHLIST])
_TIERS = _Table([np.array(s.tiers) for s in SEGMENTS])
_MODIFIERS = _Table([np.array(_QUERY_MODIFIER_P.get(s.name, _DEFAULT_MODIFIER_P))
                     for s in SEGMENTS])
_STORE_HOUR = _Table([_hour_weights(_STORE_HOURS) * (np.abs(np.arange(24) - 14.5) < 6)])
_STORE_DAY = _Table([np.array(_STORE_WEEKDAYS)])
# Within a second, a refund opens its session and a purchase closes it.
_KIND_RANK = np.array([1, 1, 2, 3, 1, 4, 5, 0])


# --------------------------------------------------------------------------- users


@dataclass(frozen=True)
class _Profiles:
    """Who a shopper is: segment, country, category taste and active period (in days)."""

    seg: Array
    country: Array
    cats: _Table  # one category distribution per shopper
    lo: Array  # first possible active day
    hi: Array  # active days are < hi


def _draw_profiles(rng: np.random.Generator, n: int, plan: _Plan) -> _Profiles:
    seg = rng.choice(len(SEGMENTS), size=n, p=_seg("share"))
    country = rng.choice(len(COUNTRIES), size=n, p=_COUNTRY_P)
    prefs = _dirichlet_rows(rng, np.array([s.category for s in SEGMENTS], dtype=float)[seg])
    lo = plan.days * _seg("join_spread")[seg] * rng.random(n)
    quiet = _seg("quiet_days")[seg]
    # Lapsed shoppers stop 1-30 days before their quiet period, so recency varies.
    hi = np.where(quiet > 0, plan.days - quiet - rng.uniform(1, 30, n), float(plan.days))
    return _Profiles(seg, country, _Table.rows_of(prefs), lo, np.maximum(hi, lo + 1))


@dataclass(frozen=True)
class _Users:
    """One chunk of online users with their personal rates and experiment outcome."""

    first: int  # global number of the chunk's first user
    prof: _Profiles
    ids: Any  # arrow strings
    sessions: Array
    browse: Array
    gap: Array
    buy: Array
    device: Array
    assigned: Array
    treated: Array
    assigned_at: Array
    converts: Array
    offline: Array
    linked: Array

    @property
    def seg(self) -> Array:
        return self.prof.seg

    @property
    def n(self) -> int:
        return len(self.prof.seg)


def _draw_experiment(
    rng: np.random.Generator, seg: Array, plan: _Plan
) -> tuple[Array, Array, Array, Array]:
    """Assignment (independent of segment), assignment time and the true conversion draw."""
    n = len(seg)
    assigned = rng.random(n) < _EXPERIMENT_RATE
    treated = assigned & (rng.random(n) < 0.5)
    assigned_at = plan.experiment_from + rng.integers(0, _EXPERIMENT_SPREAD_DAYS * _DAY, n)
    p = _seg("control")[seg] + _seg("effect")[seg] * treated
    converts = assigned & (rng.random(n) < p)
    return assigned, treated, assigned_at, converts


def _draw_users(rng: np.random.Generator, first: int, n: int, plan: _Plan) -> _Users:
    prof = _draw_profiles(rng, n, plan)
    seg = prof.seg
    sessions = 1 + rng.poisson(rng.gamma(2.0, _seg("sessions")[seg] / 2.0))
    buy_mean = np.clip(_seg("buy_rate")[seg], 1e-3, None)
    buy = rng.beta(buy_mean * 12, (1 - buy_mean) * 12)
    device = _DEVICE.draw(rng, seg)
    assigned, treated, assigned_at, converts = _draw_experiment(rng, seg, plan)
    offline = rng.random(n) < _seg("offline_rate")[seg]
    linked = offline & (rng.random(n) < _LINK_RATE)
    return _Users(
        first=first, prof=prof, ids=_ids("u", np.arange(first, first + n), plan.user_width),
        sessions=np.minimum(sessions, _MAX_SESSIONS),
        browse=rng.gamma(4.0, _seg("browse")[seg] / 4.0),
        gap=rng.gamma(3.0, _seg("gap_s")[seg] / 3.0), buy=buy, device=device,
        assigned=assigned, treated=treated, assigned_at=assigned_at, converts=converts,
        offline=offline, linked=linked,
    )


# --------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class _Sessions:
    """A chunk's sessions, sorted by (user, start), with their browse-event layout."""

    user: Array
    start: Array
    span: Array  # seconds from start to the last browse event
    conv: Array  # the planted experiment-conversion session
    focus: Array  # category the session is mostly about
    device: Array
    channel: Array
    ev_sess: Array  # browse events: session index ...
    ev_off: Array  # ... and seconds after the session start

    @property
    def bound(self) -> Array:
        """Upper bound on each session's length, including its purchase tail."""
        return self.span + _TAIL_BOUND


def _prefer_weekday(
    rng: np.random.Generator, day: Array, seg: Array, lo: Array, hi: Array, plan: _Plan
) -> Array:
    """Move each day by up to 3 days onto a weekday drawn from the segment's preference."""
    target = _WEEKDAYS.draw(rng, seg)
    weekday = (plan.start_weekday + day) % 7
    delta = (target - weekday) % 7
    moved = day + np.where(delta > 3, delta - 7, delta)
    inside = (moved >= np.ceil(lo)) & (moved < hi)
    return np.where(inside, moved, day).astype(np.int64)


def _session_starts(
    rng: np.random.Generator, users: _Users, plan: _Plan
) -> tuple[Array, Array, Array]:
    """Unsorted session (user, start second, is-conversion-session) triples."""
    counts = users.sessions + users.converts
    user = np.repeat(np.arange(users.n), counts)
    rank = _rank_in_runs(counts)
    seg = users.seg[user]
    conv = users.converts[user] & (rank == counts[user] - 1)
    recent = _seg("recent_session")[seg].astype(bool) & (rank == 0)
    # Whole days inside the last 7 days of the period (one later if end is not midnight).
    lo = np.where(recent, plan.days - 7.0 + (plan.lead > 0), users.prof.lo[user])
    hi = np.where(recent, float(plan.days), users.prof.hi[user])
    tilt = np.where(recent, 1.0, _seg("recency_tilt")[seg])
    day = np.floor(lo + (hi - lo) * rng.random(len(user)) ** tilt)
    day = _prefer_weekday(rng, day, seg, lo, hi, plan)
    start = day * _DAY + _HOURS.draw(rng, seg) * _HOUR + rng.integers(0, _HOUR, len(user))
    # The conversion session lands inside the 14-day window, well clear of its end.
    in_window = users.assigned_at[user] + rng.integers(_HOUR, 12 * _DAY, len(user))
    return user, np.where(conv, in_window, start), conv


def _browse_layout(
    rng: np.random.Generator, users: _Users, user: Array
) -> tuple[Array, Array, Array]:
    """Browse events per session: (event session index, seconds after start, span)."""
    n_browse = 1 + np.minimum(rng.poisson(users.browse[user]), _MAX_BROWSE - 1)
    ev_sess = np.repeat(np.arange(len(user)), n_browse)
    gaps = 5 + rng.exponential(users.gap[user][ev_sess])
    gaps = np.minimum(gaps, _MAX_EVENT_GAP).astype(np.int64)
    first = np.cumsum(n_browse) - n_browse
    gaps[first] = 0
    offsets = _group_cumsum(gaps, ev_sess)
    return ev_sess, offsets, offsets[first + n_browse - 1]


def _enforce_gaps(user: Array, start: Array, bound: Array) -> Array:
    """Push sessions later so each starts > 30 min after the previous one can have ended.

    With ``need`` the required distance from the previous start and ``c`` its running sum
    within the user, the earliest valid start is ``c + cummax(start - c)`` (cummax within
    the user): one vectorised pass instead of a loop over sessions.
    """
    new_user = _group_starts(user)
    need = np.zeros(len(user), dtype=np.int64)
    need[1:] = bound[:-1] + _MIN_SESSION_GAP
    need[new_user] = 0
    gid = np.cumsum(new_user) - 1
    c = _group_cumsum(need, user)
    placed: Array = c + np.maximum.accumulate(start - c + gid * _BIG) - gid * _BIG
    return placed


def _draw_sessions(rng: np.random.Generator, users: _Users, plan: _Plan) -> _Sessions:
    user, start, conv = _session_starts(rng, users, plan)
    order = np.lexsort((start, user))
    user, start, conv = user[order], start[order], conv[order]
    ev_sess, ev_off, span = _browse_layout(rng, users, user)
    start = _enforce_gaps(user, start, span + _TAIL_BOUND)
    finish = start + span + _TAIL_BOUND
    quiet_from = plan.horizon - _seg("quiet_days")[users.seg[user]] * _DAY
    inside = (start >= plan.lead) & (finish < plan.horizon)
    keep = inside & ((finish < quiet_from) | conv)
    ev_keep = keep[ev_sess]
    renumber = np.cumsum(keep) - 1
    user, seg = user[keep], users.seg[user[keep]]
    own = rng.random(len(user)) < _PRIMARY_DEVICE_SHARE
    return _Sessions(
        user=user, start=start[keep], span=span[keep], conv=conv[keep],
        focus=users.prof.cats.draw(rng, user),
        device=np.where(own, users.device[user], _DEVICE.draw(rng, seg)),
        channel=_CHANNEL.draw(rng, seg),
        ev_sess=renumber[ev_sess[ev_keep]], ev_off=ev_off[ev_keep],
    )


def _purchase_flags(
    rng: np.random.Generator, users: _Users, ses: _Sessions
) -> Array:
    """Which sessions end in an order.

    Natural buying follows the user's rate; inside an experiment user's 14-day window only
    the planted conversion session buys, so conversion realises the planted probability.
    """
    seg = users.seg[ses.user]
    natural = rng.random(len(ses.user)) < users.buy[ses.user]
    natural |= _group_starts(ses.user) & _seg("first_buy")[seg].astype(bool)
    cap = _seg("order_cap")[seg]
    within_cap = _group_cumsum(natural.astype(np.int64), ses.user) <= cap
    natural &= (cap == 0) | (within_cap & ~users.converts[ses.user])
    at = users.assigned_at[ses.user]
    touches = (ses.start + ses.bound >= at) & (ses.start < at + CONVERSION_WINDOW_DAYS * _DAY)
    return np.where(users.assigned[ses.user] & touches, ses.conv, natural)


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class _Rows:
    """Event rows column-wise; -1 marks an empty field. ``cat`` only matters for searches."""

    sess: Array
    time: Array
    kind: Array
    item: Array
    cat: Array
    query: Array
    order: Array
    qty: Array

    @classmethod
    def make(cls, sess: Array, time: Array, kind: int | Array, **columns: Array) -> _Rows:
        n = len(sess)
        empty = np.full(n, -1, dtype=np.int64)
        values = {f.name: columns.get(f.name, empty) for f in fields(cls)}
        kinds = np.broadcast_to(np.asarray(kind, dtype=np.int64), (n,))
        values.update(sess=sess, time=time, kind=kinds)
        return cls(**values)

    @classmethod
    def concat(cls, parts: Sequence[_Rows]) -> _Rows:
        return cls(**{
            f.name: np.concatenate([getattr(p, f.name) for p in parts]).astype(np.int64)
            for f in fields(cls)
        })

    def take(self, index: Array) -> _Rows:
        return _Rows(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def _browse_rows(
    rng: np.random.Generator, users: _Users, ses: _Sessions, cat: _Catalogue
) -> _Rows:
    """Views, searches, cart adds and wish-list adds, mostly about the session's focus."""
    n = len(ses.ev_sess)
    user = ses.user[ses.ev_sess]
    seg = users.seg[user]
    kind = _BROWSE_KINDS[_BROWSE.draw(rng, seg)]
    focused = rng.random(n) < _FOCUS_SHARE
    category = np.where(focused, ses.focus[ses.ev_sess], users.prof.cats.draw(rng, user))
    item = cat.draw_items(rng, seg, category)
    search = kind == SEARCH
    noun = rng.integers(0, len(_NOUNS[0]), n)
    modifier = _MODIFIERS.draw(rng, seg)
    query = (category * len(_NOUNS[0]) + noun) * len(_QUERY_MODIFIERS) + modifier
    return _Rows.make(
        ses.ev_sess, ses.start[ses.ev_sess] + ses.ev_off, kind,
        item=np.where(search, -1, item), cat=category, query=np.where(search, query, -1),
        qty=np.where(kind == CART, 1, -1),
    )


def _remove_rows(rng: np.random.Generator, users: _Users, ses: _Sessions, browse: _Rows) -> _Rows:
    """Some cart adds are taken out again a little later in the same session."""
    carts = np.flatnonzero(browse.kind == CART)
    seg = users.seg[ses.user[browse.sess[carts]]]
    picked = carts[rng.random(len(carts)) < _seg("remove_rate")[seg]]
    later = browse.time[picked] + rng.integers(10, 121, len(picked))
    return _Rows.make(
        browse.sess[picked], later, REMOVE, item=browse.item[picked],
        qty=np.ones(len(picked), dtype=np.int64),
    )


def _abandoned_checkouts(
    rng: np.random.Generator, users: _Users, ses: _Sessions, browse: _Rows, buys: Array
) -> _Rows:
    """Sessions that reach checkout with a cart but never pay."""
    n = len(ses.user)
    has_cart = np.bincount(browse.sess[browse.kind == CART], minlength=n) > 0
    rate = _seg("checkout_abandon")[users.seg[ses.user]]
    picked = np.flatnonzero(has_cart & ~buys & (rng.random(n) < rate))
    when = ses.start[picked] + ses.span[picked] + rng.integers(20, 121, len(picked))
    return _Rows.make(picked, when, CHECKOUT)


@dataclass(frozen=True)
class _OrderLines:
    """Order lines sorted by order: order number (chunk-local), item, quantity."""

    order: Array
    item: Array
    qty: Array


def _bundle_companions(
    rng: np.random.Generator, cat: _Catalogue, order: Array, item: Array, next_order: Array
) -> tuple[Array, Array]:
    """Lines added because a bundle item was bought: same order, or the user's next one."""
    bundle = cat.bundle_of[item]
    follow = (bundle >= 0) & (rng.random(len(item)) < _BUNDLE_FOLLOW)
    same = rng.random(len(item)) < _BUNDLE_SAME_ORDER
    target = np.where(same, order, next_order[order])[follow]
    members = cat.bundles[bundle[follow]]
    other = (members >= 0) & (members != item[follow][:, None])
    return np.repeat(target, other.sum(axis=1)), members[other]


def _compose_orders(
    rng: np.random.Generator, cat: _Catalogue, seg: Array, first_cat: Array,
    next_order: Array, cats: _Table, owner: Array,
) -> _OrderLines:
    """Lines for orders whose segment, focus category and owning shopper row are given.

    Primary lines follow the shopper's category taste; bundle companions are added on top;
    repeated items collapse to one line and large orders are trimmed.
    """
    n_orders = len(seg)
    extra = np.minimum(rng.poisson(_seg("extra_items")[seg]), 4)
    order = np.repeat(np.arange(n_orders), 1 + extra)
    first = _rank_in_runs(1 + extra) == 0
    taste = cats.draw(rng, owner[order])
    category = np.where(first | (rng.random(len(order)) < 0.5), first_cat[order], taste)
    item = cat.draw_items(rng, seg[order], category)
    extra_order, extra_item = _bundle_companions(rng, cat, order, item, next_order)
    order = np.concatenate([order, extra_order])
    item = np.concatenate([item, extra_item])
    _, unique = np.unique(order * len(cat.category) + item, return_index=True)
    unique = unique[np.lexsort((unique, order[unique]))]
    order, item = order[unique], item[unique]
    keep = _rank_in_runs(np.bincount(order, minlength=n_orders)) < _MAX_ORDER_ROWS
    order, item = order[keep], item[keep]
    multi = rng.random(len(item)) < 0.08 + 0.3 * (cat.category[item] == CATEGORIES.index("grocery"))
    qty = 1 + multi * (1 + rng.poisson(0.4, len(item)))
    return _OrderLines(order, item, qty)


def _online_orders(
    rng: np.random.Generator, users: _Users, ses: _Sessions, buys: Array, cat: _Catalogue
) -> tuple[Array, _OrderLines]:
    """Order lines for buying sessions; bundle follow-ups may land in the next order."""
    buying = np.flatnonzero(buys)
    user = ses.user[buying]
    next_order = np.arange(len(buying))
    has_next = np.append(user[1:] == user[:-1], False)
    next_order[has_next] += 1
    lines = _compose_orders(
        rng, cat, users.seg[user], ses.focus[buying], next_order, users.prof.cats, user,
    )
    return buying, lines


def _order_rows(
    rng: np.random.Generator, ses: _Sessions, buying: Array, lines: _OrderLines
) -> tuple[_Rows, _Rows]:
    """Cart adds, checkout and purchase rows after each buying session's browsing.

    Returns (carts + checkouts, purchases); purchases are needed again for refunds.
    """
    sess = buying[lines.order]
    tail_start = ses.start + ses.span
    step = rng.integers(20, 91, len(lines.order))
    cart_time = tail_start[sess] + _group_cumsum(step, lines.order)
    total = np.bincount(lines.order, weights=step, minlength=len(buying)).astype(np.int64)
    checkout = tail_start[buying] + total + rng.integers(30, 121, len(buying))
    paid = checkout + rng.integers(5, 31, len(buying))
    order_no = np.arange(len(buying))
    carts = _Rows.make(sess, cart_time, CART, item=lines.item, qty=np.ones_like(lines.item))
    checkouts = _Rows.make(buying, checkout, CHECKOUT, order=order_no)
    purchases = _Rows.make(
        sess, paid[lines.order], PURCHASE, item=lines.item, order=lines.order, qty=lines.qty,
    )
    return _Rows.concat([carts, checkouts]), purchases


def _refund_rows(
    rng: np.random.Generator, users: _Users, ses: _Sessions, purchases: _Rows
) -> _Rows:
    """Some purchased lines are refunded at the start of a later session of the same user.

    Placing refunds inside existing sessions keeps every session rule (30-min gaps, lapsed
    silence) intact without special cases.
    """
    user = ses.user[purchases.sess]
    rate = _seg("refund_rate")[users.seg[user]]
    picked = np.flatnonzero(rng.random(len(user)) < rate)
    keys = ses.user * _BIG + ses.start
    wanted = user[picked] * _BIG + purchases.time[picked] + _DAY
    found = np.searchsorted(keys, wanted)
    target = np.minimum(found, max(len(keys) - 1, 0))
    ok = (found < len(keys)) & (ses.user[target] == user[picked])
    ok &= ses.start[target] <= purchases.time[picked] + _REFUND_WINDOW_DAYS * _DAY
    line, target = picked[ok], target[ok]
    return _Rows.make(
        target, ses.start[target], REFUND, item=purchases.item[line],
        order=purchases.order[line], qty=purchases.qty[line],
    )


@dataclass(frozen=True)
class _Serials:
    """Running global counters, so session and order ids are unique across chunks."""

    session: int = 0
    order: int = 0


def _online_rows(
    rng: np.random.Generator, users: _Users, ses: _Sessions, cat: _Catalogue
) -> tuple[_Rows, int]:
    """All online event rows of a chunk in (user, time) order, and the number of orders."""
    buys = _purchase_flags(rng, users, ses)
    browse = _browse_rows(rng, users, ses, cat)
    removes = _remove_rows(rng, users, ses, browse)
    abandoned = _abandoned_checkouts(rng, users, ses, browse, buys)
    buying, lines = _online_orders(rng, users, ses, buys, cat)
    tail, purchases = _order_rows(rng, ses, buying, lines)
    refunds = _refund_rows(rng, users, ses, purchases)
    rows = _Rows.concat([browse, removes, abandoned, tail, purchases, refunds])
    # Sessions are sorted by (user, start) and never overlap, so (session, time) is
    # (user, time) order.
    order = np.lexsort((_KIND_RANK[rows.kind], rows.time, rows.sess))
    return rows.take(order), len(buying)


def _event_table(
    rows: _Rows, users: _Users, ses: _Sessions, cat: _Catalogue, plan: _Plan,
    serials: _Serials, n_orders: int,
) -> Any:
    """The chunk's rows as an Arrow table in the canonical event columns."""
    item = np.where(rows.item >= 0, rows.item, 0)
    has_item = rows.item >= 0
    category = np.where(has_item, cat.category[item], np.where(rows.kind == SEARCH, rows.cat, -1))
    user = ses.user[rows.sess]
    session_ids = _ids("s", serials.session + np.arange(len(ses.user)), plan.serial_width)
    order_ids = _ids("o", serials.order + np.arange(n_orders), plan.serial_width)
    columns = {
        "user_id": _coded(user, users.ids),
        "event_time": _times(plan, rows.time),
        "event_type": _coded(rows.kind, EVENT_TYPES),
        "item_id": _coded(rows.item, cat.ids),
        "category": _coded(category, CATEGORIES),
        "brand": _coded(rows.item, cat.brand_names),
        "price": pa.array(cat.price[item], mask=~has_item),
        "quantity": pa.array(rows.qty, mask=rows.qty < 0),
        "session_id": _coded(rows.sess, session_ids),
        "order_id": _coded(rows.order, order_ids),
        "device": _coded(ses.device[rows.sess], DEVICES),
        "channel": _coded(ses.channel[rows.sess], CHANNELS),
        "country": _coded(users.prof.country[user], COUNTRIES),
        "search_query": _coded(rows.query, cat.queries),
    }
    return pa.table(columns)


# --------------------------------------------------------------------------- in-store


@dataclass(frozen=True)
class _StoreShoppers:
    """Shoppers with a loyalty card: their profile rows and loyalty ids."""

    prof: _Profiles
    rows: Array  # rows of prof that shop in store
    ids: Any  # arrow loyalty ids, one per row in ``rows``
    no_buy_from: Array  # experiment window [from, to) with no store purchases; -1 if none
    no_buy_to: Array


def _store_visits(rng: np.random.Generator, shoppers: _StoreShoppers, plan: _Plan) -> Array:
    """(shopper, second) of each store visit, sorted; none in the experiment window."""
    prof, rows = shoppers.prof, shoppers.rows
    mean = _seg("store_visits")[prof.seg[rows]]
    counts = np.minimum(1 + rng.poisson(mean - 1), _MAX_STORE_VISITS)
    shopper = np.repeat(np.arange(len(rows)), counts)
    lo, hi = prof.lo[rows][shopper], prof.hi[rows][shopper]
    day = np.floor(lo + (hi - lo) * rng.random(len(shopper)))
    day = _prefer_store_day(rng, day, lo, hi, plan)
    zero = np.zeros(len(shopper), dtype=np.int64)
    second = day * _DAY + _STORE_HOUR.draw(rng, zero) * _HOUR + rng.integers(0, _HOUR, len(zero))
    # Store purchases in the window would blur the planted online conversion rates.
    blocked = (second >= shoppers.no_buy_from[shopper]) & (second < shoppers.no_buy_to[shopper])
    blocked |= second < plan.lead
    shopper, second = shopper[~blocked], second[~blocked]
    order = np.lexsort((second, shopper))
    return np.stack([shopper[order], second[order]])


def _prefer_store_day(
    rng: np.random.Generator, day: Array, lo: Array, hi: Array, plan: _Plan
) -> Array:
    """Shift visits onto busy store days (Saturday most)."""
    target = _STORE_DAY.draw(rng, np.zeros(len(day), dtype=np.int64))
    delta = (target - (plan.start_weekday + day) % 7) % 7
    moved = day + np.where(delta > 3, delta - 7, delta)
    inside = (moved >= np.ceil(lo)) & (moved < hi)
    return np.where(inside, moved, day).astype(np.int64)


def _pos_table(
    rng: np.random.Generator, shoppers: _StoreShoppers, cat: _Catalogue, plan: _Plan,
    first_order: int,
) -> tuple[Any, int]:
    """POS purchase rows (one row per receipt line) and the number of receipts."""
    shopper, second = _store_visits(rng, shoppers, plan)
    row = shoppers.rows[shopper]
    seg = shoppers.prof.seg[row]
    focus = shoppers.prof.cats.draw(rng, row)
    lines = _compose_orders(
        rng, cat, seg, focus, np.arange(len(row)), shoppers.prof.cats, row,
    )
    visit = lines.order
    receipts = _ids("oP", first_order + np.arange(len(row)), plan.serial_width)
    n = len(visit)
    columns = {
        "user_id": _coded(shopper[visit], shoppers.ids),
        "event_time": _times(plan, second[visit]),
        "event_type": _coded(np.full(n, PURCHASE), EVENT_TYPES),
        "item_id": _coded(lines.item, cat.ids),
        "category": _coded(cat.category[lines.item], CATEGORIES),
        "brand": _coded(lines.item, cat.brand_names),
        "price": pa.array(cat.price[lines.item]),
        "quantity": pa.array(lines.qty),
        "session_id": pa.nulls(n, pa.string()),
        "order_id": _coded(visit, receipts),
        "device": pa.nulls(n, pa.string()),
        "channel": _coded(np.zeros(n, dtype=np.int64), ["store"]),
        "country": _coded(shoppers.prof.country[row[visit]], COUNTRIES),
        "search_query": pa.nulls(n, pa.string()),
    }
    return pa.table(columns), len(row)


# --------------------------------------------------------------------------- side tables


def _first_active_day(users: _Users, ses: _Sessions) -> Array:
    """Day of each user's first session (their last possible active day if none survived)."""
    day: Array = np.floor(users.prof.hi - 1).astype(np.int64)
    starts = np.flatnonzero(_group_starts(ses.user))
    day[ses.user[starts]] = ses.start[starts] // _DAY
    return day


def _customer_table(
    rng: np.random.Generator, users: _Users, first_day: Array, plan: _Plan
) -> Any:
    """CRM rows for ~80% of users; tier follows segment, e-mails are unique."""
    rows = np.flatnonzero(rng.random(users.n) < _CRM_RATE)
    seg, country = users.seg[rows], users.prof.country[rows]
    gender = rng.choice(3, size=len(rows), p=(0.48, 0.47, 0.05))
    name_list = np.minimum(gender, 1)  # unspecified gender still needs a first name
    first = rng.integers(0, len(_FIRST_NAMES[0]), len(rows))
    last = rng.integers(0, len(_LAST_NAMES), len(rows))
    tag = plan.email_tag(users.first + rows)
    domain = rng.integers(0, len(_EMAIL_DOMAINS), len(rows))
    first_names = [_FIRST_NAMES[g][f] for g, f in zip(name_list, first, strict=True)]
    emails = [
        f"{name.lower()}.{_LAST_NAMES[k].lower()}{t}@{_EMAIL_DOMAINS[d]}"
        for name, k, t, d in zip(first_names, last, tag, domain, strict=True)
    ]
    numbers = rng.integers(0, 10**7, len(rows))
    phones = [_PHONES[c](int(n)) for c, n in zip(country, numbers, strict=True)]
    city = [_CITIES[c][i % len(_CITIES[c])]
            for c, i in zip(country, rng.integers(0, 12, len(rows)), strict=True)]
    signup = first_day[rows] - rng.integers(0, 900, len(rows))
    dates = np.datetime64(plan.origin.date()) + signup.astype("timedelta64[D]")
    birth = np.clip(np.round(rng.normal(_seg("birth_year")[seg], 9)), 1940, 2008)
    return pa.table({
        "user_id": _coded(rows, users.ids),
        "email": pa.array(emails, type=pa.string()),
        "phone": pa.array(phones, type=pa.string()),
        "first_name": pa.array(first_names, type=pa.string()),
        "signup_date": pa.array(dates.astype(str).tolist(), type=pa.string()),
        "loyalty_tier": _coded(_TIERS.draw(rng, seg), LOYALTY_TIERS),
        "gender": _coded(np.where(gender == 2, -1, gender), ("female", "male")),
        "birth_year": pa.array(birth.astype(np.int64)),
        "city": pa.array(city, type=pa.string()),
    })


def _loyalty_ids(plan: _Plan, numbers: Array) -> Any:
    """Loyalty card ids: a scrambled, unique number per card holder (online or not)."""
    return _ids("L", plan.loyalty(numbers) + 1, plan.loyalty_width)


def _identity_table(users: _Users, loyalty: Any) -> Any:
    """The partial loyalty-id -> online-id map: only linked card holders appear."""
    holders = np.flatnonzero(users.offline)
    linked = users.linked[holders]
    return pa.table({
        "alias": loyalty.filter(pa.array(linked)),
        "user_id": _coded(holders[linked], users.ids),
        "alias_type": _coded(np.zeros(int(linked.sum()), dtype=np.int64), ["loyalty"]),
    })


def _experiment_table(users: _Users, plan: _Plan) -> Any:
    rows = np.flatnonzero(users.assigned)
    return pa.table({
        "user_id": _coded(rows, users.ids),
        "experiment": _coded(np.zeros(len(rows), dtype=np.int64), [EXPERIMENT_NAME]),
        "variant": _coded(users.treated[rows].astype(np.int64), VARIANTS),
        "assigned_at": _times(plan, users.assigned_at[rows]),
    })


def _truth_user_table(users: _Users, loyalty: Any) -> Any:
    holder_index = np.cumsum(users.offline) - 1
    effect = np.round(_seg("effect")[users.seg], 4)
    return pa.table({
        "user_id": users.ids,
        "segment": _coded(users.seg, [s.name for s in SEGMENTS]),
        "treatment_effect": pa.array(effect),
        "offline_loyalty_id": _coded(np.where(users.offline, holder_index, -1), loyalty),
    })


# --------------------------------------------------------------------------- linking
# The loyalty-card register and the online account file give probabilistic identity linking
# (analytics/identity) something to compare: postcode, birth year, gender, home store, e-mail,
# phone and app device. Values come from their own random streams ([seed, 3, k] / [seed, 4, k])
# so every other output stays byte-identical. Noise is planted: a card holder may have moved
# (another postcode), leave the birth year blank or mistype it by one, give no e-mail, not use
# the app, and some families share one device online. ``identity_truth.csv`` records who each
# card holder really is online (blank for store-only customers); it is a test answer, never data.
LOYALTY_MEMBER_COLUMNS: tuple[str, ...] = (
    "user_id", "email", "phone", "postcode", "birth_year", "gender", "home_store", "app_device",
)
ONLINE_ACCOUNT_COLUMNS: tuple[str, ...] = (
    "user_id", "postcode", "birth_year", "gender", "collect_store", "app_device",
)
IDENTITY_TRUTH_COLUMNS: tuple[str, ...] = ("loyalty_id", "user_id", "deterministic")
_DISTRICTS = 4000  # postcodes per country; more for shops over 4,000 (see _districts)
_STORES_PER_COUNTRY = 10
_MOVED_RATE = 0.1
_SAME_EMAIL_RATE = 0.5
_SAME_PHONE_RATE = 0.3
_APP_RATE = 0.55
_CARD_IN_APP_RATE = 0.6
_FAMILY_DEVICE_RATE = 0.04


@dataclass(frozen=True)
class _Person:
    """The attributes of shoppers as they are, before each source records them with noise."""

    country: Array
    district: Array
    birth: Array  # -1 = unknown
    gender: Array  # 0 female, 1 male, -1 unspecified
    email: list[str]
    phone: list[str]
    device: list[str]  # "" = no app
    districts: int  # postcodes per country


def _districts(plan: _Plan) -> int:
    """Postcodes per country grow with the shop, as a real shop's customers spread over a
    country's ~10^5–10^6 postcodes: collisions stay as rare as in the demo."""
    return max(_DISTRICTS, plan.users)


def _postcode(country: Array, district: Array) -> list[str]:
    return [f"{COUNTRIES[c]}{d:04d}" for c, d in zip(country, district, strict=True)]


def _store(country: Array, district: Array, districts: int) -> list[str]:
    return [f"S{COUNTRIES[c]}{d * _STORES_PER_COUNTRY // districts:02d}"
            for c, d in zip(country, district, strict=True)]


def _device_ids(numbers: Array, prefix: str = "d") -> list[str]:
    """Opaque app device ids: a bijective multiplicative hash of the shopper number."""
    return [f"{prefix}{(int(n) * 2654435761 + 97) % 2**32:08x}" for n in numbers]


def _blank_where(values: Sequence[Any] | Array, mask: Array) -> list[str]:
    return ["" if m else str(v) for v, m in zip(values, mask, strict=True)]


def _gender_text(gender: Array) -> list[str]:
    return ["" if g < 0 else ("female", "male")[g] for g in gender]


def _online_people(rng: np.random.Generator, users: _Users, customers: Any,
                   districts: int) -> _Person:
    """Each online user's true attributes; CRM values where the CRM has the user."""
    n = users.n
    crm = {row["user_id"]: row for row in customers.to_pylist()}
    ids = users.ids.to_pylist()
    birth = np.clip(np.round(rng.normal(_seg("birth_year")[users.seg], 9)), 1940, 2008)
    gender = rng.choice(2, size=n)
    for i, uid in enumerate(ids):
        if uid in crm:
            birth[i] = crm[uid]["birth_year"]
            g = crm[uid]["gender"]
            gender[i] = -1 if g is None else ("female", "male").index(g)
    uses_app = rng.random(n) < _APP_RATE
    device = _blank_where(_device_ids(users.first + np.arange(n)), ~uses_app)
    family = np.flatnonzero(uses_app & (rng.random(n) < _FAMILY_DEVICE_RATE))
    for member, other in zip(family, rng.integers(0, n, len(family)), strict=True):
        if device[other]:
            device[member] = device[other]  # two members of one household on one tablet
    return _Person(
        country=users.prof.country, district=rng.integers(0, districts, n), districts=districts,
        birth=birth.astype(np.int64), gender=gender,
        email=[crm[u]["email"] if u in crm else "" for u in ids],
        phone=[crm[u]["phone"] if u in crm else "" for u in ids], device=device,
    )


def _online_accounts(rng: np.random.Generator, users: _Users, people: _Person) -> Any:
    n = users.n
    return pa.table({
        "user_id": users.ids,
        "postcode": pa.array(_postcode(people.country, people.district), type=pa.string()),
        "birth_year": pa.array(_blank_where(people.birth, rng.random(n) < 0.25), type=pa.string()),
        "gender": pa.array(_blank_where(_gender_text(people.gender), rng.random(n) < 0.3),
                           type=pa.string()),
        "collect_store": pa.array(_blank_where(_store(people.country, people.district,
                                                      people.districts),
                                               rng.random(n) < 0.5), type=pa.string()),
        "app_device": pa.array(people.device, type=pa.string()),
    })


def _register(rng: np.random.Generator, loyalty: Any, people: _Person, rows: Array) -> Any:
    """Loyalty-register rows of the people at ``rows``, recorded with planted noise."""
    n = len(rows)
    country = people.country[rows]
    moved = rng.random(n) < _MOVED_RATE
    district = np.where(moved, rng.integers(0, people.districts, n), people.district[rows])
    birth = people.birth[rows] + np.where(rng.random(n) < 0.05, rng.choice([-1, 1], n), 0)
    store = _store(country, np.where(rng.random(n) < 0.8, district,
                                     rng.integers(0, people.districts, n)), people.districts)
    email = [people.email[r] if rng.random() < _SAME_EMAIL_RATE else "" for r in rows]
    phone = [people.phone[r] if rng.random() < _SAME_PHONE_RATE else "" for r in rows]
    device = [people.device[r] if rng.random() < _CARD_IN_APP_RATE else "" for r in rows]
    return pa.table({
        "user_id": loyalty,
        "email": pa.array(email, type=pa.string()), "phone": pa.array(phone, type=pa.string()),
        "postcode": pa.array(_postcode(country, district), type=pa.string()),
        "birth_year": pa.array(_blank_where(birth, (birth < 0) | (rng.random(n) < 0.25)),
                               type=pa.string()),
        "gender": pa.array(_blank_where(_gender_text(people.gender[rows]), rng.random(n) < 0.1),
                           type=pa.string()),
        "home_store": pa.array(store, type=pa.string()),
        "app_device": pa.array(device, type=pa.string()),
    })


def _linking_online(plan: _Plan, k: int, users: _Users, loyalty: Any,
                    customers: Any) -> dict[str, Any]:
    """The online accounts, the register rows of online card holders and their truth."""
    rng = np.random.default_rng([plan.seed, 3, k])
    people = _online_people(rng, users, customers, _districts(plan))
    holders = np.flatnonzero(users.offline)
    return {
        "online_accounts": _online_accounts(rng, users, people),
        "loyalty_members": _register(rng, loyalty, people, holders),
        "identity_truth": pa.table({
            "loyalty_id": loyalty, "user_id": users.ids.take(pa.array(holders)),
            "deterministic": pa.array(users.linked[holders].astype(np.int64)),
        }),
    }


def _linking_offline(plan: _Plan, k: int, first: int, prof: _Profiles, loyalty: Any) -> dict[str, Any]:
    """Register rows of store-only card holders: no online self, so nothing to link."""
    rng = np.random.default_rng([plan.seed, 4, k])
    n = len(prof.seg)
    numbers = plan.users + first + np.arange(n)
    with_email = rng.random(n) < 0.4
    people = _Person(
        country=prof.country, district=rng.integers(0, _districts(plan), n),
        districts=_districts(plan),
        birth=np.clip(np.round(rng.normal(_seg("birth_year")[prof.seg], 9)), 1940, 2008
                      ).astype(np.int64),
        gender=rng.choice(2, size=n),
        email=_blank_where([f"member{m}@example.org" for m in numbers], ~with_email),
        phone=[""] * n,
        device=_blank_where(_device_ids(numbers, "e"), rng.random(n) >= 0.3),
    )
    return {
        "loyalty_members": _register(rng, loyalty, people, np.arange(n)),
        "identity_truth": pa.table({
            "loyalty_id": loyalty, "user_id": pa.array([""] * n, type=pa.string()),
            "deterministic": pa.array(np.zeros(n, dtype=np.int64)),
        }),
    }


# --------------------------------------------------------------------------- chunks


@dataclass
class _Tally:
    """Counts gathered across chunks for the summary and truth.json."""

    segment: Array
    assigned: Array  # (segment, variant)
    effect_sum: float = 0.0
    holders: int = 0
    linked: int = 0
    sessions: int = 0
    orders: int = 0
    store_orders: int = 0

    @classmethod
    def empty(cls) -> _Tally:
        k = len(SEGMENTS)
        return cls(np.zeros(k, dtype=np.int64), np.zeros((k, 2), dtype=np.int64))


def _online_chunk(
    k: int, first: int, n: int, plan: _Plan, cat: _Catalogue, tally: _Tally
) -> dict[str, Any]:
    """Simulate users ``first .. first+n-1``; return one Arrow table per output file."""
    rng = np.random.default_rng([plan.seed, 1, k])
    users = _draw_users(rng, first, n, plan)
    ses = _draw_sessions(rng, users, plan)
    rows, n_orders = _online_rows(rng, users, ses, cat)
    serials = _Serials(tally.sessions, tally.orders)
    events = _event_table(rows, users, ses, cat, plan, serials, n_orders)
    holders = np.flatnonzero(users.offline)
    loyalty = _loyalty_ids(plan, users.first + holders)
    at = np.where(users.assigned[holders], users.assigned_at[holders], -1)
    until = np.where(at >= 0, at + CONVERSION_WINDOW_DAYS * _DAY, -1)
    shoppers = _StoreShoppers(users.prof, holders, loyalty, at, until)
    pos, n_receipts = _pos_table(rng, shoppers, cat, plan, tally.store_orders)
    customers = _customer_table(rng, users, _first_active_day(users, ses), plan)
    _count(tally, users, len(ses.user), n_orders, n_receipts)
    return {
        "events": events, "pos": pos, "identities": _identity_table(users, loyalty),
        "customers": customers, "experiment": _experiment_table(users, plan),
        "truth_users": _truth_user_table(users, loyalty),
        **_linking_online(plan, k, users, loyalty, customers),
    }


def _count(tally: _Tally, users: _Users, sessions: int, orders: int, receipts: int) -> None:
    tally.segment += np.bincount(users.seg, minlength=len(SEGMENTS))
    variant = users.treated[users.assigned].astype(np.int64)
    np.add.at(tally.assigned, (users.seg[users.assigned], variant), 1)
    tally.effect_sum += float(_seg("effect")[users.seg[users.assigned]].sum())
    tally.holders += int(users.offline.sum())
    tally.linked += int(users.linked.sum())
    tally.sessions += sessions
    tally.orders += orders
    tally.store_orders += receipts


def _offline_only_chunk(
    k: int, first: int, n: int, plan: _Plan, cat: _Catalogue, tally: _Tally
) -> dict[str, Any]:
    """Loyalty-card holders who never shop online: POS rows only."""
    rng = np.random.default_rng([plan.seed, 2, k])
    prof = _draw_profiles(rng, n, plan)
    rows = np.arange(n)
    loyalty = _loyalty_ids(plan, plan.users + first + rows)
    never = np.full(n, -1, dtype=np.int64)
    shoppers = _StoreShoppers(prof, rows, loyalty, never, never)
    pos, n_receipts = _pos_table(rng, shoppers, cat, plan, tally.store_orders)
    tally.store_orders += n_receipts
    return {"pos": pos, **_linking_offline(plan, k, first, prof, loyalty)}


# --------------------------------------------------------------------------- output


class _Sink:
    """One output CSV file (gzip-compressed when its name ends in .gz), written by batches."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self._raw = path.open("wb")
        self._out: io.BufferedIOBase = self._raw
        if path.suffix == ".gz":
            # No file name and mtime 0 in the header: identical bytes on every run.
            self._out = gzip.GzipFile(
                filename="", mode="wb", fileobj=self._raw, compresslevel=_GZIP_LEVEL, mtime=0,
            )
        self._out.write((",".join(columns) + "\n").encode())
        self.rows = 0

    def write(self, table: Any) -> None:
        for batch in table.to_batches(max_chunksize=_WRITE_ROWS):
            buffer = pa.BufferOutputStream()
            pacsv.write_csv(batch, buffer, _CSV_OPTIONS)
            self._out.write(buffer.getvalue())
        self.rows += table.num_rows

    def close(self) -> None:
        if self._out is not self._raw:
            self._out.close()
        self._raw.close()


_FILE_COLUMNS: dict[str, tuple[str, ...]] = {
    "events": EVENT_COLUMNS, "pos": EVENT_COLUMNS, "identities": IDENTITY_COLUMNS,
    "customers": CUSTOMER_COLUMNS, "items": ITEM_COLUMNS, "experiment": EXPERIMENT_COLUMNS,
    "truth_users": TRUTH_USER_COLUMNS,
    "loyalty_members": LOYALTY_MEMBER_COLUMNS, "online_accounts": ONLINE_ACCOUNT_COLUMNS,
    "identity_truth": IDENTITY_TRUTH_COLUMNS,
}


class _Outputs:
    """All CSV outputs of a run, written in chunk order on one background thread.

    Formatting and gzip release the GIL, so writing chunk k overlaps simulating chunk k+1;
    waiting for chunk k before queueing k+1 keeps at most two chunks in memory.
    """

    def __init__(self, out_dir: Path) -> None:
        self.sinks = {name: _Sink(out_dir / FILES[name], cols)
                      for name, cols in _FILE_COLUMNS.items()}
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._pending: Future[None] | None = None

    def submit(self, tables: dict[str, Any]) -> None:
        self.wait()
        self._pending = self._pool.submit(self._write, tables)

    def _write(self, tables: dict[str, Any]) -> None:
        for name, table in tables.items():
            self.sinks[name].write(table)

    def wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown()
            for sink in self.sinks.values():
                sink.close()


def _items_table(cat: _Catalogue) -> Any:
    return pa.table({
        "item_id": cat.ids, "title": pa.array(cat.titles, type=pa.string()),
        "category": _coded(cat.category, CATEGORIES), "brand": cat.brand_names,
        "price": pa.array(cat.price),
    })


def _stamp(plan: _Plan, seconds: int) -> str:
    return (plan.origin + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def _segment_truth(tally: _Tally, users: int) -> list[dict[str, Any]]:
    return [
        {
            "name": s.name, "description": s.description, "size": int(tally.segment[i]),
            "share": round(int(tally.segment[i]) / users, 4),
            "control_rate": s.control, "treatment_rate": round(s.control + s.effect, 4),
            "effect": s.effect, "effect_pp": round(100 * s.effect, 2),
            "assigned_control": int(tally.assigned[i, 0]),
            "assigned_treatment": int(tally.assigned[i, 1]),
        }
        for i, s in enumerate(SEGMENTS)
    ]


def _experiment_truth(plan: _Plan, tally: _Tally) -> dict[str, Any]:
    assigned = int(tally.assigned.sum())
    sample_ate = tally.effect_sum / assigned if assigned else 0.0
    population_ate = float((_seg("share") * _seg("effect")).sum())
    spread_end = plan.experiment_from + _EXPERIMENT_SPREAD_DAYS * _DAY
    return {
        "name": EXPERIMENT_NAME, "variants": list(VARIANTS), "assigned_users": assigned,
        "treatment_users": int(tally.assigned[:, 1].sum()),
        "assigned_from": _stamp(plan, plan.experiment_from),
        "assigned_to": _stamp(plan, spread_end),
        "conversion_window_days": CONVERSION_WINDOW_DAYS,
        "conversion": "at least one online purchase event in [assigned_at, assigned_at + 14 days)",
        "true_ate": round(sample_ate, 6), "true_ate_pp": round(100 * sample_ate, 4),
        "population_ate_pp": round(100 * population_ate, 4),
    }


def _truth(
    plan: _Plan, cat: _Catalogue, tally: _Tally, outputs: _Outputs
) -> dict[str, Any]:
    bundles = [cat.ids.take(pa.array(row[row >= 0])).to_pylist() for row in cat.bundles]
    return {
        "seed": plan.seed, "users": plan.users,
        "period": {"start": _stamp(plan, plan.lead), "end": _stamp(plan, plan.horizon),
                   "days": plan.days, "timezone": "UTC"},
        "segments": _segment_truth(tally, plan.users),
        "experiment": _experiment_truth(plan, tally),
        "conversion_window_days": CONVERSION_WINDOW_DAYS,
        "lapsed_quiet_days": LAPSED_QUIET_DAYS,
        "bundles": bundles, "bundle_follow_probability": _BUNDLE_FOLLOW,
        "loyalty": {
            "online_holders": tally.holders, "linked": tally.linked,
            "link_coverage": round(tally.linked / tally.holders, 4) if tally.holders else 0.0,
            "planned_link_rate": _LINK_RATE, "offline_only_customers": plan.offline_only,
        },
        "counts": {
            "events": outputs.sinks["events"].rows, "pos_rows": outputs.sinks["pos"].rows,
            "sessions": tally.sessions, "orders": tally.orders,
            "store_receipts": tally.store_orders, "items": len(cat.category),
            "customers": outputs.sinks["customers"].rows,
        },
        "files": dict(FILES),
    }


def _check_arguments(users: int, seed: int, days: int, chunk_users: int) -> None:
    problems = []
    if users < 1:
        problems.append(f"users={users} must be at least 1")
    if seed < 0:
        problems.append(f"seed={seed} must not be negative")
    if days < 90:
        problems.append(f"days={days} must be at least 90 (lapsed shoppers need "
                        f"{LAPSED_QUIET_DAYS} quiet days, the experiment starts "
                        f"{_EXPERIMENT_OFFSET_DAYS} days before the end)")
    if chunk_users < 1:
        problems.append(f"chunk_users={chunk_users} must be at least 1")
    if problems:
        raise ConfigError("Cannot generate sample data: " + "; ".join(problems) + ".",
                          hint="Use the defaults or pass valid values.",
                          title="Invalid sample-data settings")


def generate(
    out_dir: Path,
    users: int = 3000,
    seed: int = 7,
    end: datetime = datetime(2026, 10, 31),
    days: int = 180,
    chunk_users: int = 20_000,
) -> SampleSummary:
    """Write a seeded synthetic shop data set with planted segments, bundles and uplift.

    Parameters
    ----------
    out_dir
        Folder to write into; created if missing, existing sample files are overwritten.
    users
        Number of online shoppers. About 50 online events each; ~10% more loyalty-card
        holders who only shop in store are added.
    seed
        Seed of every random draw. Same arguments give byte-identical files.
    end
        Exclusive end of the period (naive = UTC). Every timestamp is before it.
    days
        Length of the period in days; at least 90.
    chunk_users
        Users simulated at once. Bounds memory (~0.6 GB peak at the default 20 000); output
        depends on it, so keep it fixed when byte-identical files matter.

    Returns
    -------
    SampleSummary
        Where the files are, their logical names and row counts.

    Raises
    ------
    ConfigError
        If an argument is out of range.
    """
    _check_arguments(users, seed, days, chunk_users)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = _make_plan(seed, users, end, days)
    cat = _make_catalogue(seed, users)
    tally = _Tally.empty()
    outputs = _Outputs(out_dir)
    try:
        outputs.submit({"items": _items_table(cat)})
        for k, first in enumerate(range(0, users, chunk_users)):
            n = min(chunk_users, users - first)
            outputs.submit(_online_chunk(k, first, n, plan, cat, tally))
        for k, first in enumerate(range(0, plan.offline_only, chunk_users)):
            n = min(chunk_users, plan.offline_only - first)
            outputs.submit(_offline_only_chunk(k, first, n, plan, cat, tally))
    finally:
        outputs.close()
    truth = _truth(plan, cat, tally, outputs)
    text = json.dumps(truth, indent=2) + "\n"
    (out_dir / FILES["truth"]).write_text(text, encoding="utf-8")
    return SampleSummary(
        out_dir=out_dir, users=users, events=outputs.sinks["events"].rows,
        pos_rows=outputs.sinks["pos"].rows, files=dict(FILES),
    )


# two small shops with a known answer for the recommender evaluation's exclusion
# choice — a grocery-like one where most purchases repeat (lists must allow repeats) and a
# ratings-like one where every item is bought (rated) once (lists must leave seen items out).
SHOP_KINDS: tuple[str, ...] = ("grocery", "ratings")
_KIND_ITEMS = 120
_KIND_GROUPS = 8


def generate_kind(out_dir: Path, kind: str, users: int = 400, seed: int = 7,
                  end: datetime = datetime(2026, 10, 31), days: int = 120) -> SampleSummary:
    """Write ``events.csv`` and ``items.csv`` of a grocery-like or ratings-like shop.

    ``grocery``: each shopper has 4–8 staples and shops about weekly for ``days``, buying each
    staple with probability 0.6 on a trip and now and then one item from their favourite
    aisle, so later purchases are mostly repeats. ``ratings``: items form eight taste groups;
    each shopper likes two and buys (rates) 10–25 distinct items, ~85% from their groups,
    each exactly once, spread over the period, so nothing bought is ever bought again.
    Same arguments give identical files.
    """
    if kind not in SHOP_KINDS:
        raise ConfigError(f"Unknown shop kind {kind!r}.",
                          hint=f"Choose {', '.join(SHOP_KINDS)}.", title="Invalid sample-data settings")
    if users < 1 or days < 14 or seed < 0:
        raise ConfigError(f"users={users}, days={days}, seed={seed}: need users ≥ 1, days ≥ 14, "
                          "seed ≥ 0.", hint="Use the defaults.", title="Invalid sample-data settings")
    rng = np.random.default_rng([seed, 12])
    group = np.arange(_KIND_ITEMS) % _KIND_GROUPS
    start = end - timedelta(days=days)
    rows = (_grocery_rows if kind == "grocery" else _ratings_rows)(rng, users, days, group)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["user_id,event_time,event_type,item_id,category"]
    for user, second, item in sorted(rows):
        when = start + timedelta(seconds=int(second))
        lines.append(f"u{user:05d},{when:%Y-%m-%d %H:%M:%S},purchase,i{item:04d},aisle{group[item]}")
    (out_dir / "events.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = ["item_id,title,category"] + [f"i{i:04d},{kind} item {i},aisle{group[i]}"
                                          for i in range(_KIND_ITEMS)]
    (out_dir / "items.csv").write_text("\n".join(items) + "\n", encoding="utf-8")
    return SampleSummary(out_dir=out_dir, users=users, events=len(rows), pos_rows=0,
                         files={"events": "events.csv", "items": "items.csv"})


def _grocery_rows(rng: np.random.Generator, users: int, days: int,
                  group: Array) -> list[tuple[int, int, int]]:
    popularity = rng.dirichlet(np.full(_KIND_ITEMS, 0.5))
    rows: list[tuple[int, int, int]] = []
    for user in range(users):
        staples = rng.choice(_KIND_ITEMS, size=int(rng.integers(4, 9)), replace=False, p=popularity)
        aisle = np.flatnonzero(group == group[staples[0]])
        day = float(rng.uniform(0, 7))
        while day < days:
            second = int(day * _DAY + rng.integers(8 * _HOUR, 20 * _HOUR))
            basket = staples[rng.random(len(staples)) < 0.6]
            if rng.random() < 0.3:
                basket = np.append(basket, rng.choice(aisle))
            rows.extend((user, second + j, int(item)) for j, item in enumerate(dict.fromkeys(basket)))
            day += float(rng.uniform(5, 9))
    return rows


def _ratings_rows(rng: np.random.Generator, users: int, days: int,
                  group: Array) -> list[tuple[int, int, int]]:
    quality = rng.dirichlet(np.full(_KIND_ITEMS, 1.0))
    rows: list[tuple[int, int, int]] = []
    for user in range(users):
        liked = rng.choice(_KIND_GROUPS, size=2, replace=False)
        weight = quality * np.where(np.isin(group, liked), 0.85 / 0.25, 0.15 / 0.75)
        n = int(rng.integers(10, 26))
        chosen = rng.choice(_KIND_ITEMS, size=n, replace=False, p=weight / weight.sum())
        seconds = np.sort(rng.integers(0, days * _DAY, size=n))
        rows.extend((user, int(s), int(i)) for s, i in zip(seconds, chosen, strict=True))
    return rows
