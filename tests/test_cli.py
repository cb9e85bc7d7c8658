"""The CLI: JSON contract, exit codes, no tracebacks on expected errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import DATA

CANONICAL = ("user_id,event_time,event_type,item_id,price\n"
             "u1,2024-01-01 10:00:00,view,i1,3\nu2,2024-01-01 11:00:00,purchase,i1,3\n")


def cli(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "analytics", *args, "--db", str(db)],
                          capture_output=True, text=True, check=False, timeout=120)


def test_ingest_prints_the_json_contract(tmp_path):
    (tmp_path / "ev.csv").write_text(CANONICAL)
    out = cli("ingest", str(tmp_path / "ev.csv"), "--json", db=tmp_path / "w.duckdb")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    file = result["files"][0]
    for key in ("path", "preset", "rows_read", "rows_loaded", "rows_rejected", "duplicates_skipped"):
        assert key in file
    assert (file["rows_loaded"], result["events_total"], result["users_total"]) == (2, 2, 2)


def test_bad_file_exits_2_with_a_message_and_no_traceback(tmp_path):
    out = cli("ingest", str(DATA / "bad" / "binary.csv"), db=tmp_path / "w.duckdb")
    assert out.returncode == 2
    assert "binary.csv" in out.stderr and "Traceback" not in out.stderr + out.stdout


def test_app_refuses_to_start_on_an_invalid_setting_with_its_message(tmp_path, monkeypatch):
    """serve.py reads the settings before the server listens: a typo stops it with the setting's
    message and exit code 2 (passed on by `app`), not a traceback or a server that fails later."""
    monkeypatch.setenv("SHOPPER_LENS_MAP_WARMUP", "yes")
    out = cli("app", "--port", "8599", db=tmp_path / "w.duckdb")
    assert out.returncode == 2, out.stderr
    assert "Invalid setting: SHOPPER_LENS_MAP_WARMUP='yes' is not valid" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_mapping_flags_and_datasets_and_delete(tmp_path):
    (tmp_path / "x.csv").write_text("who,when,what\nu1,2024-01-01 10:00:00,view\n")
    db = tmp_path / "w.duckdb"
    out = cli("ingest", str(tmp_path / "x.csv"), "--map", "user_id=who", "--map", "event_time=when",
              "--map", "event_type=what", "--json", db=db)
    assert out.returncode == 0, out.stderr
    dataset_id = json.loads(out.stdout.splitlines()[-1])["files"][0]["dataset_id"]
    listed = json.loads(cli("datasets", "--json", db=db).stdout.splitlines()[-1])
    assert [d["dataset_id"] for d in listed["datasets"]] == [dataset_id]
    assert cli("delete", dataset_id, db=db).returncode == 0
    assert cli("delete", dataset_id, db=db).returncode == 2
    bad = cli("ingest", str(tmp_path / "x.csv"), "--map", "nonsense", db=db)
    assert bad.returncode == 2 and "FIELD=VALUE" in bad.stderr


def test_profiles_builds_features_and_writes_csv(tmp_path):
    db = tmp_path / "w.duckdb"
    (tmp_path / "ev.csv").write_text(CANONICAL)
    assert cli("ingest", str(tmp_path / "ev.csv"), db=db).returncode == 0
    out = cli("profiles", "--out", str(tmp_path / "p.csv"), "--json", db=db)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["users"] == 2 and "recency_days" in result["features"]
    header = (tmp_path / "p.csv").read_text().splitlines()[0]
    assert header.startswith('"user_id"') and "rfm_segment" in header
    empty = cli("profiles", db=tmp_path / "empty.duckdb")
    assert empty.returncode == 2 and "Traceback" not in empty.stderr


def test_load_sample_fills_an_empty_workspace_once(tmp_path):
    demo = Path(__file__).resolve().parent.parent / "sample_data" / "demo"
    db = tmp_path / "w.duckdb"
    first = cli("load-sample", str(demo), "--if-empty", "--json", db=db)
    assert first.returncode == 0, first.stderr
    loaded = json.loads(first.stdout.splitlines()[-1])
    truth = json.loads((demo / "truth.json").read_text())
    assert loaded["loaded"] and loaded["users_total"] >= truth["users"]
    assert all(f["rows_rejected"] == 0 for f in loaded["files"])
    again = json.loads(cli("load-sample", str(demo), "--if-empty", "--json", db=db).stdout
                       .splitlines()[-1])
    assert again == {"loaded": False, "events_total": loaded["events_total"],
                     "users_total": loaded["users_total"]}


def test_segment_writes_the_csv_and_the_json_contract(tmp_path, _demo_db):
    import shutil

    db = tmp_path / "w.duckdb"
    shutil.copyfile(_demo_db, db)
    out = cli("segment", "--k", "6", "--out", str(tmp_path / "s.csv"), "--json", db=db)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("method", "k", "silhouette", "sizes", "run_id"):
        assert key in result
    assert result["k"] == 6 and sum(result["sizes"].values()) > 3000
    csv = (tmp_path / "s.csv").read_text().splitlines()
    # K-Means gives no membership probability, so the export has no such column
    assert csv[0].startswith('"run_id","user_id","segment_id","segment_name",')
    assert '"probability"' not in csv[0]
    assert len(csv) - 1 == sum(result["sizes"].values())

    rules = cli("segment", "--method", "rules", "--rules", "high_intent", "--json", db=db)
    assert json.loads(rules.stdout.strip().splitlines()[-1])["method"] == "rules"
    (tmp_path / "bad.json").write_text('{"segments": [')
    bad = cli("segment", "--method", "rules", "--rules", str(tmp_path / "bad.json"), db=db)
    assert bad.returncode == 2 and "not valid JSON" in bad.stderr and "Traceback" not in bad.stderr


def test_segment_auto_k_range_says_why_and_whether_there_is_structure(tmp_path, _demo_db):
    import shutil

    db = tmp_path / "w.duckdb"
    shutil.copyfile(_demo_db, db)
    out = cli("segment", "--k", "auto:4-7", "--json", db=db)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert 4 <= result["k"] <= 7 and [r["k"] for r in result["sweep"]["rows"]] == [4, 5, 6, 7]
    assert result["structure"] == "clear" and f"k = {result['k']}" in result["k_reason"]
    assert all({"silhouette", "stability", "min_share", "max_share", "rejected"} <= set(r)
               for r in result["sweep"]["rows"])
    bad = cli("segment", "--k", "auto:9-3", db=db)
    assert bad.returncode == 2 and "k range" in bad.stderr and "Traceback" not in bad.stderr
    pca = json.loads(cli("segment", "--k", "4", "--pca", "3", "--json", db=db).stdout.splitlines()[-1])
    assert pca["k"] == 4 and sum(pca["sizes"].values()) > 3000
    too_many = cli("segment", "--k", "4", "--pca", "999", db=db)
    assert too_many.returncode == 2 and "PCA cannot keep 999 components" in too_many.stderr


def test_link_refuses_the_result_folder_flags_instead_of_ignoring_them(tmp_path, capsys):
    """Link writes no result folder, so --out-dir and --overwrite (shared with the Spark
    commands' flags) are refused with exit 2 before the workspace is opened; so is --out, which
    argparse would otherwise expand to --out-dir."""
    from analytics.cli import build_parser, main

    db = tmp_path / "w.duckdb"
    for extra, named in ((["--out-dir", str(tmp_path / "out")], "--out-dir would"),
                         (["--overwrite"], "--overwrite would"),
                         (["--out", str(tmp_path / "out")], "--out-dir would")):
        assert main(["link", "--db", str(db), *extra]) == 2
        err = capsys.readouterr().err
        assert "`link` writes no result folder" in err and named in err and "--review-out" in err
    assert not db.exists() and not (tmp_path / "out").exists()
    link = build_parser()._subparsers._group_actions[0].choices["link"]  # type: ignore[union-attr]
    assert "--out-dir" not in link.format_help() and "--engine" in link.format_help()
