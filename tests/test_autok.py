"""Choosing k: degenerate sizes rejected, stability measured, "no structure" said out loud."""

from __future__ import annotations

import re

import numpy as np
import pytest

from analytics.errors import ConfigError
from analytics.ingest import ingest_file
from analytics.profiles import build_profiles
from analytics.segments import SegmentSpec, load_model, run_segmentation
from analytics.segments.autok import DEFAULT_KS, parse_k, size_problem
from analytics.segments.clustering import sweep_k
from analytics.segments.views import heatmap


def blobs_with_outliers(seed: int = 0) -> np.ndarray:
    """Three tight groups of 400 and 6 far-away shoppers (0.5%: an outlier cluster)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0], [6, 0, 0], [0, 6, 0]])
    groups = [rng.normal(c, 1.0, (400, 3)) for c in centres]
    outliers = rng.normal([20, 20, 0], 0.5, (6, 3))
    return np.vstack([*groups, outliers])


def test_size_problem_by_hand():
    assert size_problem(np.array([0] * 50 + [1] * 50)) is None
    assert "over 80%" in size_problem(np.array([0] * 81 + [1] * 19))
    assert "under 1%" in size_problem(np.array([0] * 500 + [1] * 499 + [2]))
    # HDBSCAN noise (-1) is not a segment: 90% noise, two equal segments is fine.
    assert size_problem(np.array([-1] * 900 + [0] * 50 + [1] * 50)) is None


def test_a_tiny_outlier_cluster_is_rejected_even_when_its_silhouette_is_best():
    sweep = sweep_k(blobs_with_outliers(), "kmeans", ks=range(2, 7))
    rows = {r.k: r for r in sweep.rows}
    assert rows[4].rejected and "under 1%" in rows[4].rejected
    assert rows[4].silhouette > rows[3].silhouette  # silhouette alone would take the outliers
    assert sweep.best_k == 3 and rows[3].rejected is None
    assert rows[3].stability is not None and rows[3].stability >= 0.9
    assert "k = 3" in sweep.reason and "rejected" in sweep.reason
    assert sweep.structure == "clear"


def test_uniform_noise_has_no_cluster_structure():
    noise = np.random.default_rng(1).uniform(size=(1_500, 6))
    sweep = sweep_k(noise, "kmeans", ks=range(3, 7))
    assert sweep.structure == "none", (sweep.rows, sweep.null_silhouette)
    assert "No cluster structure" in sweep.structure_note and "RFM" in sweep.structure_note


def test_planted_groups_are_not_called_noise():
    rng = np.random.default_rng(2)
    X = np.vstack([rng.normal(c, 1.0, (300, 6)) for c in (0, 5, 10, 15)])
    sweep = sweep_k(X, "gmm", ks=range(2, 8))
    assert sweep.best_k == 4 and sweep.structure == "clear"


@pytest.mark.parametrize(("value", "k", "ks"), [
    ("6", 6, DEFAULT_KS), ("auto", None, tuple(range(3, 13))), ("auto:4-7", None, (4, 5, 6, 7)),
    ("AUTO:2-2", None, (2,)),
])
def test_parse_k(value, k, ks):
    assert parse_k(value) == (k, ks)


def test_parse_k_range_options_and_errors():
    assert parse_k("auto", k_min=5, k_max=6) == (None, (5, 6))
    for bad in ("six", "auto:9-3", "auto:1-4"):
        with pytest.raises(ConfigError):
            parse_k(bad)


PHONES, SHOES, MYSTERY = "2053013555631882655", "2053013566100866035", "2232732079706079299"


def test_numeric_category_ids_get_readable_names_in_segments(ws, write):
    """REES46-style ids: the catalogue's category path, else the brand, else a short label."""
    rows = ["user_id,event_time,event_type,item_id,category,brand,price"]
    rng = np.random.default_rng(0)
    for u in range(60):
        category, item, brand = [(PHONES, "p1", "samsung"), (SHOES, "s1", "nike"),
                                 (MYSTERY, "m1", "")][u % 3]
        for e in range(1 + u % 7):
            kind = "purchase" if e % 3 == 0 else "view"
            rows.append(f"u{u},2024-01-{1 + e:02d} 10:{u % 60:02d},{kind},{item},{category},{brand},"
                        f"{rng.uniform(5, 500):.2f}")
    ingest_file(ws, write("events.csv", "\n".join(rows) + "\n"))
    ingest_file(ws, write("items.csv", f"item_id,category\np1,electronics.smartphone\ns1,{SHOES}\n"),
                kind="items")
    build_profiles(ws)
    run = run_segmentation(ws, SegmentSpec(k=3, features=("frequency", "monetary", "category_shares")))
    labels = load_model(ws, run.run_id)["category_labels"]
    assert labels == {PHONES: "electronics.smartphone", SHOES: "nike items", MYSTERY: "category …9299"}
    columns = list(heatmap(ws, run.run_id).columns)
    shown = " ".join([*columns, *(s.name for s in run.segments),
                      *(c for s in run.segments for c, _ in s.top_categories),
                      *(f for s in run.segments for f, _ in s.distinguishing)])
    assert not re.search(r"\d{7,}", shown), shown
    assert "share: electronics.smartphone" in columns
    assert {c for s in run.segments for c, _ in s.top_categories} == set(labels.values())
