"""The dialect case by case: each fixture file holds a title, the Markdown and the HTML it
must give (with any problem reported, as a comment), in markdown-it's own fixture format."""

from __future__ import annotations

from pathlib import Path

import pytest

from mkdeck.cloze import MATH_CLOSE, MATH_OPEN
from mkdeck.markup import Document, parser

FIXTURES = Path(__file__).parent / "fixtures"


def read_fixtures(path: Path) -> list[tuple[str, str, str]]:
    """(title, input, expected) for each case: blocks of `title`, `.`, input, `.`, output, `.`."""
    cases, lines, i = [], path.read_text("utf-8").split("\n"), 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        title = lines[i]
        assert lines[i + 1] == ".", f"{path.name}:{i + 2}: expected `.`"
        end_input = lines.index(".", i + 2)
        end_output = lines.index(".", end_input + 1)
        source = "\n".join(lines[i + 2 : end_input])
        expected = "\n".join(lines[end_input + 1 : end_output])
        cases.append((title, source, expected))
        i = end_output + 1
    return cases


def render(source: str) -> str:
    doc = Document("f.md", 1, allow_scripts=False)
    html = parser().render(source, {"mkdeck": doc})
    html = html.replace(MATH_OPEN, "").replace(MATH_CLOSE, "")
    said = "".join(f"<!-- line {p.line}: {p.severity}: {p.message} -->\n" for p in doc.problems)
    return (html + said).rstrip()


CASES = [
    pytest.param(source, expected, id=f"{path.stem}: {title}")
    for path in sorted(FIXTURES.glob("*.md"))
    for title, source, expected in read_fixtures(path)
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_fixture(source, expected):
    assert render(source) == expected


def test_every_fixture_file_has_cases():
    assert {p.stem for p in FIXTURES.glob("*.md")} >= {"math", "mark"}
    assert len(CASES) >= 25
