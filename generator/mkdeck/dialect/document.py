"""What one parse finds out about one piece of Markdown, kept in markdown-it's `env`.

The parser object holds no state between documents: each parse gets a `Document` of its own
(`env["mkdeck"]`), so one file can never see another's results. Every rule that reports a
problem takes its line from the parser's own positions: block tokens carry their line range,
and inline rules count the line breaks before the position they match at (`inline_line`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from markdown_it.rules_inline import StateInline

from ..errors import Diagnostic, Severity
from ..media import ImageRef


@dataclass
class CodeHighlights:
    """A card file's code blocks as HTML, by `markup.code_key`: those an earlier build
    remembered of the file (`known`: looked up before Pygments is asked), and those its
    render used (`used`, for the memo to remember)."""

    known: Mapping[str, str] = field(default_factory=dict)
    used: dict[str, str] = field(default_factory=dict)


@dataclass
class Document:
    """What one parse found out about one piece of Markdown (a part of a card file).

    `base` is the file line of the Markdown's first line; `line` the file line of the inline
    text being parsed (set per inline block, read by the inline rules).
    """

    rel: str
    base: int
    allow_scripts: bool
    first_image: int = 0  # number of the file's images before this part (for media tokens)
    images: list[ImageRef] = field(default_factory=list)
    problems: list[Diagnostic] = field(default_factory=list)
    line: int = 0
    code: CodeHighlights = field(default_factory=CodeHighlights)  # the file's, shared

    def report(self, line: int, message: str, severity: Severity = "error") -> None:
        self.problems.append(Diagnostic(self.rel, line, message, severity))


def document(env: Any) -> Document:
    doc = env["mkdeck"]
    assert isinstance(doc, Document)
    return doc


def inline_line(state: StateInline, pos: int) -> int:
    return document(state.env).line + state.src.count("\n", 0, pos)
