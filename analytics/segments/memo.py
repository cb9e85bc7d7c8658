"""Values computed from a kept, read-only matrix, once per matrix object.

The scaled matrix of a run is kept between re-runs (:mod:`.matrix`) and is read-only, so what
depends on it alone (its decile bins, its standardised columns) need not be recomputed when a
re-cluster only changes the labels. A writeable array could change under the same object, so
it is never remembered.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

_KEPT: dict[tuple[int, str], tuple[weakref.ref[np.ndarray[Any, Any]], Any]] = {}
_LOCK = threading.Lock()


def of_array(X: np.ndarray[Any, Any], name: str, compute: Callable[[np.ndarray[Any, Any]], Any]) -> Any:
    """``compute(X)``, remembered while ``X`` lives if it is read-only (callers must not modify
    the result: it is shared)."""
    key = (id(X), name)
    with _LOCK:
        found = _KEPT.get(key)
    if found is not None and found[0]() is X:
        return found[1]
    value = compute(X)
    if not X.flags.writeable:
        with _LOCK:
            for gone in [k for k, (ref, _) in _KEPT.items() if ref() is None]:
                del _KEPT[gone]
            _KEPT[key] = (weakref.ref(X), value)
    return value
