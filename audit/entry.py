"""One image of an audit, typed: what the engines yield, ``results.jsonl`` holds, the
report reads and the CSV writes.

On disk an entry is one flat JSON object: its ``path``, the result's fields as
``Result.to_dict`` gives them (or ``status: "error"`` and the ``reason`` for an image
with no result), the ``overlays`` drawn for it and the auditor's ``truth`` where given.
That layout is what earlier audits wrote, so they still resume.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from lunggate.pipeline.result import Attention, Result


class AuditEntry(BaseModel):
    path: str
    """The image's key: its path under the audited folder, or as the manifest writes it."""
    result: Result | None = None
    error: str | None = None
    """Why the image has no result (unreadable, or the analysis failed)."""
    overlays: dict[str, str] = {}
    """Kind -> picture file, relative to the audit's folder."""
    truth: str | None = None
    """The auditor's label, when given."""

    @property
    def status(self) -> str:
        """``ok`` or ``rejected`` (the result's), or ``error``."""
        return "error" if self.result is None else self.result.status

    @property
    def reason(self) -> str | None:
        return self.error if self.result is None else self.result.reason

    @property
    def label(self) -> str | None:
        """The answer, if the image got one."""
        return None if self.result is None else self.result.label

    @property
    def attention(self) -> Attention | None:
        return None if self.result is None else self.result.attention

    @property
    def flagged(self) -> bool:
        return bool(self.attention and self.attention.flag)

    @property
    def unfamiliar(self) -> bool | None:
        """Whether the film is unlike the training data; None when not scored."""
        familiarity = None if self.result is None else self.result.familiarity
        return None if familiarity is None else familiarity.unfamiliar

    def to_row(self) -> dict[str, Any]:
        """The flat JSON object ``results.jsonl`` and ``results.json`` hold."""
        body = (
            {"status": "error", "reason": self.error}
            if self.result is None
            else self.result.to_dict()
        )
        row: dict[str, Any] = {"path": self.path, **body}
        if self.overlays:
            row["overlays"] = self.overlays
        if self.truth is not None:
            row["truth"] = self.truth
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AuditEntry:
        """An entry from its flat JSON object (``to_row``).

        Raises:
            pydantic.ValidationError: the object is not an entry.
        """
        extra = {"overlays": row.get("overlays") or {}, "truth": row.get("truth")}
        if row.get("status") == "error":
            return cls(path=row["path"], error=row.get("reason") or "", **extra)
        return cls(path=row["path"], result=Result.model_validate(row), **extra)
