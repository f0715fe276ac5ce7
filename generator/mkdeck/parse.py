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

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath
from typing import NamedTuple

from markdown_it import MarkdownIt
from markdown_it.token import Token

from .cloze import MARKERS, opens_with_label
from .config import POINT_RULES
from .dialect.callout import CALLOUT
from .errors import Diagnostic, MkdeckError
from .frontmatter import FrontMatter, read_front_matter
from .lockfile import question_of
from .numbering import (
    ANY_BULLET,
    ANY_POINT,
    EMPTY_ITEM,
    POINT_START,
    bullets_at,
    point_number,
    points_at,
)

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
# Characters (spaces not counted) a card should not hide at once: an answer longer than this
# is split by the structure it has (its paragraphs, its labelled lines).
LONG_CARD = 300


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
    style: str = "numbered"  # how it is shown: "numbered", "bullets", or a "block" of text


@dataclass(frozen=True, slots=True)
class Question:
    """Everything a card file says, before rendering.

    `layout` says where its points come from (`find_points`): "numbered" items, "bullets" at
    the margin, "sections" under sub-headings, "paragraphs" of a long answer, or the "whole"
    answer as one point.
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
    layout: str = "numbered"

    @property
    def whole_answer(self) -> bool:
        return self.layout == "whole"


def is_blank(text: str) -> bool:
    visible = text.strip()
    if not visible or (visible[0] not in _ZERO_WIDTH and visible[-1] not in _ZERO_WIDTH):
        return not visible  # most lines: empty, or text that shows at both ends
    return not INVISIBLE.sub("", text)


_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"


def _unfilled(line: str) -> bool:
    """A line with nothing to learn: blank, or an empty heading or numbered item."""
    return is_blank(EMPTY_ITEM.sub("", EMPTY_HEADING.sub("", line)))


def parse_question(
    text: str, rel: str, points: str = "auto", languages: tuple[str, ...] = ()
) -> tuple[Question | None, list[Diagnostic]]:
    """Parse one card file: its question and what is wrong with it. A file that holds no card
    (None) says why: a warning when it is only empty, an error when its input is broken.
    `languages`: of the sections labelled in a language (`## Answer (EN)`), those kept."""
    try:
        return _parse(text, rel, points, languages)
    except MkdeckError as exc:  # the helpers below stop at the first broken thing
        return None, [exc.diagnostic]


def _parse(
    text: str, rel: str, points_rule: str, languages: tuple[str, ...] = ()
) -> tuple[Question | None, list[Diagnostic]]:
    text = MARKERS.sub("", text)
    if is_blank(text):
        return None, [Diagnostic(rel, 1, "the file is empty: skipped", "warning")]
    lines = text.split("\n")
    front = read_front_matter(lines, rel)
    if "excalidraw-plugin" in front.data:  # Obsidian's drawings are Markdown files too
        return None, [Diagnostic(rel, 1, "an Excalidraw drawing: not a card", "note")]
    meta = card_settings(front, rel)
    lines = unquote_callouts(lines, front.body)
    fenced = scan_fences(lines, front.body, rel)
    if languages:
        lines = in_languages(lines, fenced, front.body, languages)
        if all(is_blank(line) for line in lines[front.body :]):
            # All of it in a language left out: no card, as asked. A question of a post goes
            # without a word; the post's reading names it.
            why = "written only in languages that `languages` leaves out: no card"
            return None, [] if question_of(rel) else [Diagnostic(rel, 1, why, "note")]
        fenced = scan_fences(lines, front.body, rel)  # the code left out is code no more

    title, title_index, answer_start = find_question(lines, fenced, front.body, rel)
    named = id_comment(lines, answer_start)
    id_line = front.lines.get("id", 0)
    if named is not None and meta["id"] is None:
        meta["id"], id_line, answer_start = named[0], named[1] + 1, named[1] + 1
    rule = meta["points"] or points_rule
    # An answer in labelled parts gives its points from its `答案` on, up to its `解析`.
    labelled = answer_parts(lines, fenced, answer_start)
    points_from, points_end = labelled or (answer_start, len(lines))
    layout, points, first_point, extra_start = find_points(
        lines, fenced, points_from, rule, points_end
    )
    problems: list[Diagnostic] = []
    if layout == "whole":
        answer = section(lines, points_from, points_end)
        if all(_unfilled(t) for t in answer.markdown.split("\n")):
            why = "the question has no answer below it: skipped"
            return None, [Diagnostic(rel, title_index + 1, why, "warning")]
        points = [Point(answer.line, 1, answer.markdown)]
        context = extra = Section(answer.line, "")
        if labelled is not None:  # the task before the answer; the explanation after it
            context = section(lines, answer_start, points_from)
            extra = section(lines, points_end, len(lines))
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
        id_line=id_line,
        tags=meta["tags"],
        deck=meta["deck"],
        title=title,
        title_line=title_index + 1,
        context=context,
        points=tuple(points),
        extra=extra,
        layout=layout,
    )
    return question, problems


def answer_parts(lines: list[str], fenced: list[bool], start: int) -> tuple[int, int] | None:
    """Where the answer starts and where its explanation starts (the file's end when it has
    none), for an answer written in labelled parts, as posts of interview questions often
    are: the task (`**题目：**`), its answer (`**答案：**`), then why (`**解析：**`). What
    stands before the answer is context, and the explanation is Extra, shown on the back.
    None for an answer that names no part of it so before its first heading (an article
    with sections is read section by section, whatever labels its sections hold)."""
    answer = None
    for i in range(start, len(lines)):
        if fenced[i]:
            continue
        if HEADING.match(lines[i]):
            return None
        if ANSWER_LABEL.match(lines[i]):
            answer = i
            break
    if answer is None:
        return None
    why = (i for i in range(answer + 1, len(lines)) if not fenced[i] and WHY_LABEL.match(lines[i]))
    return answer, next(why, len(lines))


# A paragraph that labels the answer, or its explanation, at the left margin.
ANSWER_LABEL = re.compile(
    r"^(?:\*\*|__)?(?:参考答案|标准答案|答案要点|答案|解答|answer)(?:\*\*|__)?[ \t]*[:：]",
    re.IGNORECASE,
)
WHY_LABEL = re.compile(
    r"^(?:\*\*|__)?(?:答案解析|解析|explanation)(?:\*\*|__)?[ \t]*[:：]", re.IGNORECASE
)


# An `id` written under the question, where Typora, Obsidian and GitHub do not show it (as a
# post's questions name theirs): `<!-- id: lora-memory -->`.
ID_COMMENT = re.compile(r"^ {0,3}<!--\s*id:\s*([^\s>]+)\s*-->[ \t]*$")


def id_comment(lines: list[str], start: int, stop: int | None = None) -> tuple[str, int] | None:
    """The `id` a comment names on the first line with text in `start:stop`, and that line:
    a card file's question, or a post's (`mkdeck import` reads it from here too)."""
    first = next_line(lines, start, stop)
    if first is None or "<!--" not in lines[first]:
        return None
    m = ID_COMMENT.match(lines[first])
    return (m.group(1), first) if m else None


# A heading that only labels the question below it: `# 题目`, `## Question`, and in notes kept
# in two languages `# Question (EN)` over `# Вопрос (RU)`, each above the question in its own.
LABEL_HEADING = re.compile(
    r"[*_]*(题目|问题|面试题|question|вопрос)[*_]*"
    r"(?:[ \t]*[(（][^()（）]{1,12}[)）])?[ \t]*[:：]?$",
    re.IGNORECASE,
)


QUOTED = re.compile(r"^ {0,3}>[ \t]?")


def _callout(line: str) -> re.Match[str] | None:
    """A quoted line that opens an Obsidian callout (`> [!question]- Title`), by the card
    dialect's own pattern (`dialect.callout`): its type and title."""
    quoted = QUOTED.match(line)
    return CALLOUT.match(line[quoted.end() :]) if quoted else None


def unquote_callouts(lines: list[str], start: int) -> list[str]:
    """A card file that opens with a `[!question]` callout reads as question and answer: the
    callout's title is asked as a `#` heading, and its body, with that of an `[!answer]`
    callout that follows, is the answer, unquoted (line for line, so lines stay where they
    are). Any other file is returned as it is."""
    first = next_line(lines, start)
    m = _callout(lines[first]) if first is not None else None
    if first is None or m is None or m.group(1).lower() not in ("question", "faq", "help"):
        return lines
    out = list(lines)
    out[first] = f"# {m.group(2).strip() or 'Question'}"
    i = first + 1
    while i < len(out):
        answer = _callout(out[i])
        if answer is not None and answer.group(1).lower() in ("answer", "success", "check"):
            out[i] = answer.group(2)  # its title, if any, opens the answer
        elif QUOTED.match(out[i]):
            out[i] = QUOTED.sub("", out[i], count=1)
        elif not is_blank(out[i]):
            break
        i += 1
    return out


def find_question(
    lines: list[str], fenced: list[bool], start: int, rel: str
) -> tuple[str, int, int]:
    """The question's text, its line index, and the index where its answer starts.

    In order: the first `#` heading; a first line that asks (`What is X?` above `#### Answer`);
    the first heading of any level, when nothing stands above it; the file's name.
    """
    headings = []
    for i in range(start, len(lines)):
        m = None if fenced[i] else HEADING.match(lines[i])
        if m and not is_blank(m.group(2) or ""):
            headings.append((len(m.group(1)), i, (m.group(2) or "").strip()))
    top = [h for h in headings if h[0] == 1]
    if top:
        _, index, title = top[0]
        if LABEL_HEADING.match(title):  # `# 题目` over the question itself, as templates do
            labelled = _labelled(lines, fenced, index)
            if labelled is not None:
                text, below = labelled
                # The same question in another language under the next label (`# Question
                # (EN)` after `# Вопрос (RU)`): shown with it, above the answer, never hidden.
                again = next_line(lines, below + 1)
                other = HEADING.match(lines[again]) if again is not None else None
                if (
                    again is not None
                    and other is not None
                    and len(other.group(1)) == 1
                    and LABEL_HEADING.match((other.group(2) or "").strip())
                ):
                    translated = _labelled(lines, fenced, again)
                    if translated is not None:
                        return text, below, translated[1]
                return text, below, below + 1
        return title, index, index + 1
    first = next_line(lines, start)
    if first is not None and not fenced[first] and not POINT_START.match(lines[first]):
        asked = None if HEADING.match(lines[first]) else ASKING.match(lines[first].strip())
        if asked:
            return asked.group(1).strip(), first, first + 1
    if headings and all(is_blank(lines[i]) for i in range(start, headings[0][1])):
        _, index, title = headings[0]
        return title, index, index + 1
    # The question is named only by the file (`Word2vec为什么需要二次采样？.md`), also when text
    # stands before the first heading: that text is the answer's, not to be dropped.
    return PurePosixPath(rel).stem.strip(), start, start


# A heading labelled with the language it is written in: `## Answer (EN)`, `# Вопрос（RU）`.
IN_LANGUAGE = re.compile(r"[(（]([A-Za-z]{2})[)）][*_]*$")


def in_languages(
    lines: list[str], fenced: list[bool], start: int, languages: tuple[str, ...]
) -> list[str]:
    """The lines with every section labelled in another language than `languages` left blank:
    notes kept in two languages give each point twice, and a card that hides one would show
    it in the other. A section is a heading that ends `(RU)` and what stands under it, up to
    the next heading labelled in a language of its own, or of its level or above; under a
    `#` heading, up to the next heading of any level. Such notes label the parts at a file's
    top so (`# Вопрос (RU)`, `# Summary (EN)`), and the `##` sections that follow belong to
    the file, each labelled where it is written in one language (`## Ответ (RU)`). Blank,
    not removed: every line keeps its number."""
    kept = list(lines)
    dropping = 0  # the level of the heading whose section is being left out (0: none)
    for i in range(start, len(lines)):
        m = None if fenced[i] else HEADING.match(lines[i])
        if m is not None:
            level = len(m.group(1))
            tag = IN_LANGUAGE.search((m.group(2) or "").strip())
            if tag is not None:
                dropping = level if tag.group(1).lower() not in languages else 0
            elif level <= dropping or dropping == 1:
                dropping = 0
        if dropping:
            kept[i] = ""
    return kept


def next_line(lines: list[str], start: int, stop: int | None = None) -> int | None:
    """The index of the first line in `start:stop` that is not blank; None: all are."""
    end = len(lines) if stop is None else stop
    return next((i for i in range(start, end) if not is_blank(lines[i])), None)


def _labelled(lines: list[str], fenced: list[bool], label: int) -> tuple[str, int] | None:
    """The question a label heading at `label` stands over: the line below it, quoted or not
    (`> What is …?`), and its index; None when a heading, a point or a bullet comes first."""
    below = next_line(lines, label + 1)
    if below is None or fenced[below]:
        return None
    text = QUOTED.sub("", lines[below], count=1)
    if HEADING.match(text) or POINT_START.match(text) or ANY_BULLET.match(text) or is_blank(text):
        return None
    return text.strip(), below


def card_settings(front: FrontMatter, rel: str) -> dict:
    """The card's own settings (`id`, `tags` with any `categories`, `deck`, `points`),
    checked."""
    data = front.data
    meta: dict = {"id": None, "tags": (), "deck": None, "points": None}
    rule = data.get("points")
    if rule is not None:
        if rule not in POINT_RULES:
            raise MkdeckError(
                f"`points` must be one of {', '.join(POINT_RULES)}",
                rel,
                front.lines.get("points", 2),
            )
        meta["points"] = rule
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
    # Hexo and Hugo posts file themselves under `categories` too: tags as well.
    categories = data.get("categories", data.get("category", []))
    if isinstance(categories, str):
        categories = [categories]
    if isinstance(categories, list):
        tags = [*tags, *(c for c in categories if isinstance(c, str | int | float))]
    meta["tags"] = tuple(dict.fromkeys(normalise_tags(tags)))
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
    """For each line: is it code or a formula block (a fence with its delimiters, an indented
    code block, a `$$` block), where no point, bullet or heading can start?

    The card dialect's block rules decide, through markdown-it, so this agrees with how the
    point is rendered: ```` ``` ```` inside a block indented by four spaces is code, not a fence,
    and `+ b` inside a `$$` block is TeX. An unclosed fence silently swallows the rest of its
    container, so it is an error here.
    """
    inside = [False] * len(lines)
    body = lines[start:]
    if not any(mark in line for line in body for mark in BLOCK_MARKS):
        return inside  # most files: nothing that could open a fence or a formula block
    from .dialect.document import Document

    env = {"mkdeck": Document(rel, start + 1, False)}  # what it finds is said when rendered
    for token in _block_parser().parse("\n".join(body), env):
        if token.type not in ("fence", "code_block", "math_block") or token.map is None:
            continue
        first, end = token.map[0] + start, token.map[1] + start
        # A block inside a list item may open on the item's own line (`1. $$`): that line
        # still starts the point.
        for i in range(first + (token.level > 0), end):
            inside[i] = True
        if token.type == "fence" and not _closes(
            lines[end - 1] if end - 1 > first else "", token.markup
        ):
            raise MkdeckError(
                f"code fence {token.markup} opened here is never closed", rel, first + 1
            )
    return inside


# What opens a block with no structure inside: a fence, a `$$` or `\[` formula.
BLOCK_MARKS = ("```", "~~~", "$$", "\\[")


def _closes(line: str, opening: str) -> bool:
    """Whether `line` (inside any quote markers) closes a fence opened by `opening`."""
    fence = CONTAINER.sub("", line).strip()
    return bool(fence) and set(fence) == {opening[0]} and len(fence) >= len(opening)


def find_points(
    lines: list[str], fenced: list[bool], start: int, rule: str = "auto", end: int | None = None
) -> tuple[str, list[Point], int, int]:
    """The answer's points, from the structure its author wrote.

    An answer without sub-headings takes them by `_structure`. An answer with sub-headings
    is read section by section, each by its own structure: a section of numbered items gives
    those, one of bullets its bullets, one of prose its text (each paragraph, when long) as
    cards; the section's heading, the headings above it that only group, and the words
    before its first point are shown as that point's lead. What stands before the first
    heading is context, unless it has points of its own. From a heading that names
    references (`参考资料`, `References`) on, and after the last point, is Extra.

    `rule` limits where points come from (`POINT_RULES`): "numbered" items only, or "lists"
    (numbered items, else bullets). Points are looked for up to `end` (the end of the file
    when None), and Extra starts there at the latest. Returns the layout, the points, where
    the first point starts and where Extra starts.
    """
    end = len(lines) if end is None else end
    heads = [i for i in range(start, end) if not fenced[i] and HEADING.match(lines[i])]
    if not heads:
        return _structure(lines, fenced, start, end, rule=rule)
    layout, points, first, shown_from = _structure(lines, fenced, start, heads[0], rule=rule)
    if not points:
        layout, first, shown_from = "sections", heads[0], heads[0]
    for k, head in enumerate(heads):
        if REFERENCES.match(lines[head]):
            break
        stop = heads[k + 1] if k + 1 < len(heads) else end
        _, found, found_first, found_end = _structure(
            lines, fenced, head + 1, stop, block=rule == "auto", rule=rule
        )
        if not found:
            continue  # a heading that only groups the ones below it: part of the next lead
        found[0] = found[0]._replace(lead=section(lines, shown_from, found_first))
        points += found
        shown_from = found_end
        layout = "sections"
    if not points:
        return "whole", [], end, end
    return layout, points, first, shown_from


# A heading over references, links and further reading: shown on the back, never asked.
REFERENCES = re.compile(
    r"^ {0,3}#{1,6}[ \t]+[*_]*(参考|引用|延伸阅读|扩展阅读|相关链接|链接|资料|references?|further"
    r" reading|see also|links|sources|resources)",
    re.IGNORECASE,
)


def _structure(
    lines: list[str],
    fenced: list[bool],
    start: int,
    stop: int,
    block: bool = False,
    rule: str = "auto",
) -> tuple[str, list[Point], int, int]:
    """The points of lines `start:stop` without sub-headings, the first rule that finds
    some: a folded `<details>` block, by these rules inside it, its summary shown as the cue;
    numbered items; else the outermost bullets (not a task-list quiz); else, when
    longer than `LONG_CARD`, each paragraph (one card of 1,500 characters asks for too
    much at once: the others stay in view as its context); else, for a section (`block`),
    its whole text as one point, or for a whole answer none ("whole").

    Returns the layout, the points, where the first starts and where what follows starts.
    """
    if rule == "auto" and (folded := _details(lines, start, stop)):
        summary, opened, inner, closed = folded
        layout, points, first, end = _structure(lines, fenced, inner, closed, True, rule)
        if points:  # the summary is the cue: shown above what the fold holds, which is asked
            intro = section(lines, inner, first)
            cue = "\n\n".join(part for part in (f"**{summary}**", intro.markdown) if part)
            points[0] = points[0]._replace(lead=Section(opened + 1, cue))
            return layout, points, opened, max(end, closed)
    numbered = _outermost(lines, fenced, start, stop, ANY_POINT, points_at)
    if numbered is not None:
        points, first, end = split_points(lines, fenced, start, stop, numbered)
        if points:
            return "numbered", points, first, end
    if rule == "numbered":
        return "whole", [], stop, stop
    if rule == "auto" and (quiz := _quiz(lines, fenced, start, stop)):
        return "paragraphs", [quiz[0]], quiz[1], quiz[2]
    bullets = _outermost(lines, fenced, start, stop, ANY_BULLET, bullets_at)
    if bullets is not None and not _task_list(lines, fenced, start, stop):
        points, first, end = split_points(lines, fenced, start, stop, bullets, "bullets")
        if points:
            return "bullets", points, first, end
    if rule == "lists":
        return "whole", [], stop, stop
    blocks = split_paragraphs(lines, fenced, start, stop)
    size = sum(len(INVISIBLE.sub("", p.markdown)) for p in blocks)
    if len(blocks) > 1 and size > LONG_CARD:
        return "paragraphs", blocks, blocks[0].line - 1, stop
    if rule == "auto" and (labelled := _labelled_lines(lines, fenced, start, stop)):
        return "paragraphs", labelled, labelled[0].line - 1, stop
    if block and blocks:
        body = section(lines, start, stop)
        if not all(_unfilled(t) for t in body.markdown.split("\n")):
            return (
                "paragraphs",
                [Point(body.line, 0, body.markdown, style="block")],
                body.line - 1,
                stop,
            )
    return "whole", [], stop, stop


# What a paragraph's line may not be for its lines to be read as labelled points: a list
# item, a heading, a quote, a table row, a fence or a formula block.
NOT_PROSE = re.compile(r"^\s*(?:[-*+]\s|\d+[.)、]|#|>|\||```|~~~|\$\$|\\\[)")


def _labelled_lines(lines: list[str], fenced: list[bool], start: int, stop: int) -> list[Point]:
    """An answer of prose over `LONG_CARD` whose lines open with labels (`特点：…`,
    `**常见应用场景**：…`, as a point's label is read: `cloze.opens_with_label`), at least two,
    the first line among them: each labelled line is a point, with the lines under it, its
    label the cue. (Read whole, such an answer hid 340 characters in one card; the first
    point keeps the whole answer's card, since it keeps its first line.) [] otherwise."""
    body = [i for i in range(start, stop) if lines[i].strip(" \t\u200b\u3000")]
    if not body or any(fenced[i] or NOT_PROSE.match(lines[i]) for i in body):
        return []
    if sum(len(INVISIBLE.sub("", lines[i])) for i in body) <= LONG_CARD:
        return []
    starts = [i for i in body if opens_with_label(lines[i])]
    if len(starts) < 2 or starts[0] != body[0]:
        return []
    ends = [*starts[1:], stop]
    return [
        Point(first + 1, 0, "\n".join(lines[first:end]).rstrip(), style="block")
        for first, end in zip(starts, ends, strict=True)
    ]


def _outermost(
    lines: list[str],
    fenced: list[bool],
    start: int,
    stop: int,
    any_indent: re.Pattern[str],
    at: Callable[[int], re.Pattern[str]],
) -> re.Pattern[str] | None:
    """The items of lines `start:stop` that `any_indent` finds (its group 1 the indent), at
    the indent of the least indented: the outermost ones. None: there are none."""
    indents = [
        len(m.group(1))
        for i in range(start, stop)
        if not fenced[i] and (m := any_indent.match(lines[i]))
    ]
    return at(min(indents)) if indents else None


def split_paragraphs(lines: list[str], fenced: list[bool], start: int, stop: int) -> list[Point]:
    """Each top-level block of lines `start:stop` (a paragraph, a list, a table, a fenced or
    `$$` block, blank lines inside it and all) as a point, by the card dialect's own block
    rules."""
    from .dialect.document import Document

    body = "\n".join(lines[start:stop])
    env = {"mkdeck": Document("", start + 1, False)}  # what it says is said when rendered
    tokens = _block_parser().parse(body, env)
    blocks = sorted({(m[0] + start, m[1] + start) for t in tokens if (m := _outer(t))})
    points: list[Point] = []
    for first, end in blocks:
        markdown = "\n".join(lines[first:end]).rstrip()
        if markdown.strip():
            points.append(Point(first + 1, 0, markdown, style="block"))
    return points


def _outer(token: Token) -> list[int] | None:
    """Where a block starts and ends, for an opening or self-contained top-level token."""
    return token.map if token.level == 0 and token.nesting >= 0 else None


@lru_cache(maxsize=1)
def _block_parser() -> MarkdownIt:
    """The dialect's blocks (CommonMark's, and `$$` formulas), without inline parsing: where
    code, formulas and paragraphs are, by the rules that render them."""
    from .dialect.math import math_plugin  # the dialect imports this module's neighbours

    return MarkdownIt("commonmark").use(math_plugin).enable("table").disable("inline")


DETAILS_OPEN = re.compile(
    r"^ {0,3}<details\b[^>]*>[ \t]*(?:<summary>(.*?)</summary>)?[ \t]*$", re.I
)
SUMMARY = re.compile(r"^ {0,3}<summary>(.*?)</summary>[ \t]*$", re.I)


def _details(lines: list[str], start: int, stop: int) -> tuple[str, int, int, int] | None:
    """An answer that is one folded block (`<details>`, `<summary>答案</summary>`, what it
    holds, `</details>`, each on lines of their own): its summary, where the block opens,
    where what it holds starts, and where it closes. None: no such block here."""
    body = [i for i in range(start, stop) if not is_blank(lines[i])]
    if len(body) < 3 or lines[body[-1]].strip().lower() != "</details>":
        return None
    opening = DETAILS_OPEN.match(lines[body[0]])
    if opening is None:
        return None
    summary, inner = opening.group(1), body[0] + 1
    if summary is None:
        named = SUMMARY.match(lines[body[1]])
        if named is None:
            return None
        summary, inner = named.group(1), body[1] + 1
    return summary.strip(), body[0], inner, body[-1]


def _quiz(
    lines: list[str], fenced: list[bool], start: int, stop: int
) -> tuple[Point, int, int] | None:
    """A quiz written as a task list (`- [ ] 甲` / `- [x] 乙`): one card that shows the
    options and hides which are right, each option's mark as `==✓==` or `==✗==`. Returns the
    point, where it starts and where what follows it starts; None: no quiz here."""
    items = [i for i in range(start, stop) if not fenced[i] and TASK_ITEM.match(lines[i])]
    if not items:
        return None
    end, first, ticked = _list_end(lines, fenced, items[-1], stop), items[0], set(items)
    marked = [
        TASK_ITEM.sub(lambda m: f"{m.group(1)}=={'✗' if m.group(2) == ' ' else '✓'}== ", line)
        if i in ticked
        else line
        for i, line in enumerate(lines[first:end], first)
    ]
    return Point(first + 1, 0, "\n".join(marked).rstrip(), style="block"), first, end


def _task_list(lines: list[str], fenced: list[bool], start: int, stop: int) -> bool:
    """Whether the answer is a quiz written as a task list (`- [x] right`): not bullets."""
    return any(not fenced[i] and TASK_ITEM.match(lines[i]) for i in range(start, stop))


TASK_ITEM = re.compile(r"^( {0,3}[-*+][ \t]+)\[([ xX])\][ \t]*")


def split_points(
    lines: list[str],
    fenced: list[bool],
    start: int,
    stop: int,
    form: re.Pattern[str] = POINT_START,
    style: str = "numbered",
) -> tuple[list[Point], int, int]:
    """The top-level points in lines `start:stop` (a section): numbered ones, or those of
    another `form`.

    Returns the points, the index of the first point line, and the index where what follows
    the points starts. A point runs until the next point; whatever stands between two points
    (a formula or an image at the margin, say) belongs to the one above it, but for labels
    right before the next one (`**优点**：`, `Cons:`): they name what follows, and are its
    lead. The last point ends where a blank line is followed by a line at the left margin.
    """
    starts = [i for i in range(start, stop) if not fenced[i] and form.match(lines[i])]
    if not starts:
        return [], stop, stop
    end = _list_end(lines, fenced, starts[-1], stop)
    points, lead = [], NO_LEAD
    for k, first in enumerate(starts):
        until = starts[k + 1] if k + 1 < len(starts) else end
        labels = _labels_before(lines, fenced, first + 1, until) if k + 1 < len(starts) else until
        points.append(point(lines[first:labels], first + 1, form)._replace(style=style, lead=lead))
        lead = section(lines, labels, until) if labels < until else NO_LEAD
    return points, starts[0], end


def _labels_before(lines: list[str], fenced: list[bool], first: int, stop: int) -> int:
    """Where the labels that end lines `first:stop` start (`stop`: none end them): each a
    paragraph of one line at the left margin, short, ending in a colon (`LABEL_LINE`)."""
    at = labels = stop
    while True:
        while at > first and is_blank(lines[at - 1]):
            at -= 1
        line = at - 1
        if line <= first or fenced[line] or not LABEL_LINE.match(lines[line]):
            return labels
        if not is_blank(lines[line - 1]):
            return labels  # a line of the point's own paragraph, not one of its own
        labels = at = line


# A label of what follows, on a line of its own: short, bold or not, ending in a colon
# (`**优点**：`, `**1. 本地部署**:`, `Cons:`); no list item, heading, quote or table row. Not
# a point's cue (`cloze.opens_with_label`), which may hold no sentence punctuation: a line
# that introduces the points after it often is a sentence (`而MoE的缺点，主要有以下4点：`),
# and is shown whole.
LABEL_LINE = re.compile(
    r"^(?![-*+]\s|\d+[.)、]|[>#|])(?:\*\*|__)?\S.{0,38}?"
    r"(?:[:：](?:\*\*|__)?|(?:\*\*|__)[:：])[ \t]*$"
)


def _list_end(lines: list[str], fenced: list[bool], last: int, stop: int) -> int:
    """Where a list whose last item starts at `last` ends: at a blank line followed by a line
    at the left margin (a fence that opens there too), else at `stop`."""
    for i in range(last + 1, stop):
        if lines[i][:1].strip() and is_blank(lines[i - 1]) and not fenced[i - 1]:
            return i
    return stop


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
