"""The bad-input corpus (tests/data/bad, listed in its README): every file through the CLI and
through the page logic (the Data page's save_upload → inspect → preview → load; the Experiments
page's results file; the Segments page's rule file).

Each file is either refused with a specific message (what, where, what to do), CLI exit 2, no
traceback and every table unchanged (row counts and checksums), or loaded with every row
accounted for (read = loaded + rejected + duplicates skipped) and its rejects stored.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from analytics.errors import ShopperLensError
from analytics.ingest import LoadOptions, ingest_file, inspect_file, preview_file
from analytics.workspace import Workspace
from tests.conftest import DATA, ROOT, table_fingerprint

BAD = DATA / "bad"
KINDS = ("items", "users", "identities", "experiments")
UPLIFT_ARGS = ("--treatment", "offer", "--outcome", "converted")


@dataclass(frozen=True)
class Case:
    """Expected outcome: ``words`` of the refusal message, or the rows loaded and rejected."""

    words: str = ""
    loaded: int | None = None
    rejected: int = 0
    cli_hint: str | None = None  # when the CLI's hint differs from the page's
    warning: str | None = None  # the plausibility warning code the load must report
    allow_unknown: bool = False  # confirm unknown event types (--allow-unknown-types)

    @property
    def refused(self) -> bool:
        return self.loaded is None


CASES: dict[str, Case] = {
    # events: containers, compression and encodings
    "empty.csv": Case("empty (0 bytes)"),
    "bom_only.csv": Case("no content"),
    "binary.csv": Case("binary data"),
    "nul_in_field.csv": Case("binary data"),
    "zipped.csv.zip": Case("binary data"),
    "corrupt.csv.gz": Case("gzip data is corrupt"),
    "truncated.csv.gz": Case("gzip data is corrupt or truncated"),
    "truncated.parquet": Case("parquet file could not be read"),
    "not_utf8.csv": Case(loaded=1),
    "utf16_bom.tsv": Case(loaded=2),
    "utf16le_no_bom.csv": Case(loaded=2),
    "utf16le_odd_length.csv": Case("not consistently utf-16-le"),
    # events: delimiters, quoting, line structure
    "wrong_delimiter.csv": Case("delimiter could not be recognised"),
    "mixed_delimiter.csv": Case(loaded=2, rejected=1),
    "semicolon_decimal_comma.csv": Case(loaded=2),
    "ragged_truncated.csv": Case(loaded=2, rejected=3),
    "all_rows_ragged.csv": Case("none of its 3 rows could be read (line 2: too few fields"),
    "unclosed_quote.csv": Case("quote (\") is opened and never closed"),
    "mixed_line_endings.csv": Case("line endings change"),
    "header_only.csv": Case("no data rows"),
    "huge_field.csv": Case(loaded=2),
    "huge_column_name.csv": Case(loaded=1),
    # events: headers
    "required_missing.csv": Case("required field(s) user_id, event_time"),
    "duplicate_headers.csv": Case("'price' and 'price' have the same name"),
    "case_collision.csv": Case("differ only by upper/lower case"),
    "header_spaces_collide.csv": Case("surrounding spaces"),
    "empty_header_names.csv": Case("two columns have no name"),
    # events: values
    "mixed_types.csv": Case(loaded=2, rejected=1),
    "bad_timestamps.csv": Case(loaded=2, rejected=2),
    "all_timestamps_unparseable.csv": Case("not dates or times in any format"),
    "impossible_dates.csv": Case(loaded=4, rejected=3),
    "epoch_out_of_range.csv": Case(loaded=4, rejected=2),
    "negative_quantities.csv": Case(loaded=4),
    "huge_numbers.csv": Case(loaded=2, rejected=3),
    "formula_cells.csv": Case(loaded=4),
    "sql_values.csv": Case(loaded=3, allow_unknown=True, warning="unknown_event_types"),
    "sql_column_names.csv": Case(loaded=1),
    # markup / SQL as event types are unknown types: loaded only when confirmed
    "html_values_and_columns.csv": Case(loaded=2, allow_unknown=True, warning="unknown_event_types"),
    # issue 11's silent failures, now loaded right or loudly warned/refused
    "no_header.tsv": Case(loaded=4),
    "micro_unit_prices.csv": Case(loaded=6, warning="micro_unit_prices"),
    "epoch_1970.csv": Case(loaded=5, warning="timestamp_implausible"),
    "analytics_action_codes.csv": Case(loaded=9),
    "unknown_order_statuses.csv": Case("3 of 7 rows (42.9%) have event types that are not canonical"),
    "identical_lines.csv": Case(loaded=6),
    # events: JSON and NDJSON
    "not_records.json": Case("neither an array of records nor one record per line"),
    "scalar_array.json": Case("not records"),
    "truncated_array.json": Case("json could not be read"),
    "deep_nesting.json": Case("recursion depth"),
    "duplicate_keys.json": Case("duplicate key"),
    "mixed_types.json": Case(loaded=1, rejected=4),
    "broken_lines.ndjson": Case(loaded=2, rejected=2),
    "non_record_line.ndjson": Case("line 2 is json but not a record"),
    # other kinds
    "items_missing_ids.csv": Case(loaded=1, rejected=3),
    "items_markup_and_sql.csv": Case(loaded=1),
    "users_case_colliding_headers.csv": Case("'email' and 'email' differ only by upper/lower case"),
    "users_odd_values.csv": Case(loaded=2, rejected=1),
    "identities_loops.csv": Case(loaded=3, rejected=2),
    "identities_one_column.csv": Case("required field(s) user_id for identities"),
    "experiments_bad_rows.csv": Case(loaded=2, rejected=3),
    "experiments_no_variant.csv": Case("required field(s) variant for experiments"),
    # uplift results files (uplift --file)
    "uplift_empty.csv": Case("has 0 rows"),
    "uplift_garbage.csv": Case("could not read the results file"),
    "uplift_truncated.csv.gz": Case("could not read the results file"),
    "uplift_missing_column.csv": Case("column 'offer' is not in the data"),
    "uplift_one_arm.csv": Case("has only one value"),
    "uplift_text_outcome.csv": Case("is not numeric"),
    # rule JSON (segment --method rules --rules FILE)
    "rules_truncated.json": Case("not valid json at line 1, column"),
    "rules_not_object.json": Case("one json object"),
    "rules_deep_nesting.json": Case("nested more than 12 levels"),
    "rules_very_deep.json": Case("not valid json"),
    "rules_sql_feature.json": Case('unknown feature "events_7d; drop table profiles; --"'),
    "rules_wrong_types.json": Case("segments[0].when"),
    "rules_utf16.json": Case("rule file", cli_hint="Pass a UTF-8 JSON file."),
    "rules_markup_names.json": Case(loaded=2),  # a valid run: names are stored verbatim
    # a relational export (a folder of related files, `ingest FILE FILE FILE`)
    "relational_missing_key": Case("customers.csv looks like the customers file but has no "
                                   "customer_unique_id column"),
}

# Known bugs, reported rather than fixed where they were found: none at the moment.
KNOWN_BUGS: dict[str, str] = {}


def _params() -> list[Any]:
    return [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[name]))
            if name in KNOWN_BUGS else name for name in sorted(CASES)]


def _kind(name: str) -> str | None:
    return next((k for k in KINDS if name.startswith(k)), None)


def _family(name: str) -> str:
    if name.startswith(("uplift_", "rules_", "relational_")):
        return name.split("_")[0]
    return _kind(name) or "events"


def _cli_args(name: str) -> list[str]:
    path = str(BAD / name)
    if name.startswith("rules_"):
        return ["segment", "--method", "rules", "--rules", path]
    if name.startswith("uplift_"):
        return ["uplift", "--file", path, *UPLIFT_ARGS]
    if name.startswith("relational_"):
        return ["ingest", *sorted(str(p) for p in (BAD / name).iterdir())]
    kind = _kind(name)
    confirm = ["--allow-unknown-types"] if CASES[name].allow_unknown else []
    return ["ingest", path, *(["--kind", kind] if kind else []), *confirm]


@pytest.fixture(scope="module")
def base_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small shop (every table filled, profiles and one segment run) to keep unchanged."""
    from analytics.bundle import load_bundle
    from analytics.profiles import build_profiles
    from analytics.sample import generate
    from analytics.segments import PRESETS, SegmentSpec, run_segmentation

    folder = tmp_path_factory.mktemp("bad-base")
    generate(folder / "bundle", users=60, seed=3)
    path = folder / "base.duckdb"
    with Workspace(path, allow=[folder]) as ws:
        load_bundle(ws, folder / "bundle")
        build_profiles(ws)
        run_segmentation(ws, SegmentSpec(method="rules", rules=dict(PRESETS["high_intent"])))
    return path


def _copy(base: Path, folder: Path) -> Path:
    folder.mkdir()
    shutil.copyfile(base, folder / "w.duckdb")
    return folder / "w.duckdb"


def _fingerprint(db: Path) -> dict[str, tuple[int, int]]:
    with Workspace(db) as ws:
        return table_fingerprint(ws)


@dataclass(frozen=True)
class CliRun:
    db: Path
    done: subprocess.CompletedProcess[str]
    after: dict[str, tuple[int, int]]


class CliRuns:
    """Each corpus file through the CLI, on its own copy of the base workspace, run when a test
    first asks for it. Under pytest-xdist every worker builds its own module fixtures: running
    the whole corpus up front ran all 75 files on each of the three workers (~100 s of setup
    each), where a worker needs only the cases it was given."""

    def __init__(self, base: Path, folder: Path) -> None:
        self.base, self.folder = base, folder
        self.done: dict[str, CliRun] = {}

    def __getitem__(self, name: str) -> CliRun:
        if name not in self.done:
            db = _copy(self.base, self.folder / f"case{sorted(CASES).index(name)}")
            command = [sys.executable, "-m", "analytics", *_cli_args(name), "--db", str(db), "--json"]
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=180,
                                  check=False)
            self.done[name] = CliRun(db, done, _fingerprint(db))
        return self.done[name]


@pytest.fixture(scope="module")
def cli_runs(base_db: Path, tmp_path_factory: pytest.TempPathFactory) -> CliRuns:
    return CliRuns(base_db, tmp_path_factory.mktemp("bad-cli"))


def _page(ws: Workspace, name: str) -> Any:
    """What the page that takes this kind of file does with an upload of it."""
    if name.startswith("relational_"):  # the Data page with every file of the folder dropped
        from analytics.ingest.relational import load_relational, recognise
        files = sorted((BAD / name).iterdir())
        saved = [ws.save_upload(f.name, f.read_bytes()) for f in files]
        recognition = recognise(ws, saved, [f.name for f in files])
        assert recognition is not None, "the set should be recognised, then refused"
        return load_relational(ws, recognition)
    data = (BAD / name).read_bytes()
    if name.startswith("rules_"):
        from analytics.segments import SegmentSpec, run_segmentation
        text = data.decode("utf-8", "replace")  # as the Segments page reads an uploaded rule file
        return run_segmentation(ws, SegmentSpec(method="rules", rules=text))
    path = ws.save_upload(name, data)
    if name.startswith("uplift_"):
        from analytics.experiments import prepare, read_results
        return prepare(read_results(ws, path), *UPLIFT_ARGS[1::2])
    inspection = inspect_file(ws, path, name=name)
    kind = _kind(name) or inspection.kind
    options = LoadOptions(name=name, kind=kind, preset="auto" if kind == inspection.kind else "none",
                          allow_unknown_types=CASES[name].allow_unknown)
    before = table_fingerprint(ws)
    preview_file(ws, path, options)
    assert table_fingerprint(ws) == before, "the preview changed the workspace"
    return ingest_file(ws, path, options)


def test_the_corpus_is_complete_and_documented() -> None:
    files = {p.name for p in BAD.iterdir()} - {"README.md"}
    assert files == set(CASES)
    assert len(files) >= 40
    readme = (BAD / "README.md").read_text(encoding="utf-8")
    assert [n for n in sorted(files) if f"`{n}`" not in readme] == []
    assert max((BAD / n).stat().st_size for n in files) < 200_000
    assert {_family(n) for n in files} == {"events", "items", "users", "identities", "experiments",
                                            "uplift", "rules", "relational"}


@pytest.mark.parametrize("name", _params())
def test_bad_input(name: str, base_db: Path, cli_runs: CliRuns, tmp_path: Path) -> None:
    case = CASES[name]
    before = _fingerprint(base_db)
    cli_db, done, after = cli_runs[name].db, cli_runs[name].done, cli_runs[name].after
    assert "Traceback" not in done.stderr + done.stdout, done.stderr

    with Workspace(_copy(base_db, tmp_path / "page"), allow=[BAD]) as ws:
        if case.refused:
            with pytest.raises(ShopperLensError) as caught:
                _page(ws, name)
            assert table_fingerprint(ws) == before
            _check_refusal(name, case, caught.value, done, before, after)
            return
        result = _page(ws, name)
        page_after = table_fingerprint(ws)
    _check_loaded(name, case, result, done, before, after, page_after, cli_db)


def _check_refusal(name: str, case: Case, error: ShopperLensError, done: subprocess.CompletedProcess[str],
                   before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> None:
    assert case.words.lower() in error.message.lower(), error.message
    assert error.hint, f"{name}: no hint on what to do"
    if not name.startswith(("rules_", "uplift_", "relational_")):  # a set names its files
        assert name in error.message  # where: the file (rules and results name a line or column)
    assert done.returncode == 2, done.stderr
    assert case.words.lower() in done.stderr.lower(), done.stderr
    assert (case.cli_hint or error.hint) in done.stderr
    assert after == before, "the CLI changed the workspace although it refused the file"


def _check_loaded(name: str, case: Case, result: Any, done: subprocess.CompletedProcess[str],
                  before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]],
                  page_after: dict[str, tuple[int, int]], cli_db: Path) -> None:
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if name.startswith("rules_"):
        assert sorted(out["sizes"]) == sorted(s.name for s in result.segments)
        assert len(result.segments) == case.loaded
        changed = {t for t in set(before) | set(after) if before.get(t) != after.get(t)}
        # a segmentation writes its run, its members, the data version it was built from and
        # its stored heatmap
        assert changed and all(t.startswith("segment") or t in ("result_versions", "stored_results")
                               for t in changed), changed
        return
    report = out["files"][0]
    counts = (report["rows_read"], report["rows_loaded"], report["rows_rejected"],
              report["duplicates_skipped"])
    assert counts[0] == sum(counts[1:]), report
    assert (counts[1], counts[2]) == (case.loaded, case.rejected), report
    assert (result.rows_read, result.rows_loaded, result.rows_rejected,
            result.duplicates_skipped) == counts, "the page and the CLI loaded differently"
    table = report["kind"]
    for state in (after, page_after):
        changed = {t for t in set(before) | set(state) if before.get(t) != state.get(t)}
        assert changed <= {table, "rejects", "datasets"}, changed
    with Workspace(cli_db) as ws, ws.cursor() as cur:
        stored = cur.execute(
            f"SELECT (SELECT count(*) FROM {table} WHERE dataset_id = $d), "  # noqa: S608
            "(SELECT count(*) FROM rejects WHERE dataset_id = $d), "
            "(SELECT rows_read FROM datasets WHERE dataset_id = $d)",
            {"d": report["dataset_id"]}).fetchall()[0]
    assert stored == (counts[1], counts[2], counts[0])
    assert after.get(table, (0, 0))[0] == before.get(table, (0, 0))[0] + counts[1]
    codes = [w["code"] for w in report["warnings"]]
    assert codes == [w["code"] for w in result.warnings], "the page and the CLI warned differently"
    if case.warning:
        assert case.warning in codes, report["warnings"]
