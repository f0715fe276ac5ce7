"""Card file text → `Question`: front matter, question, context, numbered points, Extra.

Markdown alone cannot find the points: people number them `1、`, `（1）`, `①` or `1.` glued to
the text, none of which Markdown treats as a list. So this scanner finds them line by line and
keeps the line each part starts on; each part's Markdown is rendered later on its own, and
every message about it is placed from these positions (`path:line`).

The question is the first `#` heading; without one, the first heading of any level; without a
heading, a short first line that asks (`…？`), else the file's name. Notes come in all these
shapes. A file that holds no card (no question, or no answer) is skipped with a warning that
says why; only input that is really broken raises `MkdeckError`.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath
from typing import NamedTuple

import yaml
from markdown_it import MarkdownIt

from .cloze import MARKERS
from .errors import Diagnostic, MkdeckError
from .numbering import BULLET_START, EMPTY_ITEM, POINT_START, point_number

HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
CONTAINER = re.compile(r"^[ \t>]*")
# Spaces a person cannot see: a heading made only of them has no text.
INVISIBLE = re.compile(r"[\s\u200b-\u200d\u2060\ufeff]+")
# A heading with nothing in it.
EMPTY_HEADING = re.compile(r"^ {0,3}#{1,6}(?=\s|$)")
# A first line that asks: short, and ends in a question mark (bold or not).
ASKING = re.compile(r"^(?:\*\*|__)?(.{1,100}?[？?])(?:\*\*|__)?[ \t]*$")
# An answer of one card longer than this (characters, spaces not counted) is hard to recall
# in one go; `check` suggests numbered points, one card each.
LONG_ANSWER = 400
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Section(NamedTuple):
    """A stretch of Markdown (context or Extra) and the file line it starts on."""

    line: int
    markdown: str


NO_LEAD = Section(0, "")


class Point(NamedTuple):
    """One point: one cloze card. `line` is where its number (or bullet) stands. `lead` is
    what stands before it from a sub-heading on, shown on both sides (a section's heading and
    its first words, say).

    (A named tuple: a large deck holds a hundred thousand, and a tuple is made ten times
    faster than a frozen dataclass.)"""

    line: int
    number: int
    markdown: str
    lead: Section = NO_LEAD


@dataclass(frozen=True)
class Question:
    """Everything a card file says, before rendering.

    `whole_answer`: the answer has no points, so its single point is all of it. `bullets`:
    its points are the bullets at the margin of an answer that numbers nothing.
    """

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
    whole_answer: bool = False
    bullets: bool = False


@dataclass(frozen=True)
class FrontMatter:
    data: dict
    lines: dict[str, int]  # key → the file line it is on
    body: int  # index of the first line after the front matter


def is_blank(text: str) -> bool:
    return not INVISIBLE.sub("", text)


def _unfilled(line: str) -> bool:
    """A line with nothing to learn: blank, or an empty heading or numbered item."""
    return is_blank(EMPTY_ITEM.sub("", EMPTY_HEADING.sub("", line)))


def parse_question(text: str, rel: str) -> tuple[Question | None, list[Diagnostic]]:
    """Parse one card file: its question and what is wrong with it. A file that holds no card
    (None) says why: a warning when it is only empty, an error when its input is broken."""
    try:
        return _parse(text, rel)
    except MkdeckError as exc:  # the helpers below stop at the first broken thing
        return None, [exc.diagnostic]


def _parse(text: str, rel: str) -> tuple[Question | None, list[Diagnostic]]:
    text = MARKERS.sub("", text)
    if is_blank(text):
        return None, [Diagnostic(rel, 1, "the file is empty: skipped", "warning")]
    lines = text.split("\n")
    front = read_front_matter(lines, rel)
    meta = card_settings(front, rel)
    fenced = scan_fences(lines, front.body, rel)

    title, title_index, answer_start = find_question(lines, fenced, front.body, rel)
    points, first_point, extra_start = split_points(lines, fenced, answer_start)
    bullets = False
    if not points and not _task_list(lines, fenced, answer_start):
        points, first_point, extra_start = split_points(lines, fenced, answer_start, BULLET_START)
        bullets = bool(points)
    problems: list[Diagnostic] = []
    whole = not points
    if whole:
        answer = section(lines, answer_start, len(lines))
        if all(_unfilled(t) for t in answer.markdown.split("\n")):
            why = "the question has no answer below it: skipped"
            return None, [Diagnostic(rel, title_index + 1, why, "warning")]
        points = [Point(answer.line, 1, answer.markdown)]
        context = extra = Section(answer.line, "")
        size = len(INVISIBLE.sub("", answer.markdown))
        if size > LONG_ANSWER:
            problems.append(
                Diagnostic(
                    rel,
                    answer.line,
                    f"the answer is one card of {size} characters (over {LONG_ANSWER}): number "
                    "its points (`1.`, `2.`) to make one card of each",
                    "warning",
                )
            )
    else:
        context = section(lines, answer_start, first_point)
        extra = section(lines, extra_start, len(lines))
    question = Question(
        rel=rel,
        id=meta["id"],
        id_line=front.lines.get("id", 0),
        tags=meta["tags"],
        deck=meta["deck"],
        title=title,
        title_line=title_index + 1,
        context=context,
        points=tuple(points),
        extra=extra,
        whole_answer=whole,
        bullets=bullets,
    )
    return question, problems


def find_question(
    lines: list[str], fenced: list[bool], start: int, rel: str
) -> tuple[str, int, int]:
    """The question's text, its line index, and the index where its answer starts.

    In order: the first `#` heading; a first line that asks (`What is X?` above `#### Answer`);
    the first heading of any level; the file's name.
    """
    headings = []
    for i in range(start, len(lines)):
        m = None if fenced[i] else HEADING.match(lines[i])
        if m and not is_blank(m.group(2) or ""):
            headings.append((len(m.group(1)), i, (m.group(2) or "").strip()))
    top = [h for h in headings if h[0] == 1]
    if top:
        _, index, title = top[0]
        return title, index, index + 1
    first = next((i for i in range(start, len(lines)) if not is_blank(lines[i])), None)
    if first is not None and not fenced[first] and not POINT_START.match(lines[first]):
        asked = None if HEADING.match(lines[first]) else ASKING.match(lines[first].strip())
        if asked:
            return asked.group(1).strip(), first, first + 1
    if headings:
        _, index, title = headings[0]
        return title, index, index + 1
    # The question is named only by the file: `Word2vec为什么需要二次采样？.md`.
    return PurePosixPath(rel).stem.strip(), start, start


def read_front_matter(lines: list[str], rel: str) -> FrontMatter:
    """The YAML between leading `---` lines, where each key is, and the first body line."""
    if not lines or lines[0].strip() != "---":
        return FrontMatter({}, {}, 0)
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        raise MkdeckError("front matter opened with `---` is never closed", rel, 1)
    loader = YAML_LOADER("\n".join(lines[1:end]))
    try:  # parsed once: the node tree gives each key's line, and the data is built from it
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        # At the end of the YAML (an unclosed `[`), the last line of it is the one to fix.
        line = min(mark.line + 2, end) if mark is not None else 1
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise MkdeckError(f"invalid YAML front matter: {problem}", rel, line) from exc
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MkdeckError("front matter must be a mapping such as `id: my-card`", rel, 2)
    where = {
        str(key.value): key.start_mark.line + 2
        for key, _ in getattr(node, "value", [])
        if isinstance(key, yaml.ScalarNode)
    }
    return FrontMatter(data, where, end + 1)


def card_settings(front: FrontMatter, rel: str) -> dict:
    """The card's own settings (`id`, `tags`, `deck`), checked."""
    data = front.data
    meta: dict = {"id": None, "tags": (), "deck": None}
    note_id = data.get("id")
    if note_id is not None:
        if not isinstance(note_id, str | int) or isinstance(note_id, bool) or not str(note_id):
            raise MkdeckError("`id` must be a non-empty string", rel, front.lines.get("id", 2))
        meta["id"] = str(note_id).strip()
    tags = data.get("tags", [])
    if isinstance(tags, str):
        tags = tags.split()
    if not isinstance(tags, list) or not all(isinstance(t, str | int | float) for t in tags):
        raise MkdeckError(
            "`tags` must be a list such as `[LLM, attention]`", rel, front.lines.get("tags", 2)
        )
    meta["tags"] = normalise_tags(tags)
    deck = data.get("deck")
    if deck is not None:
        if not isinstance(deck, str) or not deck.strip(" :"):
            raise MkdeckError(
                "`deck` must be a deck name such as `LLM::算法题`", rel, front.lines.get("deck", 2)
            )
        meta["deck"] = deck.strip()
    return meta


def normalise_tags(tags: list) -> tuple[str, ...]:
    """Anki tags cannot hold spaces: `machine learning` → `machine_learning`; blanks dropped."""
    return tuple("_".join(str(t).split()) for t in tags if str(t).strip())


def scan_fences(lines: list[str], start: int, rel: str) -> list[bool]:
    """For each line: is it code (a fence with its delimiters, or an indented code block)?

    CommonMark decides, through markdown-it's own block rules, so this agrees with how the
    point is rendered: ```` ``` ```` inside a block indented by four spaces is code, not a fence.
    An unclosed fence silently swallows the rest of its container, so it is an error here.
    """
    inside = [False] * len(lines)
    body = lines[start:]
    if not any("```" in line or "~~~" in line for line in body):
        return inside  # most files: nothing that could open a fence
    for token in _blocks().parse("\n".join(body)):
        if token.type not in ("fence", "code_block") or token.map is None:
            continue
        first, end = token.map[0] + start, token.map[1] + start
        for i in range(first, end):
            inside[i] = True
        if token.type == "fence" and not _closes(
            lines[end - 1] if end - 1 > first else "", token.markup
        ):
            raise MkdeckError(
                f"code fence {token.markup} opened here is never closed", rel, first + 1
            )
    return inside


@lru_cache(maxsize=1)
def _blocks() -> MarkdownIt:
    """CommonMark's block structure alone: where code is, by the rules that render it."""
    return MarkdownIt("commonmark").disable("inline")


def _closes(line: str, opening: str) -> bool:
    """Whether `line` (inside any quote markers) closes a fence opened by `opening`."""
    fence = CONTAINER.sub("", line).strip()
    return bool(fence) and set(fence) == {opening[0]} and len(fence) >= len(opening)


def _task_list(lines: list[str], fenced: list[bool], start: int) -> bool:
    """Whether the answer is a quiz written as a task list (`- [x] right`): not bullets."""
    return any(not fenced[i] and TASK_ITEM.match(lines[i]) for i in range(start, len(lines)))


TASK_ITEM = re.compile(r"^[-*+][ \t]+\[[ xX]\]")


def split_points(
    lines: list[str], fenced: list[bool], start: int, form: re.Pattern[str] = POINT_START
) -> tuple[list[Point], int, int]:
    """Find the top-level points from `start`: numbered ones, or those of another `form`.

    Returns the points, the index of the first point line, and the index where Extra starts.
    A point runs until the next point; whatever stands between two points (a formula or an
    image at the margin, say) belongs to the one above it, unless a sub-heading comes first:
    a heading ends a point, and from it to the next point is that point's lead (shown). The
    last point ends at a heading, or where a blank line is followed by a line at the left
    margin: from there on it is Extra.
    """
    starts = [i for i in range(start, len(lines)) if not fenced[i] and form.match(lines[i])]
    if not starts:
        return [], len(lines), len(lines)
    headings = [i for i in range(start, len(lines)) if not fenced[i] and HEADING.match(lines[i])]
    heading_at = set(headings)
    end = len(lines)
    for i in range(starts[-1] + 1, len(lines)):
        # A fence that opens at the margin after a blank line starts the Extra too.
        margin = lines[i][:1].strip()
        after_blank = is_blank(lines[i - 1]) and not fenced[i - 1]
        if margin and (after_blank or i in heading_at):
            end = i
            break
    points = []
    for k, s in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else end
        after = bisect.bisect_right(headings, s)  # the first heading below the point
        cut = min(headings[after], stop) if after < len(headings) else stop
        lead = NO_LEAD
        if k:  # from the first heading below the point before, when one stands between
            j = bisect.bisect_right(headings, starts[k - 1])
            if j < len(headings) and headings[j] < s:
                lead = section(lines, headings[j], s)
        points.append(point(lines[s:cut], s + 1, form)._replace(lead=lead))
    return points, starts[0], end


def point(lines: list[str], line: int, form: re.Pattern[str] = POINT_START) -> Point:
    """A point's lines → its own Markdown: number removed, children moved to the margin.

    Children are indented to the point's content column (3 spaces under `1. `), or less; the
    smallest indent among them is removed from all, so their own nesting is kept. When some
    continue at the margin (`- a` right under the point), nothing is removed: the others are
    nested relative to those.
    """
    m = form.match(lines[0])
    assert m is not None
    number = point_number(m)
    first = lines[0][m.end() :].rstrip()
    rest = [_expand_indent(t) for t in lines[1:]]
    indents = [len(t) - len(t.lstrip(" ")) for t in rest if t.strip()]
    shift = min([m.end(), *indents]) if indents else 0
    body = [t[min(shift, len(t) - len(t.lstrip(" "))) :] for t in rest]
    return Point(line, number, "\n".join([first, *body]).rstrip())


def _expand_indent(line: str) -> str:
    """Tabs in the indentation count as four spaces, as in CommonMark."""
    stripped = line.lstrip(" \t")
    return line[: len(line) - len(stripped)].expandtabs(4) + stripped


def section(lines: list[str], start: int, end: int) -> Section:
    """Lines `start:end` as Markdown, starting at its first non-blank line (for exact lines)."""
    while start < end and is_blank(lines[start]):
        start += 1
    return Section(start + 1, "\n".join(lines[start:end]).rstrip())
