"""CSV exports never carry a spreadsheet formula."""

from __future__ import annotations

import csv
import io

import pandas as pd

from analytics.export import to_csv_bytes


def test_formula_cells_are_neutralised_and_numbers_kept():
    frame = pd.DataFrame({"name": ["=HYPERLINK(\"x\")", "+1", "-cmd", "@SUM(A1)", "\tx", "\rx",
                                   "plain"], "value": [-1, 2, 3, 4, 5, 6, 7]})
    rows = list(csv.DictReader(io.StringIO(to_csv_bytes(frame).decode(), newline="")))
    assert [r["name"] for r in rows] == ["'=HYPERLINK(\"x\")", "'+1", "'-cmd", "'@SUM(A1)", "'\tx",
                                     "'\rx", "plain"]
    assert [int(r["value"]) for r in rows] == [-1, 2, 3, 4, 5, 6, 7]


def test_formula_looking_column_names_are_neutralised():
    assert to_csv_bytes(pd.DataFrame({"=cmd": [1]})).startswith(b'"\'=cmd"')
