"""Fitted recommenders stored in the workspace, so a preview never retrains.

Models are keyed by the data they learn from (:func:`analytics.versions.model_inputs_version`)
and by their :class:`TrainingOptions`; all models with the same options share one stored
interactions build, and asking for a model that is not stored yet fits only that one. New data
makes the stored models stale: :func:`stored_models` then returns None and the caller rebuilds
with :func:`ensure_models` (on a button, in a background job, or in the CLI).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from analytics import stored
from analytics.recommend.engine import (
    DEFAULT_MODEL,
    Progress,
    TrainedModels,
    TrainingOptions,
    make_model,
    train,
)
from analytics.versions import model_inputs_version
from analytics.workspace import Workspace

KIND = "recommenders"
#: What Shopper 360 shows by default (also built when the demo shop is loaded).
PREVIEW_MODELS: tuple[str, ...] = ("hybrid", "item_knn", "popularity")


def stored_models(ws: Workspace, models: Sequence[str] = (DEFAULT_MODEL,),
                  options: TrainingOptions | None = None,
                  version: str | None = None) -> TrainedModels | None:
    """The stored fitted ``models`` when every one is stored for the current data, else None."""
    options = options or TrainingOptions()
    version = version or model_inputs_version(ws)
    trained: TrainedModels | None = stored.load(ws, KIND, options.as_json(), version)
    if trained is None or any(name not in trained.models for name in models):
        return None
    return trained


def ensure_models(ws: Workspace, models: Sequence[str] = (DEFAULT_MODEL,),
                  options: TrainingOptions | None = None,
                  progress: Progress | None = None) -> TrainedModels:
    """The stored ``models``, fitting (and storing) only what is missing or stale.

    Examples
    --------
    >>> trained = ensure_models(ws, ["hybrid"])        # doctest: +SKIP  (fits and stores)
    >>> ensure_models(ws, ["hybrid"]) is not None      # doctest: +SKIP  (read back, no fit)
    True
    """
    options = options or TrainingOptions()
    version = model_inputs_version(ws)
    have: TrainedModels | None = stored.load(ws, KIND, options.as_json(), version)
    if have is None:
        trained = train(ws, models, options, progress=progress)
    else:
        missing = [name for name in dict.fromkeys(models) if name not in have.models]
        if not missing:
            return have
        trained = _add(have, missing, progress)
    stored.save(ws, KIND, options.as_json(), version, trained,
                seconds=round(sum(trained.fit_seconds.values()), 3))
    return trained


def _add(have: TrainedModels, names: list[str], progress: Progress | None) -> TrainedModels:
    """``have`` plus ``names`` fitted on the same interactions (the stored ones are kept)."""
    models, seconds = dict(have.models), dict(have.fit_seconds)
    for i, name in enumerate(names):
        model = make_model(name, have.options)
        if progress:
            progress(i / len(names), f"Training {model.label}")
        started = time.perf_counter()
        model.fit(have.interactions, have.items)
        models[name], seconds[name] = model, time.perf_counter() - started
    if progress:
        progress(1.0, "Done")
    return TrainedModels(have.interactions, have.items, models, seconds, have.options)
