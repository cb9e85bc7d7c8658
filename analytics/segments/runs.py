"""Segmentation runs: fit (or evaluate rules), describe, match ids, and record in the workspace.

Every run is stored in ``segment_runs`` (method, parameters, features, as-of, quality, segment
summaries, the JSON definition and the fitted model) and ``segment_members`` (one row per
shopper), so results survive a restart, can be exported, compared and re-applied to new
events without refitting.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa

from analytics import staleness
from analytics.errors import ConfigError, NotFoundError
from analytics.profiles import PREDICTED_FEATURES, load_profiles
from analytics.segments import drift, heatmaps, matrix
from analytics.segments.autok import DEFAULT_KS, size_problem
from analytics.segments.clustering import METHODS, NOISE, Clusterer, Sweep, check_k, score, sweep_k
from analytics.segments.describe import SegmentSummary, naming_matrix, summarise, zscores
from analytics.segments.features import CATEGORY_SHARES, DEFAULT_FEATURES, DEFAULT_SCALING, preprocessor
from analytics.segments.labels import category_labels, relabel
from analytics.segments.rules import RuleSet, assign
from analytics.segments.stability import match_labels
from analytics.workspace import Workspace

Progress = Callable[[float, str], None]
NOISE_NAME = "Noise (no clear segment)"
MIXED_BELOW = 0.8  # a GMM member whose best probability is below this is "mixed behaviour"

_INSERT_RUN = """
INSERT INTO segment_runs (run_id, name, method, params, features, as_of, k, quality, segments,
                          definition, model, created_at)
VALUES ($run_id, $name, $method, $params, $features, $as_of, $k, $quality, $segments,
        $definition, $model, $created_at)"""
_INSERT_MEMBERS = """
INSERT INTO segment_members
SELECT $run_id, user_id, segment_id, segment_name::VARCHAR, probability FROM members_frame"""
_LIST_RUNS = """
SELECT run_id, name, method, params, features, as_of, k, quality, segments, created_at
FROM segment_runs ORDER BY created_at DESC, run_id"""
# $run_id NULL means the latest run.
_GET_RUN = """
SELECT run_id, name, method, params, features, as_of, k, quality, segments, created_at
FROM segment_runs WHERE $run_id IS NULL OR run_id = $run_id
ORDER BY created_at DESC LIMIT 1"""
_PREVIOUS_LIKE = """
SELECT run_id FROM segment_runs
WHERE method = ? AND features = CAST(? AS JSON) AND run_id <> ?
ORDER BY created_at DESC LIMIT 1"""
_MEMBERS = """
SELECT user_id, segment_id, segment_name, probability FROM segment_members
WHERE run_id = ? ORDER BY segment_id, user_id"""
_MEMBERS_BY_USER = "SELECT user_id, segment_id FROM segment_members WHERE run_id = ? ORDER BY user_id"
_MODEL = "SELECT model, definition FROM segment_runs WHERE run_id = ?"
_RENAME_MEMBERS = "UPDATE segment_members SET segment_name = ? WHERE run_id = ? AND segment_id = ?"
_UPDATE_SEGMENTS = "UPDATE segment_runs SET segments = ? WHERE run_id = ?"
_DELETE_RUN = ("DELETE FROM segment_history WHERE run_id = ?", "DELETE FROM segment_members WHERE run_id = ?",
               "DELETE FROM segment_refreshes WHERE run_id = ?", "DELETE FROM segment_runs WHERE run_id = ?")


@dataclass(frozen=True)
class SegmentSpec:
    """What to run. ``k=None`` sweeps ``ks`` and picks the best k."""

    method: str = "kmeans"
    k: int | None = None
    features: tuple[str, ...] = DEFAULT_FEATURES
    scaling: str = DEFAULT_SCALING
    pca_components: int | None = None
    k_broad: int | None = None
    min_cluster_size: int | None = None
    rules: dict[str, Any] | str | None = None
    ks: tuple[int, ...] = DEFAULT_KS
    sample_size: int = 5_000
    random_state: int = 0
    name: str | None = None

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("features", "rules", "name")}


@dataclass(frozen=True)
class SegmentRun:
    run_id: str
    name: str
    method: str
    k: int
    as_of: datetime | None
    created_at: datetime
    params: dict[str, Any]
    features: list[str]
    quality: dict[str, Any]
    segments: tuple[SegmentSummary, ...]
    notes: tuple[str, ...] = ()
    sweep: Sweep | None = field(default=None)

    @property
    def sizes(self) -> dict[str, int]:
        return {s.name: s.size for s in self.segments}

    def as_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "name": self.name, "method": self.method, "k": self.k,
                "as_of": str(self.as_of), "created_at": str(self.created_at), "params": self.params,
                "features": self.features, "quality": self.quality, "sizes": self.sizes,
                "segments": [s.as_json() for s in self.segments], "notes": list(self.notes),
                "sweep": self.sweep.as_json() if self.sweep else None}


def run_segmentation(ws: Workspace, spec: SegmentSpec, progress: Progress | None = None) -> SegmentRun:
    """Segment every profiled shopper as ``spec`` says and record the run.

    Raises
    ------
    NotFoundError
        When profiles have not been built.
    ConfigError
        For unknown methods/features, uninformative features, a k that does not fit the data,
        or invalid rules.
    """
    if spec.method == "rules":  # rules may read any profile column
        profiles = load_profiles(ws)
        return _record(ws, spec, profiles, *_rules(spec, profiles))
    # Only the columns clustering and describing read (not all 45, nor the JSON ones unused).
    profiles = matrix.load_columns(ws, matrix.columns_for(ws, spec.features))
    if spec.method not in METHODS:
        raise ConfigError(f"Unknown segmentation method {spec.method!r}.",
                          hint=f"Use one of: rules, {', '.join(METHODS)}.", title="Invalid method")
    if len(profiles) < 3:
        raise ConfigError(f"Only {len(profiles)} shopper(s) have a profile; clustering needs at "
                          "least 3.", hint="Load more events, then rebuild the profiles.",
                          title="Too few shoppers")
    features, notes = usable_features(profiles, spec.features, explicit=spec.features != DEFAULT_FEATURES)
    spec = replace(spec, features=tuple(features))
    # The same profiles encoded the same way give the same matrix: kept between re-runs.
    found = matrix.encoded(ws, profiles, features, spec.scaling, spec.pca_components, spec.random_state)
    pipeline, X = found.pipeline, found.X
    sweep = None
    if spec.k is None and spec.method != "hdbscan":
        sweep = sweep_k(X, spec.method, spec.ks, spec.sample_size, spec.random_state, progress)
        spec = replace(spec, k=sweep.best_k)
        on = f" (sweep fitted on a sample of {sweep.fitted_on:,})" if sweep.fitted_on < len(X) else ""
        notes.append(f"k = {sweep.best_k} chosen among k = {min(spec.ks)}..{max(spec.ks)}{on}: "
                     f"{sweep.reason}")
        notes.append(sweep.structure_note)
    elif spec.k is not None:
        check_k(spec.k, len(profiles))
    if progress:
        progress(0.95, "Fitting the final model")
    model = Clusterer(spec.method, spec.k or 2, spec.k_broad, spec.min_cluster_size,
                      spec.random_state).fit(X)
    quality = asdict(score(X, model, spec.sample_size, spec.random_state))
    quality["silhouette_sample"] = min(spec.sample_size, len(X))
    problem = size_problem(model.labels_)
    if problem:
        notes.append(f"Lopsided segments: {problem}. Try another k, method or scaling "
                     "(a segment under 1% or over 80% of shoppers is hard to act on).")
    if sweep is not None:
        quality["structure"] = sweep.structure
    labels, probability = model.labels_, _probability(model)
    fitted = {"pipeline": pipeline, "model": model}
    return _record(ws, spec, profiles, labels, probability, X, fitted, quality, notes, sweep)


def usable_features(profiles: pd.DataFrame, features: Sequence[str],
                    explicit: bool) -> tuple[list[str], list[str]]:
    """Drop uninformative default features (with a note); explicit choices must all be usable."""
    if explicit:
        return list(features), []
    kept: list[str] = []
    dropped: list[str] = []
    for feature in features:
        informative = matrix.derived(profiles, f"informative:{feature}",
                                     partial(_informative, feature=feature))
        (kept if informative else dropped).append(feature)
    if not kept:
        raise ConfigError("None of the default features varies in this data, so shoppers cannot be "
                          "told apart.", hint="Load richer events (views, carts, purchases over "
                          "time) or choose features yourself.", title="Uninformative features")
    notes = [f"Left out {', '.join(dropped)}: no variation in this data."] if dropped else []
    return kept, notes


def _informative(profiles: pd.DataFrame, feature: str) -> bool:
    """Whether one feature can tell shoppers apart (what ProfileEncoder.fit would accept).

    Checked on the raw columns: fitting an encoder per feature decoded the JSON category mix
    each time, the slowest step of a re-cluster at 240,000 shoppers.
    """
    if feature not in profiles:
        return False
    if feature == CATEGORY_SHARES:  # some shoppers have a mix, and not everyone the same one
        cells = profiles[feature].fillna("").astype(str).str.strip().replace("{}", "")
        return bool((cells != "").any() and cells.nunique() > 1)
    values = pd.to_numeric(profiles[feature], errors="coerce")
    return bool(values.notna().any() and values.nunique(dropna=False) > 1)


def _probability(model: Clusterer) -> np.ndarray[Any, Any] | None:
    if model.probabilities_ is not None:
        return np.asarray(model.probabilities_.max(axis=1))
    return None


def _rules(spec: SegmentSpec, profiles: pd.DataFrame) -> tuple[Any, ...]:
    if spec.rules is None:
        raise ConfigError("The rules method needs a rule set.", hint="Pass --rules FILE or pick a "
                          "preset on the Segments page.", title="No rules")
    rules = RuleSet.from_json(spec.rules)
    result = assign(rules, profiles)
    ids = {name: i for i, name in enumerate(result.names)}
    labels = result.labels.map(lambda n: ids.get(n, NOISE)).to_numpy()
    features, _ = usable_features(profiles, DEFAULT_FEATURES, explicit=False)
    pipeline = preprocessor(features)
    X = pipeline.fit_transform(profiles)
    quality = {"thresholds": result.thresholds, "matched": int((labels != NOISE).sum())}
    names = {i: n for n, i in ids.items()}
    fitted = {"rules": rules.to_json(), "pipeline": pipeline}
    notes = [f"{rules.name}: {len(rules.segments)} rule segment(s), first match wins."]
    return labels, None, X, fitted, quality, notes, None, names


def _stale_predictions_note(ws: Workspace, uses: set[str]) -> list[str]:
    """A note when the run used predicted lifetime-value features from a fit older than the data
    (they are stored values, not recomputed with the profiles)."""
    used = sorted(uses & {f.name for f in PREDICTED_FEATURES})
    if not used:
        return []
    fresh = staleness.freshness(ws, staleness.PREDICTIONS)
    return [f"Built on {', '.join(used)} from a lifetime-value fit older than the data: fit it "
            "again on the Predictions page, then segment again."] if fresh.stale else []


def _record(ws: Workspace, spec: SegmentSpec, profiles: pd.DataFrame, labels: np.ndarray[Any, Any],
            probability: np.ndarray[Any, Any] | None, X: np.ndarray[Any, Any],
            fitted: dict[str, Any], quality: dict[str, Any], notes: list[str],
            sweep: Sweep | None, names: dict[int, str] | None = None,
            totals: dict[int, int] | None = None) -> SegmentRun:
    """Store a run; ``totals`` (model label -> shoppers) replaces the sizes when ``profiles``
    is a sample of a bigger result (a Spark ``--out-dir`` run)."""
    run_id = uuid.uuid4().hex[:12]
    columns = feature_columns(fitted, X)
    raw = labels
    labels, names = _stable_ids(ws, spec, profiles, labels, names, run_id)
    # What a later refresh needs to re-score without refitting: model label -> segment id,
    # and the feature distributions to measure drift against.
    fitted["id_map"] = {int(a): int(b) for a, b in set(zip(raw.tolist(), labels.tolist(), strict=True))}
    fitted["baseline"] = drift.baseline(X, labels, columns)
    keep = labels != NOISE if spec.method in ("rules", "selection") else np.ones(len(labels), dtype=bool)
    fitted["category_labels"] = readable = category_labels(ws, _categories(profiles, fitted))
    # Traits are standardised over every shopper, then the described rows taken.
    kept_X, kept_labels, kept, naming = _kept(keep, X, labels, profiles,
                                               matrix.derived(profiles, "naming", naming_matrix))
    z = zscores(kept_X, kept_labels, [relabel(c, readable) for c in columns])
    summaries = summarise(kept_labels, kept_X, columns, kept, names, naming, readable, z=z)
    if spec.method == "hdbscan":
        summaries = [replace(s, name=NOISE_NAME) if s.segment_id == NOISE else s for s in summaries]
    if totals is not None:
        summaries = _full_sizes(summaries, totals, fitted["id_map"])
    uses = set(columns) | (RuleSet.from_json(fitted["rules"]).features() if "rules" in fitted else set())
    notes = [*notes, *_stale_predictions_note(ws, uses)]
    quality["notes"] = list(notes)
    if sweep is not None:
        quality["sweep"] = sweep.as_json()
    if probability is not None:
        quality["mixed_share"] = float((probability < MIXED_BELOW).mean())
    members = _members_table(profiles["user_id"], labels, keep, probability,
                             {s.segment_id: s.name for s in summaries})
    as_of = profiles["as_of"].iloc[0] if len(profiles) else None
    k = len([s for s in summaries if s.segment_id != NOISE])
    run = SegmentRun(run_id, spec.name or _default_name(spec, k), spec.method, k, as_of,
                     datetime.now(), spec.params(), list(spec.features),
                     _clean(quality), tuple(summaries), tuple(notes), sweep)
    # A selection's heatmap compares it with everyone else: computed when shown.
    _store(ws, run, members, fitted, spec, None if spec.method == "selection" else z)
    return run


def _full_sizes(summaries: Sequence[SegmentSummary], totals: dict[int, int],
                id_map: dict[int, int]) -> list[SegmentSummary]:
    """Sizes and shares of the full result, not of the sample summarised."""
    full: dict[int, int] = {}
    for label, count in totals.items():
        full[id_map.get(label, label)] = full.get(id_map.get(label, label), 0) + count
    everyone = sum(full.values()) or 1
    return [replace(s, size=full.get(s.segment_id, 0), share=full.get(s.segment_id, 0) / everyone)
            for s in summaries]


def _kept(keep: np.ndarray[Any, Any], X: np.ndarray[Any, Any], labels: np.ndarray[Any, Any],
          profiles: pd.DataFrame, naming: pd.DataFrame) -> tuple[Any, ...]:
    """The rows a run describes (all but rules/selection noise), with a fresh 0.. index.

    When every row is kept (any clustering run) the inputs are returned as they are: copying a
    240,000-row matrix and profile frame only to keep all of it cost a re-cluster ~0.3 s.
    """
    if keep.all() and isinstance(profiles.index, pd.RangeIndex) and profiles.index.start == 0 \
            and profiles.index.step == 1:
        return X, labels, profiles, naming
    return X[keep], labels[keep], profiles[keep].reset_index(drop=True), naming[keep]


def _members_table(users: pd.Series, labels: Labels, keep: Labels,
                   probability: Labels | None, name_of: dict[int, str]) -> pa.Table:
    """The rows of ``segment_members`` (without the run id) as one Arrow table.

    Built from the Arrow-backed id column and a dictionary of the few segment names: a pandas
    frame turned 240,000 ids and names into Python strings and back (~0.4 s of a re-cluster).
    A missing probability is NULL, as before.
    """
    ids = np.asarray(labels[keep]).astype(np.int32)
    codes = np.array(sorted(name_of), dtype=np.int32)
    names = pa.DictionaryArray.from_arrays(
        pa.array(np.searchsorted(codes, ids), type=pa.int32()),
        pa.array([name_of[int(c)] for c in codes], type=pa.string()))
    user_ids = pa.array(users, type=pa.string(), from_pandas=True)
    if not keep.all():
        user_ids = user_ids.filter(pa.array(keep))
    chance = (pa.array(np.asarray(probability[keep], dtype=float), from_pandas=True)
              if probability is not None else pa.nulls(len(ids), pa.float64()))
    return pa.table({"user_id": user_ids, "segment_id": pa.array(ids), "segment_name": names,
                     "probability": chance})


def _categories(profiles: pd.DataFrame, fitted: dict[str, Any]) -> set[object]:
    """Categories a summary can show: top categories and the category-mix columns."""
    encoder = fitted["pipeline"].named_steps["encode"]
    return set(profiles["top_category"].dropna().unique()) | set(getattr(encoder, "categories_", []))


def _segment_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise ConfigError("A segment name must be 1-100 characters.", hint="Type a shorter name.",
                          title="Invalid name")
    return name


def feature_columns(fitted: dict[str, Any], X: np.ndarray[Any, Any]) -> list[str]:
    """Names of the columns of X, the run's scaled features (PC1.. after PCA)."""
    pipeline = fitted["pipeline"]
    if "pca" in pipeline.named_steps:
        return [f"PC{i + 1}" for i in range(X.shape[1])]
    return list(pipeline.named_steps["encode"].feature_names_out_)


Labels = np.ndarray[Any, Any]


def _stable_ids(ws: Workspace, spec: SegmentSpec, profiles: pd.DataFrame, labels: Labels,
                names: dict[int, str] | None, run_id: str) -> tuple[Labels, dict[int, str] | None]:
    """Renumber segments to match the latest comparable run and keep its (edited) names."""
    if spec.method in ("rules", "selection"):
        return labels, names
    with ws.cursor() as cur:
        row = cur.execute(_PREVIOUS_LIKE, [spec.method, json.dumps(list(spec.features)), run_id]).fetchall()
    if not row:
        return labels, names
    with ws.cursor() as cur:
        previous = cur.sql(_MEMBERS_BY_USER, params=[row[0][0]]).to_arrow_table()
    # The same shoppers in the same order (a re-run on unchanged profiles): match by position,
    # not by hashing 240,000 user ids twice; the overlap counts are the same. Compared as Arrow
    # strings, without making 480,000 Python strings.
    before = previous["user_id"].combine_chunks().cast(pa.string())
    same = len(before) == len(profiles) and before.equals(
        pa.array(profiles["user_id"], type=pa.string(), from_pandas=True))
    index = pd.RangeIndex(len(profiles)) if same else profiles["user_id"].to_numpy()
    prev = pd.Series(previous["segment_id"].to_numpy(),
                     index=index if same else before.to_numpy(zero_copy_only=False))
    prev = prev[prev != NOISE]
    current = pd.Series(labels, index=index)
    current = current[current != NOISE]
    if prev.empty or current.empty:
        return labels, names
    mapping = match_labels(prev, current)
    mapping[NOISE] = NOISE
    # Names a marketer typed are kept; automatic names are made afresh from the new fit.
    edited = {s.segment_id: s.name for s in get_run(ws, row[0][0]).segments if s.name != s.auto_name}
    renamed = {new: edited[new] for new in set(mapping.values()) if new in edited}
    relabelled = pd.Series(labels.astype(int)).map(mapping).to_numpy(dtype=int)
    return relabelled, {**renamed, **(names or {})}


def _default_name(spec: SegmentSpec, k: int) -> str:
    label = {"kmeans": "K-Means", "gmm": "Gaussian mixture", "hierarchical": "Hierarchical",
             "hdbscan": "HDBSCAN", "rules": "Rules", "selection": "Selection"}[spec.method]
    return f"{label}, {k} segments"


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _store(ws: Workspace, run: SegmentRun, frame: pa.Table, fitted: dict[str, Any],
           spec: SegmentSpec, heatmap: pd.DataFrame | None = None) -> None:
    buffer = io.BytesIO()
    joblib.dump(fitted, buffer)
    definition = {"method": run.method, "params": run.params, "features": run.features,
                  "as_of": str(run.as_of), "rules": spec.rules and fitted.get("rules"),
                  "segments": [{"segment_id": s.segment_id, "name": s.name} for s in run.segments]}
    params = {"run_id": run.run_id, "name": run.name, "method": run.method,
              "params": json.dumps(run.params), "features": json.dumps(run.features),
              "as_of": run.as_of, "k": run.k, "quality": json.dumps(run.quality),
              "segments": json.dumps([s.as_json() for s in run.segments]),
              "definition": json.dumps(definition), "model": buffer.getvalue(),
              "created_at": run.created_at}
    with ws.transaction() as cur:
        cur.execute(_INSERT_RUN, params)
        cur.register("members_frame", frame)
        cur.execute(_INSERT_MEMBERS, {"run_id": run.run_id})
        cur.unregister("members_frame")
        staleness.record(cur, staleness.SEGMENT_RUN, run.run_id, based_on_profiles=True)
        if heatmap is not None:
            heatmaps.save_on(cur, run.run_id, heatmap)


def list_runs(ws: Workspace) -> pd.DataFrame:
    """Every recorded run, newest first."""
    with ws.cursor() as cur:
        return cur.execute(_LIST_RUNS).df()


def get_run(ws: Workspace, run_id: str | None = None) -> SegmentRun:
    """A recorded run (default: the latest)."""
    with ws.cursor() as cur:
        rows = cur.execute(_GET_RUN, {"run_id": run_id}).fetchall()
    if not rows:
        raise NotFoundError(f"No segmentation run {run_id!r}." if run_id else "No segmentation has "
                            "been run in this workspace yet.", hint="Run one on the Segments page "
                            "or with `shopper-lens segment`.")
    r = rows[0]
    segments = tuple(SegmentSummary(**{**s, "top_categories": tuple(map(tuple, s["top_categories"])),
                                       "device_mix": tuple(map(tuple, s["device_mix"])),
                                       "distinguishing": tuple(map(tuple, s["distinguishing"]))})
                     for s in json.loads(r[8]))
    quality = json.loads(r[7])
    return SegmentRun(r[0], r[1], r[2], int(r[6] or 0), r[5], r[9], json.loads(r[3]),
                      json.loads(r[4]), quality, segments, tuple(quality.get("notes", ())))


def members(ws: Workspace, run_id: str) -> pd.DataFrame:
    """user_id, segment_id, segment_name, probability of one run."""
    with ws.cursor() as cur:
        return cur.execute(_MEMBERS, [run_id]).df()


def definition(ws: Workspace, run_id: str) -> dict[str, Any]:
    """The run's definition (method, parameters, features, rules, segment names) as JSON data."""
    with ws.cursor() as cur:
        rows = cur.execute(_MODEL, [run_id]).fetchall()
    if not rows:
        raise NotFoundError(f"No segmentation run {run_id!r}.", hint="Pick a run from the list.")
    return {"run_id": run_id, **json.loads(rows[0][1])}


def load_model(ws: Workspace, run_id: str) -> dict[str, Any]:
    """The fitted pipeline and clusterer (or the rules) stored with a run."""
    with ws.cursor() as cur:
        rows = cur.execute(_MODEL, [run_id]).fetchall()
    if not rows:
        raise NotFoundError(f"No segmentation run {run_id!r}.", hint="Pick a run from the list.")
    return joblib.load(io.BytesIO(rows[0][0]))  # type: ignore[no-any-return]


def rename_segment(ws: Workspace, run_id: str, segment_id: int, name: str) -> None:
    """Give a segment a marketer's name (kept by later comparable runs)."""
    name = _segment_name(name)
    run = get_run(ws, run_id)
    if segment_id not in {s.segment_id for s in run.segments}:
        raise NotFoundError(f"Run {run_id} has no segment {segment_id}.", hint="Pick one of its segments.")
    segments = [replace(s, name=name) if s.segment_id == segment_id else s for s in run.segments]
    with ws.transaction() as cur:
        cur.execute(_RENAME_MEMBERS, [name, run_id, segment_id])
        cur.execute(_UPDATE_SEGMENTS, [json.dumps([s.as_json() for s in segments]), run_id])


def delete_run(ws: Workspace, run_id: str) -> None:
    with ws.transaction() as cur:
        for statement in _DELETE_RUN:
            cur.execute(statement, [run_id])
        staleness.forget(cur, staleness.SEGMENT_RUN, run_id)
        heatmaps.forget(cur, run_id)


def save_selection(ws: Workspace, user_ids: Sequence[str], name: str,
                   source_run_id: str | None = None) -> SegmentRun:
    """Record hand-picked shoppers (e.g. a lasso selection on the map) as a one-segment run."""
    name = _segment_name(name)
    profiles = load_profiles(ws)
    chosen = profiles["user_id"].isin(set(user_ids)).to_numpy()
    if not chosen.any():
        raise ConfigError("The selection holds no profiled shopper.",
                          hint="Select points on the map first.", title="Empty selection")
    features, _ = usable_features(profiles, DEFAULT_FEATURES, explicit=False)
    pipeline = preprocessor(features)
    X = pipeline.fit_transform(profiles)
    labels = np.where(chosen, 0, NOISE)
    spec = SegmentSpec(method="selection", name=name, features=tuple(features))
    quality = {"selected": int(chosen.sum()), "source_run_id": source_run_id}
    notes = [f"{int(chosen.sum()):,} shoppers selected by hand."]
    return _record(ws, spec, profiles, labels, None, X, {"pipeline": pipeline}, quality, notes,
                   None, {0: name})


def export_frame(ws: Workspace, run_id: str, features: Sequence[str] = (),
                 segment_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Members of a run (all, or of ``segment_ids``) with their segment and the chosen features.

    The probability column is there only for methods that give one (Gaussian mixtures), so a
    K-Means export has no column of empty values.
    """
    frame = members(ws, run_id)
    if segment_ids is not None:
        absent = ", ".join(str(i) for i in sorted(set(segment_ids) - set(frame["segment_id"].tolist())))
        if absent:
            raise NotFoundError(f"Run {run_id} has no segment {absent}.",
                                hint="Pick segments of this run (see its segment profiles).")
        frame = frame[frame["segment_id"].isin(list(segment_ids))]
    if frame["probability"].isna().all():
        frame = frame.drop(columns="probability")
    if features:
        profiles = load_profiles(ws)
        unknown = [f for f in features if f not in profiles.columns]
        if unknown:
            raise ConfigError(f"Unknown profile feature(s): {', '.join(unknown)}.",
                              hint="Pick features from the Profiles page.", title="Unknown feature")
        frame = frame.merge(profiles[["user_id", *features]], on="user_id", how="left")
    frame.insert(0, "run_id", run_id)
    return frame.reset_index(drop=True)


def compare_selection(profiles: pd.DataFrame, selected: Sequence[str],
                      features: Sequence[str]) -> pd.DataFrame:
    """How selected shoppers differ from everyone else: means and the standardised difference."""
    inside = profiles["user_id"].isin(set(selected))
    rows = []
    for feature in features:
        values = pd.to_numeric(profiles[feature], errors="coerce").astype("float64")
        spread = float(values.std(ddof=0)) or 1.0
        a, b = values[inside].mean(), values[~inside].mean()
        rows.append({"feature": feature, "selection": a, "everyone else": b,
                     "difference (sd)": (a - b) / spread})
    out = pd.DataFrame(rows)
    return out.reindex(out["difference (sd)"].abs().sort_values(ascending=False).index)
