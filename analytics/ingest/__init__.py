"""Ingestion: files of any common export format into the canonical tables, nothing lost."""

from __future__ import annotations

from analytics.errors import NotFoundError
from analytics.ingest.load import (
    SOURCES,
    FileReport,
    Inspection,
    LoadOptions,
    ingest_file,
    inspect_file,
    preview_file,
    relink_identities,
)
from analytics.schema import DATASET_TABLES
from analytics.workspace import Workspace

__all__ = ["SOURCES", "FileReport", "Inspection", "LoadOptions", "delete_dataset", "ingest_file",
           "inspect_file", "preview_file", "relink_identities"]


def delete_dataset(ws: Workspace, dataset_id: str) -> str:
    """Remove a dataset and every row it brought; returns its file name."""
    with ws.transaction() as cur:
        found = cur.execute("SELECT name, kind FROM datasets WHERE dataset_id = ?",
                            [dataset_id]).fetchall()
        if not found:
            raise NotFoundError(f"There is no dataset {dataset_id!r}.",
                                hint="List datasets on the Data page or with `shopper-lens datasets`.")
        name, kind = found[0]
        for table in DATASET_TABLES:
            cur.execute(f"DELETE FROM {table} WHERE dataset_id = ?", [dataset_id])  # noqa: S608
        cur.execute("DELETE FROM datasets WHERE dataset_id = ?", [dataset_id])
        if kind == "identities":
            relink_identities(cur)
    return str(name)
