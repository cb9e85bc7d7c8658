"""A real multi-process Spark cluster: a standalone master and two workers on 127.0.0.1.

The master and workers are separate JVMs started with the ``spark-class`` launcher shipped in
the pyspark package; ``shopper-lens profiles --engine spark --master spark://…`` runs in its
own process (its driver is a third JVM) and must store exactly DuckDB's profiles. The JVMs are
stopped by pid in the fixture's teardown, whatever happens.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from analytics.bundle import load_bundle
from analytics.engines.spark_segments import run_segmentation_spark
from analytics.profiles import build_profiles, load_profiles
from analytics.sample import generate
from analytics.segments import SegmentSpec, get_run, members
from analytics.workspace import Workspace
from tests.spark_support import TEST_CONF, assert_same_profiles, needs_spark, spark  # noqa: F401

pytestmark = [pytest.mark.spark, needs_spark]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as r:  # noqa: S310
            return int(json.load(r).get("aliveworkers", 0))
    except OSError:
        return 0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    """spark://127.0.0.1:PORT with two registered one-core workers."""
    home = spark_home()
    env = os.environ | {"SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1",
                        "SPARK_LOG_DIR": str(tmp_path / "logs")}
    port, ui = free_port(), free_port()
    launcher = [str(home / "bin" / "spark-class")]
    processes: list[subprocess.Popen[bytes]] = []

    def start(*args: str, log: str) -> None:
        out = (tmp_path / log).open("wb")
        processes.append(subprocess.Popen([*launcher, *args], env=env, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True))

    try:
        start("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
              "--webui-port", str(ui), log="master.log")
        for i in range(2):
            start("org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}",
                  "--host", "127.0.0.1", "--cores", "1", "--memory", "1g",
                  "--webui-port", str(free_port()), "--work-dir", str(tmp_path / f"work{i}"),
                  log=f"worker{i}.log")
        deadline = time.monotonic() + 120
        while _alive_workers(ui) < 2:
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                logs = {f.name: f.read_text(errors="replace")[-800:] for f in tmp_path.glob("*.log")}
                pytest.fail(f"the standalone cluster did not come up: {logs}")
            time.sleep(1)
        yield f"spark://127.0.0.1:{port}"
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.timeout(900)  # three JVMs start; minutes on a busy 2-core machine
def test_profiles_and_kmeans_through_a_standalone_cluster_equal_local_runs(cluster, tmp_path,
                                                                          spark):  # noqa: F811
    shop = generate(tmp_path / "shop", users=300, seed=5).out_dir  # small: JVM overhead dominates
    db = tmp_path / "ws" / "shopper_lens.duckdb"
    with Workspace(db, allow=[shop]) as ws:
        load_bundle(ws, shop)
        build_profiles(ws)
        duck = load_profiles(ws)
    out = tmp_path / "profiles.csv"
    # The drivers read spark-defaults.conf as any Spark job does: two shuffle partitions for a
    # 300-shopper shop, as the local test session uses (Spark's default of 200 made every
    # shuffle 200 tasks on two one-core workers).
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "spark-defaults.conf").write_text("".join(f"{k} {v}\n" for k, v in TEST_CONF.items()))
    env = os.environ | {"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_CONF_DIR": str(conf)}
    run = subprocess.run([sys.executable, "-m", "analytics", "profiles", "--engine", "spark",
                          "--master", cluster, "--db", str(db), "--out", str(out), "--json"],
                         capture_output=True, text=True, timeout=600, check=False, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["users"] == len(duck)
    with Workspace(db) as ws:
        assert_same_profiles(duck, load_profiles(ws))
    assert len(pd.read_csv(out)) == len(duck)
    # K-Means on the cluster (the same one JVM set: a second cluster start costs ~90 s) gives
    # the local session's segments.
    run = subprocess.run([sys.executable, "-m", "analytics", "segment", "--engine", "spark",
                          "--master", cluster, "--method", "kmeans", "--k", "4", "--db", str(db),
                          "--json"], capture_output=True, text=True, timeout=600, check=False,
                         env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    on_cluster = json.loads(run.stdout.strip().splitlines()[-1])
    with Workspace(db) as ws:
        stored = get_run(ws, on_cluster["run_id"])
        assert stored.quality["engine"]["master"] == cluster
        local = run_segmentation_spark(ws, SegmentSpec(method="kmeans", k=4), spark=spark)
        a = members(ws, stored.run_id).set_index("user_id")["segment_id"].sort_index()
        b = members(ws, local.run_id).set_index("user_id")["segment_id"].sort_index()
    assert len(a) == len(duck) and adjusted_rand_score(a, b) == pytest.approx(1.0)
