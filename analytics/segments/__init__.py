"""Segments: rule sets and clustering over shopper profiles, described, stable and recorded.

The names below load on first use: importing a light submodule (``analytics.segments.primary``,
which only reads the runs table) must not load scikit-learn, which costs the Data page about 2 s
of its first open in a fresh server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from analytics.lazy import home_of, loader

if TYPE_CHECKING:
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

_HOMES = {
    "clustering": ("METHODS", "Clusterer", "Sweep", "sweep_k"),
    "features": ("DEFAULT_FEATURES", "SCALINGS", "numeric_features", "preprocessor"),
    "rules": ("PRESETS", "RuleSet"),
    "runs": ("SegmentRun", "SegmentSpec", "compare_selection", "definition", "delete_run",
             "export_frame", "get_run", "list_runs", "load_model", "members", "rename_segment",
             "run_segmentation", "save_selection"),
}
_HOME_OF = home_of(_HOMES)

__all__ = [
    "DEFAULT_FEATURES", "METHODS", "PRESETS", "SCALINGS", "Clusterer", "RuleSet", "SegmentRun",
    "SegmentSpec", "Sweep", "compare_selection", "definition", "delete_run", "export_frame",
    "get_run", "list_runs", "load_model", "members", "numeric_features", "preprocessor",
    "rename_segment", "run_segmentation", "save_selection", "sweep_k",
]


__getattr__ = loader(__name__, _HOME_OF)
