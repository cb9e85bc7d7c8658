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
from analytics.identity.calibration import fixed_prior, probabilities
from analytics.identity.features import Sides

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: What each comparison is called on the page, by Splink output column.
LABELS: dict[str, str] = {
    "email": "e-mail (hashed)", "phone": "phone (hashed)", "postcode": "postcode (hashed)",
    "city": "city (hashed)", "store": "home store", "device": "app device",
    "birth_year": "birth year", "gender": "gender", "country": "country",
    "cats": "category mix", "activity": "active in the same period",
    "name": "name (hashed, and its Soundex code)",
    "place": "place (hashed postcode, city or store; country)",
}
_EXACT = ("email", "phone", "device", "gender")
# Where a shopper lives is one comparison, not four: a home store and a country follow from a
# postcode (the store is the one nearest it), so counting "same postcode", "same store" and
# "same country" as independent evidence tripled one fact and linked store-only card holders to
# strangers in their postcode. The levels run from most to least specific; the first that
# agrees is the evidence.
_PLACE = ("postcode", "city", "store", "country")
_PLACE_WORDS = {"postcode": "same postcode", "city": "same city", "store": "same home store",
                "country": "same country"}
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
    every: pd.DataFrame  # alias, user_id, probability of every blocked pair, known cards too


def _present(sides: Sides) -> list[str]:
    """Comparisons both sides have data for (a column empty on one side teaches nothing)."""
    columns = [*_EXACT, *_PLACE, "name", "birth_year", "cats"]
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
    place = [c for c in _PLACE if c in present]
    if place:
        out.append(_place(place))
    for name in present:
        if name in _EXACT:
            out.append(cl.ExactMatch(name))
        elif name == "name":
            out.append(cl.CustomComparison([
                cll.NullLevel("name"), cll.ExactMatchLevel("name"),
                cll.CustomLevel("name_sounds_l = name_sounds_r", "sounds alike"),
                cll.ElseLevel(),
            ], output_column_name="name"))
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


def _place(columns: list[str]) -> Any:
    """One comparison for postcode, city, home store and country: same postcode, else same
    city, else same store, else same country, else different (missing when no pair of values
    is known on both sides)."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    null = " AND ".join(f"({c}_l IS NULL OR {c}_r IS NULL)" for c in columns)
    levels: list[Any] = [cll.CustomLevel(null, "missing on one side").configure(is_null_level=True)]
    levels += [cll.CustomLevel(f"{c}_l = {c}_r", _PLACE_WORDS[c]) for c in columns]
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(levels, output_column_name="place")


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


#: The least m of a comparison's "different" level. EM on clean pairs drives it to ~0
#: (gender: m 0.00003 against u 0.5, a weight of −14), so one recording error (a wrong gender,
#: a second e-mail, a new phone) vetoed a pair every other comparison agreed on. With the floor
#: one disagreement weighs at most log2(MIN_M / u): −5.6 for gender, −6.6 for an e-mail.
MIN_M = 0.01


def bound_m(model: dict[str, Any], floor: float = MIN_M) -> dict[str, Any]:
    """The trained model with each comparison's last ("different") level given m ≥ ``floor``
    (an untrained one, e.g. "different place", which no EM session can see, gets ``floor``),
    the other levels' m scaled down so they still sum to 1."""
    for comparison in model["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        last, others = levels[-1], levels[:-1]
        m = last.get("m_probability")
        if m is not None and m >= floor:
            continue
        rest = sum(float(lv.get("m_probability") or 0.0) for lv in others)
        last["m_probability"] = floor
        for level in others:
            if level.get("m_probability") is not None and rest > 0:
                level["m_probability"] = float(level["m_probability"]) * (1 - floor) / rest
    return model


def true_share(train: Sides, present: list[str], recall: float = 0.5) -> float:
    """The share of true pairs among all store × online pairs of ``train``: those sharing a
    hashed e-mail, device or phone, taken as ``recall`` of them (as in :func:`prior_for`)."""
    return prior_for(train, train, present, recall)  # nothing left out: every pair counts


def decontaminate_u(model: dict[str, Any], share: float) -> dict[str, Any]:
    """U without the true pairs the random sample drew.

    Splink's u is how often *random* pairs agree, and a random pair is true with probability
    ``share``: u = (1 − share)·u_unrelated + share·m. With one true partner per card among a
    few thousand online ids that second term is most of u for the identifying comparisons
    (same e-mail: u 0.0004, about 1 / online ids), so "same e-mail" weighed as much as the prior
    against it and a pair agreeing on e-mail and birth year got 0.80. Solved for u_unrelated,
    kept at least a tenth of the observed u (the sample is small), the last level taking the rest.
    """
    for comparison in model["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        known = [lv for lv in levels[:-1]
                 if lv.get("u_probability") is not None and lv.get("m_probability") is not None]
        if not known or levels[-1].get("u_probability") is None:
            continue
        for level in known:
            u, m = float(level["u_probability"]), float(level["m_probability"])
            level["u_probability"] = max((u - share * m) / (1 - share), u / 10)
        levels[-1]["u_probability"] = max(
            1.0 - sum(float(lv["u_probability"]) for lv in levels[:-1]
                      if lv.get("u_probability") is not None), 1e-6)
    return model


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
    learns m from), score every blocked pair of ``train`` and fit the prior to ``target`` (the
    identities still unlinked; see :mod:`.calibration`). With ``spark`` the same settings train
    and score through Splink's Spark backend.

    Returns the target pairs with probability ≥ ``min_probability``, best first, and every
    blocked pair's probability under that prior (for the held-out precision check).
    """
    say = progress or (lambda f, m: None)
    _quiet()
    present = _present(train)
    dialect = "duckdb" if spark is None else "spark"
    # DuckDB: a private in-memory database, dropped with the linker
    learner = _linker(_backend(spark), train, settings(present, dialect=dialect))
    _train(learner, present, len(train.store), say)
    model = decontaminate_u(bound_m(learner.misc.save_model_to_json()),
                            true_share(train, present))
    say(0.8, "Scoring the blocked pairs")
    frame, ids, weights = _predicted(_linker(_backend(spark), train, model))
    in_target = (ids["alias"].isin(target.store["unique_id"])
                 & ids["user_id"].isin(target.online["unique_id"])).to_numpy()
    n_pairs = len(target.store) * len(target.online)
    prior = fixed_prior(weights[in_target], n_pairs, prior_for(train, target, present))
    model["probability_two_random_records_match"] = prior
    return _chosen(frame, ids, weights, model, min_probability, in_target)


def predict(target: Sides, model: dict[str, Any], progress: Progress | None = None,
            min_probability: float = 0.2, spark: SparkSession | None = None) -> Scored:
    """Score every blocked pair of ``target`` with a trained model (its prior as it is; the
    model in the backend's SQL dialect: see :func:`model_for`)."""
    say = progress or (lambda f, m: None)
    say(0.8, "Scoring the blocked pairs")
    frame, ids, weights = _predicted(_linker(_backend(spark), target, model))
    return _chosen(frame, ids, weights, model, min_probability, None)


def _predicted(linker: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Every blocked pair Splink scores, its (store, online) ids and its summed match weights."""
    frame: pd.DataFrame = linker.inference.predict().as_pandas_dataframe()  # type: ignore[no-untyped-call]
    weights = frame[[c for c in frame.columns if c.startswith("mw_")]].sum(axis=1)
    return frame, _oriented(frame), weights


def _chosen(frame: pd.DataFrame, ids: pd.DataFrame, weights: pd.Series, model: dict[str, Any],
            min_probability: float, in_target: Any) -> Scored:
    """The pairs (of the target, when given) at ``min_probability`` or above, under the model's
    prior, and every pair's probability."""
    prior = float(model["probability_two_random_records_match"])
    every = ids.assign(probability=probabilities(weights, prior))
    keep = (every["probability"] >= min_probability).to_numpy()
    if in_target is not None:
        keep = keep & in_target
    blocked = len(frame) if in_target is None else int(in_target.sum())
    return Scored(_pairs(frame[keep], model), model, blocked, every)


def model_for(model: dict[str, Any], dialect: str) -> dict[str, Any]:
    """A trained model rewritten in another backend's SQL (Splink stores each level's
    condition as SQL text: DuckDB quotes names with "…", Spark with `…`): the settings are
    rebuilt for ``dialect`` and the trained m/u probabilities and prior copied across."""
    present: list[str] = []
    words = {label: column for column, label in _PLACE_WORDS.items()}
    for comparison in model["comparisons"]:
        if comparison["output_column_name"] == "place":  # its levels name the columns
            present += [words[lv["label_for_charts"]] for lv in comparison["comparison_levels"]
                        if lv.get("label_for_charts") in words]
        else:
            present.append(comparison["output_column_name"])
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


def _oriented(frame: pd.DataFrame) -> pd.DataFrame:
    """alias (the store id) and user_id (the online id) of Splink's pairs."""
    store_left = frame["source_dataset_l"] == "store"
    return pd.DataFrame({
        "alias": frame["unique_id_l"].where(store_left, frame["unique_id_r"]).astype(str),
        "user_id": frame["unique_id_r"].where(store_left, frame["unique_id_l"]).astype(str),
    })


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
    weights = frame[[f"mw_{name}" for name in names]].sum(axis=1).to_numpy(dtype=float)
    out = _oriented(frame).assign(probability=probabilities(weights, prior),
                                  match_weight=prior_weight + weights)
    out["evidence"] = pd.Series(evidence, index=out.index, dtype=object)
    return out.sort_values(["probability", "alias", "user_id"], ascending=[False, True, True],
                           ignore_index=True)
