"""The DuckDB-coded, streamed interactions equal the former pandas construction.

The reference below is the construction ``interactions.build`` used before issue 13's 100M run
(pairs fetched into pandas with string ids, coded with ``pd.Categorical``, COO → CSR). The new
build must give every structure the recommenders read with the same values, shapes and dtypes.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from analytics.recommend import interactions as mod
from analytics.workspace import Workspace


def _reference(ws: Workspace) -> dict[str, Any]:
    """The former pandas assembly, from the same SQL (kept here as the test's oracle)."""
    weights = dict(mod.DEFAULT_WEIGHTS)
    values = {"types": list(weights), "weights": [float(w) for w in weights.values()]}
    scope = mod.SCOPE_ALL
    with ws.cursor() as cur:
        users = mod._fetch(cur, mod.USERS_SQL, scope, {})
        pairs = mod._fetch(cur, mod.INTERACTIONS_SQL, scope,
                           {**values, "half_life": mod.DEFAULT_HALF_LIFE_DAYS})
        catalogue = mod._fetch(cur, mod.CATALOGUE_SQL, scope, {})
        steps = mod._fetch(cur, mod.TRANSITIONS_SQL, scope,
                           {"types": values["types"], "gap": mod.SEQUENCE_GAP_HOURS * 3600})
    user_ids = users["user_id"].astype(str).to_numpy(dtype=object)
    item_ids = catalogue["item_id"].astype(str).to_numpy(dtype=object)
    pairs = pairs.assign(
        row=pd.Categorical(pairs["user_id"].astype(str), categories=user_ids).codes,
        col=pd.Categorical(pairs["item_id"].astype(str), categories=item_ids).codes,
    ).sort_values(["row", "col"], kind="stable")
    shape = (len(user_ids), len(item_ids))

    def csr(v: Any) -> sp.csr_matrix:
        return sp.csr_matrix((np.asarray(v, dtype=np.float32),
                              (pairs["row"].to_numpy(), pairs["col"].to_numpy())), shape=shape)

    near = pairs["recency"].to_numpy() <= mod.RECENT_ITEMS
    recent = sp.csr_matrix(((1.0 / pairs["recency"].to_numpy()[near]).astype(np.float32),
                            (pairs["row"].to_numpy()[near], pairs["col"].to_numpy()[near])),
                           shape=shape)
    purchased = csr(pairs["purchased"].to_numpy(dtype=bool))
    purchased.eliminate_zeros()
    n = len(item_ids)
    rows = pd.Categorical(steps["item_id"].astype(str), categories=item_ids).codes
    cols = pd.Categorical(steps["next_item"].astype(str), categories=item_ids).codes
    transitions = sp.csr_matrix((steps["n"].to_numpy(dtype=np.float32), (rows, cols)), shape=(n, n))
    return {
        "user_ids": user_ids, "item_ids": item_ids, "matrix": csr(pairs["weight"]),
        "raw": csr(pairs["raw"]), "purchased": purchased, "recent": recent,
        "transitions": transitions,
        "last_age_days": pairs["last_age_days"].to_numpy(dtype=np.float64),
        "first_age_days": pairs["first_age_days"].to_numpy(dtype=np.float64),
        "bought": pairs["purchased"].to_numpy(dtype=bool),
        "purchases": pairs["purchases"].to_numpy(dtype=np.float64),
        "last_purchase_age_days": pd.to_numeric(pairs["last_purchase_age_days"]).to_numpy(
            dtype=np.float64, na_value=np.nan),
        "events": users["events"].to_numpy(dtype=np.int64),
        "devices": users["device"].to_numpy(dtype=object),
        "channels": users["channel"].to_numpy(dtype=object),
    }


@pytest.fixture(scope="module")
def built(_demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[mod.Interactions, dict[str, Any]]]:
    path = tmp_path_factory.mktemp("recmatrix") / "shopper_lens.duckdb"
    shutil.copyfile(_demo_db, path)
    with Workspace(path) as ws:
        inter, _ = mod.build(ws)
        yield inter, _reference(ws)


MATRICES = ["matrix", "raw", "purchased", "recent", "transitions"]
ARRAYS = ["user_ids", "item_ids", "last_age_days", "first_age_days", "bought", "purchases",
          "last_purchase_age_days", "events", "devices", "channels"]


@pytest.mark.parametrize("name", MATRICES)
def test_every_matrix_equals_the_pandas_construction(built, name: str):
    inter, ref = built
    new, old = getattr(inter, name), ref[name]
    assert new.shape == old.shape and new.dtype == old.dtype == np.float32
    assert new.nnz == old.nnz > 0
    new.sort_indices()
    old.sort_indices()
    np.testing.assert_array_equal(new.indptr, old.indptr)
    np.testing.assert_array_equal(new.indices, old.indices)
    np.testing.assert_array_equal(new.data, old.data)  # exact: same float32 values


@pytest.mark.parametrize("name", ARRAYS)
def test_every_entry_array_equals_the_pandas_construction(built, name: str):
    inter, ref = built
    new, old = getattr(inter, name), ref[name]
    assert new.dtype == old.dtype and new.shape == old.shape
    assert len(new) > 0
    if new.dtype == object:  # labels: None / NaN for a missing device compare as missing
        assert pd.Series(new).equals(pd.Series(old))
    else:
        np.testing.assert_array_equal(new, old)  # NaN == NaN here (never bought)


def test_the_demo_has_what_the_comparison_needs(built):
    """Guards the comparison: never-bought entries (NaN ages), truncated recency, repeats."""
    inter, _ = built
    assert np.isnan(inter.last_purchase_age_days).any() and inter.bought.any()
    assert inter.recent.nnz < inter.matrix.nnz
    assert (inter.purchases > 1).any()


def test_matrices_own_their_index_arrays(built):
    """Pruning one matrix in place (replace_entries, eliminate_zeros) must not touch another."""
    inter, _ = built
    assert not np.shares_memory(inter.matrix.indices, inter.raw.indices)
    assert not np.shares_memory(inter.matrix.indptr, inter.raw.indptr)
