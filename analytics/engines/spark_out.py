"""Writing a full Spark result as partitioned Parquet (``--out-dir``) and taking the sample.

Profiles and recommendations are partitioned by a hash bucket of ``user_id``
(:data:`~analytics.engines.outputs.BUCKETS` folders ``user_bucket=0..15``: one shopper's rows in
one folder, buckets of even size whatever the ids look like); segment membership by
``segment_id``, so one segment is one folder to hand to a campaign tool. The sample the workspace
keeps is the first N shoppers in the order of a seeded hash of their id: random, repeatable, the
same shoppers for profiles and a segmentation of them, and computed without collecting everyone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from analytics.engines.outputs import (
    BUCKET_COLUMN,
    BUCKETS,
    RECOMMENDATIONS,
    OutDirError,
    SparkOutput,
    is_local,
    local_path,
    record,
)
from analytics.workspace import Workspace

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

BY_BUCKET = f"{BUCKET_COLUMN} (pmod(xxhash64(user_id), {BUCKETS}))"
BY_SEGMENT = "segment_id"


def bucket() -> Column:
    """The ``user_id`` hash bucket every per-shopper result is partitioned by."""
    from pyspark.sql import functions as F

    return F.pmod(F.xxhash64(F.col("user_id")), F.lit(BUCKETS)).cast("int")


def sample_ids(frame: DataFrame, n: int, seed: int = 0) -> list[str]:
    """At most ``n`` user ids: the first by a seeded hash of the id (ties by id)."""
    from pyspark.sql import functions as F

    rows = (frame.select("user_id").orderBy(F.xxhash64(F.col("user_id"), F.lit(seed)), "user_id")
            .limit(n).collect())
    return [str(r["user_id"]) for r in rows]


def only(frame: DataFrame, ids: Sequence[str]) -> DataFrame:
    """The rows of ``frame`` whose user_id is one of ``ids`` (a broadcast semi join)."""
    from pyspark.sql import functions as F

    keys = frame.sparkSession.createDataFrame([(i,) for i in ids], "user_id STRING")
    return frame.join(F.broadcast(keys), on="user_id", how="left_semi")


def read_back(spark: SparkSession, url: str) -> DataFrame:
    """A written result without its partition column (Spark adds it back on reading)."""
    frame = spark.read.parquet(url)
    return frame.drop(BUCKET_COLUMN) if BUCKET_COLUMN in frame.columns else frame


def write(frame: DataFrame, url: str, partition_by: str, overwrite: bool) -> int:
    """Write ``frame`` as Parquet partitioned by ``partition_by``; the rows written.

    Raises
    ------
    OutDirError
        When the folder exists and ``overwrite`` is off (a Hadoop URL: checked by Spark), or
        Spark cannot write there.
    """
    local = is_local(url)
    existing = local and local_path(url).is_dir()  # checked empty (or overwrite) before
    mode = "overwrite" if overwrite or existing else "errorifexists"
    try:
        frame.write.mode(mode).partitionBy(partition_by).parquet(url)
    except Exception as e:  # py4j / AnalysisException have no common base class
        text = str(e).splitlines()[0][:300]
        if "PATH_ALREADY_EXISTS" in str(e) or "already exists" in str(e):
            raise OutDirError(f"--out-dir {url} already exists.",
                              hint="Pass a new folder, or add --overwrite to replace it.") from e
        raise OutDirError(f"Spark could not write to --out-dir {url}: {text}",
                          hint="Check the path and that Spark may write there.") from e
    return int(frame.sparkSession.read.parquet(url).count())


def output(kind: str, ref: str, url: str, rows: int, users: int, partitioning: str,
           sample_rows: int, as_of: datetime | None) -> SparkOutput:
    """The record of a written result (the path as written; a local path made absolute)."""
    path = str(local_path(url)) if is_local(url) else url
    return SparkOutput(kind, ref, path, rows, users, partitioning, sample_rows, as_of,
                       datetime.now())


def membership(predictions: DataFrame, id_map: Mapping[int, int], names: Mapping[int, str]
               ) -> DataFrame:
    """user_id, segment_id (the run's stable ids), segment_name, probability, per shopper."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    ids = F.create_map(*[F.lit(x) for pair in id_map.items() for x in pair])
    label = ids[F.col("prediction").cast("int")]
    named = F.create_map(*[F.lit(x) for pair in names.items() for x in pair])
    probability = (F.array_max(vector_to_array(F.col("probability")))
                   if "probability" in predictions.columns else F.lit(None).cast("double"))
    return predictions.select("user_id", label.alias("segment_id"),
                              named[label].alias("segment_name"), probability.alias("probability"))


def recommendations(spark: SparkSession, table: Any) -> DataFrame:
    """The top-k rows (a pandas frame) as a Spark frame with the bucket column."""
    return spark.createDataFrame(table).withColumn(BUCKET_COLUMN, bucket())


__all__ = ["BY_BUCKET", "BY_SEGMENT", "bucket", "membership", "only", "output", "read_back",
           "sample_ids", "write", "write_recommendations"]


def write_recommendations(ws: Workspace, spark: SparkSession, table: Any, model: str, url: str,
                          overwrite: bool) -> dict[str, Any]:
    """Every shopper's top-k to ``url`` (by user bucket) and the record; the CLI's JSON keys.

    The workspace keeps the stored model, which scores any one shopper's list on demand, so
    nothing is sampled away from the dashboard (``sampled`` is false).
    """
    rows = write(recommendations(spark, table), url, BUCKET_COLUMN, overwrite)
    users = int(table["user_id"].nunique())
    out = output(RECOMMENDATIONS, model, url, rows, users, BY_BUCKET, users, None)
    with ws.transaction() as cur:
        record(cur, out)
    return out.as_json()
