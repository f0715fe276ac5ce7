"""Card file text → `Question`: front matter, question, context, numbered points, Extra.

Markdown alone cannot find the points: people number them `1、`, `（1）` or `1.` glued to the
text, none of which Markdown treats as a list. So the points are found here, line by line,
and each point's own Markdown (nested bullets, code, images) is rendered later on its own.
The parser also keeps the line numbers that Markdown throws away, so every later message can
say `path:line`.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

import yaml

from .errors import MkdeckError

# A point starts at the left margin: `1.` `1)` `1、` `1．` (also glued: `1.QKV`), `（1）` `(1)`.
# `(?![\d.])` keeps `3.14 is pi` and `1.2.3` from being points.
POINT_START = re.compile(r"^(?:(\d{1,3})[.)、．](?![\d.])|[（(](\d{1,3})[）)])[ \t]*(?=\S)")
HEADING = re.compile(r"^#[ \t]+(.+?)[ \t#]*$")
FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
# Lines that begin a Markdown block: such a line right after a point's first line needs a
# blank line before it, or Python-Markdown reads it as part of the paragraph.
BLOCK_START = re.compile(r"^(?:[-*+][ \t]|\d+[.)][ \t]|`{3}|~{3}|\||>|!\[|\$\$)")
# Characters that mkdeck uses as internal markers; they never belong in a card.
RESERVED = re.compile("[\ufdd0-\ufddf]")


@dataclass(frozen=True)
class Point:
    """One numbered point: one cloze card. `line` is where its number stands."""

    line: int
    markdown: str


@dataclass(frozen=True)
class Section:
    """A stretch of Markdown (context or Extra) and the line it starts on."""

    line: int
    markdown: str


@dataclass(frozen=True)
class Question:
    """Everything a card file says, before rendering."""

    rel: str
    id: str | None
    id_line: int
    tags: tuple[str, ...]
    deck: str | None
    title: str
    title_line: int
    context: Section
    points: tuple[Point, ...]
    extra: Section


def parse_question(text: str, rel: str) -> Question:
    """Parse one card file; raise `MkdeckError` at the first problem that stops it."""
    if not text.strip():
        raise MkdeckError("the file is empty", rel, 1)
    text = RESERVED.sub("", text)
    lines = text.split("\n")
    meta, body_start = parse_front_matter(lines, rel)
    fenced = scan_fences(lines, body_start, rel)

    title_index = find_heading(lines, fenced, body_start)
    if title_index is None:
        raise MkdeckError(
            "no question: the file needs a `# ` heading (the question) followed by numbered points",
            rel,
            body_start + 1,
        )
    title = HEADING.match(lines[title_index]).group(1)  # type: ignore[union-attr]
    context_start = title_index + 1
    # A question without points is returned as such: the build skips it with a warning.
    points, first_point, after_points = split_points(lines, fenced, context_start)
    return Question(
        rel=rel,
        id=meta["id"],
        id_line=meta["id_line"],
        tags=meta["tags"],
        deck=meta["deck"],
        title=title,
        title_line=title_index + 1,
        context=Section(context_start + 1, "\n".join(lines[context_start:first_point]).strip()),
        points=tuple(points),
        extra=Section(after_points + 1, "\n".join(lines[after_points:]).strip()),
    )


def read_front_matter(lines: list[str], rel: str) -> tuple[dict, int]:
    """The YAML between leading `---` lines, and the index of the first body line."""
    if not lines or lines[0].strip() != "---":
        return {}, 0
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        raise MkdeckError("front matter opened with `---` is never closed", rel, 1)
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise MkdeckError(f"invalid YAML front matter: {problem}", rel, line) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MkdeckError("front matter must be a mapping such as `id: my-card`", rel, 2)
    return data, end + 1


def parse_front_matter(lines: list[str], rel: str) -> tuple[dict, int]:
    """Return the card's settings (`id`, `tags`, `deck`) and the index of the first body line."""
    meta: dict = {"id": None, "id_line": 0, "tags": (), "deck": None}
    data, end = read_front_matter(lines, rel)

    def line_of(key: str) -> int:
        for i in range(1, end):
            if lines[i].lstrip().startswith(f"{key}:"):
                return i + 1
        return 2

    note_id = data.get("id")
    if note_id is not None:
        if not isinstance(note_id, str | int) or isinstance(note_id, bool) or not str(note_id):
            raise MkdeckError("`id` must be a non-empty string", rel, line_of("id"))
        meta["id"] = str(note_id).strip()
        meta["id_line"] = line_of("id")
    tags = data.get("tags", [])
    if isinstance(tags, str):
        tags = tags.split()
    if not isinstance(tags, list) or not all(isinstance(t, str | int | float) for t in tags):
        raise MkdeckError("`tags` must be a list such as `[LLM, attention]`", rel, line_of("tags"))
    meta["tags"] = normalise_tags(tags)
    deck = data.get("deck")
    if deck is not None:
        if not isinstance(deck, str) or not deck.strip(" :"):
            raise MkdeckError(
                "`deck` must be a deck name such as `LLM::算法题`", rel, line_of("deck")
            )
        meta["deck"] = deck.strip()
    return meta, end


def normalise_tags(tags: list) -> tuple[str, ...]:
    """Anki tags cannot hold spaces: `machine learning` → `machine_learning`; blanks dropped."""
    return tuple("_".join(str(t).split()) for t in tags if str(t).strip())


def scan_fences(lines: list[str], start: int, rel: str) -> list[bool]:
    """For each line: is it inside (or delimiting) a code fence?

    An unclosed fence silently swallows the rest of the file, so it is an error here.
    """
    inside = [False] * len(lines)
    opened: tuple[int, str] | None = None
    for i in range(start, len(lines)):
        m = FENCE.match(lines[i])
        if opened is None:
            if m:
                opened = (i, m.group(1))
                inside[i] = True
            continue
        inside[i] = True
        fence = m.group(1) if m else ""
        closes = fence[:1] == opened[1][0] and len(fence) >= len(opened[1])
        if closes and not lines[i].strip()[len(fence) :].strip():
            opened = None
    if opened is not None:
        raise MkdeckError(f"code fence {opened[1]} opened here is never closed", rel, opened[0] + 1)
    return inside


def find_heading(lines: list[str], fenced: list[bool], start: int) -> int | None:
    for i in range(start, len(lines)):
        if not fenced[i] and HEADING.match(lines[i]):
            return i
    return None


def split_points(lines: list[str], fenced: list[bool], start: int) -> tuple[list[Point], int, int]:
    """Find the top-level numbered points from `start`.

    Returns the points, the index of the first point line, and the index where Extra starts.
    A point runs until the next point, or until a blank line is followed by a line at the left
    margin that is not a point: that line begins Extra. Indented lines, and lines that follow
    without a blank line, belong to the point.
    """
    points: list[Point] = []
    current: list[str] = []
    current_line = 0
    first_point = len(lines)
    end = len(lines)
    blank_before = False

    def close() -> None:
        if current:
            points.append(Point(current_line + 1, point_markdown(current)))

    for i in range(start, len(lines)):
        line = lines[i]
        starts_point = not fenced[i] and POINT_START.match(line)
        if starts_point:
            close()
            if not points and first_point == len(lines):
                first_point = i
            current = [line]
            current_line = i
        elif current:
            at_margin = bool(line.strip()) and not line[0].isspace()
            # A fence line at the margin inside a point still belongs to it.
            if blank_before and at_margin and not fenced[i]:
                close()
                current = []
                end = i
                break
            current.append(line)
        blank_before = not line.strip() and not fenced[i]
    else:
        close()
    return points, first_point, end


def point_markdown(lines: list[str]) -> str:
    """A point's lines → its own Markdown: number removed, continuation dedented."""
    first = POINT_START.sub("", lines[0], count=1).strip()
    rest = textwrap.dedent("\n".join(lines[1:])).split("\n") if len(lines) > 1 else []
    out = [first]
    in_fence = in_math = False
    for line in rest:
        # Only a paragraph line needs the blank: list items and fences follow each other freely.
        if (
            not in_fence
            and not in_math
            and BLOCK_START.match(line)
            and out[-1].strip()
            and not out[-1][0].isspace()
            and not BLOCK_START.match(out[-1])
        ):
            out.append("")
        if FENCE.match(line) and not in_math:
            in_fence = not in_fence
        elif line.strip() == "$$" and not in_fence:
            in_math = not in_math
        out.append(line)
    return "\n".join(out).strip()
