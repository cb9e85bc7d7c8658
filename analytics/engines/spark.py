"""The Spark engine: the same profile SQL units on Apache Spark (local, standalone or Connect).

``pip install "shopper-lens[spark]"`` (PySpark >= 4.0, Java 17+). Spark reads the events where
they are — the workspace's canonical events handed over as Parquet in the workspace folder
(DuckDB may only write there), or any Parquet/CSV path or Hadoop URL (``s3a://``, ``hdfs://``)
— computes every feature with the units of ``analytics/sql/profiles`` and the profiles come
back into the workspace as the ordinary ``profiles`` table, with DuckDB's column types.

Everything is time-zone free, as in DuckDB: timestamps are TIMESTAMP_NTZ and the session time
zone is UTC (see :func:`configure`).
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analytics.engines import outputs, profile_sql
from analytics.engines.base import Engine, unit
from analytics.engines.duckdb import DuckDBEngine
from analytics.errors import ConfigError, NotFoundError, ShopperLensError
from analytics.profiles import (
    _SCORE_PARAMS,
    FEATURE_NAMES,
    NEVER_PURCHASED,
    ProfileSummary,
    _check_quantile,
    _row_params,
    catalogue_fills,
    rfm_grid,
)
from analytics.workspace import Workspace

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: The canonical event columns Spark reads, with their Spark types (others are ignored).
EVENT_COLUMNS: dict[str, str] = {
    "user_id": "STRING", "event_time": "TIMESTAMP_NTZ", "event_type": "STRING",
    "item_id": "STRING", "category": "STRING", "brand": "STRING", "price": "DOUBLE",
    "quantity": "DOUBLE", "revenue": "DOUBLE", "session_id": "STRING", "order_id": "STRING",
    "device": "STRING", "channel": "STRING", "country": "STRING", "source": "STRING",
    "rating": "DOUBLE",
}
REQUIRED = ("user_id", "event_time", "event_type")
#: Session settings every Shopper Lens Spark session gets (answers depend on the first two).
SESSION_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.ansi.enabled": "true",
}
# The side tables the CRM unit reads, exported from the workspace (small).
_SIDE_TABLES = {
    "users": "SELECT user_id, CAST(attributes AS VARCHAR) AS attributes, dataset_id FROM users",
    "datasets": "SELECT dataset_id, loaded_at FROM datasets",
    "identity_map": "SELECT alias, user_id FROM identity_map",
}
# Read only when events take their item's catalogue category (profile_sql.CATALOGUE_FILLS_SQL).
_ITEMS_EXPORT = "SELECT item_id, category, dataset_id FROM items"
_CACHED = {"scoped", "tallies", "modes", "user_stats"}
_EVENTS_EXPORT = "SELECT " + ", ".join(EVENT_COLUMNS) + " FROM events"  # noqa: S608 (fixed names)
_INSTALL_HINT = ('Install the Spark extra: pip install "shopper-lens[spark]" (PySpark >= 4.0) and '
                 "Java 17+ (Debian: apt-get install -y default-jre-headless).")


class SparkEngine(Engine):
    """Spark SQL: macros in Spark's dialect, ``$name`` bound as ``:name`` named parameters."""

    name = "Spark"
    macros = {
        "weekday": lambda t: f"date_format({t}, 'EEE')",
        "epoch_seconds": lambda t: f"CAST(unix_micros(CAST({t} AS TIMESTAMP_LTZ)) AS DOUBLE) / 1000000",
        "days_between": lambda a, b: f"datediff({b}, {a})",
        # Spark's percentile is exact with linear interpolation (percentile_approx is not).
        "quantile_cont": lambda x, q: f"percentile({x}, {q})",
        "round_share": lambda n, total, digits: _round_share(n, total, int(digits)),
        # Structs compare field by field, strings in byte order (as DuckDB's rows).
        "ordered_pair": lambda a, b: f"struct({a}, {b})",
        # collect_list has no ORDER BY: collect (order, key, value), sort, drop the order.
        "json_object_by": lambda key, value, order: (
            f"to_json(map_from_entries(transform(array_sort(collect_list(named_struct("
            f"'o', {order}, 'k', {key}, 'v', {value}))), e -> named_struct('k', e.k, 'v', e.v))))"),
    }

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def bind(self, sql: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        args: dict[str, Any] = {}
        for name, value in params.items():
            if isinstance(value, datetime):
                # A naive datetime would be read in the Python process's zone: pass text.
                args[name] = value.isoformat(sep=" ")
                sql = sql.replace(f"${name}", f"CAST(:{name} AS TIMESTAMP_NTZ)")
            else:
                args[name] = value
                sql = sql.replace(f"${name}", f":{name}")
        return sql, args

    def sql(self, sql: str, params: Mapping[str, Any]) -> DataFrame:
        """Run a unit statement; a lazy DataFrame."""
        text, args = self.prepare(sql, params)
        return self.spark.sql(text, args=args)


def _round_share(n: str, total: str, digits: int) -> str:
    """DuckDB's ``round(n / total, digits)`` for integer counts, exactly, in Spark SQL.

    Off a decimal tie, rounding the double n / total equals rounding the fraction, done in
    integers: half = floor(2 * 10^digits * n / total), result (half + 1) div 2. On a tie (the
    fraction ends in 5 just past ``digits``) DuckDB goes by which side of the tie the double
    landed: the sign of double(n / total) * total - n, computed exactly with Veltkamp's split
    (exact for totals below 2^26), rounding up when it is >= 0 (halves away from zero).
    """
    scale = 10 ** digits
    d = f"(CAST({n} AS DOUBLE) / CAST({total} AS DOUBLE))"
    c = f"(CAST(134217729 AS DOUBLE) * {d})"
    high = f"({c} - ({c} - {d}))"
    side = (f"(({high} * CAST({total} AS DOUBLE) - CAST({n} AS DOUBLE)) "
            f"+ ({d} - {high}) * CAST({total} AS DOUBLE))")
    twice = f"(CAST({n} AS BIGINT) * {2 * scale})"
    half = f"({twice} div CAST({total} AS BIGINT))"
    tie = f"(pmod({twice}, CAST({total} AS BIGINT)) = 0 AND pmod({half}, 2) = 1)"
    return (f"(CAST(CASE WHEN {tie} THEN ({half} + CASE WHEN {side} >= 0 THEN 1 ELSE -1 END) div 2 "
            f"ELSE ({half} + 1) div 2 END AS DOUBLE) / {scale})")


def session(master: str = "local[2]", app: str = "shopper-lens",
            conf: Mapping[str, str] | None = None) -> SparkSession:
    """A Spark session on ``master`` (``local[N]``, ``spark://H:P``) or Spark Connect (``sc://H:P``).

    Raises
    ------
    ShopperLensError
        When PySpark or Java is missing, or the master cannot be reached.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise ShopperLensError("The Spark engine needs PySpark, which is not installed.",
                               hint=_INSTALL_HINT, title="Spark not available") from e
    if shutil.which("java") is None and not _java_home():
        raise ShopperLensError("The Spark engine needs Java 17+, and no `java` is on the PATH.",
                               hint=_INSTALL_HINT, title="Spark not available")
    if master.startswith("local") or "//127.0.0.1:" in master or "//localhost:" in master:
        # Python workers (the quantile scaling) run this interpreter, which has NumPy,
        # SciPy and pandas; Spark's default is whatever `python3` is first on the PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app)
    if master.startswith("sc://"):
        builder = builder.remote(master)
    else:
        builder = builder.master(master).config("spark.ui.enabled", "false").config(
            "spark.ui.showConsoleProgress", "false")
        if "//127.0.0.1:" in master or "//localhost:" in master:
            builder = builder.config("spark.driver.host", "127.0.0.1").config(
                "spark.driver.bindAddress", "127.0.0.1")
    for key, value in {**SESSION_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as e:  # py4j/JVM start-up errors have no common base class
        raise ShopperLensError(f"Could not start Spark on {master}: {e}", hint=_INSTALL_HINT,
                               title="Spark not available") from e
    configure(spark)
    return spark


def configure(spark: SparkSession) -> None:
    """Apply :data:`SESSION_CONF` to a session made elsewhere (spark-submit, a notebook)."""
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)


def _java_home() -> bool:
    home = os.environ.get("JAVA_HOME")
    return home is not None and (Path(home) / "bin" / "java").exists()


def read_events(spark: SparkSession, path: str) -> DataFrame:
    """Canonical events from Parquet or CSV (a file, a folder, a glob or a Hadoop URL).

    CSV is recognised by ``.csv`` in the name (header row required); anything else is read as
    Parquet. Columns are cast to the canonical types; missing optional columns are NULL.

    Raises
    ------
    ConfigError
        When the files lack user_id, event_time or event_type.
    """
    from pyspark.sql import functions as F

    reader = spark.read
    frame = (reader.option("header", "true").csv(path) if ".csv" in path.lower()
             else reader.parquet(path))
    present = {c.lower(): c for c in frame.columns}
    missing = [c for c in REQUIRED if c not in present]
    if missing:
        raise ConfigError(f"The events at {path} have no column(s) {', '.join(missing)} "
                          f"(found: {', '.join(frame.columns) or 'none'}).",
                          hint="Hand Spark canonical events (the workspace's own, exported by "
                          "`profiles --engine spark` without --events, have every column).",
                          title="Events not readable")
    return frame.select(*[
        (F.col(present[c]).cast(t) if c in present else F.lit(None).cast(t)).alias(c)
        for c, t in EVENT_COLUMNS.items()])


@dataclass(frozen=True)
class Handover:
    """Where the workspace's tables were written as Parquet for Spark."""

    folder: Path
    tables: dict[str, Path]


@contextmanager
def handover(ws: Workspace, with_events: bool = True) -> Iterator[Handover]:
    """Export events (optional) and the CRM side tables to Parquet inside the workspace
    folder (DuckDB may write nowhere else); removed afterwards."""
    queries = dict(_SIDE_TABLES) | ({"events": _EVENTS_EXPORT} if with_events else {})
    with ws.cursor() as cur:  # the catalogue, when it gives events a category they lack
        if catalogue_fills(cur) or (not with_events and cur.execute(
                profile_sql.CATALOGUE_HAS_CATEGORIES_SQL).fetchall()[0][0]):
            queries["items"] = _ITEMS_EXPORT
    with export_tables(ws, queries) as out:
        yield out


@contextmanager
def export_tables(ws: Workspace, queries: Mapping[str, str]) -> Iterator[Handover]:
    """Each fixed query's result as ``<name>.parquet`` in a fresh folder of the workspace
    folder, for Spark to read; the folder is removed afterwards."""
    folder = ws.dir / "spark" / uuid.uuid4().hex[:12]
    folder.mkdir(parents=True)
    try:
        tables = {}
        with ws.cursor() as cur:
            for name, query in queries.items():
                target = folder / f"{name}.parquet"
                cur.execute(f"COPY ({query}) TO {_literal(str(target))} (FORMAT parquet)")
                tables[name] = target
        yield Handover(folder, tables)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with suppress(OSError):
            folder.parent.rmdir()


def _literal(text: str) -> str:
    """A SQL string literal (COPY takes no parameter for its target; the path is ours)."""
    return "'" + text.replace("'", "''") + "'"


def spark_profiles(spark: SparkSession, events: DataFrame, side: Mapping[str, DataFrame],
                   as_of: datetime | None = None, high_value_quantile: float = 0.75
                   ) -> tuple[DataFrame, datetime]:
    """The profiles table as a Spark DataFrame (ordered by user_id) and the as_of used."""
    engine = SparkEngine(spark)
    cutoff = _cutoff(events, as_of)
    events.createOrReplaceTempView("events")
    for name, frame in side.items():
        frame.createOrReplaceTempView(name)
    spark.createDataFrame(rfm_grid()).createOrReplaceTempView("rfm_grid")
    params = {"as_of": cutoff, "high_value_quantile": high_value_quantile}
    # The same units as DuckDB's one statement, run as views so the scoped events (read by
    # five units) are computed once and cached instead of re-read per reference.
    for name, sql in profile_sql.row_parts(catalogue="items" in side):
        view = engine.sql(sql, params)
        (view.cache() if name in _CACHED else view).createOrReplaceTempView(name)
    rows = engine.sql(unit(profile_sql.GROUP, "profile_rows"), params)
    rows.cache().createOrReplaceTempView("profile_rows")
    result = engine.sql(profile_sql.scored_sql(FEATURE_NAMES),
                        {"as_of": cutoff, "never_purchased": NEVER_PURCHASED})
    return result, cutoff


def _cutoff(events: DataFrame, as_of: datetime | None) -> datetime:
    if as_of is not None:
        return as_of.astimezone(UTC).replace(tzinfo=None) if as_of.tzinfo else as_of
    from pyspark.sql import functions as F

    last = events.agg(F.max("event_time")).collect()[0][0]
    if last is None:
        raise NotFoundError("There are no events to build shopper profiles from.",
                            hint="Load events into the workspace or pass --events PATH.")
    return last  # type: ignore[no-any-return]


def build_profiles_spark(ws: Workspace, master: str = "local[2]", events: str | None = None,
                         as_of: datetime | None = None, high_value_quantile: float = 0.75,
                         spark: SparkSession | None = None, out_dir: str | None = None,
                         overwrite: bool = False) -> ProfileSummary:
    """:func:`analytics.profiles.build_profiles` computed on Spark; stores the same table.

    Parameters
    ----------
    ws : Workspace
        Where the profiles are stored (and, without ``events``, whose events are read).
    master : str
        ``local[N]``, ``spark://HOST:PORT`` or ``sc://HOST:PORT``; ignored when ``spark`` is given.
    events : str, optional
        Parquet/CSV events to read instead of the workspace's (file, folder, glob, URL).
    spark : SparkSession, optional
        A session to reuse (tests, notebooks); it is left running.
    out_dir : str, optional
        Write every profile there as Parquet partitioned by a user_id bucket and keep only a
        seeded sample (setting SHOPPER_LENS_SPARK_SAMPLE_ROWS) in the workspace, with a record
        of the folder (:mod:`analytics.engines.outputs`).
    overwrite : bool
        Replace the contents of a non-empty ``out_dir``.

    Raises
    ------
    OutDirError
        When ``out_dir`` is not empty (without ``overwrite``) or cannot be written.
    """
    _check_quantile(high_value_quantile)
    if out_dir is not None:
        outputs.check_out_dir(out_dir, overwrite)
    own = spark is None
    written: outputs.SparkOutput | None = None
    session_ = spark or session(master)
    configure(session_)
    try:
        with handover(ws, with_events=events is None) as out:
            source = events if events is not None else str(out.tables["events"])
            frame = read_events(session_, source)
            side = {name: session_.read.parquet(str(path)) for name, path in out.tables.items()
                    if name != "events"}
            result, cutoff = spark_profiles(session_, frame, side, as_of, high_value_quantile)
            if out_dir is not None:  # the full table as Parquet, a sample in the workspace
                result, written = _write_profiles(result, out_dir, overwrite, cutoff)
            table = result.toArrow()
            session_.catalog.clearCache()
        users = store(ws, table, cutoff, high_value_quantile, written)
    finally:
        if own:
            session_.stop()
    # With out_dir, users counts the sample stored; outputs.get(ws, "profiles") has the total.
    return ProfileSummary(users=users, features=list(FEATURE_NAMES), as_of=cutoff)


def _write_profiles(result: DataFrame, out_dir: str, overwrite: bool, as_of: datetime
                    ) -> tuple[DataFrame, outputs.SparkOutput]:
    """Write every profile to ``out_dir``; the sampled profiles and the record of the folder."""
    from analytics.engines import spark_out

    rows = spark_out.write(result.withColumn(outputs.BUCKET_COLUMN, spark_out.bucket()), out_dir,
                           outputs.BUCKET_COLUMN, overwrite)
    full = spark_out.read_back(result.sparkSession, out_dir)
    ids = spark_out.sample_ids(full, outputs.sample_rows())
    sample = spark_out.only(full, ids).orderBy("user_id")
    written = spark_out.output(outputs.PROFILES, "", out_dir, rows, rows, spark_out.BY_BUCKET,
                               len(ids), as_of)
    return sample, written


def store(ws: Workspace, table: Any, as_of: datetime, high_value_quantile: float,
          output: outputs.SparkOutput | None = None) -> int:
    """Replace ``profiles`` with Spark's rows, cast to the column types DuckDB's build gives
    (and, for an ``--out-dir`` build, record where the full table is, in the same transaction)."""
    with ws.transaction() as cur:
        columns = ", ".join(f'CAST("{n}" AS {t}) AS "{n}"'
                            for n, t in profile_types(cur, as_of, high_value_quantile))
        cur.register("spark_profiles", table)
        cur.execute(f"CREATE OR REPLACE TABLE profiles AS SELECT {columns} "  # noqa: S608
                    "FROM spark_profiles ORDER BY user_id")
        cur.unregister("spark_profiles")
        # The globals of an earlier DuckDB build do not describe these rows: a refresh rebuilds.
        cur.execute("DROP TABLE IF EXISTS profile_globals")
        if output is not None:
            outputs.record(cur, output)
        return int(cur.execute("SELECT count(*) FROM profiles").fetchall()[0][0])


def profile_types(cur: Any, as_of: datetime, high_value_quantile: float = 0.75
                  ) -> list[tuple[str, str]]:
    """(column, DuckDB type) of the profiles table DuckDB's build makes."""
    cur.register("rfm_grid", rfm_grid())
    sql, params = DuckDBEngine().prepare(
        "DESCRIBE " + profile_sql.profiles_sql(FEATURE_NAMES),
        {**_row_params(as_of, high_value_quantile), **_SCORE_PARAMS})
    types = [(str(r[0]), str(r[1])) for r in cur.execute(sql, params).fetchall()]
    cur.unregister("rfm_grid")
    return types


__all__ = ["SparkEngine", "build_profiles_spark", "read_events", "session", "spark_profiles"]
