"""Load a folder written by :mod:`analytics.sample` (the demo shop) into a workspace."""

from __future__ import annotations

from pathlib import Path

from analytics.errors import IngestError
from analytics.ingest import FileReport, ingest_file
from analytics.ingest.load import Progress
from analytics.workspace import Workspace

# The demo shop shipped with the app (read-only; the dashboard may read it).
DEMO_DIR = Path(__file__).resolve().parent.parent / "sample_data" / "demo"

# Identities first, so that offline events are linked to online users as they load.
BUNDLE: tuple[tuple[str, str, str], ...] = (
    ("identities.csv", "identities", "crm"),
    ("items.csv", "items", "online"),
    ("customers.csv", "users", "crm"),
    ("events.csv.gz", "events", "online"),
    ("pos_purchases.csv.gz", "events", "offline"),
    ("experiment.csv", "experiments", "online"),
)
# the loyalty register and online accounts (attributes for probabilistic linking); loaded
# when present, so folders written before they existed still load.
OPTIONAL: tuple[tuple[str, str, str], ...] = (
    ("loyalty_members.csv", "users", "offline"),
    ("online_accounts.csv", "users", "online"),
)


def load_bundle(ws: Workspace, folder: Path, progress: Progress | None = None) -> list[FileReport]:
    """Ingest every file of a sample bundle; raises IngestError if the folder is incomplete."""
    missing = [name for name, _, _ in BUNDLE if not (folder / name).exists()]
    if missing:
        raise IngestError(f"{folder} is not a complete sample bundle: missing {', '.join(missing)}.",
                          hint="Regenerate it with `shopper-lens sample --out FOLDER`.")
    reports = []
    files = [*BUNDLE, *(f for f in OPTIONAL if (folder / f[0]).exists())]
    for i, (name, kind, source) in enumerate(files):
        if progress:
            progress(i / len(files), f"Loading {name}")
        reports.append(ingest_file(ws, folder / name, kind=kind, source=source))
    return reports


def is_empty(ws: Workspace) -> bool:
    with ws.cursor() as cur:
        return bool(cur.execute("SELECT count(*) = 0 FROM datasets").fetchall()[0][0])
