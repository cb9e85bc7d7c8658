"""Population stability index (PSI): how far a feature's distribution moved since a baseline.

PSI = sum over bins of (now - base) * ln(now / base) with decile bins of the baseline.
Common reading: < 0.1 no real change, 0.1-0.25 some change, > 0.25 a shift worth a refit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SHIFT = 0.25
_EPS = 1e-4
Array = np.ndarray[Any, Any]


def baseline(X: Array, labels: Array, columns: list[str], bins: int = 10) -> dict[str, Any]:
    """Decile edges per feature and the bin shares of every segment (and of everyone)."""
    edges = [np.unique(np.quantile(X[:, j], np.linspace(0, 1, bins + 1))[1:-1]).tolist()
             for j in range(X.shape[1])]
    shares = {"all": _shares(X, edges)}
    for segment in np.unique(labels):
        shares[str(int(segment))] = _shares(X[labels == segment], edges)
    return {"columns": columns, "edges": edges, "shares": shares}


def psi(base: dict[str, Any], X: Array, labels: Array) -> dict[str, dict[str, float]]:
    """PSI per group ('all' and each segment id) and feature against ``base``."""
    out: dict[str, dict[str, float]] = {}
    groups = {"all": np.ones(len(X), dtype=bool)} | {str(int(s)): labels == s for s in np.unique(labels)}
    for group, rows in groups.items():
        if group not in base["shares"] or not rows.any():
            continue
        now = _shares(X[rows], base["edges"])
        out[group] = {column: _psi(np.asarray(b), np.asarray(n))
                      for column, b, n in zip(base["columns"], base["shares"][group], now, strict=True)}
    return out


def _shares(X: Array, edges: list[list[float]]) -> list[list[float]]:
    result = []
    for j, cuts in enumerate(edges):
        counts = np.bincount(np.searchsorted(cuts, X[:, j], side="right"), minlength=len(cuts) + 1)
        result.append((counts / max(len(X), 1)).tolist())
    return result


def _psi(base: Array, now: Array) -> float:
    b, n = np.clip(base, _EPS, None), np.clip(now, _EPS, None)
    return float(np.sum((n - b) * np.log(n / b)))
