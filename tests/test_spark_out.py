"""Spark results kept as partitioned Parquet (``--out-dir``): the folder holds the full result,
equal to the DuckDB engine's row for row; the workspace holds a sample, the full counts and a
record of the folder; bad folders are refused before any work, leaving the workspace as it was.

A 300-shopper generated shop with the sample setting at 100, on the one session-scoped Spark.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from analytics.bundle import load_bundle
from analytics.cli import main
from analytics.engines import outputs
from analytics.errors import ConfigError
from analytics.profiles import build_profiles
from analytics.sample import generate
from analytics.segments import SegmentSpec, get_run, members
from analytics.workspace import Workspace
from tests.spark_support import assert_same_profiles, needs_spark, spark  # noqa: F401

pytestmark = [pytest.mark.spark, needs_spark]
SAMPLE = 100


def parquet(folder: Path, order: str = "user_id") -> pd.DataFrame:
    """Every row under a partitioned folder, partition column included (hive style)."""
    with duckdb.connect() as con:
        return con.execute(f"SELECT * FROM read_parquet(?, hive_partitioning = true) "  # noqa: S608
                           f"ORDER BY {order}", [str(folder / "**" / "*.parquet")]).df()


@pytest.fixture(autouse=True)
def _sample_setting(_isolated_env, monkeypatch):
    """The sample size every test here runs with (conftest clears SHOPPER_LENS_* per test)."""
    monkeypatch.setenv("SHOPPER_LENS_SPARK_SAMPLE_ROWS", str(SAMPLE))


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_out")
    return root, generate(root / "shop", users=300, seed=5).out_dir


@pytest.fixture(scope="module")
def spilled(shop, spark):  # noqa: F811
    """The shop's profiles built by DuckDB (the reference, in the same workspace: PII hashes are
    salted per workspace), then on Spark with --out-dir (sample setting: 100 shoppers)."""
    from analytics.engines.spark import build_profiles_spark

    root, folder = shop
    os.environ["SHOPPER_LENS_SPARK_SAMPLE_ROWS"] = str(SAMPLE)
    path = root / "spark" / "shopper_lens.duckdb"
    with opened(path, folder) as ws:
        load_bundle(ws, folder)
        build_profiles(ws)
        reference = table(ws, "SELECT * FROM profiles ORDER BY user_id")
        summary = build_profiles_spark(ws, spark=spark, out_dir=str(root / "profiles_out"))
    yield path, root, summary, reference
    os.environ.pop("SHOPPER_LENS_SPARK_SAMPLE_ROWS", None)


@contextmanager
def opened(path: Path, *allow: Path) -> Iterator[Workspace]:
    """The workspace, closed again so that the CLI, run in this process, can open it."""
    ws = Workspace(path, allow=list(allow))
    try:
        yield ws
    finally:
        ws.close()


def table(ws: Workspace | Path, sql: str) -> pd.DataFrame:
    if isinstance(ws, Path):
        with opened(ws) as open_ws:
            return table(open_ws, sql)
    with ws.cursor() as cur:
        return cur.execute(sql).df()


def test_profiles_folder_equals_duckdb_and_workspace_keeps_a_sample(spilled):
    from analytics.engines.spark import profile_types

    path, root, summary, reference = spilled
    written = parquet(root / "profiles_out")
    assert sorted(written["user_bucket"].unique()) == sorted(
        int(p.name.split("=")[1]) for p in (root / "profiles_out").glob("user_bucket=*"))
    with opened(path) as ws, ws.cursor() as cur:  # Spark's types; cast as the workspace table is
        types = profile_types(cur, summary.as_of)
        cur.register("written", written.drop(columns="user_bucket"))
        columns = ", ".join(f'CAST("{n}" AS {t}) AS "{n}"' for n, t in types)
        full = cur.execute(f"SELECT {columns} FROM written ORDER BY user_id").df()  # noqa: S608
    n = len(reference)  # 300 online shoppers and the store-only ones
    assert len(full) == n > SAMPLE
    assert_same_profiles(full, reference)

    kept = table(path, "SELECT * FROM profiles ORDER BY user_id")
    assert len(kept) == summary.users == SAMPLE
    assert_same_profiles(kept, reference[reference["user_id"].isin(kept["user_id"])]
                         .reset_index(drop=True))
    with opened(path) as ws:
        record = outputs.get(ws, outputs.PROFILES)
    assert record is not None and record.sampled
    assert (record.rows_written, record.users, record.sample_rows) == (n, n, SAMPLE)
    assert record.path == str((root / "profiles_out").resolve())
    assert f"{n} rows for {n} shoppers" in record.sentence()
    assert f"sample of {SAMPLE} shoppers" in record.sentence()


def test_kmeans_membership_folder_holds_everyone_and_the_run_the_full_sizes(spilled, spark):  # noqa: F811
    from analytics.engines.spark_segments import run_segmentation_spark

    path, root, *_ = spilled
    out = root / "segments_out"
    with opened(path) as ws:
        run = run_segmentation_spark(ws, SegmentSpec(method="kmeans", k=3), spark=spark,
                                     out_dir=str(out))
        kept = members(ws, run.run_id).set_index("user_id")
        stored = get_run(ws, run.run_id)
        record = outputs.get(ws, outputs.SEGMENTS, run.run_id)
    written = parquet(out)
    everyone = int(table(path, "SELECT users FROM spark_outputs WHERE kind = 'profiles'").iloc[0, 0])
    assert len(written) == everyone and written["user_id"].is_unique
    assert {p.name for p in out.glob("segment_id=*")} == {
        f"segment_id={s}" for s in written["segment_id"].unique()}
    # The run's sizes are the folder's counts; the workspace holds the sampled shoppers only.
    assert {s.segment_id: s.size for s in run.segments} == written["segment_id"].value_counts().to_dict()
    assert sum(s.share for s in run.segments) == pytest.approx(1.0)
    assert len(kept) == SAMPLE
    same = written.set_index("user_id").loc[kept.index]
    assert (same["segment_id"] == kept["segment_id"]).all()
    assert (same["segment_name"] == kept["segment_name"]).all()
    assert stored.sizes == run.sizes
    assert record is not None and (record.rows_written, record.sample_rows) == (everyone, SAMPLE)
    assert record.partitioning == "segment_id"


def test_recommend_cli_writes_every_list_equal_to_the_csv(spilled, capsys):
    path, root, *_ = spilled
    out, csv = root / "recs_out", root / "recs.csv"
    assert main(["recommend", "--db", str(path), "--engine", "spark", "--model", "als", "--k", "5",
                 "--out-dir", str(out), "--json"]) == 0
    got = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert got["out_dir"] == str(out.resolve()) and got["sampled"] is False
    # The same stored model's lists through the ordinary CSV export (no Spark).
    assert main(["recommend", "--db", str(path), "--model", "als_spark", "--k", "5",
                 "--out", str(csv), "--json"]) == 0
    expected = pd.read_csv(csv, dtype={"user_id": str, "item_id": str}).sort_values(
        ["user_id", "rank"]).reset_index(drop=True)
    written = parquet(out, "user_id, rank").drop(columns="user_bucket")
    assert got["rows_written"] == len(written) == len(expected) > 0
    pd.testing.assert_frame_equal(written[expected.columns].astype({"rank": "int64"}), expected,
                                  check_dtype=False)
    with opened(path) as ws:
        assert outputs.get(ws, outputs.RECOMMENDATIONS, "als_spark") is not None


def test_a_full_or_unwritable_folder_is_refused_and_nothing_changes(spilled, spark, capsys):  # noqa: F811
    from analytics.engines.spark_segments import run_segmentation_spark

    path, root, *_ = spilled
    before = table(path, "SELECT * FROM spark_outputs ORDER BY kind, ref")
    profiles = table(path, "SELECT user_id FROM profiles ORDER BY user_id")
    runs = table(path, "SELECT run_id FROM segment_runs ORDER BY run_id")
    full = root / "profiles_out"
    code = main(["profiles", "--db", str(path), "--engine", "spark", "--out-dir", str(full)])
    assert code == 2 and "is not empty" in capsys.readouterr().err
    blocker = root / "a_file"
    blocker.write_text("x")
    code = main(["segment", "--db", str(path), "--engine", "spark", "--method", "kmeans",
                 "--out-dir", str(blocker / "sub")])
    assert code == 2 and "is a file, not a folder" in capsys.readouterr().err
    code = main(["profiles", "--db", str(path), "--out-dir", str(root / "new")])
    assert code == 2 and "Spark engine only" in capsys.readouterr().err
    with opened(path) as ws, pytest.raises(ConfigError, match="Add --out-dir"):
        # Sampled profiles: a run without a folder could not hold everyone's segment.
        run_segmentation_spark(ws, SegmentSpec(method="kmeans", k=3), spark=spark)
    pd.testing.assert_frame_equal(table(path, "SELECT * FROM spark_outputs ORDER BY kind, ref"),
                                  before)
    pd.testing.assert_frame_equal(table(path, "SELECT user_id FROM profiles ORDER BY user_id"),
                                  profiles)
    pd.testing.assert_frame_equal(table(path, "SELECT run_id FROM segment_runs ORDER BY run_id"), runs)


def test_a_later_duckdb_rebuild_retires_the_profiles_record(shop, spilled):
    path, *_ = spilled
    with opened(path, shop[1]) as ws:
        assert outputs.get(ws, outputs.PROFILES) is not None
        build_profiles(ws)  # every shopper back in the workspace: no longer a sample
        assert outputs.get(ws, outputs.PROFILES) is None
