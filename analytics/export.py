"""CSV and Parquet export that spreadsheet programs cannot turn into formulas."""

from __future__ import annotations

import csv
import io

import pandas as pd

# A cell starting with one of these is run as a formula by Excel/Sheets/LibreOffice.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """Prefix a text cell that a spreadsheet would evaluate with a single quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose column names and text cells cannot run as formulas."""
    safe = frame.copy()
    safe.columns = [str(neutralise(str(c))) for c in safe.columns]
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise)
    return safe


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV of ``frame`` with every text cell neutralised (numbers are left alone)."""
    # Quote every text cell: pandas leaves a bare carriage return unquoted, splitting the row.
    return neutralised(frame).to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC).encode("utf-8")


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Parquet of ``frame`` with the same neutralised text as :func:`to_csv_bytes`."""
    buffer = io.BytesIO()
    neutralised(frame).to_parquet(buffer, index=False)
    return buffer.getvalue()
