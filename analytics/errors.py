"""One exception hierarchy for every error a user can cause and fix.

Each error carries a title (what failed), a message (where and why) and a hint (what to do
next). Pages show them with ``st.error``; the CLI prints them and exits 2. Anything else is
a bug and may show a traceback.
"""

from __future__ import annotations


class ShopperLensError(Exception):
    """Base class: an expected, user-facing error."""

    title = "Something went wrong"

    def __init__(self, message: str, *, hint: str = "", title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()

    def as_dict(self) -> dict[str, str]:
        return {"title": self.title, "message": self.message, "hint": self.hint}


class ConfigError(ShopperLensError):
    title = "Invalid setting"


class WorkspaceError(ShopperLensError):
    title = "Workspace problem"


class IngestError(ShopperLensError):
    """A whole file was refused; nothing from it was loaded."""

    title = "File not loaded"


class MappingError(IngestError):
    title = "Column mapping incomplete"


class DuplicateDatasetError(IngestError):
    title = "File already loaded"


class NotFoundError(ShopperLensError):
    title = "Not found"
