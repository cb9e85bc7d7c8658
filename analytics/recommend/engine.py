"""Train models on a workspace and turn their output into rows a page, the CLI or a file shows.

:func:`train` builds the interactions once and fits the chosen models on them;
:func:`preview` gives one shopper's lists from several models side by side (what Shopper 360
shows); :func:`recommendations_table` is the batch export; :func:`similar_items` the
item-to-item explorer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analytics.errors import ConfigError, NotFoundError
from analytics.recommend import interactions as interactions_module
from analytics.recommend.base import Recommender
from analytics.recommend.hybrid import COMPONENTS, Hybrid
from analytics.recommend.interactions import Interactions, ItemCatalog, Scope
from analytics.recommend.repeat import RepeatHybrid
from analytics.recommend.spark_als import SparkALS
from analytics.workspace import Workspace

MODELS: dict[str, type[Recommender]] = {**COMPONENTS, Hybrid.name: Hybrid,
                                        RepeatHybrid.name: RepeatHybrid}
# h13: models on an optional engine (the spark extra and Java): made and stored like the others,
# but not offered by default lists or pages, which must work without Spark.
OPTIONAL_MODELS: dict[str, type[Recommender]] = {SparkALS.name: SparkALS}
DEFAULT_MODEL = Hybrid.name
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class TrainingOptions:
    """How interactions are built and which product rules apply (hashable, for caching).

    ``weights`` is a tuple of (event type, weight) pairs; ``model_params`` a tuple of
    (model name, ((param, value), ...)) pairs.
    """

    weights: tuple[tuple[str, float], ...] = tuple(interactions_module.DEFAULT_WEIGHTS.items())
    half_life_days: float = interactions_module.DEFAULT_HALF_LIFE_DAYS
    exclude_purchased: bool | str = True  # or "purchased" / "any" / "nothing" (see base)
    max_per_category: int | None = None
    random_state: int = 0
    model_params: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    segment_run: str | None = None  # whose segments the segment-popularity fallback uses; None = primary

    def params_for(self, name: str) -> dict[str, Any]:
        return dict(dict(self.model_params).get(name, ()))

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["weights"] = dict(self.weights)
        out["model_params"] = {n: dict(p) for n, p in self.model_params}
        return out


@dataclass(frozen=True)
class TrainedModels:
    """Fitted models sharing one interactions build."""

    interactions: Interactions
    items: ItemCatalog
    models: dict[str, Recommender]
    fit_seconds: dict[str, float]
    options: TrainingOptions = field(default_factory=TrainingOptions)

    def model(self, name: str) -> Recommender:
        if name not in self.models:
            raise NotFoundError(f"The {name!r} model was not trained in this run.",
                                hint=f"Trained: {', '.join(self.models)}.")
        return self.models[name]


@dataclass(frozen=True)
class RecommendationRow:
    rank: int
    item_id: str
    title: str
    category: str | None
    score: float
    reason: str


@dataclass(frozen=True)
class UserRecommendations:
    """One model's list for one shopper (``cold_start``: the fallback was used)."""

    user_id: str
    model: str
    label: str
    known_user: bool
    cold_start: bool
    rows: tuple[RecommendationRow, ...]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(r) for r in self.rows],
                            columns=["rank", "item_id", "title", "category", "score", "reason"])


def model_names() -> list[str]:
    return list(MODELS)


def make_model(name: str, options: TrainingOptions | None = None, **params: Any) -> Recommender:
    """A fresh model by registry name, with the shared rules from ``options``."""
    options = options or TrainingOptions()
    registry = {**MODELS, **OPTIONAL_MODELS}
    if name not in registry:
        raise ConfigError(f"Unknown recommendation model {name!r}.",
                          hint=f"Choose from {', '.join(MODELS)}.")
    settings = {"exclude_purchased": options.exclude_purchased,
                "max_per_category": options.max_per_category,
                "random_state": options.random_state,
                **options.params_for(name), **params}
    try:
        return registry[name](**settings)
    except TypeError as e:
        raise ConfigError(f"Invalid parameter for the {name} model: {e}",
                          hint="Check the parameter names in the model's documentation.") from e


def train(ws: Workspace, models: Sequence[str] = (DEFAULT_MODEL,),
          options: TrainingOptions | None = None, scope: Scope = interactions_module.SCOPE_ALL,
          progress: Progress | None = None) -> TrainedModels:
    """Build the interactions once and fit every named model on them.

    Examples
    --------
    >>> trained = train(ws, ["popularity", "hybrid"])                   # doctest: +SKIP
    >>> preview(ws, "u00001", ["hybrid"], trained=trained)[0].rows[0]   # doctest: +SKIP
    """
    options = options or TrainingOptions()
    instances = {name: make_model(name, options) for name in dict.fromkeys(models)}
    if not instances:
        raise ConfigError("No model chosen.", hint=f"Choose from {', '.join(MODELS)}.")
    say = progress or (lambda fraction, message: None)
    say(0.0, "Building shopper × item interactions")
    inter, items = interactions_module.build(ws, scope, weights=dict(options.weights),
                                             half_life_days=options.half_life_days,
                                             segment_run=options.segment_run)
    seconds = {}
    for i, (name, model) in enumerate(instances.items()):
        say((i + 1) / (len(instances) + 1), f"Training {model.label}")
        started = time.perf_counter()
        model.fit(inter, items)
        seconds[name] = time.perf_counter() - started
    say(1.0, "Done")
    return TrainedModels(inter, items, instances, seconds, options)


def check_user(trained: TrainedModels, user_id: str) -> None:
    """Raise NotFoundError with look-alike ids when ``user_id`` has no events."""
    if str(user_id) in trained.interactions.user_index:
        return
    close = similar_ids(str(user_id), trained.interactions.user_ids.tolist())
    suggestion = f" Similar ids: {', '.join(close)}." if close else ""
    raise NotFoundError(
        f"Shopper {user_id!r} has no events in this workspace.{suggestion}",
        hint="Check the id (user ids are case-sensitive). A brand-new visitor would get the "
        "cold-start list (trending items); pass --allow-unknown to preview it.")


def similar_ids(typed: str, known: list[str], n: int = 3) -> list[str]:
    """Ids a user probably meant: same letters and numbers ignoring case, separators and leading
    zeros first (u0100 for U-100), then the closest spellings."""
    import difflib
    import re

    def key(text: str) -> str:
        return re.sub(r"(?<!\d)0+(?=\d)", "", re.sub(r"[^0-9a-z]", "", text.lower()))

    wanted = key(typed)
    same = [k for k in known if key(k) == wanted]
    return (same + [c for c in difflib.get_close_matches(typed, known, n=n) if c not in same])[:n]


def preview(ws: Workspace, user_id: str, models: Sequence[str] = (DEFAULT_MODEL,), k: int = 10,
            trained: TrainedModels | None = None,
            options: TrainingOptions | None = None) -> list[UserRecommendations]:
    """One shopper's top-``k`` from each model, with scores and reasons.

    ``trained`` reuses fitted models (the page caches them); otherwise they are trained now.
    An unknown ``user_id`` gets the cold-start list (``known_user`` False).
    """
    trained = trained or train(ws, models, options)
    out = []
    for name in models:
        model = trained.model(name)
        ids, scores, reasons = model.recommend_with_reasons([user_id], k)
        rows = model.interactions_.rows([user_id])
        out.append(UserRecommendations(
            user_id=str(user_id), model=name, label=model.label, known_user=bool(rows[0] >= 0),
            cold_start=bool(model.is_cold(rows)[0]),
            rows=tuple(_rows(trained.items, ids[0], scores[0], reasons[0]))))
    return out


def _rows(items: ItemCatalog, ids: Any, scores: Any, reasons: Any) -> list[RecommendationRow]:
    out = []
    for rank, (item_id, score, reason) in enumerate(zip(ids, scores, reasons, strict=True), 1):
        if item_id is None:
            break
        i = items.index[str(item_id)]
        category = items.categories[i]
        out.append(RecommendationRow(rank, str(item_id), items.title(i),
                                     None if category is None else str(category),
                                     round(float(score), 6), str(reason)))
    return out


def recommendations_table(trained: TrainedModels, model: str, k: int = 10,
                          user_ids: Sequence[str] | None = None,
                          progress: Progress | None = None) -> pd.DataFrame:
    """Top-``k`` per shopper as rows ``user_id, rank, item_id, score, model, reason``."""
    fitted = trained.model(model)
    users = list(user_ids) if user_ids is not None else trained.interactions.user_ids.tolist()
    frames, step = [], 2000
    for start in range(0, len(users), step):
        if progress:
            progress(start / max(len(users), 1), f"Recommending for {start:,} of {len(users):,}")
        chunk = users[start:start + step]
        ids, scores, reasons = fitted.recommend_with_reasons(chunk, k)
        width = ids.shape[1]
        frame = pd.DataFrame({
            "user_id": np.repeat(np.asarray(chunk, dtype=object), width),
            "rank": np.tile(np.arange(1, width + 1), len(chunk)),
            "item_id": ids.ravel(), "score": np.round(scores.ravel(), 6), "model": model,
            "reason": reasons.ravel()})
        frames.append(frame[frame["item_id"].notna()])
    columns = ["user_id", "rank", "item_id", "score", "model", "reason"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def similar_items(trained: TrainedModels, model: str, item_id: str, n: int = 10) -> pd.DataFrame:
    """Items most like ``item_id`` by the model: item_id, title, category, similarity."""
    items = trained.items
    pairs = trained.model(model).similar_items(item_id, n)
    rows = [{"item_id": item, "title": items.title(items.index[item]),
             "category": items.categories[items.index[item]], "similarity": round(score, 4)}
            for item, score in pairs]
    return pd.DataFrame(rows, columns=["item_id", "title", "category", "similarity"])


def item_choices(trained: TrainedModels, limit: int = 500) -> pd.DataFrame:
    """The most interacted items (for pickers): item_id, title, category, interactions."""
    counts = np.asarray((trained.interactions.matrix > 0).sum(axis=0)).ravel()
    order = np.argsort(-counts, kind="stable")[:limit]
    items = trained.items
    return pd.DataFrame({"item_id": items.item_ids[order], "title": items.titles[order],
                         "category": items.categories[order], "interactions": counts[order]})


def parse_weights(pairs: Mapping[str, str] | Sequence[str]) -> tuple[tuple[str, float], ...]:
    """``["view=1", "purchase=5"]`` (or a mapping) as TrainingOptions.weights."""
    items = pairs.items() if isinstance(pairs, Mapping) else (p.partition("=")[::2] for p in pairs)
    out = {}
    for key, value in items:
        try:
            out[str(key).strip().lower()] = float(value)
        except ValueError as e:
            raise ConfigError(f"Event weight {key}={value!r} is not a number.",
                              hint="Write it like purchase=5.") from e
    return tuple(out.items())
