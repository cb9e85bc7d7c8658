"""Shared fixtures: a private workspace per test, file writers, the real-data folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from analytics.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared" / "datasets"
COMPLETEJOURNEY = SHARED / "completejourney"

needs_shared = pytest.mark.skipif(
    not COMPLETEJOURNEY.exists(),
    reason=f"real CC0 data not found at {COMPLETEJOURNEY} (it sits beside the clone in CI)")


#: Groups that take longest (minutes each): scheduled first, so no worker starts one at the end.
_LONG_FIRST = ("browser", "spark-test_spark_cluster", "spark-test_spark_ml")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs pytest-xdist workers with ``--dist loadgroup``. The suite waits more
    than it computes (JVM start-ups, servers, browsers: about half the CPU of two cores used
    with two workers), so work is spread in groups that keep what must stay together: the
    browser tests in one group (a demo server and Chromium; two at once starve each other),
    the Spark tests by module (each worker starts one JVM, shared by the Spark modules it runs;
    the many hand-computed parity cases in two halves). The longest groups go first.

    Measured on 2026-12-01: with pytest 9.2 and pytest-xdist 3.8 the groups are not applied
    (xdist renames ``item._nodeid``, which pytest 9.2's node ids no longer read), so tests are
    spread as with ``--dist load``; only the longest-first order takes effect. That is the
    configuration CI has run (22 min). The marks stay for when xdist reads them again."""
    groups: dict[int, str] = {}
    for item in items:
        stem = item.path.stem
        if "e2e" in item.path.parts:
            group = "browser"
        elif item.get_closest_marker("spark") or "spark" in getattr(item, "fixturenames", ()):
            half = f"-{sum(map(ord, item.name)) % 2}" if stem == "test_engines_parity" else ""
            group = f"spark-{stem}{half}"
        else:
            continue
        item.add_marker(pytest.mark.xdist_group(group))
        groups[id(item)] = group
    rank = {g: i for i, g in enumerate(_LONG_FIRST)}
    items.sort(key=lambda it: rank.get(groups.get(id(it), ""), len(rank)))


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh workspace that may read the test's tmp folder and the test data."""
    allow = [tmp_path, DATA] + ([SHARED] if SHARED.exists() else [])
    workspace = Workspace(tmp_path / "ws" / "shopper_lens.duckdb", allow=allow)
    yield workspace
    workspace.close()


@pytest.fixture
def write(tmp_path: Path):  # type: ignore[no-untyped-def]
    """write(name, text_or_bytes) -> Path of a new file in the test's folder."""
    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path
    return _write


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never let a test touch the developer's default workspace."""
    monkeypatch.setenv("SHOPPER_LENS_DB", str(tmp_path / "default" / "shopper_lens.duckdb"))
    for name in list(os.environ):
        if name.startswith("SHOPPER_LENS_") and name != "SHOPPER_LENS_DB":
            monkeypatch.delenv(name)


def accounted(report) -> bool:  # type: ignore[no-untyped-def]
    """Every row read is loaded, rejected with a reason or skipped as an earlier copy."""
    return report.rows_read == report.rows_loaded + report.rows_rejected + report.duplicates_skipped


def table_counts(ws: Workspace) -> dict[str, int]:
    from analytics.schema import DATASET_TABLES
    with ws.cursor() as cur:
        return {t: int(cur.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0])
                for t in (*DATASET_TABLES, "datasets")}


def table_fingerprint(ws: Workspace) -> dict[str, tuple[int, int]]:
    """(row count, order-free checksum of the rows) per non-empty table: equal means unchanged.

    Empty tables are left out, so a result table created lazily (and empty) is no change.
    """
    with ws.cursor() as cur:
        tables = [r[0] for r in cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_type = 'BASE TABLE' ORDER BY table_name").fetchall()]
        out = {}
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            count, checksum = cur.execute(
                f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM {quoted} t").fetchall()[0]
            if count:
                out[table] = (int(count), int(checksum))
        return out


@pytest.fixture(scope="session")
def _demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed demo shop loaded once per test run, with profiles built."""
    from analytics.bundle import DEMO_DIR, load_bundle
    from analytics.profiles import build_profiles
    from analytics.recommend.store import PREVIEW_MODELS, ensure_models

    path = tmp_path_factory.mktemp("demo") / "shopper_lens.duckdb"
    with Workspace(path, allow=[DEMO_DIR]) as workspace:
        load_bundle(workspace, DEMO_DIR)
        build_profiles(workspace)
        ensure_models(workspace, PREVIEW_MODELS)  # as loading the demo does (Shopper 360's lists)
    return path


@pytest.fixture
def demo_ws(_demo_db: Path, tmp_path: Path) -> Iterator[Workspace]:
    """A private copy of the loaded demo workspace (3,000 online shoppers + store-only ones)."""
    path = tmp_path / "demo" / "shopper_lens.duckdb"
    path.parent.mkdir()
    shutil.copyfile(_demo_db, path)
    workspace = Workspace(path, allow=[tmp_path])
    yield workspace
    workspace.close()


def demo_truth() -> pd.DataFrame:
    """Planted answers per demo user: user_id, segment, treatment_effect, offline_loyalty_id."""
    from analytics.bundle import DEMO_DIR
    return pd.read_csv(DEMO_DIR / "truth_users.csv.gz", dtype={"user_id": str})


# a small generated shop (seed 11, 700 online shoppers) loaded and linked once per run, for
# the identity-linking unit tests and the Identities tab's AppTest.
IDENTITY_SHOP_USERS = 700


@pytest.fixture(scope="session")
def identity_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from analytics.sample import generate
    folder = tmp_path_factory.mktemp("idshop")
    generate(folder, users=IDENTITY_SHOP_USERS, seed=11)
    return folder


@pytest.fixture(scope="session")
def identity_linked(identity_shop: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """(workspace path, `link --apply --json` result, review CSV) after one linking run through
    the command line at the default threshold."""
    import contextlib
    import io
    import json

    from analytics.bundle import load_bundle
    from analytics.cli import main
    folder = tmp_path_factory.mktemp("idws")
    path, review = folder / "shopper_lens.duckdb", folder / "review.csv"
    with Workspace(path, allow=[identity_shop]) as workspace:
        load_bundle(workspace, identity_shop)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["link", "--db", str(path), "--apply", "--review-out", str(review), "--json"])
    assert code == 0, out.getvalue()
    return path, json.loads(out.getvalue().strip().splitlines()[-1]), review
