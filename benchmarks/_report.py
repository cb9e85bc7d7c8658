"""The one ``--json`` flag every benchmark takes, and the JSON summary it prints last.

Shared so that every benchmark's last stdout line means the same thing (one JSON object,
strict JSON), and a run can be compared with the next by ``json.loads`` of that line alone.
Scripts in this folder import it as ``from _report import ...``: running ``python
benchmarks/X.py`` puts this folder first on ``sys.path``.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping
from typing import Any


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """Offer ``--json``: the figures of the run as one JSON object on the last stdout line."""
    parser.add_argument("--json", action="store_true",
                        help="print a JSON summary (one object) as the last line")


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None, in nested dicts and lists.

    A ratio over a zero-second baseline is infinite, and ``json.dumps`` would write it as
    ``Infinity``, which is not JSON; None says "no number" in a form every reader accepts."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def emit(summary: Mapping[str, Any], args: argparse.Namespace) -> None:
    """Print ``summary`` as one line of strict JSON when the run was given ``--json``.

    Call it last: nothing may be printed after it. Values JSON cannot hold (timestamps,
    paths, NumPy scalars) are written with ``str`` or as plain numbers."""
    if not getattr(args, "json", False):
        return
    print(json.dumps(finite(dict(summary)), default=_plain, allow_nan=False), flush=True)


def _plain(value: Any) -> Any:
    """NumPy scalars as Python numbers (then checked for NaN again), anything else as text."""
    item = getattr(value, "item", None)
    if callable(item):
        plain = item()
        if isinstance(plain, int | float | bool | str):
            return finite(plain)
    return str(value)
