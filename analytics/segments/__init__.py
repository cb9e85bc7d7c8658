"""Segments: rule sets and clustering over shopper profiles, described, stable and recorded."""

from analytics.segments.clustering import METHODS, Clusterer, Sweep, sweep_k
from analytics.segments.features import DEFAULT_FEATURES, SCALINGS, numeric_features, preprocessor
from analytics.segments.rules import PRESETS, RuleSet
from analytics.segments.runs import (
    SegmentRun,
    SegmentSpec,
    compare_selection,
    definition,
    delete_run,
    export_frame,
    get_run,
    list_runs,
    load_model,
    members,
    rename_segment,
    run_segmentation,
    save_selection,
)

__all__ = [
    "DEFAULT_FEATURES", "METHODS", "PRESETS", "SCALINGS", "Clusterer", "RuleSet", "SegmentRun",
    "SegmentSpec", "Sweep", "compare_selection", "definition", "delete_run", "export_frame",
    "get_run", "list_runs", "load_model", "members", "numeric_features", "preprocessor",
    "rename_segment", "run_segmentation", "save_selection", "sweep_k",
]
