"""The ``shopper-lens`` command: everything the dashboard does, headless.

Every command takes ``--db`` and ``--json`` (one JSON object as the last line of stdout).
Expected errors print one paragraph on stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from analytics import settings
from analytics.errors import ShopperLensError
from analytics.workspace import Workspace, default_path

Handler = Callable[[argparse.Namespace], dict[str, Any]]
_COMMANDS: dict[str, Handler] = {}


def command(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _COMMANDS[name] = fn
        return fn
    return register


def _open(args: argparse.Namespace, allow: Iterable[Path] = ()) -> Workspace:
    return Workspace(Path(args.db) if args.db else default_path(), allow=allow)


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    out = {}
    for value in values or []:
        if "=" not in value:
            raise ShopperLensError(f"{flag} {value!r} is not of the form FIELD=VALUE.",
                                   hint=f"For example {flag} user_id=CustomerID.",
                                   title="Invalid argument")
        key, _, val = value.partition("=")
        out[key.strip()] = val.strip()
    return out


@command("ingest")
def _ingest(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.ingest import ingest_file

    paths = [Path(p).resolve() for p in args.files]
    files, failures = [], []
    with _open(args, allow={p.parent for p in paths}) as ws:
        for path in paths:
            try:
                report = ingest_file(
                    ws, path, kind=args.kind, preset=args.preset, mapping=_pairs(args.map, "--map"),
                    source=args.source, timezone=args.timezone, pii_mode=args.pii,
                    day_first=args.date_order == "dmy", delimiter=args.delimiter,
                    constants=_pairs(args.set, "--set"))
            except ShopperLensError as e:
                failures.append(e)
                files.append({"path": str(path), "error": str(e)})
                continue
            files.append(report.as_json())
            _say(args, f"{report.name}: {report.rows_read:,} read, {report.rows_loaded:,} loaded, "
                       f"{report.rows_rejected:,} rejected, {report.duplicates_skipped:,} duplicates "
                       f"skipped ({report.kind}, {report.preset or 'mapped'}).")
        totals = _totals(ws)
    result = {"files": files, **totals}
    if failures:
        raise _Partial(result, failures)
    return result


def _totals(ws: Workspace) -> dict[str, int]:
    with ws.cursor() as cur:
        events, users = cur.execute(
            "SELECT count(*), count(DISTINCT user_id) FROM events").fetchall()[0]
    return {"events_total": int(events), "users_total": int(users)}


@command("load-sample")
def _load_sample(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.bundle import is_empty, load_bundle

    folder = Path(args.folder).resolve()
    with _open(args, allow=[folder]) as ws:
        if args.if_empty and not is_empty(ws):
            _say(args, f"Workspace {ws.path} already has data; sample not loaded.")
            return {"loaded": False, **_totals(ws)}
        reports = load_bundle(ws, folder)
        _say(args, f"Loaded the sample shop from {folder} into {ws.path}.")
        return {"loaded": True, "files": [r.as_json() for r in reports], **_totals(ws)}


@command("profiles")
def _profiles(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.export import to_csv_bytes
    from analytics.profiles import build_profiles, load_profiles

    with _open(args) as ws:
        summary = build_profiles(ws)
        if args.out:
            Path(args.out).write_bytes(to_csv_bytes(load_profiles(ws)))
    _say(args, f"Built {len(summary.features)} features for {summary.users:,} shoppers "
               f"as of {summary.as_of:%Y-%m-%d %H:%M}" + (f"; wrote {args.out}." if args.out else "."))
    return {"users": summary.users, "features": summary.features, "as_of": summary.as_of}


@command("sample")
def _sample(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.sample import generate

    summary = generate(Path(args.out), users=args.users, seed=args.seed)
    _say(args, f"Wrote {summary.events:,} events for {summary.users:,} users to {args.out}.")
    return {"events": summary.events, "users": summary.users, "out": str(summary.out_dir)}


@command("datasets")
def _datasets(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.overview import datasets

    with _open(args) as ws:
        rows = datasets(ws).to_dict(orient="records")
    for row in rows:
        _say(args, f"{row['dataset_id']}  {row['kind']:<11} {row['rows_loaded']:>10,}  {row['name']}")
    return {"datasets": json.loads(json.dumps(rows, default=str))}


@command("delete")
def _delete(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.ingest import delete_dataset

    with _open(args) as ws:
        name = delete_dataset(ws, args.dataset_id)
    _say(args, f"Deleted dataset {args.dataset_id} ({name}) and all its rows.")
    return {"deleted": args.dataset_id, "name": name}


@command("settings")
def _settings(args: argparse.Namespace) -> dict[str, Any]:
    if args.markdown:
        print(settings.markdown_table())
    return {s.name: {"default": s.default, "value": os.environ.get(s.name, s.default)}
            for s in settings.SETTINGS}


@command("app")
def _app(args: argparse.Namespace) -> dict[str, Any]:
    app = Path(__file__).resolve().parent.parent / "app.py"
    env = dict(os.environ)
    if args.db:
        env["SHOPPER_LENS_DB"] = str(Path(args.db).resolve())
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    return {"exit_code": subprocess.call(cmd, env=env, cwd=app.parent)}


class _Partial(Exception):
    def __init__(self, result: dict[str, Any], failures: list[ShopperLensError]) -> None:
        super().__init__("some files failed")
        self.result = result
        self.failures = failures


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.json:
        print(text)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="workspace DuckDB file (default: $SHOPPER_LENS_DB or "
                        f"{settings.SETTINGS[0].default})")
    common.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser = argparse.ArgumentParser(prog="shopper-lens", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", parents=[common], help="load event/item/user/identity/experiment files")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--preset", default="auto", help="auto (default), none, or a preset name")
    p.add_argument("--map", action="append", metavar="FIELD=COLUMN", help="map a canonical field")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="a constant value for a field")
    p.add_argument("--source", choices=["online", "offline", "crm", "app", "other"])
    p.add_argument("--kind", choices=["events", "items", "users", "identities", "experiments"])
    p.add_argument("--timezone", help="time zone of timestamps without offset (default UTC)")
    p.add_argument("--pii", choices=["hash", "drop"], help="personal columns: hash or drop")
    p.add_argument("--date-order", choices=["mdy", "dmy"], default="mdy",
                   help="for ambiguous dates like 03/04/2024")
    p.add_argument("--delimiter", help="force the delimiter (default: detected)")

    p = sub.add_parser("load-sample", parents=[common], help="load a sample bundle folder")
    p.add_argument("folder")
    p.add_argument("--if-empty", action="store_true", help="only if the workspace has no data")

    p = sub.add_parser("profiles", parents=[common], help="build per-shopper features")
    p.add_argument("--out", help="also write the profiles as CSV")

    p = sub.add_parser("sample", parents=[common], help="generate sample data with planted structure")
    p.add_argument("--users", type=int, default=3000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default="sample_data/demo")

    sub.add_parser("datasets", parents=[common], help="list loaded datasets")
    p = sub.add_parser("delete", parents=[common], help="delete a dataset and its rows")
    p.add_argument("dataset_id")
    p = sub.add_parser("settings", parents=[common], help="show the settings table")
    p.add_argument("--markdown", action="store_true")
    p = sub.add_parser("app", parents=[common], help="start the dashboard")
    p.add_argument("--port", type=int, default=8501)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = _COMMANDS[args.command](args)
    except _Partial as partial:
        for failure in partial.failures:
            print(f"{failure.title}: {failure}", file=sys.stderr)
        if args.json:
            print(json.dumps(partial.result, default=str))
        return 2
    except ShopperLensError as e:
        print(f"{e.title}: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, default=str))
    return 0
