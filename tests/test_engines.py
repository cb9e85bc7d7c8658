"""The engine boundary without Spark: macro expansion, parameter checks, clear set-up errors."""

from __future__ import annotations

import pytest

from analytics.engines import profile_sql
from analytics.engines.base import Engine
from analytics.engines.duckdb import DuckDBEngine
from analytics.engines.spark import SparkEngine, session
from analytics.errors import ShopperLensError
from analytics.profiles import FEATURE_NAMES, RFM_GRID, rfm_grid


def test_macros_expand_nested_arguments_and_refuse_unknown_ones():
    engine: Engine = DuckDBEngine()
    sql = engine.render("SELECT @days_between(CAST(a AS DATE), coalesce(b, ',')) FROM t")
    assert sql == "SELECT date_diff('day', CAST(a AS DATE), coalesce(b, ',')) FROM t"
    assert engine.render("@epoch_seconds(@epoch_seconds(t)) || ','") == "epoch(epoch(t)) || ','"
    with pytest.raises(ShopperLensError, match="no DuckDB spelling"):
        engine.render("SELECT @nope(x)")
    with pytest.raises(ShopperLensError, match="Unbalanced"):
        engine.render("SELECT @weekday(t")


def test_weekday_names_the_day_in_english():
    import duckdb

    days = ", ".join(DuckDBEngine().render(f"@weekday(TIMESTAMP '2024-03-{d:02d} 23:59:59')")
                     for d in range(3, 10))  # Sunday 3 March 2024 to Saturday 9 March
    got = duckdb.connect().execute(f"SELECT [{days}]").fetchall()[0][0]
    assert got == ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]


def test_every_macro_has_both_spellings_and_the_units_use_only_those():
    assert set(DuckDBEngine.macros) == set(SparkEngine.macros)
    text = " ".join(sql for all_users in (True, False)
                    for _, sql in profile_sql.row_parts(all_users))
    for engine in (DuckDBEngine(), SparkEngine(spark=None)):  # type: ignore[arg-type]
        assert "@" not in engine.render(text)


def test_parameters_are_bound_not_spliced_and_missing_ones_refused():
    from datetime import datetime

    sql, args = SparkEngine(spark=None).prepare(  # type: ignore[arg-type]
        "SELECT 1 WHERE t <= $as_of AND q = $q", {"as_of": datetime(2024, 3, 1, 12), "q": 0.5,
                                                  "unused": 1})
    assert sql == "SELECT 1 WHERE t <= CAST(:as_of AS TIMESTAMP_NTZ) AND q = :q"
    assert args == {"as_of": "2024-03-01 12:00:00", "q": 0.5}
    with pytest.raises(ShopperLensError, match=r"\['q'\]"):
        DuckDBEngine().prepare("SELECT $q", {})


def test_the_assembly_follows_features_and_the_grid_relation_is_the_docstring_grid():
    sql = profile_sql.assembly_sql(FEATURE_NAMES)
    assert sql.index("r.recency_days") < sql.index("s.r_score") < sql.index("r.crm_attributes")
    grid = rfm_grid().set_index(["r_score", "f_score"])["segment"]
    assert grid[(5, 1)] == RFM_GRID[0][0] and grid[(1, 1)] == RFM_GRID[4][0] == "Lost"
    assert len(grid) == 25


def test_spark_without_java_says_what_to_install(monkeypatch):
    pytest.importorskip("pyspark")
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ShopperLensError, match="Java 17") as err:
        session("local[1]")
    assert "default-jre-headless" in err.value.hint
