"""Exports and rendering of user data: no CSV cell runs as a spreadsheet formula, and user text
shown as Markdown stays literal text."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest

from analytics.export import to_csv_bytes
from analytics.workspace import Workspace

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
EVIL = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
        "\tTAB", "\rCR"]


def unsafe_cells(data: bytes) -> list[str]:
    """Text cells a spreadsheet would evaluate (numbers such as -3.5 are fine)."""
    bad = []
    for row in csv.reader(io.StringIO(data.decode("utf-8"), newline="")):
        for cell in row:
            if cell.startswith(DANGEROUS):
                try:
                    float(cell)
                except ValueError:
                    bad.append(cell)
    return bad


def test_to_csv_bytes_neutralises_every_formula_start_and_keeps_numbers():
    frame = pd.DataFrame({"=cmd": EVIL, "n": [-1.5, 2, -3, 4, 5, 6],
                          "s": pd.Series(EVIL, dtype="string"), "ok": ["a", "b", "c", "d", "e", "f"]})
    data = to_csv_bytes(frame)
    assert unsafe_cells(data) == []
    back = pd.read_csv(io.BytesIO(data), keep_default_na=False)
    assert list(back["n"]) == [-1.5, 2, -3, 4, 5, 6] and len(back) == 6  # CR kept inside its cell
    assert list(back["'=cmd"]) == ["'" + e for e in EVIL]


@pytest.fixture
def evil_shop(ws: Workspace, write) -> Workspace:
    """A shop whose ids, items and categories all start like formulas."""
    from analytics.ingest import ingest_file
    from analytics.profiles import build_profiles

    rng = np.random.default_rng(3)
    rows = []
    for i in range(600):
        user = EVIL[i % len(EVIL)] + str(i % 30)
        item = EVIL[(i // 7) % len(EVIL)] + f"item{i % 12}"
        kind = "purchase" if rng.random() < 0.3 else "view"
        rows.append([user, f"2024-04-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00", kind, item,
                     EVIL[i % 4], f"{5 + i % 9}", EVIL[i % 3]])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["user_id", "event_time", "event_type", "item_id", "category", "price", "channel"])
    writer.writerows(rows + [["=bad", "not a date", "view", "x", "y", "1", "z"]])
    ingest_file(ws, write("evil.csv", buffer.getvalue()))
    build_profiles(ws)
    return ws


def test_every_export_of_the_app_and_cli_is_formula_safe(evil_shop: Workspace):
    from analytics.journeys import funnel, paths
    from analytics.overview import datasets
    from analytics.profiles import load_profiles
    from analytics.quality import all_rejects
    from analytics.recommend import recommendations_table, train
    from analytics.segments import SegmentSpec, export_frame, run_segmentation

    ws = evil_shop
    run = run_segmentation(ws, SegmentSpec(method="rules", rules=json.dumps(
        {"segments": [{"name": "=evil()", "when": {"feature": "events", "op": ">", "value": 15}}],
         "otherwise": "@rest"})))
    dataset = str(datasets(ws)["dataset_id"].iloc[0])
    exports = {
        "profiles": load_profiles(ws),
        "segments": export_frame(ws, run.run_id, ["events", "frequency"]),
        "recommendations": recommendations_table(train(ws, ["popularity"]), "popularity", k=3),
        "funnel": funnel(ws, steps=["view", "purchase"], by="channel").table(),
        "paths": paths(ws, detail="category").table("purchase"),
        "rejects": all_rejects(ws, dataset),
    }
    for name, frame in exports.items():
        text = frame.astype(str).to_string()
        # The export does hold evil text (paths and rejects embed it inside longer text).
        assert name in ("paths", "rejects") or any(e.strip()[:4] in text for e in EVIL), name
        assert unsafe_cells(to_csv_bytes(frame)) == [], name


def test_the_targeting_list_is_formula_safe(ws: Workspace):
    from analytics.experiments import analyse, prepare
    from analytics.experiments.targeting import targeting_list

    rng = np.random.default_rng(0)
    n = 800
    treated = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    frame = pd.DataFrame({"customer": [EVIL[i % len(EVIL)] + str(i) for i in range(n)],
                          "arm": np.where(treated == 1, "mail", "none"), "x": x,
                          "bought": (rng.random(n) < 0.2 + 0.15 * treated * (x > 0)).astype(int)})
    report = analyse(prepare(frame, "arm", "bought", "mail", "none", id_column="customer"))
    assert report.uplift is not None
    targets = targeting_list(report.uplift, 0.5)
    assert targets["user_id"].astype(str).str.startswith(tuple(DANGEROUS)).any()
    assert unsafe_cells(to_csv_bytes(targets)) == []


def test_cli_out_files_are_formula_safe(evil_shop: Workspace, tmp_path):
    from analytics.cli import main

    path = evil_shop.path
    evil_shop.close()
    outs = {}
    for command, extra in (("profiles", []), ("recommend", ["--model", "popularity", "--k", "3"]),
                           ("journeys", ["--by", "channel"]),
                           ("segment", ["--method", "rules", "--rules", "rfm"])):
        out = tmp_path / f"{command}.csv"
        assert main([command, "--db", str(path), "--out", str(out), *extra]) == 0, command
        outs[command] = out.read_bytes()
    for command, data in outs.items():
        assert unsafe_cells(data) == [], command


@pytest.mark.parametrize("text", [
    "[click](javascript:alert(1))", "![x](http://evil.example/t.png)", "<img src=x onerror=alert(1)>",
    "**bold** _it_ `code` ~~s~~", ":red[alarm] :material/warning:", "$x^2$", "# heading\n- item",
    "a|b|c", "https://evil.example/login", "- item", "+ item", "1. first",
])
def test_escape_markdown_leaves_only_literal_text(text: str):
    from pages._shared import escape_markdown

    escaped = escape_markdown(text)
    unescaped = escaped.replace("\\", "")
    assert unescaped == " ".join(text.split())  # nothing is lost, line breaks become spaces
    assert "\n" not in escaped
    for i, ch in enumerate(escaped):  # every Markdown/HTML metacharacter is backslash-escaped
        if ch in "[]()<>*_`~:$":
            assert escaped[i - 1] == "\\", (text, escaped)
    assert not escaped.startswith(("#", "-", "+"))  # no heading or list either
