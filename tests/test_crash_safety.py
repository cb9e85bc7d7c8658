"""SIGKILL at random and at chosen points: the workspace opens, holds no partial dataset or run,
keeps every earlier table, and a re-run of the ingest lands the file exactly once.

The demo shop's event file (170k rows, ~2.5 s to load) is loaded by the CLI in a subprocess that
is killed after random delays, as soon as the load transaction starts writing row groups to the
database file, and as soon as the commit reaches the write-ahead log.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from analytics.bundle import DEMO_DIR
from analytics.errors import DuplicateDatasetError
from analytics.ingest import ingest_file
from analytics.schema import TABLE_COLUMNS
from analytics.workspace import Workspace
from tests.conftest import ROOT, table_fingerprint

EVENTS = DEMO_DIR / "events.csv.gz"
Fingerprint = dict[str, tuple[int, int]]
Trigger = Callable[[subprocess.Popen[bytes], Path], None]


@dataclass(frozen=True)
class Reference:
    base: Path  # items and identities loaded, no events
    loaded: Path  # base + one clean CLI ingest of EVENTS
    seconds: float
    events: int


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "analytics", *args]


def _copy(src: Path, folder: Path) -> Path:
    folder.mkdir(parents=True)
    shutil.copyfile(src, folder / "w.duckdb")
    return folder / "w.duckdb"


def _fingerprint(db: Path) -> Fingerprint:
    with Workspace(db) as ws:
        return table_fingerprint(ws)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    folder = tmp_path_factory.mktemp("crash")
    base = folder / "base" / "w.duckdb"
    with Workspace(base, allow=[DEMO_DIR]) as ws:
        ingest_file(ws, DEMO_DIR / "items.csv", kind="items")
        ingest_file(ws, DEMO_DIR / "identities.csv", kind="identities")
    loaded = _copy(base, folder / "loaded")
    start = time.perf_counter()
    done = subprocess.run(_cli("ingest", str(EVENTS), "--db", str(loaded), "--json"),
                          capture_output=True, text=True, cwd=ROOT, timeout=300, check=True)
    seconds = time.perf_counter() - start
    return Reference(base, loaded, seconds, json.loads(done.stdout.splitlines()[-1])["events_total"])


def _after(delay: float) -> Trigger:
    def wait(proc: subprocess.Popen[bytes], db: Path) -> None:
        time.sleep(delay)
    return wait


def _when(condition: Callable[[Path], bool], limit: float = 60.0) -> Trigger:
    """Kill as soon as ``condition(db)`` holds (polled every 2 ms)."""
    def wait(proc: subprocess.Popen[bytes], db: Path) -> None:
        end = time.monotonic() + limit
        while proc.poll() is None and time.monotonic() < end and not condition(db):
            time.sleep(0.002)
    return wait


def _kill(args: list[str], db: Path, trigger: Trigger) -> bool:
    """Run the CLI, SIGKILL it when ``trigger`` returns; True if it was still running."""
    proc = subprocess.Popen(_cli(*args, "--db", str(db)), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trigger(proc, db)
    alive = proc.poll() is None
    proc.kill()  # SIGKILL
    proc.wait(timeout=30)
    return alive and proc.returncode == -9


def _wal(db: Path) -> Path:
    return db.with_name(db.name + ".wal")


def _inconsistencies(ws: Workspace) -> list[str]:
    """Datasets whose rows are not all there, and rows of no dataset."""
    problems = []
    with ws.cursor() as cur:
        for table in TABLE_COLUMNS:
            problems += [f"{table}: dataset {d} has {n} rows, datasets says {want}" for d, n, want in
                         cur.execute(f"SELECT d.dataset_id, count(t.dataset_id), any_value(d.rows_loaded) "  # noqa: S608
                                     f"FROM datasets d LEFT JOIN {table} t USING (dataset_id) "
                                     "WHERE d.kind = ? GROUP BY d.dataset_id "
                                     "HAVING count(t.dataset_id) <> any_value(d.rows_loaded)",
                                     [table]).fetchall()]
        for table in (*TABLE_COLUMNS, "rejects"):
            orphans = cur.execute(f"SELECT count(*) FROM {table} WHERE dataset_id NOT IN "  # noqa: S608
                                  "(SELECT dataset_id FROM datasets)").fetchall()[0][0]
            if orphans:
                problems.append(f"{table}: {orphans} rows of no dataset")
    return problems


def test_killed_ingest_leaves_no_partial_dataset_and_reruns_exactly_once(
        reference: Reference, tmp_path: Path) -> None:
    base = _fingerprint(reference.base)
    size = reference.base.stat().st_size
    rng = random.Random(7)
    span = reference.seconds
    # Four random moments from start-up to the end, then the two narrow windows that matter most.
    triggers = [_after(rng.uniform(lo, lo + span / 4)) for lo in (0.1, span / 4, span / 2, 3 * span / 4)]
    triggers += [_when(lambda db: db.stat().st_size > size),  # optimistic writes inside the load
                 _when(lambda db: _wal(db).exists())]  # the commit reaching the log
    killed, committed = 0, 0
    for i, trigger in enumerate(triggers):
        db = _copy(reference.base, tmp_path / f"kill{i}")
        killed += _kill(["ingest", str(EVENTS)], db, trigger)
        with Workspace(db, allow=[DEMO_DIR]) as ws:  # opens: the log is replayed or discarded
            assert _inconsistencies(ws) == []
            now = table_fingerprint(ws)
            landed = "events" in now
            committed += landed
            untouched = {t for t in base if t not in ("events", "rejects", "datasets")}
            assert {t: now[t] for t in untouched} == {t: base[t] for t in untouched}
            if not landed:
                assert now == base, "a killed load left rows behind"
            try:
                ingest_file(ws, EVENTS)
            except DuplicateDatasetError:
                assert landed
            with ws.cursor() as cur:
                events, files = cur.execute("SELECT (SELECT count(*) FROM events), (SELECT count(*) "
                                            "FROM datasets WHERE name = ?)", [EVENTS.name]).fetchall()[0]
            assert (events, files) == (reference.events, 1)
            assert _inconsistencies(ws) == []
    assert killed >= 5, f"only {killed} of {len(triggers)} kills hit a running ingest"
    print(f"ingest: {killed} kills of a running load, {committed} after its commit")


def test_killed_profiles_and_segment_runs_leave_earlier_results_intact(
        reference: Reference, tmp_path: Path) -> None:
    db = _copy(reference.loaded, tmp_path / "built")
    commands = (["profiles"], ["segment", "--method", "kmeans", "--k", "4"])
    seconds = []
    for args in commands:  # clean runs: the earlier results, and how long each command takes
        start = time.perf_counter()
        subprocess.run(_cli(*args, "--db", str(db)), cwd=ROOT, check=True, capture_output=True)
        seconds.append(time.perf_counter() - start)
    before = _fingerprint(db)
    killed = 0
    plan = [(args, share * took) for args, took in zip(commands, seconds, strict=True)
            for share in (0.4, 0.75)]
    for i, (args, delay) in enumerate(plan):
        copy = _copy(db, tmp_path / f"kill{i}")
        killed += _kill(args, copy, _after(delay))
        with Workspace(copy) as ws:
            now = table_fingerprint(ws)
            runs = _runs_consistent(ws)
        # result_versions is written in the same transaction as profiles and runs: it may move
        # with them (a kill after the commit), and must then agree with them (checked below).
        # stored_results is a cache (a completed run stores its heatmap there, in its transaction).
        kept = {t for t in before
                if not t.startswith(("segment", "profile", "result_versions", "stored_results"))}
        assert {t: now[t] for t in kept} == {t: before[t] for t in kept}
        assert now["profiles"][0] == before["profiles"][0]  # old or rebuilt, never partial
        assert runs in (1, 2)
    assert killed >= 3, f"only {killed} of {len(plan)} kills hit a running command"
    print(f"profiles/segment: {killed} kills of a running command")


def _runs_consistent(ws: Workspace) -> int:
    """Number of segmentation runs; each has exactly the members its segment sizes add up to."""
    with ws.cursor() as cur:
        rows = cur.execute("SELECT r.run_id, r.segments, (SELECT count(*) FROM segment_members m "
                           "WHERE m.run_id = r.run_id) FROM segment_runs r").fetchall()
        orphans = cur.execute("SELECT count(*) FROM segment_members WHERE run_id NOT IN "
                              "(SELECT run_id FROM segment_runs)").fetchall()[0][0]
        versions = {r[0] for r in cur.execute("SELECT result_id FROM result_versions "
                                              "WHERE kind = 'segment_run'").fetchall()}
    assert orphans == 0
    assert versions == {r[0] for r in rows}, "a run without its version record, or the reverse"
    for run_id, segments, members in rows:
        assert sum(s["size"] for s in json.loads(segments)) == members, run_id
    return len(rows)
