"""The Splink (Fellegi–Sunter) model that scores store/online identity pairs.

Why Splink: it is the maintained implementation of m/u estimation (u by random sampling of
pairs, m by expectation maximisation on blocked pairs), blocking rules and per-comparison match
weights, and it runs on DuckDB here and on Spark through the same settings. It runs on a
private in-memory DuckDB connection, so none of its working tables reach the workspace.

A pair's match weight is the prior weight plus the sum of its comparisons' weights
log2(m/u); its probability is 2^w / (1 + 2^w). Those per-comparison weights are the evidence
the review list shows (the waterfall).
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from analytics.errors import ShopperLensError
from analytics.identity.features import Sides

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: What each comparison is called on the page, by Splink output column.
LABELS: dict[str, str] = {
    "email": "e-mail (hashed)", "phone": "phone (hashed)", "postcode": "postcode (hashed)",
    "city": "city (hashed)", "store": "home store", "device": "app device",
    "birth_year": "birth year", "gender": "gender", "country": "country",
    "cats": "category mix", "activity": "active in the same period",
}
_EXACT = ("email", "phone", "postcode", "city", "store", "device", "gender", "country")
# Blocking: only pairs that share one of these are compared (each is an equi-join, so the
# number of comparisons grows with block sizes, not with store × online).
# (store + gender was dropped: its blocks grow with the shop, so comparisons grew quadratically.)
_BLOCKS: tuple[tuple[str, ...], ...] = (
    ("postcode",), ("device",), ("email",), ("phone",), ("store", "birth_year"),
)
class IdentityError(ShopperLensError):
    title = "Identity linking failed"


# EM sessions: each trains m for the comparisons its blocking rule does not fix.
_EM_BLOCKS: tuple[tuple[str, ...], ...] = (("email",), ("postcode",))
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Scored:
    """Predicted pairs (alias = store id, user_id = online id) and the trained model."""

    pairs: pd.DataFrame  # alias, user_id, probability, match_weight, evidence (list of dicts)
    model: dict[str, Any]
    blocked_pairs: int


def _present(sides: Sides) -> list[str]:
    """Comparisons both sides have data for (a column empty on one side teaches nothing)."""
    columns = [*_EXACT, "birth_year", "cats"]
    out = [c for c in columns
           if sides.store[c].notna().any() and sides.online[c].notna().any()]
    if sides.store["first_day"].notna().any() and sides.online["first_day"].notna().any():
        out.append("activity")
    return out


#: Cosine similarity of the category mixes (equal-length lists) in each backend's SQL: DuckDB
#: has it built in; Spark computes it from built-in higher-order functions, so Splink's Spark
#: backend needs no similarity jar (no comparison here uses jaro_winkler and the like).
COSINE_SQL: dict[str, str] = {
    "duckdb": "list_cosine_similarity(cats_l, cats_r)",
    "spark": "(aggregate(zip_with(cats_l, cats_r, (x, y) -> x * y), 0D, (s, v) -> s + v) / "
             "sqrt(aggregate(transform(cats_l, x -> x * x), 0D, (s, v) -> s + v) * "
             "aggregate(transform(cats_r, x -> x * x), 0D, (s, v) -> s + v)))",
}


def comparisons(present: list[str], dialect: str = "duckdb") -> list[Any]:
    """The Splink comparisons for the columns present, most specific level first."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    out: list[Any] = []
    for name in present:
        if name in _EXACT:
            out.append(cl.ExactMatch(name))
        elif name == "birth_year":
            out.append(cl.CustomComparison([
                cll.NullLevel("birth_year"), cll.ExactMatchLevel("birth_year"),
                cll.AbsoluteDifferenceLevel("birth_year", 1), cll.ElseLevel(),
            ], output_column_name="birth_year"))
        elif name == "cats":
            # list_cosine_similarity: the mixes are variable-length lists (one per category)
            out.append(cl.CustomComparison([
                cll.NullLevel("cats"),
                cll.CustomLevel(f"{COSINE_SQL[dialect]} >= 0.9", "cosine similarity ≥ 0.9"),
                cll.CustomLevel(f"{COSINE_SQL[dialect]} >= 0.7", "cosine similarity ≥ 0.7"),
                cll.ElseLevel(),
            ], output_column_name="cats"))
        elif name == "activity":
            out.append(cl.CustomComparison([
                cll.CustomLevel("first_day_l IS NULL OR first_day_r IS NULL", "no activity"),
                cll.CustomLevel("greatest(first_day_l, first_day_r) <= "
                                "least(last_day_l, last_day_r)", "active periods overlap"),
                cll.ElseLevel(),
            ], output_column_name="activity"))
    return out


def settings(present: list[str], prior: float = 1e-4, dialect: str = "duckdb") -> Any:
    """Splink settings for a store-vs-online link (never within one side)."""
    from splink import SettingsCreator, block_on

    blocks: list[Any] = [block_on(*b) for b in _BLOCKS if all(c in present for c in b)]
    return SettingsCreator(
        link_type="link_only", comparisons=comparisons(present, dialect),
        blocking_rules_to_generate_predictions=blocks,
        probability_two_random_records_match=prior, max_iterations=12, em_convergence=1e-3,
        retain_intermediate_calculation_columns=True, retain_matching_columns=True,
        additional_columns_to_retain=[],
    )


def _quiet() -> None:
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _estimate_prior(linker: Any, present: list[str]) -> None:
    """Prior odds from pairs that are nearly always true (same hashed e-mail, device or phone),
    assuming those rules find half of the true pairs."""
    from splink import block_on

    sure = [block_on(c) for c in ("email", "device", "phone") if c in present]
    if sure:
        linker.training.estimate_probability_two_random_records_match(sure, recall=0.5)


def prior_for(train: Sides, target: Sides, present: list[str], recall: float = 0.5) -> float:
    """The share of true pairs among the store × online pairs still to link.

    Pairs with the same hashed e-mail, device or phone (nearly always true) over all
    identities are assumed to be ``recall`` of the true pairs; the store ids already linked
    (left out of ``target``) account for that many of them; at least one pair is expected, so
    a rerun with little left still scores.
    """
    sure: set[tuple[str, str]] = set()
    for column in ("email", "device", "phone"):
        if column in present:
            both = train.store[["unique_id", column]].dropna().merge(
                train.online[["unique_id", column]].dropna(), on=column)
            sure |= set(zip(both["unique_id_x"], both["unique_id_y"], strict=True))
    expected = len(sure) / recall - (len(train.store) - len(target.store))
    pairs = max(len(target.store) * len(target.online), 1)
    return min(max(expected, 1.0) / pairs, 0.5)


def _train(linker: Any, present: list[str], n_store: int, progress: Progress) -> None:
    from splink import block_on

    _estimate_prior(linker, present)
    progress(0.3, "Estimating u (how often unrelated pairs agree) by random sampling")
    linker.training.estimate_u_using_random_sampling(
        max_pairs=max(1e5, 40.0 * n_store ** 1.5), seed=17, num_chunks=1)
    progress(0.5, "Estimating m (how often true pairs agree) by expectation maximisation")
    trained = 0
    for block in _EM_BLOCKS:
        if all(c in present for c in block):
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on(*block), fix_u_probabilities=True)
                trained += 1
            except ValueError:  # a level EM drove to 0 (too few agreeing pairs): next rule
                continue
    if not trained:
        raise IdentityError(
            "Too few store and online identities agree on a postcode or e-mail to learn how "
            "often true pairs agree: no links were found.",
            hint="Load a loyalty register or CRM file with postcodes or (hashed) e-mails for both "
                 "sides, then run Find links again.", title="Not enough to learn from")


def _backend(spark: SparkSession | None) -> Any:
    """A Splink database API: a private in-memory DuckDB, or Splink's Spark backend on
    ``spark`` (its working tables persisted in Spark memory, none written to disk; the
    similarity jar is not registered because no comparison needs it)."""
    if spark is None:
        from splink import DuckDBAPI

        return DuckDBAPI()
    from splink.backends.spark import SparkAPI

    return SparkAPI(spark_session=spark, break_lineage_method="persist",
                    register_udfs_automatically=False)  # type: ignore[no-untyped-call]


def score(train: Sides, target: Sides, progress: Progress | None = None,
          min_probability: float = 0.2, spark: SparkSession | None = None) -> Scored:
    """Learn m/u on ``train`` (every identity, linked ones too: they are the agreeing pairs EM
    learns m from) and score the blocked pairs of ``target`` (the identities still unlinked).

    With ``spark`` the same settings train and score through Splink's Spark backend.
    Returns pairs with probability ≥ ``min_probability``, best first.
    """
    say = progress or (lambda f, m: None)
    _quiet()
    present = _present(train)
    dialect = "duckdb" if spark is None else "spark"
    db = _backend(spark)  # DuckDB: a private in-memory database, dropped with the linker
    learner = _linker(db, train, settings(present, dialect=dialect))
    _train(learner, present, len(train.store), say)
    model = learner.misc.save_model_to_json()
    model["probability_two_random_records_match"] = prior_for(train, target, present)
    return predict(target, model, say, min_probability, spark)


def predict(target: Sides, model: dict[str, Any], progress: Progress | None = None,
            min_probability: float = 0.2, spark: SparkSession | None = None) -> Scored:
    """Score the blocked pairs of ``target`` with a trained model (of the same backend's SQL
    dialect: see :func:`model_for`)."""
    say = progress or (lambda f, m: None)
    linker = _linker(_backend(spark), target, model)
    say(0.75, "Counting blocked pairs")
    blocked = _blocked_count(linker)
    say(0.8, f"Scoring {blocked:,} blocked pairs")
    predictions = linker.inference.predict(threshold_match_probability=min_probability)
    frame: pd.DataFrame = predictions.as_pandas_dataframe()  # type: ignore[no-untyped-call]
    model = linker.misc.save_model_to_json()
    return Scored(_pairs(frame, model), model, blocked)


def model_for(model: dict[str, Any], dialect: str) -> dict[str, Any]:
    """A trained model rewritten in another backend's SQL (Splink stores each level's
    condition as SQL text: DuckDB quotes names with "…", Spark with `…`): the settings are
    rebuilt for ``dialect`` and the trained m/u probabilities and prior copied across."""
    present = [c["output_column_name"] for c in model["comparisons"]]
    prior = float(model["probability_two_random_records_match"])
    out: dict[str, Any] = settings(present, prior, dialect).create_settings_dict(dialect)
    trained = {c["output_column_name"]: c["comparison_levels"] for c in model["comparisons"]}
    for comparison in out["comparisons"]:
        levels = trained[comparison["output_column_name"]]
        for level, fitted in zip(comparison["comparison_levels"], levels, strict=True):
            for key in ("m_probability", "u_probability"):
                if key in fitted:
                    level[key] = fitted[key]
    return out


def _linker(db: Any, sides: Sides, model: Any) -> Any:
    """A Splink linker of the store side against the online side, in tables named for this run
    (a Spark session's catalog is shared: a second run must not meet the first one's views)."""
    from splink import Linker

    run = uuid.uuid4().hex[:12]
    return Linker([db.register(sides.store, dataset_display_name="store",
                               table_name=f"__shopper_lens_store_{run}"),
                   db.register(sides.online, dataset_display_name="online",
                               table_name=f"__shopper_lens_online_{run}")], model, log_level=None)


def _blocked_count(linker: Any) -> int:
    blocked = linker.inference.compute_blocked_pairs_for_predict()
    counted = blocked.query_sql("SELECT count(*) AS n FROM {this}").as_record_list()
    return int(counted[0]["n"])


def _labels(model: dict[str, Any]) -> dict[str, dict[int, str]]:
    """Comparison -> gamma value -> level label (Splink numbers levels n-1 … 0, null = -1)."""
    out = {}
    for comparison in model["comparisons"]:
        levels = comparison["comparison_levels"]
        non_null = [lv for lv in levels if not lv.get("is_null_level")]
        labels = {-1: "missing on one side"}
        for i, level in enumerate(non_null):
            labels[len(non_null) - 1 - i] = _plain(str(level["label_for_charts"]))
        out[comparison["output_column_name"]] = labels
    return out


def _plain(label: str) -> str:
    """Splink's chart label in reviewer's words."""
    if label.startswith("Exact match"):
        return "same"
    if label == "All other comparisons":
        return "different"
    if label.startswith("Absolute difference"):
        return "one year apart"
    return label


def _pairs(frame: pd.DataFrame, model: dict[str, Any]) -> pd.DataFrame:
    labels = _labels(model)
    prior = float(model["probability_two_random_records_match"])
    prior_weight = math.log2(prior / (1 - prior))
    names = list(labels)
    evidence = []
    for row in frame.itertuples(index=False):
        items = [{"comparison": "prior", "label": "starting odds", "weight": round(prior_weight, 3)}]
        for name in names:
            gamma = int(getattr(row, f"gamma_{name}"))
            items.append({"comparison": name, "label": labels[name].get(gamma, str(gamma)),
                          "weight": round(float(getattr(row, f"mw_{name}")), 3)})
        evidence.append(items)
    store_left = frame["source_dataset_l"] == "store"
    out = pd.DataFrame({
        "alias": frame["unique_id_l"].where(store_left, frame["unique_id_r"]).astype(str),
        "user_id": frame["unique_id_r"].where(store_left, frame["unique_id_l"]).astype(str),
        "probability": frame["match_probability"].astype(float),
        "match_weight": frame["match_weight"].astype(float), "evidence": evidence,
    })
    return out.sort_values(["probability", "alias", "user_id"], ascending=[False, True, True],
                           ignore_index=True)
