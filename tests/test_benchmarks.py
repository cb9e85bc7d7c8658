"""The benchmarks' ``--json`` contract: the last stdout line is one JSON object of the run's
figures (benchmarks/_report.py). Only the cheapest benchmark is run here, at a tiny size;
times are never asserted (targets live in the benchmarks themselves)."""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def report(monkeypatch):
    """benchmarks/_report.py, imported the way the scripts import it (their folder on the path)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import _report

    return _report


def test_journeys_prints_its_figures_as_json_on_the_last_line():
    out = subprocess.run([sys.executable, str(BENCHMARKS / "journeys.py"), "--events", "400",
                          "--repeat", "1", "--json"], capture_output=True, text=True, check=False,
                         timeout=120, cwd=BENCHMARKS.parent,
                         env={**os.environ, "PYTHONPATH": str(BENCHMARKS.parent)})
    assert out.returncode == 0, out.stderr
    *human, last = out.stdout.strip().splitlines()
    summary = json.loads(last)
    assert summary["events"] == 400
    steps = ("funnel_session", "funnel_user_device", "paths", "sankey")
    assert set(summary) == {"events", "floor_s", *(f"{s}_s" for s in steps), *(f"{s}_x" for s in steps)}
    for step in steps:  # each ratio is its time over the floor of the same run (both rounded)
        assert summary[f"{step}_x"] == pytest.approx(summary[f"{step}_s"] / summary["floor_s"], rel=0.05)
    assert len(human) == 5 and human[0].startswith("400 events") and "x floor" in human[-1]


def test_emit_prints_only_with_the_flag_and_writes_strict_json(report, capsys):
    parser = argparse.ArgumentParser()
    report.add_json_flag(parser)
    report.emit({"a_s": 1.5}, parser.parse_args([]))
    assert capsys.readouterr().out == ""
    report.emit({"ratio": float("inf"), "n": np.int64(7), "runs": [{"x": np.float32("nan")}],
                 "path": Path("/tmp/x")}, parser.parse_args(["--json"]))
    line = capsys.readouterr().out
    assert line.count("\n") == 1
    # strict JSON: no NaN/Infinity tokens; a ratio with no number is null
    assert json.loads(line, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}")) == {
        "ratio": None, "n": 7, "runs": [{"x": None}], "path": "/tmp/x"}


def test_finite_keeps_numbers_and_nests(report):
    assert report.finite({"a": [1.0, -math.inf, (2, math.nan)], "b": "x"}) == {
        "a": [1.0, None, [2, None]], "b": "x"}
