"""The one upload flow, shared by the Data page and the Segments → Changes tab: drop files,
check how they map, load them, then bring profiles and the living segmentation up to date."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import streamlit as st

from analytics import staleness
from analytics.ingest import (
    SOURCES,
    FileReport,
    LoadOptions,
    ingest_file,
    inspect_file,
    preview_file,
    vocab,
)
from analytics.ingest.load import GATE_ROWS
from analytics.ingest.presets import by_name
from analytics.ingest.relational import (
    recognise_sets,
)
from analytics.schema import KIND_FIELDS
from pages._relational_view import relational_form, show_relational_report
from pages._shared import (
    cached_overview,
    cached_run_choices,
    data_changed,
    escape_markdown,
    rebuilt_message,
    run,
    stale_notice,
    workspace,
)

UNMAPPED = "(not mapped)"
PRESET_RULE = "(preset rule)"
HEADER_CHOICES = {"Detect": "auto", "Yes": "yes", "No (data starts on line 1)": "no"}
PRICE_SCALES = {"as is": None, "cents (× 0.01)": "0.01", "micro-units (× 0.000001)": "0.000001"}
UPLOAD_LABEL = ("Drop event, catalogue, CRM, identity or experiment files (CSV/TSV, JSON, NDJSON, "
                "Parquet; gzip is fine) — or all files of an export at once (Olist-style orders, "
                "order lines, customers, products; Shopify orders)")


def mapping_editor(key: str, kind: str, columns: list[str], detected: dict[str, str],
                   rules: set[str]) -> dict[str, str | None]:
    """One select box per canonical field; returns only the fields the user changed."""
    changes: dict[str, str | None] = {}
    grid = st.columns(3)
    for i, field in enumerate(KIND_FIELDS[kind]):
        default = PRESET_RULE if field.name in rules else detected.get(field.name, UNMAPPED)
        options = [UNMAPPED, *([PRESET_RULE] if field.name in rules else []), *columns]
        label = f"{field.name}{' *' if field.required else ''}"
        choice = grid[i % 3].selectbox(label, options, index=options.index(default),
                                       help=field.help, key=f"{key}:map:{kind}:{field.name}")
        if choice != default:
            changes[field.name] = None if choice == UNMAPPED else choice
    return changes


def show_report(report: FileReport) -> None:
    """What one file's load did: rows read, loaded, rejected (with reasons), skipped."""
    cols = st.columns(4)
    cols[0].metric("Rows read", f"{report.rows_read:,}")
    cols[1].metric("Loaded", f"{report.rows_loaded:,}")
    cols[2].metric("Rejected", f"{report.rows_rejected:,}")
    cols[3].metric("Duplicates skipped", f"{report.duplicates_skipped:,}")
    for note in report.notes:
        st.caption(f":material/info: {escape_markdown(note)}")
    show_warnings(report)
    if report.reject_reasons:
        st.warning("Rejected rows are kept with their reason (see *Datasets & quality*): "
                   + "; ".join(f"{n:,} × {escape_markdown(r)}" for r, n in report.reject_reasons.items()))


def show_warnings(report: FileReport) -> None:
    """The plausibility gate's findings, each with its fix."""
    for warning in report.warnings:
        st.warning(f"**{escape_markdown(warning['code'])}**: {escape_markdown(warning['message'])} "
                   f"*Fix:* {escape_markdown(warning['hint'])}", icon=":material/warning:")


def value_map_editor(file_id: str, values: dict[str, int], value_map: dict[str, str],
                     vocabulary: str | None) -> dict[str, str]:
    """Event types by value: source value · rows · canonical type; returns the user's changes."""
    if not values:
        return {}
    st.markdown("**Event types by value**" + (f" — recognised as {vocabulary}" if vocabulary else ""))
    rows = vocab.value_rows(values, value_map)
    edited = st.data_editor(
        rows, key=f"{file_id}:values", hide_index=True, disabled=["source value", "rows"],
        column_config={"rows": st.column_config.NumberColumn("rows (first 1,000)"),
                       "canonical type": st.column_config.SelectboxColumn(
                           options=[*vocab.TARGETS, vocab.UNKNOWN], required=True)})
    st.caption("*skip* rejects those rows with the reason, so they stay counted. "
               + "; ".join(f"{v}: {c}" for v, c in vocab.CHOICES.items() if v in
                           {k.lower() for k in values}))
    return vocab.edited_map(list(edited), value_map)


def fixed_values(file_id: str, kind: str) -> dict[str, str]:
    """A fixed value for any field ("every row of this file is a purchase"), like --set."""
    left, mid, right = st.columns(3)
    names = ["(none)", *(f.name for f in KIND_FIELDS[kind])]
    field = left.selectbox("Fixed value for a field", names, key=f"{file_id}:fixfield",
                           help="Every row gets this value, whatever the column says")
    value = mid.text_input("Value", key=f"{file_id}:fixvalue").strip()
    out = {field: value} if field != "(none)" and value else {}
    if kind == "events":
        scale = right.selectbox("Price scale", list(PRICE_SCALES), key=f"{file_id}:scale",
                                help="Multiply prices and amounts (micro-units: 20990000 = 20.99)")
        if PRICE_SCALES[scale]:
            out["price_scale"] = str(PRICE_SCALES[scale])
    return out


def upload_form(file_id: str, name: str, data: bytes) -> None:
    """One file: how its columns and values map, a preview of the stored rows, the load.

    Once loaded, only what the load did is shown: a preview then would be empty (its rows are
    now duplicates) and read as if nothing had been loaded."""
    ws = workspace()
    if file_id in st.session_state.get("loaded", {}):
        st.success(f"Loaded {escape_markdown(name)}.", icon=":material/inventory_2:")
        show_report(st.session_state["loaded"][file_id])
        return
    path = run(lambda: ws.save_upload(name, data))
    options = load_options(file_id, name, path)
    st.markdown("**Preview of the rows as they will be stored**")
    report, frame = run(lambda: preview_file(ws, path, options, gate_rows=GATE_ROWS))
    st.dataframe(frame, hide_index=True, height=240)
    for note in report.notes:
        st.caption(f":material/info: {escape_markdown(note)}")
    show_warnings(report)
    unknown = any(w["code"] == "unknown_event_types" for w in report.warnings)
    allow = unknown and st.checkbox("Load the unknown event types as they are",
                                    key=f"{file_id}:allow_unknown")
    if st.button(f"Load {name}", type="primary", key=f"{file_id}:load"):
        bar = st.progress(0.0, "Starting")
        final = replace(options, allow_unknown_types=bool(allow))
        done = run(lambda: ingest_file(ws, path, final,
                                       progress=lambda f, m: bar.progress(min(f, 1.0), m)))
        st.session_state.setdefault("loaded", {})[file_id] = done
        data_changed()
        st.rerun()  # so the sidebar and every cached reader show the new totals


def load_options(file_id: str, name: str, path: Path) -> LoadOptions:
    """What the file was recognised as, and the user's choices: kind, source, personal data,
    column mapping, event values and fixed values."""
    ws = workspace()
    header = HEADER_CHOICES[st.radio("First line is a header", list(HEADER_CHOICES),
                                     key=f"{file_id}:header", horizontal=True)]
    inspection = run(lambda: inspect_file(ws, path, name=name, header=header))
    st.caption(f"{escape_markdown(inspection.format.describe())} · {len(inspection.columns)} columns")
    if inspection.preset:
        preset = by_name(inspection.preset)
        st.success(f"Recognised as **{preset.label if preset else inspection.preset}**: "
                   f"{escape_markdown(inspection.preset_reason)}.", icon=":material/check_circle:")
    else:
        st.info(f"Mapping suggested: {escape_markdown(inspection.preset_reason)}. Check it below.",
                icon=":material/explore:")
    left, mid, right = st.columns(3)
    kinds = list(KIND_FIELDS)
    kind = left.selectbox("This file holds", kinds, index=kinds.index(inspection.kind),
                          key=f"{file_id}:kind")
    source = mid.selectbox("Source", SOURCES, key=f"{file_id}:source",
                           index=SOURCES.index(inspection.source) if inspection.source in SOURCES
                           else 0,
                           help="offline = in-store / POS purchases")
    pii_mode = None
    if inspection.pii:
        listed = ", ".join(f"{escape_markdown(c)} ({k})" for c, k in inspection.pii.items())
        pii_mode = right.radio(f"Personal data found: {listed}", ["hash", "drop"],
                               key=f"{file_id}:pii", horizontal=True)
    if kind != inspection.kind:  # keep what still applies: the suggestions for the chosen kind
        inspection = run(lambda: inspect_file(ws, path, name=name, kind=kind, header=header))
        st.caption(f"As {kind}: {escape_markdown(inspection.preset_reason)}.")
    changes = mapping_editor(file_id, kind, inspection.columns, inspection.mapping.columns,
                             set(inspection.mapping.expressions))
    event_map: dict[str, str] = {}
    if kind == "events":
        changed = inspection.for_event_column(inspection.mapping.with_columns(changes))
        event_map = value_map_editor(file_id, changed.event_values, changed.mapping.value_map,
                                     changed.vocabulary)
    constants = fixed_values(file_id, kind)
    if "time_unit" in inspection.mapping.constants:  # times since a test began
        unit = inspection.mapping.constants["time_unit"]
        since = inspection.mapping.constants.get("time_since", "the test started")
        start = st.text_input(f"Date of {since} (the file counts {unit} from it)"
                              if "time_since" in inspection.mapping.constants else
                              f"Start date of the test (the file counts {unit} from it)",
                              key=f"{file_id}:origin", placeholder="YYYY-MM-DD",
                              help="Without it the file is refused: its times are no dates")
        if start.strip():
            constants["time_origin"] = start.strip()
    if inspection.mapping.constants.get("time_format") == "mmdd":  # dates without a year
        year = st.text_input("Year of the data (the file's dates are month and day only)",
                             key=f"{file_id}:year", placeholder="YYYY",
                             help="Without it the file is refused: a guessed year would shift "
                             "every date and weekday")
        if year.strip():
            constants["time_year"] = year.strip()
    return LoadOptions(name=name, kind=kind, preset="auto", header=header, mapping=changes,
                       source=source, pii_mode=pii_mode, event_map=event_map, constants=constants)


def load_flow(key: str = "uploader", run_id: str | None = None) -> None:
    """The one upload flow: drop files, check each mapping (or one relational export), load,
    then offer the rebuild. ``run_id`` is the segmentation the rebuild re-applies (default:
    the primary, when it is a rules or clustering run)."""
    ws = workspace()
    files = st.file_uploader(UPLOAD_LABEL, accept_multiple_files=True, key=key)
    uploads = list(files or [])
    saved = {u.file_id: run(lambda u=u: ws.save_upload(u.name, u.getvalue())) for u in uploads}
    sets, rest = run(lambda: recognise_sets(ws, [saved[u.file_id] for u in uploads],
                                            [u.name for u in uploads])) if uploads else ([], [])
    for recognition in sets:
        set_key = f"{key}:relational:" + ",".join(sorted(f.name for f in recognition.files.values()))
        relational_form(recognition, set_key)
        if set_key in st.session_state.get("relational_loaded", {}):
            show_relational_report(st.session_state["relational_loaded"][set_key])
    if sets:
        uploads = [u for u in uploads if saved[u.file_id] in rest]
    for upload in uploads:
        with st.expander(escape_markdown(upload.name), expanded=True):
            upload_form(upload.file_id, upload.name, upload.getvalue())
    after_load(key, run_id)


def after_load(key: str, run_id: str | None = None) -> None:
    """Once data changed, bring the profiles and the living segmentation up to date from here,
    with progress (the same one-click rebuild every page's stale notice offers)."""
    ws = workspace()
    if cached_overview(str(ws.path)).empty:
        return
    rebuilt_message()
    choices = [c for c in cached_run_choices(str(ws.path)) if c.method != "selection"]
    living = next((c for c in choices if (c.run_id == run_id if run_id else c.primary)), None)
    role = "the segmentation" if run_id else "the primary segmentation"
    also = (f" and re-applies {role} **{escape_markdown(living.name)}** to them (living segments: "
            "who moved is recorded on Segments → Changes)") if living else ""
    if stale_notice(staleness.PROFILES, run_id=living.run_id if living else None, key=key,
                    label="Rebuild profiles now"):
        st.caption(f"Rebuilding recomputes every shopper's profile from all loaded data{also}.")
