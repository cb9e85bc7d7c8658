"""All configuration in one table: name, default, help.

Settings come from environment variables. The README's configuration section is generated
from :data:`SETTINGS` (``shopper-lens settings --markdown``) and a test keeps them equal.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analytics.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    parse: Callable[[str], Any] = str


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive whole number")
    return number


def _on_off(value: str) -> bool:
    if value.strip().lower() not in ("on", "off"):
        raise ValueError("must be 'on' or 'off'")
    return value.strip().lower() == "on"


def _pii_mode(value: str) -> str:
    if value not in ("hash", "drop"):
        raise ValueError("must be 'hash' or 'drop'")
    return value


SETTINGS: tuple[Setting, ...] = (
    Setting("SHOPPER_LENS_DB", "workspace/shopper_lens.duckdb",
            "Workspace DuckDB file. Uploads, temporary spill files and the inbox live beside it.",
            Path),
    Setting("SHOPPER_LENS_MEMORY_LIMIT", "4GB",
            "DuckDB memory limit; larger work spills to disk in the workspace's .tmp folder."),
    Setting("SHOPPER_LENS_THREADS", "2", "DuckDB worker threads.", _positive_int),
    Setting("SHOPPER_LENS_MAX_UPLOAD_MB", "1024",
            "Largest file the Data page accepts (bigger files: use `shopper-lens ingest PATH`).",
            _positive_int),
    Setting("SHOPPER_LENS_SESSION_GAP_MINUTES", "30",
            "Inactivity gap that starts a new session when a source has no session id.",
            _positive_int),
    Setting("SHOPPER_LENS_SOURCE_TIMEZONE", "UTC",
            "Time zone of source timestamps that carry no offset; stored times are UTC."),
    Setting("SHOPPER_LENS_PII", "hash",
            "What to do with columns that look like e-mail, phone or name: 'hash' (salted "
            "SHA-256, salt per workspace) or 'drop'.", _pii_mode),
)


def _currency(value: str) -> str:
    # the currency shown beside money amounts (a code like EUR or a symbol like £).
    value = value.strip()
    if not 1 <= len(value) <= 5:
        raise ValueError("must be a currency code or symbol of 1-5 characters, e.g. EUR")
    return value


SETTINGS += (
    Setting("SHOPPER_LENS_CURRENCY", "USD",
            "Currency shown beside money amounts (revenue, spend, order value), e.g. EUR or £.",
            _currency),
    Setting("SHOPPER_LENS_MAP_WARMUP", "on",
            "Import umap-learn as the dashboard starts and load its kernels in the background "
            "once the dashboard has been idle for a second, so the first map is quick ('on' or "
            "'off'; the first start after an install compiles for about 7 s of one core, later "
            "starts load the compiled kernels from numba's disk cache in a fraction of a second; "
            "the import adds about 1 s to the start).", _on_off),
    # the bounded sample a Spark --out-dir run keeps in the workspace.
    Setting("SHOPPER_LENS_SPARK_SAMPLE_ROWS", "50000",
            "Shoppers a Spark run with `--out-dir` keeps in the workspace (a seeded random sample; "
            "the full result stays as Parquet in the folder, counts shown are the full totals).",
            _positive_int),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """Return the parsed value of setting ``name`` from ``environ`` (default: os.environ)."""
    setting = _BY_NAME[name]
    raw = (os.environ if environ is None else environ).get(name, setting.default)
    try:
        return setting.parse(raw)
    except ValueError as e:
        raise ConfigError(
            f"{name}={raw!r} is not valid: {e}.",
            hint=f"Unset it to use the default ({setting.default}) or see the README's "
            "configuration table.",
        ) from e


def markdown_table() -> str:
    """The README's configuration table."""
    lines = ["| setting | default | what it does |", "|---|---|---|"]
    lines += [f"| `{s.name}` | `{s.default}` | {s.help} |" for s in SETTINGS]
    return "\n".join(lines)
