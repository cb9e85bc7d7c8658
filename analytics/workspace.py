"""The workspace: one DuckDB file, its folders, schema migrations and file-access lock-down.

One root connection per workspace; every unit of work takes its own cursor
(``with ws.cursor() as cur``), which is safe across threads. After set-up DuckDB may only
touch the workspace folder and the folders the caller explicitly allows (a CLI user's input
files), so nothing typed into the dashboard can read or write elsewhere.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb

from analytics import schema, settings
from analytics.errors import IngestError, WorkspaceError


def _sql_string(value: str) -> str:
    """A SQL string literal (for SET statements, which take no parameters)."""
    return "'" + value.replace("'", "''") + "'"


class Workspace:
    """An open workspace.

    Parameters
    ----------
    path : Path
        The DuckDB file; created with its folders if missing.
    allow : iterable of Path
        Extra folders DuckDB may read (the CLI passes its input files' folders).
    environ : mapping, optional
        Where settings are read from (default: ``os.environ``).

    Examples
    --------
    >>> ws = Workspace(tmp_path / "ws.duckdb")            # doctest: +SKIP
    >>> with ws.cursor() as cur:                          # doctest: +SKIP
    ...     cur.execute("SELECT count(*) FROM events").fetchall()
    """

    def __init__(self, path: Path, allow: Iterable[Path] = (),
                 environ: Mapping[str, str] | None = None) -> None:
        self.path = Path(path).resolve()
        self.dir = self.path.parent
        self.upload_dir = self.dir / "uploads"
        self.inbox_dir = self.dir / "inbox"
        self.tmp_dir = self.dir / ".tmp"
        for folder in (self.dir, self.upload_dir, self.inbox_dir, self.tmp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.root = self._connect(environ)
        self._migrate()
        self._harden([self.dir, *(Path(p).resolve() for p in allow)])

    def _connect(self, environ: Mapping[str, str] | None) -> duckdb.DuckDBPyConnection:
        config = {
            "memory_limit": settings.get("SHOPPER_LENS_MEMORY_LIMIT", environ),
            "threads": str(settings.get("SHOPPER_LENS_THREADS", environ)),
            "temp_directory": str(self.tmp_dir),
            "autoinstall_known_extensions": "false",
            "preserve_insertion_order": "true",
        }
        try:
            return duckdb.connect(str(self.path), config=config)
        except duckdb.IOException as e:
            if "lock" in str(e).lower():
                raise WorkspaceError(
                    f"The workspace {self.path} is open in another process (often the running "
                    "dashboard).",
                    hint="Stop that process, use the dashboard instead, or pass --db with "
                    "another file.",
                ) from e
            raise WorkspaceError(f"Cannot open the workspace {self.path}: {e}",
                                 hint="Check the path and its permissions.") from e
        except duckdb.Error as e:
            raise WorkspaceError(
                f"Cannot open the workspace {self.path}: {e}",
                hint="Check SHOPPER_LENS_MEMORY_LIMIT / SHOPPER_LENS_THREADS, or the file may "
                "not be a DuckDB database.",
            ) from e

    def _migrate(self) -> None:
        con = self.root
        has_meta = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
        ).fetchall()[0][0]
        version = 0
        if has_meta:
            row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
            version = int(row[0][0]) if row else 0
        if version > schema.SCHEMA_VERSION:
            raise WorkspaceError(
                f"The workspace {self.path} was written by a newer Shopper Lens (schema "
                f"{version}, this one knows {schema.SCHEMA_VERSION}).",
                hint="Upgrade Shopper Lens or use another workspace.",
            )
        if version == schema.SCHEMA_VERSION:
            return
        con.execute("BEGIN")
        for statements in schema.MIGRATIONS[version:]:
            for statement in statements:
                con.execute(statement)
        con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                    [str(schema.SCHEMA_VERSION)])
        con.execute("INSERT OR IGNORE INTO meta VALUES ('pii_salt', ?)", [secrets.token_hex(16)])
        con.execute("COMMIT")

    def _harden(self, allowed: list[Path]) -> None:
        folders = ", ".join(_sql_string(str(p) + "/") for p in allowed)
        self.root.execute(f"SET allowed_directories = [{folders}]")
        self.root.execute("SET enable_external_access = false")
        self.root.execute("SET lock_configuration = true")

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection of its own for one unit of work (thread-safe to take)."""
        with self._lock:
            cur = self.root.cursor()
        try:
            yield cur
        finally:
            cur.close()

    @contextmanager
    def transaction(self, commit: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside BEGIN … COMMIT; an exception (or ``commit=False``) rolls back."""
        with self.cursor() as cur:
            cur.execute("BEGIN")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT" if commit else "ROLLBACK")

    def save_upload(self, name: str, data: bytes) -> Path:
        """Write an uploaded file into the upload folder under a safe, unique name."""
        limit_mb = settings.get("SHOPPER_LENS_MAX_UPLOAD_MB")
        if len(data) > limit_mb * 1024 * 1024:
            raise IngestError(
                f"{name}: the file is {len(data) / 1024 / 1024:,.0f} MB, over the upload limit of "
                f"{limit_mb:,} MB (SHOPPER_LENS_MAX_UPLOAD_MB).",
                hint="Load it from the command line instead: shopper-lens ingest PATH.")
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).strip("._") or "upload"
        digest = hashlib.sha256(data).hexdigest()[:10]
        target = self.upload_dir / f"{digest}-{safe[-120:]}"
        if not target.exists():
            target.write_bytes(data)
        return target

    def pii_salt(self) -> str:
        with self.cursor() as cur:
            return str(cur.execute("SELECT value FROM meta WHERE key = 'pii_salt'").fetchall()[0][0])

    def close(self) -> None:
        self.root.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    return Path(settings.get("SHOPPER_LENS_DB", environ))
