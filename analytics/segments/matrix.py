"""Profiles as clustering reads them, loaded once and kept between re-runs and maps.

A re-cluster with a fixed k at 240,000 shoppers spent most of its time reading all 45 profile
columns and decoding the JSON category mix into the scaled matrix, again on every run, and the
map did the same. Here only the columns a run needs are read (:func:`columns_for`), and the
fitted encoder + scaler and the matrix are kept in memory per process, keyed by a hash of the
profile values read (so any change to them is a new key), the features, scaling, PCA and seed:
the same inputs give the same matrix without recomputing it. Entries are never mutated.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from analytics.profiles import _require_profiles, load_profiles
from analytics.segments.describe import FACT_COLUMNS, NAMING_FEATURES
from analytics.segments.features import DEFAULT_SCALING, check_pca, preprocessor
from analytics.workspace import Workspace

#: Besides the features, what describing and recording a run reads.
DESCRIBE_COLUMNS = ("user_id", "monetary", "top_category", "main_device", *NAMING_FEATURES,
                    *FACT_COLUMNS, "as_of")
MAX_ENTRIES = 4  # a 240k x 20 float matrix is ~40 MB
_COLUMNS_SQL = """SELECT column_name FROM information_schema.columns
WHERE table_name = 'profiles' ORDER BY ordinal_position"""


@dataclass(frozen=True)
class Encoded:
    """Every profiled shopper's id (profile order) and scaled features, and the fitted pipeline."""

    users: np.ndarray[Any, Any]
    X: np.ndarray[Any, Any]
    pipeline: Pipeline


_CACHE: OrderedDict[tuple[Any, ...], Encoded] = OrderedDict()
_FRAMES: OrderedDict[tuple[Any, ...], pd.DataFrame] = OrderedDict()
_DERIVED: dict[int, dict[str, Any]] = {}  # id of a kept frame -> values computed from it
_LOCK = threading.Lock()
MAX_FRAMES = 2


def profiles_token(ws: Workspace, columns: Sequence[str]) -> tuple[Any, ...]:
    """What identifies the content of ``columns`` of the stored profiles: any rebuild, refresh,
    forget or in-place update of them changes it (a hash of every value, one DuckDB pass over
    just these columns, milliseconds at 240,000 shoppers)."""
    known = set(table_columns(ws))
    picked = sorted({c for c in columns if c in known} | {"user_id"})
    quoted = ", ".join(quote(c) for c in picked)
    with ws.cursor() as cur:  # names checked against the catalogue, and quoted
        row = cur.execute(f"SELECT count(*), sum(hash({quoted})) FROM profiles").fetchall()[0]  # noqa: S608
    return (str(ws.path), tuple(picked), *row)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def columns_for(ws: Workspace, features: Sequence[str]) -> list[str]:
    """The profile columns a clustering run on ``features`` reads, in table order."""
    wanted = {*features, *DESCRIBE_COLUMNS}
    return [c for c in table_columns(ws) if c in wanted]


def table_columns(ws: Workspace) -> list[str]:
    with ws.cursor() as cur:
        _require_profiles(cur)
        return [r[0] for r in cur.execute(_COLUMNS_SQL).fetchall()]


def load_columns(ws: Workspace, columns: Sequence[str]) -> pd.DataFrame:
    """``load_profiles(ws)[columns]`` without reading the other columns (same rows and order),
    kept in memory for the same profiles (callers must not modify it in place).

    A name the table does not have reads the whole table, so the usual checks report it.
    """
    key = (profiles_token(ws, columns), tuple(columns))
    with _LOCK:
        found = _FRAMES.get(key)
    if found is not None:
        return found
    frame = _read_columns(ws, columns)
    with _LOCK:
        _FRAMES[key] = frame
        while len(_FRAMES) > MAX_FRAMES:
            _DERIVED.pop(id(_FRAMES.popitem(last=False)[1]), None)
    return frame


def derived(frame: pd.DataFrame, name: str, compute: Callable[[pd.DataFrame], Any]) -> Any:
    """``compute(frame)``, once per frame kept by :func:`load_columns` (frames not kept are
    computed every time). For what depends on the profile values alone (which features vary,
    the naming traits), which a re-run on the same profiles would otherwise recompute; the
    result is shared, so callers must not modify it."""
    with _LOCK:
        kept = any(f is frame for f in _FRAMES.values())
        found = _DERIVED.get(id(frame), {}).get(name) if kept else None
    if found is not None:
        return found
    value = compute(frame)
    with _LOCK:
        if any(f is frame for f in _FRAMES.values()):
            _DERIVED.setdefault(id(frame), {})[name] = value
    return value


def _read_columns(ws: Workspace, columns: Sequence[str]) -> pd.DataFrame:
    known = set(table_columns(ws))
    if not set(columns) <= known:
        return load_profiles(ws)
    quoted = ", ".join(quote(c) for c in columns)
    with ws.cursor() as cur:
        # names checked against the catalogue above, and quoted
        return cur.execute(f"SELECT {quoted} FROM profiles ORDER BY user_id").df()  # noqa: S608


def encoded(ws: Workspace, profiles: pd.DataFrame | None, features: Sequence[str],
            scaling: str = DEFAULT_SCALING, pca_components: int | None = None,
            random_state: int = 0) -> Encoded:
    """The scaled matrix of ``profiles`` (default: read now) for these settings, from memory
    when the same profiles were encoded the same way before in this process.

    ``profiles`` must be the stored table's rows in its order (as :func:`load_columns` gives).
    """
    key = (profiles_token(ws, features), tuple(features), scaling, pca_components, random_state)
    with _LOCK:
        found = _CACHE.get(key)
        if found is not None:
            _CACHE.move_to_end(key)
            return found
    frame = profiles if profiles is not None else load_columns(ws, ["user_id", *features])
    pipeline = preprocessor(features, scaling, pca_components, random_state=random_state)
    try:
        X = pipeline.fit_transform(frame)
    except ValueError as e:
        if not pca_components or "n_components" not in str(e):
            raise
        columns = getattr(pipeline.named_steps["pca"], "n_features_in_", None)  # set before the check
        if columns is not None:
            check_pca(pca_components, columns)
        raise
    X.setflags(write=False)  # shared between runs: nobody may change it in place
    users = frame["user_id"].to_numpy()
    result = Encoded(users, X, pipeline)
    with _LOCK:
        _CACHE[key] = result
        while len(_CACHE) > MAX_ENTRIES:
            _CACHE.popitem(last=False)
    return result


def clear() -> None:
    """Forget every kept matrix (tests; memory)."""
    with _LOCK:
        _CACHE.clear()
        _FRAMES.clear()
        _DERIVED.clear()
