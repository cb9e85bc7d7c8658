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

import duckdb

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
    relational: dict[str, Any] = {}
    with _open(args, allow={p.parent for p in paths}) as ws:
        if _plain_ingest(args):  # related files (an Olist / Shopify export) load as one set
            relational, paths = _ingest_relational(args, ws, paths)
            files += relational.pop("files", [])
        for path in paths:
            try:
                report = ingest_file(
                    ws, path, kind=args.kind, preset=args.preset, mapping=_pairs(args.map, "--map"),
                    source=args.source, timezone=args.timezone, pii_mode=args.pii,
                    day_first=args.date_order == "dmy", delimiter=args.delimiter,
                    constants=_pairs(args.set, "--set"),
                    # event types by value, the plausibility gate, headerless files
                    event_map=_pairs(args.event_map, "--event-map"), strict=args.strict,
                    allow_unknown_types=args.allow_unknown_types, header=args.header)
            except ShopperLensError as e:
                failures.append(e)
                files.append({"path": str(path), "error": str(e)})
                continue
            files.append(report.as_json())
            _say(args, f"{report.name}: {report.rows_read:,} read, {report.rows_loaded:,} loaded, "
                       f"{report.rows_rejected:,} rejected, {report.duplicates_skipped:,} duplicates "
                       f"skipped ({report.kind}, {report.preset or 'mapped'}).")
            for warning in report.warnings:  # the plausibility gate
                _say(args, f"  warning [{warning['code']}]: {warning['message']} {warning['hint']}")
        totals = _totals(ws)
    result = {**relational, "files": files, **totals}
    if failures:
        raise _Partial(result, failures)
    return result


def _plain_ingest(args: argparse.Namespace) -> bool:
    """No preset, kind or mapping typed: the files may be recognised as a relational export."""
    return args.preset == "auto" and not (args.kind or args.map or args.set or args.delimiter)


def _ingest_relational(args: argparse.Namespace, ws: Workspace, paths: list[Path]
                       ) -> tuple[dict[str, Any], list[Path]]:
    """Load the files that form known relational exports; return the report and the rest."""
    from analytics.ingest.relational import load_relational, recognise_sets

    sets, rest = recognise_sets(ws, paths)
    files: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []
    for recognition in sets:
        report = load_relational(ws, recognition, source=args.source, timezone=args.timezone,
                                 pii_mode=args.pii, day_first=args.date_order == "dmy")
        _say(args, f"{report.label}: " + "; ".join(report.notes))
        for f in report.files:
            _say(args, f"{f.name} ({f.kind}): {f.rows_read:,} read, {f.rows_loaded:,} loaded, "
                       f"{f.rows_rejected:,} rejected, {f.duplicates_skipped:,} duplicates skipped.")
        summary = report.as_json()
        files += summary.pop("files")
        found.append(summary)
    if not sets:
        return {}, paths
    return {**found[0], "sets": found, "files": files}, rest


def _totals(ws: Workspace) -> dict[str, int]:
    with ws.cursor() as cur:
        events, users = cur.execute(
            "SELECT count(*), count(DISTINCT user_id) FROM events").fetchall()[0]
    return {"events_total": int(events), "users_total": int(users)}


@command("load-sample")
def _load_sample(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.bundle import is_empty, load_bundle
    from analytics.profiles import build_profiles
    from analytics.recommend.store import PREVIEW_MODELS, ensure_models

    folder = Path(args.folder).resolve()
    with _open(args, allow=[folder]) as ws:
        if args.if_empty and not is_empty(ws):
            _say(args, f"Workspace {ws.path} already has data; sample not loaded.")
            return {"loaded": False, **_totals(ws)}
        reports = load_bundle(ws, folder)
        profiled = build_profiles(ws)
        ensure_models(ws, PREVIEW_MODELS)  # Shopper 360's lists ready at once
        _say(args, f"Loaded the sample shop from {folder} into {ws.path} and built "
                   f"{profiled.users:,} shopper profiles.")
        return {"loaded": True, "files": [r.as_json() for r in reports], **_totals(ws),
                "profiles": profiled.users}


@command("profiles")
def _profiles(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.export import to_csv_bytes
    from analytics.profiles import build_profiles, load_profiles

    with _open(args) as ws:
        if args.engine == "spark":  # the same features computed on Apache Spark
            from analytics.engines.spark import build_profiles_spark

            summary = build_profiles_spark(ws, master=args.master, events=args.events,
                                           out_dir=args.out_dir, overwrite=args.overwrite)
        elif args.events or args.out_dir:
            raise ShopperLensError("--events and --out-dir are for the Spark engine only.",
                                   hint="Add --engine spark, or ingest the file first.",
                                   title="Invalid argument")
        else:
            summary = build_profiles(ws)
        if args.out:
            Path(args.out).write_bytes(to_csv_bytes(load_profiles(ws)))
        spilled = _spilled(ws, args, "profiles")
    users = spilled["users"] if spilled.get("users") else summary.users
    _say(args, f"Built {len(summary.features)} features for {users:,} shoppers "
               f"as of {summary.as_of:%Y-%m-%d %H:%M}" + (f"; wrote {args.out}." if args.out else "."))
    return {"users": users, "features": summary.features, "as_of": summary.as_of, **spilled}


def _out_dir_flags(p: argparse.ArgumentParser, offered: bool = True) -> None:
    """Spark results bigger than the dashboard go to a folder as Parquet.

    ``offered=False`` (link, which writes no result folder) hides both flags from the
    help; the command refuses them (:func:`_refuse_out_dir`) instead of ignoring them."""
    p.add_argument("--out-dir", help="Spark only: write the full result there as partitioned "
                   "Parquet (folder or Hadoop URL); the workspace keeps a sample and aggregates"
                   if offered else argparse.SUPPRESS)
    p.add_argument("--overwrite", action="store_true",
                   help="replace the contents of a non-empty --out-dir" if offered else argparse.SUPPRESS)


def _refuse_out_dir(args: argparse.Namespace, instead: str) -> None:
    """A flag that would do nothing is refused, before the workspace is opened."""
    given = [flag for flag, value in (("--out-dir", args.out_dir), ("--overwrite", args.overwrite))
             if value]
    if given:
        raise ShopperLensError(
            f"`{args.command}` writes no result folder, so {' and '.join(given)} would do nothing.",
            hint=f"Leave {' and '.join(given)} out: {instead}", title="Invalid argument")


def _spilled(ws: Any, args: argparse.Namespace, kind: str, ref: str = "") -> dict[str, Any]:
    """Where --out-dir put the full result (JSON keys out_dir, rows_written, sampled)."""
    from analytics.engines import outputs

    found = outputs.get(ws, kind, ref) if getattr(args, "out_dir", None) else None
    if found is None:
        return {"out_dir": None, "rows_written": None, "sampled": False}
    _say(args, found.sentence())
    return found.as_json()


@command("segment")
def _segment(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.export import to_csv_bytes
    from analytics.segments import DEFAULT_FEATURES, PRESETS, SegmentSpec, export_frame, run_segmentation

    rules_path = Path(args.rules).resolve() if args.rules and args.rules not in PRESETS else None
    rules = _rules_arg(args.rules, rules_path, PRESETS) if args.method == "rules" else None
    features = tuple(f.strip() for f in args.features.split(",") if f.strip()) if args.features \
        else DEFAULT_FEATURES
    from analytics.segments.autok import parse_k
    k, ks = parse_k(args.k, args.k_min, args.k_max)
    spec = SegmentSpec(method=args.method, k=k, ks=ks, features=features, scaling=args.scaling,
                       k_broad=args.k_broad, min_cluster_size=args.min_cluster_size, rules=rules,
                       name=args.name, random_state=args.seed, pca_components=args.pca)
    with _open(args) as ws:
        if args.engine == "spark":  # fitted on Spark MLlib, recorded as an ordinary run
            from analytics.engines.spark_segments import run_segmentation_spark

            run = run_segmentation_spark(ws, spec, master=args.master, out_dir=args.out_dir,
                                         overwrite=args.overwrite)
        elif args.out_dir:
            raise ShopperLensError("--out-dir is for the Spark engine only.",
                                   hint="Add --engine spark, or leave --out-dir out.",
                                   title="Invalid argument")
        elif args.method == "bisecting_kmeans":
            raise ShopperLensError("Bisecting K-Means runs on the Spark engine only.",
                                   hint="Add --engine spark, or use --method kmeans.",
                                   title="Invalid argument")
        else:
            run = run_segmentation(ws, spec)
        if args.out:
            frame = export_frame(ws, run.run_id, [f for f in run.features if f != "category_shares"])
            Path(args.out).write_bytes(to_csv_bytes(frame))
        spilled = _spilled(ws, args, "segments", run.run_id)
    _say(args, f"{run.name} (run {run.run_id}):")
    for note in run.notes:
        _say(args, f"  {note}")
    for s in run.segments:
        _say(args, f"  {s.segment_id:>3}  {s.name:<34} {s.size:>8,} shoppers  {100 * s.share:5.1f}%")
    if args.out:
        _say(args, f"Wrote {args.out}.")
    return {"method": run.method, "k": run.k, "silhouette": run.quality.get("silhouette"),
            "sizes": run.sizes, "run_id": run.run_id, "segments": [s.as_json() for s in run.segments],
            "notes": list(run.notes), **_auto_k(run), **spilled}


def _auto_k(run: Any) -> dict[str, Any]:
    """Why k was chosen and whether the data has cluster structure at all."""
    sweep = run.quality.get("sweep")
    if not sweep:
        return {}
    return {"k_reason": sweep["reason"], "structure": sweep["structure"],
            "structure_note": sweep["structure_note"], "sweep": sweep}


def _rules_arg(value: str | None, path: Path | None, presets: dict[str, Any]) -> dict[str, Any] | str:
    if not value:
        raise ShopperLensError("--method rules needs --rules FILE (or a preset name).",
                               hint=f"Presets: {', '.join(presets)}.", title="Invalid argument")
    if path is None:
        return dict(presets[value])
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ShopperLensError(f"Cannot read the rule file {path}: {e}.",
                               hint="Pass a UTF-8 JSON file.", title="Invalid rule file") from e


def _int(value: str, flag: str) -> int:
    try:
        return int(value)
    except ValueError as e:
        raise ShopperLensError(f"{flag} {value!r} is not a whole number.", hint=f"For example {flag} 5.",
                               title="Invalid argument") from e


@command("refresh")
def _refresh(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.refresh import RefreshFile, refresh, watch

    paths = [Path(p).resolve() for p in args.files]
    with _open(args, allow={p.parent for p in paths}) as ws:
        if args.watch:
            _say(args, f"Watching {ws.inbox_dir} every {args.interval:g} s (Ctrl+C to stop).")
            last: dict[str, Any] = {}
            try:
                for report in watch(ws, args.interval, args.run, rounds=args.rounds):
                    last = _refresh_result(args, report)
            except KeyboardInterrupt:
                pass
            return last
        files = [RefreshFile(p, args.source) for p in paths]
        return _refresh_result(args, refresh(ws, files, args.run))


def _refresh_result(args: argparse.Namespace, report: Any) -> dict[str, Any]:
    _say(args, f"{report.run_name}: {report.recomputed:,} profiles recomputed, as of "
               f"{report.as_of:%Y-%m-%d %H:%M}.")
    for move, n in sorted(report.moved.items(), key=lambda kv: -kv[1]):
        _say(args, f"  {n:>7,}  {move}")
    if report.suggestion:
        _say(args, f"Note: {report.suggestion}")
    return {"moved": report.moved, "entered": report.entered, "left": report.left,
            "sizes": report.sizes, "run_id": report.run_id, "refresh_id": report.refresh_id,
            "recomputed": report.recomputed, "files": [f.as_json() for f in report.files],
            "suggestion": report.suggestion}


@command("sample")
def _sample(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.sample import generate

    if args.followup_of:
        from analytics.followup import generate_followup

        follow = generate_followup(Path(args.followup_of), Path(args.out), days=args.days, seed=args.seed)
        _say(args, f"Wrote {follow.events:,} online and {follow.pos_rows:,} store events for the next "
                   f"{args.days} days to {args.out} ({follow.lapse} shoppers lapse, "
                   f"{follow.start_buying} start buying; see changes.csv).")
        return {"events": follow.events + follow.pos_rows, "out": str(follow.out_dir),
                "lapse": follow.lapse, "start_buying": follow.start_buying}
    if args.kind == "clv":  # a BG/NBD + Gamma-Gamma shop with known parameters
        from analytics.predict.simulate import write_sample

        events, folder = write_sample(Path(args.out), shoppers=args.users, seed=args.seed)
        _say(args, f"Wrote {events:,} orders of {args.users:,} shoppers with known lifetime-value "
                   f"parameters to {folder} (see truth.json).")
        return {"events": events, "users": args.users, "out": str(folder)}
    if args.kind != "shop":  # grocery-like / ratings-like shops
        from analytics.sample import generate_kind

        kind = generate_kind(Path(args.out), args.kind, users=args.users, seed=args.seed)
        _say(args, f"Wrote {kind.events:,} purchases of a {args.kind} shop for {kind.users:,} "
                   f"shoppers to {args.out}.")
        return {"events": kind.events, "users": kind.users, "out": str(kind.out_dir)}
    summary = generate(Path(args.out), users=args.users, seed=args.seed)
    _say(args, f"Wrote {summary.events:,} events for {summary.users:,} users to {args.out}.")
    return {"events": summary.events, "users": summary.users, "out": str(summary.out_dir)}


@command("journeys")
def _journeys(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.export import to_csv_bytes
    from analytics.journeys import OUTCOMES, default_steps, funnel, paths

    with _open(args) as ws:
        # without --steps, the default steps the data has (no checkout: view,cart,purchase)
        steps = [s.strip() for s in args.steps.split(",") if s.strip()] if args.steps \
            else list(default_steps(ws))
        found = funnel(ws, steps=steps, per=args.per, window_days=args.window_days, by=args.by,
                       segment_run=args.segment_run)
        top = paths(ws, detail=args.detail, top=args.top)
    if args.out:
        Path(args.out).write_bytes(to_csv_bytes(found.table()))
    _say(args, f"Funnel per {found.per} ({found.window_days:g}-day window):")
    if found.note:
        _say(args, f"  Note: {found.note}")
    for step in found.total.steps:
        _say(args, f"  {step.name:<18} {step.units:>9,}  {100 * (step.from_start or 0):5.1f}% of step 1")
    for group in found.groups:
        _say(args, f"  {found.by} {group.value}: {group.counts[0]:,} -> {group.counts[-1]:,} "
                   f"({100 * (group.overall or 0):.1f}%)")
    for outcome in OUTCOMES:
        _say(args, f"Top paths to {outcome}:")
        for row in top.top(outcome):
            _say(args, f"  {row.sessions:>7,} ({100 * row.share:4.1f}%)  {row.path}")
    return {**found.as_json(), "paths": {o: [{"path": r.path, "sessions": r.sessions, "share": r.share}
                                             for r in top.top(o)] for o in OUTCOMES}}


@command("uplift")
def _uplift(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.experiments import analyse, prepare, read_results, save_scores, workspace_data
    from analytics.experiments.targeting import targeting_list
    from analytics.export import to_csv_bytes

    if bool(args.experiment) == bool(args.file):
        raise ShopperLensError("Give either --experiment NAME or --file F (with --treatment and "
                               "--outcome).", hint="See `shopper-lens uplift --help`.",
                               title="Invalid argument")
    features = [f.strip() for f in args.features.split(",") if f.strip()] if args.features else None
    path = Path(args.file).resolve() if args.file else None
    if path is not None and not (args.treatment and args.outcome):
        raise ShopperLensError("--file needs --treatment COL and --outcome COL.",
                               hint="Add the column names of the results file.",
                               title="Invalid argument")
    if args.control_value is not None and args.treatment_value is None:
        return _uplift_arms(args, path, features)
    with _open(args, allow=[path.parent] if path else []) as ws:
        if path is not None:
            data = prepare(read_results(ws, path), args.treatment, args.outcome,
                           args.treatment_value, args.control_value, revenue=args.revenue,
                           features=features, id_column=args.id, source=f"file {path.name}")
        else:
            data = workspace_data(ws, args.experiment, args.treatment_value, args.control_value,
                                  window_days=args.window_days)
        report = analyse(data, expected_share=args.expected_share)
        run_id = save_scores(ws, data, report.uplift) if report.uplift else None
        by_segment = _uplift_segments(args, ws, data) if args.segments else None
    if args.out and report.uplift:
        Path(args.out).write_bytes(to_csv_bytes(targeting_list(report.uplift, args.top)))
    summary = report.summary()
    ci = "n/a" if summary["ci_low"] is None else f"[{summary['ci_low']:+.4f}, {summary['ci_high']:+.4f}]"
    p_value = "n/a" if summary["p_value"] is None else f"{summary['p_value']:.4g}"
    _say(args, f"{data.source}: {data.treatment_label} vs {data.control_label}, {data.users:,} users; "
               f"ATE on {data.outcome_name} {summary['ate']:+.4f}, 95% CI {ci}, p = {p_value}")
    if report.uplift:
        _say(args, f"Best uplift model: {summary['best_model']} (Qini {summary['qini_auc']:.4f}, "
                   f"uplift@30% {summary['uplift_at_30']:+.4f}); scores stored as run {run_id}.")
    if "revenue" in summary:
        rev = summary["revenue"]
        per_arm = ", ".join(f"{arm} {v['revenue_per_user']:,.2f}" for arm, v in rev["arms"].items())
        rev_ci = "n/a" if rev["ci_low"] is None else f"[{rev['ci_low']:+,.2f}, {rev['ci_high']:+,.2f}]"
        _say(args, f"Revenue per user: {per_arm}; difference {rev['diff']:+,.2f}, 95% CI {rev_ci}")
    if report.uplift:
        _say(args, report.uplift.verdict)
    _say(args, f"Verdict: {summary['verdict']}")  # act on it, or why not
    for warning in summary["warnings"]:
        _say(args, f"Warning: {warning}")
    if by_segment is not None:
        _say(args, by_segment["rule"])
        for row in by_segment["table"]:
            lift = "n/a (an arm is empty)" if row.get("lift") is None else f"{row['lift']:+.4f}"
            _say(args, f"  {row['segment']:<32} {row['users']:>7,} users, lift {lift}")
    return {**summary, "run_id": run_id, "users": data.users,
            "models": report.uplift.as_json()["models"] if report.uplift else [],
            **({"segments": by_segment} if by_segment is not None else {})}


def _uplift_segments(args: argparse.Namespace, ws: Any, data: Any) -> dict[str, Any]:
    """Lift per segment with each shopper's segment as of their assignment."""
    from analytics.experiments.ab import segment_breakdown
    from analytics.experiments.segments import segments_at_assignment
    from analytics.segments.runs import get_run

    if not args.experiment:
        raise ShopperLensError("--segments needs --experiment: segments as of assignment come "
                               "from the workspace.", hint="Drop --segments in file mode.",
                               title="Invalid argument")
    key = "rfm" if args.segments == "rfm" else \
        f"run:{get_run(ws, None if args.segments == 'latest' else args.segments).run_id}"
    at = segments_at_assignment(ws, key, args.experiment)
    breakdown = segment_breakdown(data, at.labels)
    return {**at.as_json(), **breakdown.as_json()}


def _uplift_arms(args: argparse.Namespace, path: Path | None,
                 features: list[str] | None) -> dict[str, Any]:
    """--control-value without --treatment-value: every arm against the control, then
    the best arm per shopper against the best single arm (held-out, with CIs)."""
    from analytics.experiments import read_results
    from analytics.experiments.multiarm import (
        best_arm_policy,
        compare_arms,
        prepare_arms,
        workspace_arms,
    )

    with _open(args, allow=[path.parent] if path else []) as ws:
        if path is not None:
            data = prepare_arms(read_results(ws, path), args.treatment, args.outcome,
                                args.control_value, revenue=args.revenue, features=features,
                                id_column=args.id, source=f"file {path.name}")
        else:
            data = workspace_arms(ws, args.experiment, args.control_value, args.window_days)
    arms = compare_arms(data, correction=args.correction)
    _say(args, f"{data.source}: {len(data.arms)} arms against {data.control_label!r}, "
               f"{data.users:,} users; {data.outcome_name}, p-values corrected ({arms.correction}):")
    found_arms = arms.as_json()
    for arm, row in found_arms["arms"].items():
        if row.get("p_value") is None:
            _say(args, f"  {arm}: ATE {row['ate']:+.4f} ({row['note']})")
            continue
        _say(args, f"  {arm}: ATE {row['ate']:+.4f}, 95% CI [{row['ci_low']:+.4f}, "
                   f"{row['ci_high']:+.4f}], p = {row['p_value']:.4g}, adjusted p = "
                   f"{row['p_adjusted']:.4g}")
    for arm, row in found_arms.get("revenue", {}).items():
        _say(args, f"  revenue per user, {arm}: {row['revenue_per_user']:,.2f}")
    policy: dict[str, Any] | None = None
    try:
        found = best_arm_policy(data)
        policy = found.as_json()
        _say(args, found.verdict)
    except ShopperLensError as e:
        _say(args, f"No arm policy: {e.message}")
    return {**found_arms, "users": data.users, "policy": policy}


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
    # serve.py: `streamlit run app.py` with the first page's libraries imported before it listens
    serve = Path(__file__).resolve().parent.parent / "serve.py"
    env = dict(os.environ)
    if args.db:
        env["SHOPPER_LENS_DB"] = str(Path(args.db).resolve())
    cmd = [sys.executable, str(serve), "--server.port", str(args.port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    return {"exit_code": subprocess.call(cmd, env=env, cwd=serve.parent)}


@command("recommend")
def _recommend(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.export import to_csv_bytes
    from analytics.recommend import check_user, preview, recommendations_table
    from analytics.recommend.evaluate import best_model
    from analytics.recommend.store import ensure_models

    if bool(args.user) == bool(args.out or args.out_dir):
        raise ShopperLensError("Give exactly one of --user ID or --out FILE (or --out-dir).",
                               hint="--user shows one shopper's list; --out writes everyone's.",
                               title="Invalid argument")
    if args.out_dir and args.engine != "spark":
        raise ShopperLensError("--out-dir is for the Spark engine only.",
                               hint="Add --engine spark --model als, or use --out FILE.",
                               title="Invalid argument")
    with _open(args) as ws:
        model = args.model or best_model(ws)
        if args.engine == "spark":  # MLlib ALS; the session started here is the one it uses
            from analytics.engines.spark import session

            if model not in ("als", "als_spark"):
                raise ShopperLensError(f"The Spark engine trains ALS only, not {model!r}.",
                                       hint="Use --model als with --engine spark.",
                                       title="Invalid argument")
            model = "als_spark"
            if args.out_dir:  # refuse a full folder before training
                from analytics.engines.outputs import check_out_dir

                check_out_dir(args.out_dir, args.overwrite)
            spark = session(args.master)
        options, exclusion = _recommend_exclusion(ws, args)
        trained = ensure_models(ws, [model], options)  # stored: reused next time
        if args.user:
            if not args.allow_unknown:
                check_user(trained, args.user)
            result = preview(ws, args.user, [model], k=args.k, trained=trained)[0]
        else:
            table = recommendations_table(trained, model, k=args.k)
            spilled: dict[str, Any] = {}
        if args.out_dir:  # every shopper's list as Parquet; the workspace keeps the model
            from analytics.engines.spark_out import write_recommendations

            spilled = write_recommendations(ws, spark, table, model, args.out_dir, args.overwrite)
            _say(args, f"Wrote {spilled['rows_written']:,} recommendations to {spilled['out_dir']}.")
    if args.user:
        note = " (cold start: not enough history, showing popular items)" if result.cold_start else ""
        _say(args, f"Top {len(result.rows)} for {args.user} from {result.label}{note}:")
        for row in result.rows:
            _say(args, f"  {row.rank:>2}. {row.title} [{row.item_id}] {row.score:.3f}  {row.reason}")
        _say(args, f"  ({exclusion['label']}: {exclusion['why']})")
        return {"user": args.user, "model": model, "cold_start": result.cold_start,
                "exclude": exclusion,
                "items": [{"item_id": r.item_id, "title": r.title, "score": r.score,
                           "reason": r.reason} for r in result.rows]}
    if args.out:
        Path(args.out).write_bytes(to_csv_bytes(table))
    users = int(table["user_id"].nunique())
    if args.out:
        _say(args, f"Wrote {len(table):,} recommendations for {users:,} shoppers ({model}) to {args.out}.")
    return {"users": users, "rows": len(table), "model": model,
            "out": str(args.out) if args.out else None, "exclude": exclusion,
            **(spilled or {"out_dir": None, "rows_written": None, "sampled": False})}


def _recommend_exclusion(ws: Any, args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The exclusion asked for, else the one the last evaluation chose (and why)."""
    from dataclasses import replace

    from analytics.recommend.base import EXCLUSION_LABELS
    from analytics.recommend.evaluate import latest_choice

    options = _recommend_options(args)
    if args.exclude or args.keep_purchased:
        mode = args.exclude or "nothing"
        why = "asked for"
    else:
        choice = latest_choice(ws)
        mode = str(choice["exclusion"]) if choice else "purchased"
        scores = (choice or {}).get("exclusion_ndcg") or {}
        why = ("chosen by the last evaluation (best NDCG: " + ", ".join(
            f"{EXCLUSION_LABELS[m]} {max(v.values()):.4f}" for m, v in scores.items()) + ")"
            if scores else "the default (no evaluation yet)")
    info = {"mode": mode, "label": EXCLUSION_LABELS[mode], "why": why}
    return replace(options, exclude_purchased=mode), info


def _recommend_options(args: argparse.Namespace) -> Any:
    from analytics.recommend import TrainingOptions
    from analytics.recommend.engine import parse_weights

    defaults = TrainingOptions()
    return TrainingOptions(
        weights=parse_weights(args.weight) if args.weight else defaults.weights,
        half_life_days=args.half_life, exclude_purchased=not args.keep_purchased,
        max_per_category=args.max_per_category, segment_run=args.segment_run)


@command("evaluate")
def _evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.recommend.evaluate import DEFAULT_MODELS, Split, default_targets, evaluate

    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models \
        else list(DEFAULT_MODELS)
    split = Split(method=args.split, test_days=args.test_days, last_k=args.last_k)
    exclusions = [args.exclude] if args.exclude else ["purchased", "any", "nothing"]
    with _open(args) as ws:
        # no --targets: purchases, or ratings when the workspace holds only ratings
        targets = [t.strip() for t in args.targets.split(",") if t.strip()] if args.targets \
            else list(default_targets(ws))
        report = evaluate(ws, models, k=args.k, split=split, options=_recommend_options(args),
                          targets=targets, max_users=args.max_users, exclusions=exclusions)
    _say(args, f"Evaluated {len(models)} models on {report.known_users:,} known shoppers "
               f"(+{report.new_users:,} new, reported apart) ({report.split}, k={report.k}):")
    _say(args, f"  {'model':<20}{'precision':>10}{'recall':>10}{'ndcg':>10}{'map':>10}{'coverage':>10}")
    for s in sorted(report.overall, key=lambda s: -s.ndcg):
        _say(args, f"  {s.model:<20}{s.precision:>10.4f}{s.recall:>10.4f}{s.ndcg:>10.4f}"
                   f"{s.map:>10.4f}{s.coverage:>10.4f}")
    _say(args, report.verdict)
    return report.cli_json()


@command("shopper")
def _shopper(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.segments.primary import resolve_run_id
    from analytics.shopper import shopper_view

    with _open(args) as ws:
        view = shopper_view(ws, args.user_id, recent=args.events)
        picked = resolve_run_id(ws, args.segment_run) if args.segment_run else None
    current = view.segment_of(picked) if picked else view.current_segment
    _say(args, f"{view.user_id}: {view.events_total:,} events, {view.shopping_channel}"
               + (f" (asked for {view.requested_id})" if view.requested_id != view.user_id else ""))
    if view.profile:
        p = view.profile
        _say(args, f"  RFM {p['rfm_segment']}, {p['frequency']} orders, spend {p['monetary']:,.2f}, "
                   f"top category {p['top_category']}, device {p['main_device']}")
    _say(args, f"  segment: {current.segment_name} ({current.run_name})" if current
         else "  segment: none (no segmentation run contains this shopper)")
    _say(args, f"  uplift: {view.uplift.meaning}" if view.uplift else "  uplift: not scored")
    for row in view.recent_events.head(10).itertuples():
        what = next((v for v in (row.title, row.item_id, row.search_query) if isinstance(v, str)), "")
        _say(args, f"  {row.event_time:%Y-%m-%d %H:%M}  {str(row.event_type):<10} {what}")
    return view.as_json()


@command("hash-password")
def _hash_password(args: argparse.Namespace) -> dict[str, Any]:
    import getpass

    from analytics.auth import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("Dashboard password: ")
        if getpass.getpass("Again: ") != password:
            raise ShopperLensError("The two passwords differ.", hint="Run the command again.",
                                   title="Invalid password")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    line = hash_password(password, iterations=args.iterations)
    _say(args, "Paste into .streamlit/secrets.toml (keep that file out of version control):")
    _say(args, f'[auth]\npassword_hash = "{line}"')
    return {"password_hash": line}


@command("forget")
def _forget(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.privacy import forget_user, identity_of

    with _open(args) as ws:
        ids = identity_of(ws, args.user_id)
        if not args.yes:
            if not sys.stdin.isatty():
                raise ShopperLensError(f"forget {args.user_id} deletes every row of {', '.join(ids)}.",
                                       hint="Add --yes to confirm.", title="Confirmation needed")
            answer = input(f"Delete every row of {', '.join(ids)} from {ws.path}? Type yes: ")
            if answer.strip().lower() != "yes":
                raise ShopperLensError("Nothing was deleted.", hint="Type yes to confirm.",
                                       title="Not confirmed")
        report = forget_user(ws, args.user_id)
    _say(args, f"Forgot {', '.join(report.ids)}: {report.total:,} rows deleted.")
    for table, n in report.deleted.items():
        _say(args, f"  {table:<24} {n:>8,}")
    for note in report.notes:
        _say(args, f"  {note}")
    return report.as_json()


# probabilistic identity linking (analytics/identity)
@command("link")
def _link(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.identity import find_links
    from analytics.identity.links import write_review

    _refuse_out_dir(args, "links are stored in the workspace (identity_links); "
                          "--review-out FILE writes the pairs for review as CSV.")
    with _open(args) as ws:
        report = find_links(ws, args.threshold, apply=args.apply, engine=args.engine,
                            master=args.master)  # --engine spark: Splink's Spark backend
    pending = [p for p in report.pairs if p["status"] == "pending"]
    out = report.as_json()
    if args.review_out:
        out["review_out"] = str(write_review(Path(args.review_out), pending))
    verb = "applied" if args.apply else "would apply (dry run: add --apply)"
    _say(args, f"{report.candidates:,} candidate links among {report.store_identities:,} store and "
               f"{report.online_identities:,} online identities ({report.blocked_pairs:,} of "
               f"{report.all_pairs:,} pairs compared); {verb} {report.applied:,} at ≥ "
               f"{report.threshold}, {report.review:,} for review.")
    if report.precision_estimate is not None:
        _say(args, f"  estimated precision of the applied links: {report.precision_estimate:.1%} "
                   f"(model's mean probability {report.model_precision:.1%}); based on "
                   f"{report.precision_basis}")
    elif report.precision_basis:
        _say(args, f"  precision {report.precision_basis}")
    return out


@command("unlink")
def _unlink(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.identity import unlink

    with _open(args) as ws:
        result = unlink(ws, args.alias)
    for pair in result["unlinked"]:
        _say(args, f"Unlinked {pair['alias']} from {pair['user_id']}; "
                   f"{result['events_moved']:,} events moved back.")
    return result


class _Partial(Exception):
    def __init__(self, result: dict[str, Any], failures: list[ShopperLensError]) -> None:
        super().__init__("some files failed")
        self.result = result
        self.failures = failures


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.json:
        print(text)


def _segment_run_flag(p: argparse.ArgumentParser) -> None:
    # which segmentation a command uses is explicit (default: the workspace's primary run).
    p.add_argument("--segment-run", metavar="ID",
                   help="segmentation run whose segments to use (default: the primary segmentation)")


@command("segment-runs")
def _segment_runs(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.segments.primary import primary_run_id, run_choices, set_primary

    with _open(args) as ws:
        if args.primary:
            set_primary(ws, args.primary)
        choices, primary = run_choices(ws), primary_run_id(ws)
    for c in choices:
        _say(args, f"{'*' if c.primary else ' '} {c.run_id}  {c.label}")
    return {"primary": primary, "runs": [{"run_id": c.run_id, "name": c.name, "kind": c.kind,
                                          "created_at": str(c.created_at)} for c in choices]}


# retention cohorts (first-purchase or first-seen month/week x periods since), per segment
@command("cohorts")
def _cohorts(args: argparse.Namespace) -> dict[str, Any]:
    from analytics.cohorts import cohort_table
    from analytics.export import to_csv_bytes

    with _open(args) as ws:
        table = cohort_table(ws, by=args.by, basis=args.basis, segment_run=args.segment_run)
    if args.out:
        Path(args.out).write_bytes(to_csv_bytes(table.cells))
    summary = table.as_json()
    _say(args, f"{len(summary['cohorts'])} {args.by}ly cohorts by first {args.basis}, "
               f"segments of {table.segment_run_name or 'no segmentation'}:")
    for r in summary["retention"]:
        _say(args, f"  {args.by} {r['period']:>3}: {r['share']:6.1%} of {r['cohort_size']:,} shoppers "
                   f"({r['cohorts']} cohort{'' if r['cohorts'] == 1 else 's'})")
    for note in summary["notes"]:  # the left-censored first cohort, too short a log
        _say(args, f"  Note: {note}")
    return summary


# predicted lifetime value (BG/NBD + Gamma-Gamma), validated on a holdout
@command("predict")
def _predict(args: argparse.Namespace) -> dict[str, Any]:
    from datetime import datetime

    from analytics.predict import predict

    try:
        end = datetime.fromisoformat(args.calibration_end) if args.calibration_end else None
    except ValueError as e:
        raise ShopperLensError(f"--calibration-end {args.calibration_end!r} is not a date.",
                               hint="Use YYYY-MM-DD, e.g. --calibration-end 2024-06-30.",
                               title="Invalid argument") from e
    with _open(args) as ws:
        report = predict(ws, calibration_end=end, horizon_days=args.horizon_days,
                         monthly_discount=args.monthly_discount)
    result = report.as_json()
    h = report.holdout
    _say(args, f"Fitted lifetime value for {report.users:,} shoppers (calibration to "
               f"{report.calibration_end:%Y-%m-%d}, holdout {h.days:,.0f} days).")
    _say(args, f"Holdout orders: predicted {h.predicted_purchases:,.0f}, actual {h.actual_purchases:,}, "
               f"naive baseline {h.baseline_purchases:,.0f}. {h.verdict}")
    return result


def _predict_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("predict", parents=[common],
                       help="lifetime value: P(alive), expected orders and spend, holdout validation")
    p.add_argument("--calibration-end", metavar="DATE",
                   help="end of the calibration period (default: 75%% through the history)")
    p.add_argument("--horizon-days", type=float, default=365,
                   help="days ahead for expected orders and lifetime value (default 365)")
    p.add_argument("--monthly-discount", type=float, default=0.0,
                   help="monthly discount rate for lifetime value (default 0: none)")


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
    # headerless files, event types by value, the plausibility gate
    p.add_argument("--header", choices=["auto", "yes", "no"], default="auto",
                   help="does the first line name the columns (default: detected)")
    p.add_argument("--event-map", action="append", metavar="VALUE=TYPE",
                   help="map a source event value to a canonical type (or skip)")
    p.add_argument("--strict", action="store_true", help="refuse a file with any warning")
    p.add_argument("--allow-unknown-types", action="store_true",
                   help="load even if over 5%% of rows have unknown event types")

    p = sub.add_parser("load-sample", parents=[common], help="load a sample bundle folder")
    p.add_argument("folder")
    p.add_argument("--if-empty", action="store_true", help="only if the workspace has no data")

    p = sub.add_parser("profiles", parents=[common], help="build per-shopper features")
    p.add_argument("--out", help="also write the profiles as CSV")
    p.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                   help="compute on DuckDB (default) or Apache Spark (extra shopper-lens[spark])")
    p.add_argument("--master", default="local[2]",
                   help="Spark master: local[N], spark://HOST:PORT or sc://HOST:PORT (Spark Connect)")
    p.add_argument("--events", help="Spark only: Parquet/CSV events (file, folder, glob or URL such "
                   "as s3a://…) instead of the workspace's")
    _out_dir_flags(p)

    def _engine_flags(p: argparse.ArgumentParser, out_dir: bool = True) -> None:  # Spark
        p.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                       help="compute locally (default) or on Apache Spark (extra shopper-lens[spark])")
        p.add_argument("--master", default="local[2]",
                       help="Spark master: local[N], spark://HOST:PORT or sc://HOST:PORT")
        _out_dir_flags(p, offered=out_dir)

    p = sub.add_parser("segment", parents=[common], help="segment shoppers; write a CSV")
    p.add_argument("--method", default="kmeans",
                   choices=["rules", "kmeans", "gmm", "hierarchical", "hdbscan", "bisecting_kmeans"],
                   help="bisecting_kmeans needs --engine spark; hierarchical and hdbscan do not run on it")
    _engine_flags(p)
    p.add_argument("--k", default="auto", help="number of segments, auto (default: 3-12) or auto:LOW-HIGH")
    p.add_argument("--k-min", type=int, help="auto k: smallest k to try (default 3)")
    p.add_argument("--k-max", type=int, help="auto k: largest k to try (default 12)")
    p.add_argument("--features", help="comma-separated profile features (default: a curated set)")
    p.add_argument("--scaling", default="winsor",
                   choices=["winsor", "log1p", "standard", "robust", "quantile"])
    p.add_argument("--pca", type=int, metavar="N",
                   help="cluster on the first N principal components of the scaled features")
    p.add_argument("--k-broad", type=int, help="hierarchical: also cut into this many broad segments")
    p.add_argument("--min-cluster-size", type=int, help="HDBSCAN minimum cluster size")
    p.add_argument("--rules", help="rule JSON file, or a preset: high_intent, low_engagement, rfm")
    p.add_argument("--name", help="a name for this run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write user_id, segment and features as CSV")

    p = sub.add_parser("refresh", parents=[common],
                       help="load new events, update profiles and segments, report who moved")
    p.add_argument("files", nargs="*", metavar="FILE")
    p.add_argument("--run", help="segmentation run to keep up to date (default: the latest)")
    p.add_argument("--source", choices=["online", "offline", "crm", "app", "other"])
    p.add_argument("--watch", action="store_true", help="poll the workspace inbox/ folder")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between inbox checks")
    p.add_argument("--rounds", type=int, help=argparse.SUPPRESS)

    p = sub.add_parser("sample", parents=[common], help="generate sample data with planted structure")
    p.add_argument("--users", type=int, default=3000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default="sample_data/demo")
    p.add_argument("--followup-of", metavar="FOLDER",
                   help="instead: write the next period of the sample in FOLDER (known changers)")
    p.add_argument("--days", type=int, default=60, help="length of the follow-up period")
    p.add_argument("--kind", choices=["shop", "grocery", "ratings", "clv"], default="shop",
                   help="grocery: repeat purchases dominate; ratings: each item bought once; "
                        "clv: orders from BG/NBD + Gamma-Gamma with known parameters (truth.json)")

    p = sub.add_parser("journeys", parents=[common], help="funnel conversion and top session paths")
    p.add_argument("--steps", default=None,
                   help="event types in funnel order (default: view,cart,checkout,purchase, "
                   "those the data has)")
    p.add_argument("--per", choices=["session", "user"], default="session")
    p.add_argument("--by", choices=["device", "channel", "segment"], help="break the funnel down")
    p.add_argument("--window-days", type=float, default=7.0, help="steps within N days of step 1")
    p.add_argument("--detail", choices=["event", "category"], default="category",
                   help="path labels: event type, or type and category for browsing")
    p.add_argument("--top", type=int, default=10, help="paths per outcome")
    _segment_run_flag(p)
    p.add_argument("--out", help="also write the funnel (per group and step) as CSV")

    def _recommend_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--k", type=int, default=10, help="items per shopper")
        p.add_argument("--weight", action="append", metavar="TYPE=W",
                       help="event weight, e.g. purchase=5 (default view=1 wishlist=2 cart=3 purchase=5)")
        p.add_argument("--half-life", type=float, default=30.0, help="days for an event to count half")
        p.add_argument("--keep-purchased", action="store_true",
                       help="allow items the shopper already bought (same as --exclude nothing)")
        p.add_argument("--exclude", choices=["purchased", "any", "nothing"],
                       help="what lists leave out (default: the last evaluation's choice)")
        p.add_argument("--max-per-category", type=int, help="diversity: at most N items per category")
        _segment_run_flag(p)

    p = sub.add_parser("recommend", parents=[common], help="recommendations for a shopper or everyone")
    p.add_argument("--model", help="model name (default: best of the last evaluation, else hybrid)")
    p.add_argument("--user", help="one shopper's list")
    p.add_argument("--out", help="write every shopper's top-k as CSV")
    p.add_argument("--allow-unknown", action="store_true",
                   help="an unknown --user gets the cold-start list instead of an error")
    _recommend_flags(p)
    _engine_flags(p)
    p = sub.add_parser("evaluate", parents=[common], help="offline evaluation of recommenders")
    p.add_argument("--models", help="comma-separated model names (default: all)")
    p.add_argument("--split", choices=["days", "last"], default="days",
                   help="test on the last N days, or on each shopper's last purchases")
    p.add_argument("--test-days", type=float,
                   help="test period (default 30, or the last 20%% of a span under 150 days)")
    p.add_argument("--last-k", type=int, default=2, help="purchases per shopper held out (--split last)")
    p.add_argument("--targets", default=None,
                   help="event types that count as relevant (default: purchase; rate when the "
                   "workspace holds only ratings)")
    p.add_argument("--max-users", type=int, help="evaluate a random sample of test shoppers")
    _recommend_flags(p)

    p = sub.add_parser("uplift", parents=[common], help="A/B analysis and uplift models of an experiment")
    p.add_argument("--experiment", help="an experiment in the workspace (outcome: purchase in the window)")
    p.add_argument("--file", help="a results file: one row per customer")
    p.add_argument("--treatment", help="file mode: the treatment column")
    p.add_argument("--treatment-value", help="the arm to evaluate (default: inferred from two arms; "
                   "with --control-value alone, every arm against the control)")
    p.add_argument("--control-value", help="the control arm (default: inferred from two arms)")
    p.add_argument("--outcome", help="file mode: the outcome column (0/1 or an amount)")
    p.add_argument("--revenue", help="file mode: a money column reported per user")
    p.add_argument("--id", help="file mode: the customer id column (default: row number)")
    p.add_argument("--features", help="file mode: model features a,b (default: the other columns)")
    p.add_argument("--window-days", type=int, default=14, help="conversion window after assignment")
    p.add_argument("--expected-share", type=float, default=0.5, help="planned treated share (SRM check)")
    p.add_argument("--out", help="write the targeting list (top --top share by predicted uplift) as CSV")
    p.add_argument("--top", type=float, default=0.3, help="share of users in the targeting list")
    p.add_argument("--segments", metavar="RUN_ID|latest|rfm",
                   help="lift per segment (workspace experiments), segments as of assignment")
    p.add_argument("--correction", choices=["holm", "fdr_bh"], default="holm",
                   help="multiple-testing correction when every arm is compared (no --treatment-value)")

    p = sub.add_parser("shopper", parents=[common],
                       help="one shopper: profile, segments, recent events, aliases, uplift")
    p.add_argument("user_id", help="a user id or an alias (loyalty card, POS id)")
    p.add_argument("--events", type=int, default=50, help="how many recent events to include")
    _segment_run_flag(p)
    p = sub.add_parser("segment-runs", parents=[common],
                       help="list segmentation runs; --primary ID makes one the primary segmentation")
    p.add_argument("--primary", metavar="ID", help="the run every page and command uses by default")
    # retention cohorts
    p = sub.add_parser("cohorts", parents=[common], help="retention cohorts: share of each cohort "
                       "active again N months (weeks) later, overall and per segment")
    p.add_argument("--by", choices=["month", "week"], default="month", help="cohort and period length")
    p.add_argument("--basis", choices=["purchase", "seen"], default="purchase",
                   help="cohort by first purchase (active = buys) or first event (active = any event)")
    _segment_run_flag(p)
    p.add_argument("--out", help="write the cells as CSV: cohort, period, segment, shoppers, share, …")
    sub.add_parser("datasets", parents=[common], help="list loaded datasets")
    p = sub.add_parser("delete", parents=[common], help="delete a dataset and its rows")
    p.add_argument("dataset_id")
    p = sub.add_parser("settings", parents=[common], help="show the settings table")
    p.add_argument("--markdown", action="store_true")
    p = sub.add_parser("hash-password", parents=[common],
                       help="hash a dashboard password for .streamlit/secrets.toml (reads stdin)")
    p.add_argument("--iterations", type=int, default=600_000, help="PBKDF2 iterations")
    p = sub.add_parser("forget", parents=[common],
                       help="delete a shopper and their aliases from every table")
    p.add_argument("user_id")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    # probabilistic identity linking
    p = sub.add_parser("link", parents=[common],
                       help="find probabilistic links between store and online identities")
    p.add_argument("--threshold", type=float, default=0.95,
                   help="apply links at or above this match probability (default 0.95)")
    p.add_argument("--review-out", help="write the grey-zone pairs (0.5 to threshold) to this CSV")
    p.add_argument("--apply", action="store_true",
                   help="store the candidates and apply the links above the threshold")
    _engine_flags(p, out_dir=False)  # Splink on Spark; no --out-dir (refused)
    p = sub.add_parser("unlink", parents=[common], help="undo a probabilistic identity link")
    p.add_argument("alias", help="the store id (or online id) of the link")
    _predict_parser(sub, common)
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
    except duckdb.OutOfMemoryException as e:  # any command over the limit: say which setting
        print(f"Out of memory: `{args.command}` needed more memory than SHOPPER_LENS_MEMORY_LIMIT="
              f"{settings.get('SHOPPER_LENS_MEMORY_LIMIT')} allows ({str(e).splitlines()[0]}). "
              "Raise SHOPPER_LENS_MEMORY_LIMIT (default 4GB) and run it again.", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, default=str))
    return int(result.get("exit_code", 0))  # `app`: the dashboard's own (2: refused to start)
