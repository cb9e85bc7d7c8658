"""Engine adapters: the same SQL units (analytics/sql) run on DuckDB or on Apache Spark.

:mod:`analytics.engines.base` loads the units and expands their few named dialect macros;
:mod:`analytics.engines.duckdb` and :mod:`analytics.engines.spark` say how each engine spells
them and binds parameters. Spark is optional (``pip install "shopper-lens[spark]"``) and only
imported by :mod:`analytics.engines.spark`.
"""
