"""`mkdeck import`: split a multi-question post into card files.

Posts come in many shapes: questions as `# 1、…`, `## 1. …`, `### 1.**…**`, `#### 1.1 …？`,
or headings that simply ask (`…？`); a post title above them (`# 1.attention`); section headings
with no text of their own (`### 1. 理论篇` right above `#### 1.1 …`). This module reads the
headings, decides what each one is, and plans one card file per question as data
(`ImportPlan`), so `--dry-run` shows exactly what a real run does; `apply_plan` is the only
part that writes.

- A question's answer is copied as written: the card format reads every numbering people use,
  so nothing is renumbered or re-indented, and what follows the last point at the margin stays
  Extra, as in any card file. An answer without numbered points becomes one card.
- A section's name becomes a tag of the questions under it.
- Each card records where it came from (`imported_from`: the post and the heading), and a
  later import matches on that, never on a title alone: two posts may both ask `优缺点`.
- Images are copied under names made of their content's hash, so `img/1.png` of one post
  never overwrites or stands in for another post's `img/1.png`.
- Formulas written as plain text (`6 × s × D^2`) are kept as written; guessing TeX would put
  wrong formulas on cards.
"""

from __future__ import annotations

import functools
import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from .discover import decode_source
from .errors import Diagnostic, MkdeckError
from .files import atomic_write, unique_name
from .media import HTML_IMAGE, find_image, is_image, is_remote
from .newcard import fresh_id, slug
from .numbering import NUMBERED_HEADING
from .parse import (
    HEADING,
    is_blank,
    normalise_tags,
    parse_question,
    read_front_matter,
    scan_fences,
)

ASKS = re.compile(r"[？?][ \t]*$")
EMPHASIS = re.compile(r"^(\*\*|__|\*)(.+)\1$")
BOLD_LINE = re.compile(r"^\*\*((?:(?!\*\*).)+)\*\*[ \t]*$|^__((?:(?!__).)+)__[ \t]*$")
THEMATIC_BREAK = re.compile(r"^ {0,3}([*_-])(?:[ \t]*\1){2,}[ \t]*$")
# A path is `<in angle brackets>` or may hold one level of parentheses (`640%20(1).gif`), as
# CommonMark allows.
MD_IMAGE = re.compile(
    r"(!\[[^\]]*\]\(\s*)(<[^>\n]+>|(?:[^()\s<]|\([^()\s]*\))+)((?:\s+\"[^\"]*\")?\s*\))"
)
ORIGIN_KEY = "imported_from"


@dataclass(frozen=True)
class Heading:
    index: int  # line index in the post
    level: int
    title: str  # without its number and emphasis
    numbered: bool
    asks: bool
    body: bool  # has text of its own before the next heading


@dataclass(frozen=True)
class PlannedCard:
    title: str
    filename: str
    text: str
    points: int  # 0: an answer without numbered points, one card
    origin: str
    existing: str | None  # the file that already holds this question, if any


@dataclass(frozen=True)
class LeftOut:
    first_line: int
    last_line: int
    what: str


@dataclass(frozen=True)
class PlannedImage:
    source: Path
    target: str  # relative to the cards folder


@dataclass(frozen=True)
class ImportPlan:
    cards: tuple[PlannedCard, ...]
    sections: tuple[str, ...]
    left_out: tuple[LeftOut, ...]
    images: tuple[PlannedImage, ...]
    warnings: tuple[Diagnostic, ...]
    skipped: tuple[Diagnostic, ...]  # questions with no answer


def plan_import(post: Path, cards_dir: Path, outside: bool = False) -> ImportPlan:
    """Read `post` and decide, without writing, which card files it becomes. `outside`: also
    copy images from outside the post's folder (the user's own posts, with absolute paths)."""
    rel = post.name
    try:
        data = post.read_bytes()
    except OSError as exc:
        raise MkdeckError(f"cannot read the post: {exc.strerror}", str(post)) from exc
    lines = decode_source(data, rel).split("\n")
    front = read_front_matter(lines, rel)
    tags = _tags(front.data.get("tags"))
    fenced = scan_fences(lines, front.body, rel)
    headings = read_headings(lines, fenced, front.body)
    kinds = classify(headings)
    questions = [h for h in headings if kinds[h.index] == "question"]
    if not questions:
        raise MkdeckError(
            "no questions found: expected headings that are numbered (`# 1、…`, `## 1.`, "
            "`### 1.1 …`) or that ask (`…？`), each with an answer below it",
            rel,
            front.body + 1,
        )

    existing = _imported(cards_dir)
    taken = {p.name for p in cards_dir.glob("*") if p.is_file()} if cards_dir.is_dir() else set()
    images: dict[Path, PlannedImage] = {}
    warnings: list[Diagnostic] = []
    skipped: list[Diagnostic] = []
    left_out: list[LeftOut] = []
    planned: list[PlannedCard] = []
    ends = {h.index: _end(h, headings, kinds, len(lines)) for h in headings}

    first = headings[0].index if headings else len(lines)
    _leave_out(lines, front.body, first, "prose before the first question", left_out)
    for h in headings:
        kind = kinds[h.index]
        start, end = h.index + 1, ends[h.index]
        if kind == "title":
            _leave_out(lines, start, end, f"text under the post's title `{h.title}`", left_out)
        elif kind == "other":
            _leave_out(lines, h.index, end, f"`{h.title}`, which is not a question", left_out)
        elif kind == "empty":
            skipped.append(
                Diagnostic(
                    rel, h.index + 1, f"`{h.title}` has no answer below it: skipped", "warning"
                )
            )
        if kind != "question":
            continue
        stop = next(
            (i for i in range(start, end) if not fenced[i] and THEMATIC_BREAK.match(lines[i])), end
        )
        last = h is questions[-1]
        _leave_out(
            lines,
            stop,
            end,
            "footer after the last question" if last else "text after a rule",
            left_out,
        )
        answer = [
            _images(line, i, post.parent, rel, images, warnings, outside)
            for i, line in _answer(lines, start, stop)
        ]
        origin = f"{rel} › {lines[h.index].strip()}"
        section_tags = [s.title for s in _sections_above(h, headings, kinds)]
        markdown = _card_markdown(h.title, [*tags, *normalise_tags(section_tags)], origin, answer)
        # Read as the build will read it: its points counted, an empty answer found.
        card, problems = parse_question(markdown, "card")
        if card is None:
            why = "its answer is empty once the footer and missing images are left out"
            skipped.append(Diagnostic(rel, h.index + 1, f"`{h.title}`: {why}: skipped", "warning"))
            if any(d.severity == "error" for d in problems):
                raise MkdeckError(problems[0].message, problems[0].path, problems[0].line)
            continue
        filename = existing.get(origin) or unique_name(slug(h.title), ".md", taken)
        taken.add(filename)
        points = 0 if card.whole_answer else len(card.points)
        planned.append(
            PlannedCard(h.title, filename, markdown, points, origin, existing.get(origin))
        )
    sections = tuple(h.title for h in headings if kinds[h.index] == "section")
    return ImportPlan(
        tuple(planned),
        sections,
        tuple(left_out),
        tuple(images.values()),
        tuple(warnings),
        tuple(skipped),
    )


def apply_plan(plan: ImportPlan, cards_dir: Path) -> None:
    """Write the new card files and copy their images."""
    cards_dir.mkdir(parents=True, exist_ok=True)
    # Each file whole or not at all: an import killed halfway leaves no empty card file, and
    # running it again finishes the job.
    for image in plan.images:
        target = cards_dir / image.target
        if not target.exists():
            atomic_write(target, functools.partial(_copy_to, image.source))
    for card in plan.cards:
        if card.existing is None:
            atomic_write(cards_dir / card.filename, functools.partial(_write_to, card.text))


def _copy_to(source: Path, tmp: Path) -> None:
    shutil.copyfile(source, tmp)


def _write_to(text: str, tmp: Path) -> None:
    tmp.write_bytes(text.encode("utf-8"))


def read_headings(lines: list[str], fenced: list[bool], start: int) -> list[Heading]:
    """The post's headings. A line that is bold as a whole and numbered or asking
    (`**Q1: Explain self-attention.**`) counts as a heading below all the others: many
    question lists write their questions so."""
    found = []
    for i in range(start, len(lines)):
        if fenced[i]:
            continue
        m = HEADING.match(lines[i])
        bold = None if m else BOLD_LINE.match(lines[i])
        raw = m.group(2) if m else (bold.group(1) or bold.group(2)) if bold else None
        if raw is None or is_blank(raw):
            continue
        text = _unwrap(raw.strip())
        numbered = NUMBERED_HEADING.match(text)
        title = _unwrap(numbered.group("rest").strip()) if numbered else text
        asks = bool(ASKS.search(title))
        if bold and not (numbered or asks):
            continue  # bold text, not a question
        level = len(m.group(1)) if m else 7
        found.append(Heading(i, level, title or text, bool(numbered), asks, False))
    with_body = []
    for k, h in enumerate(found):
        nxt = found[k + 1].index if k + 1 < len(found) else len(lines)
        body = any(not is_blank(lines[i]) for i in range(h.index + 1, nxt))
        with_body.append(Heading(h.index, h.level, h.title, h.numbered, h.asks, body))
    return with_body


def classify(headings: list[Heading]) -> dict[int, str]:
    """Each heading's part: title, section, question, empty (a question without answer), other.

    - the post's title is the one heading at the top level when questions stand below it;
    - a section has no text of its own and a deeper heading right below it;
    - a question is numbered or asks, and has an answer;
    - anything else at a question's level or above is left out; deeper, it is part of the
      answer above it.
    """
    kinds: dict[int, str] = {}
    if not headings:
        return kinds
    top = min(h.level for h in headings)
    at_top = [h for h in headings if h.level == top]
    candidates = [h for h in headings if h.numbered or h.asks]
    for k, h in enumerate(headings):
        nxt = headings[k + 1] if k + 1 < len(headings) else None
        deeper_next = nxt is not None and nxt.level > h.level
        if (
            h is headings[0]
            and len(at_top) == 1
            and any(c is not h for c in candidates)
            and deeper_next
        ):
            kinds[h.index] = "title"
        elif not h.body and deeper_next:
            kinds[h.index] = "section"
        elif h.numbered or h.asks:
            kinds[h.index] = "question" if h.body else "empty"
        else:
            kinds[h.index] = "other"
    # A plain heading inside an answer (`#### 小结`) is part of that answer.
    current: Heading | None = None
    for h in headings:
        if kinds[h.index] == "question":
            current = h
        elif kinds[h.index] in ("title", "section") or (current and h.level <= current.level):
            current = None
        elif kinds[h.index] == "other" and current is not None:
            kinds[h.index] = "structure"
    return kinds


def _end(h: Heading, headings: list[Heading], kinds: dict[int, str], total: int) -> int:
    """Where a heading's text ends: at the next heading, or for a question at the next one
    that is not part of its answer."""
    inside = ("structure",) if kinds[h.index] == "question" else ()
    following = (o.index for o in headings if o.index > h.index and kinds[o.index] not in inside)
    return next(following, total)


def _sections_above(h: Heading, headings: list[Heading], kinds: dict[int, str]) -> list[Heading]:
    """The sections a question stands in, outermost first."""
    chain: list[Heading] = []
    for other in headings:
        if other.index >= h.index:
            break
        if kinds[other.index] in ("section", "title", "question", "other"):
            chain = [s for s in chain if s.level < other.level]
            if kinds[other.index] == "section" and other.level < h.level:
                chain.append(other)
    return chain


def _unwrap(text: str) -> str:
    """`**加粗的标题**` → `加粗的标题`."""
    m = EMPHASIS.match(text)
    return m.group(2).strip() if m else text


def _tags(value: object) -> list[str]:
    if isinstance(value, str):
        value = value.split()
    return list(normalise_tags(value)) if isinstance(value, list) else []


def _leave_out(lines: list[str], start: int, end: int, what: str, out: list[LeftOut]) -> None:
    filled = [i for i in range(start, end) if not is_blank(lines[i])]
    if filled:
        out.append(LeftOut(filled[0] + 1, filled[-1] + 1, what))


def _answer(lines: list[str], start: int, end: int) -> list[tuple[int, str]]:
    while start < end and is_blank(lines[start]):
        start += 1
    while end > start and is_blank(lines[end - 1]):
        end -= 1
    return [(i, lines[i].rstrip()) for i in range(start, end)]


def _card_markdown(title: str, tags: list[str], origin: str, answer: list[str]) -> str:
    front = yaml.safe_dump(
        {"id": fresh_id(title), "tags": list(dict.fromkeys(tags)), ORIGIN_KEY: origin},
        allow_unicode=True,
        default_flow_style=None,
        sort_keys=False,
        width=1000,
    )
    return "\n".join([f"---\n{front}---", f"# {title}", "", *answer]) + "\n"


def _images(
    line: str,
    index: int,
    post_dir: Path,
    rel: str,
    images: dict[Path, PlannedImage],
    warnings: list[Diagnostic],
    outside: bool,
) -> str:
    """Point the line's images at their copies in the cards folder; leave out, with a warning,
    the missing ones, those that are no image by their bytes, and (unless `outside`) those
    from outside the post's folder: a shared deck must not carry someone's other files."""

    def leave_out(m: re.Match[str], why: str, markdown: bool) -> str:
        warnings.append(Diagnostic(rel, index + 1, why, "warning"))
        return "" if markdown else m.group(1)

    def keep(m: re.Match[str], markdown: bool) -> str:
        src = m.group(2).removeprefix("<").removesuffix(">")
        if is_remote(src):
            return m.group(0)  # a web address stays as it is
        path = find_image(src, post_dir, (post_dir.resolve(),))  # `/images/a.png`: the post's
        if not path.is_file() and outside and Path(src).is_absolute():
            path = Path(src).resolve()  # Typora's absolute path on the author's own disk
        if not path.is_file():
            return leave_out(m, f"image not found, left out: `{src}`", markdown)
        if not outside and not path.is_relative_to(post_dir.resolve()):
            why = (
                f"image `{src}` is outside the post's folder, left out (for your own posts, "
                "`mkdeck import --outside-images` copies it)"
            )
            return leave_out(m, why, markdown)
        data = path.read_bytes()
        if not is_image(data):
            return leave_out(m, f"`{src}` is not an image (by its bytes), left out", markdown)
        if path not in images:
            digest = hashlib.sha256(data).hexdigest()[:10]
            images[path] = PlannedImage(path, f"images/{path.stem}-{digest}{path.suffix.lower()}")
        target = images[path].target
        if markdown and (m.group(2).startswith("<") or re.search(r"[\s()]", target)):
            target = f"<{target}>"
        return m.group(1) + target + (m.group(3) if markdown else "")

    line = MD_IMAGE.sub(lambda m: keep(m, markdown=True), line)
    return HTML_IMAGE.sub(lambda m: keep(m, markdown=False), line)


def _imported(cards_dir: Path) -> dict[str, str]:
    """Origin → file name, for the card files an earlier import wrote (import is idempotent)."""
    found: dict[str, str] = {}
    if not cards_dir.is_dir():
        return found
    for path in sorted(cards_dir.glob("*.md")):
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
            origin = read_front_matter(lines, path.name).data.get(ORIGIN_KEY)
        except (OSError, UnicodeDecodeError, MkdeckError):
            continue
        if isinstance(origin, str):
            found.setdefault(origin, path.name)
    return found
