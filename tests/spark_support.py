"""The one Spark session of a test run, and a skip with the reason when Spark cannot run."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

#: Why Spark tests cannot run here, or "" when they can (CI installs both).
MISSING = ("pyspark is not installed (pip install 'shopper-lens[spark]')"
           if importlib.util.find_spec("pyspark") is None
           else "java is not on the PATH (apt-get install default-jre-headless)"
           if shutil.which("java") is None else "")
needs_spark = pytest.mark.skipif(bool(MISSING), reason=MISSING)
#: The test session's settings (STREAMLIT_DUCKDB.md): small, quiet, UTC.
TEST_CONF = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
             "spark.driver.memory": "2g", "spark.sql.session.timeZone": "UTC"}


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local[2] SparkSession for every Spark test (start-up costs 5-25 s)."""
    from analytics.engines.spark import session

    spark = session("local[2]", app="shopper-lens-tests", conf=TEST_CONF)
    spark.sparkContext.setLogLevel("ERROR")
    yield spark
    spark.stop()


def assert_same_profiles(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Every column equal: counts and labels exactly, floats within 1e-9 relative, JSON parsed
    (key order kept), types the same."""
    assert list(a.columns) == list(b.columns)
    a, b = a.set_index("user_id"), b.set_index("user_id")
    assert a.index.tolist() == b.index.tolist()
    for column in a.columns:
        x, y = a[column], b[column]
        assert str(x.dtype) == str(y.dtype), (column, x.dtype, y.dtype)
        if column == "category_shares":
            x, y = x.map(_items), y.map(_items)
        both_empty = x.isna() & y.isna()
        if pd.api.types.is_float_dtype(y):
            close = ((x - y).abs() <= 1e-9 * y.abs().clip(lower=1e-300)) | (x == y)
            same = both_empty | close.fillna(False).astype(bool)
        else:
            same = both_empty | (x == y).fillna(False).astype(bool)
        assert same.all(), (column, x[~same].head(3).tolist(), y[~same].head(3).tolist())


def _items(text: Any) -> Any:
    """JSON text as its ordered (key, value) pairs (Spark writes 1e-4 as 1.0E-4)."""
    return None if text is None or text != text else tuple(json.loads(text).items())
