"""The one error type, and the diagnostics a run reports.

Every problem a user can cause is reported like a compiler does: `path:line: error: message`.
A stage raises `MkdeckError` for a problem that stops work on one file; the build collects
these as `Diagnostic`s so that a single run reports every broken file at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import click

# A note is neither: something the user should know (a card Anki will show empty, say).
Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True, order=True, slots=True)
class Diagnostic:
    """One problem, located at a line of a source file (line 0 when it has no line)."""

    path: str
    line: int
    message: str
    severity: Severity = "error"
    column: int = 0  # where on the line, when known (a settings file's syntax error)

    @property
    def where(self) -> str:
        """`path:line:column`, as far as known."""
        if not self.line:
            return self.path
        return f"{self.path}:{self.line}" + (f":{self.column}" if self.column else "")

    def __str__(self) -> str:
        return f"{self.where}: {self.severity}: {self.message}"


class MkdeckError(click.ClickException):
    """Bad input: carries the file and line so the user knows what to edit.

    It is a ClickException so that, should one escape to the command line, the user sees
    the sentence and exit status 1, never a traceback.
    """

    def __init__(
        self,
        message: str,
        path: str = "",
        line: int = 0,
        severity: Severity = "error",
        column: int = 0,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.column = column
        # A warning stops work on one file only (a file that holds no card is skipped).
        self.severity: Severity = severity

    @property
    def diagnostic(self) -> Diagnostic:
        return Diagnostic(self.path, self.line, self.message, self.severity, self.column)

    def format_message(self) -> str:
        return str(self.diagnostic) if self.path else self.message
