"""Validation findings: small serializable records collected into a report per return.

A finding is data, not an exception. Rules produce findings that know *what* is wrong and the
model location (``field``, e.g. ``summary.A08`` or ``roster.12.uscc``); the reader's cell map
later fills in *where* (sheet and A1 cell) and prefixes the message with it. That mapping is
done in exactly one place: ``nianbao.workbooks.layout.CellMap.locate``.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Severity(StrEnum):
    ERROR = "error"  # blocks acceptance of the return
    WARNING = "warning"  # accepted, but shown to township and county staff


SEVERITY_LABEL = {Severity.ERROR: "错误", Severity.WARNING: "提示"}


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    severity: Severity
    message: str
    field: str | None = None
    label: str | None = None
    sheet: str | None = None
    cell: str | None = None
    value: str | None = None
    expected: str | None = None
    note: str | None = None  # the township's 情况说明 answering this warning: shown as 已说明

    @property
    def where(self) -> str:
        """Chinese location prefix: 「主要指标」D12 or just the sheet, or nothing."""
        if self.sheet and self.cell:
            return f"「{self.sheet}」{self.cell}"
        return f"「{self.sheet}」" if self.sheet else ""

    def public(self) -> dict:
        """The record as ``nianbao validate --json`` prints it."""
        return self.model_dump(mode="json", include={"code", "severity", "sheet", "cell", "field", "value", "message"})


def error(code: str, message: str, **kw) -> Finding:
    return Finding(code=code, severity=Severity.ERROR, message=message, **kw)


def warning(code: str, message: str, **kw) -> Finding:
    return Finding(code=code, severity=Severity.WARNING, message=message, **kw)


class Report(BaseModel):
    """All findings for one file. ``readable`` is False when the file is not a usable return."""

    file: str
    township: str | None = None
    period: str | None = None
    readable: bool = True
    findings: list[Finding] = []

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def valid(self) -> bool:
        return self.readable and not self.errors

    def public(self) -> dict:
        return {
            "file": self.file,
            "township": self.township,
            "period": self.period,
            "valid": self.valid,
            "issues": [f.public() for f in self.findings],
        }
