"""`mkdeck import`: split a multi-question post into card files.

People already keep posts like "LLM interview questions (2)": front matter, some prose, then
questions as `# 1、…` headings, each answered in numbered points, then a footer. This module
plans the split as data (`ImportPlan`), so `--dry-run` can show exactly what a real run does;
`apply_plan` is the only part that writes.

Posts are looser than card files: a code block or image that follows a point after a blank
line, without indentation, still belongs to that point. Formulas written as plain text
(`6 × s × D^2`) are kept as written; guessing TeX would put wrong formulas on cards.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from .discover import decode_source
from .errors import Diagnostic, MkdeckError
from .files import unique_name
from .media import is_remote, local_path
from .newcard import fresh_id, slug
from .parse import HEADING, POINT_START, normalise_tags, read_front_matter, scan_fences

QUESTION = re.compile(r"^#{1,2}[ \t]*(\d{1,3})[、.．)][ \t]*(.+?)[ \t#]*$")
THEMATIC_BREAK = re.compile(r"^ {0,3}([*_-])(?:[ \t]*\1){2,}[ \t]*$")
IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# After a blank line, these still belong to the point above them in a post.
ATTACHED = re.compile(r"^(?:`{3,}|~{3,}|!\[|[-*+][ \t]|\|)")


@dataclass(frozen=True)
class PlannedCard:
    title: str
    filename: str
    text: str
    points: int
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
    left_out: tuple[LeftOut, ...]
    images: tuple[PlannedImage, ...]
    warnings: tuple[Diagnostic, ...]


def plan_import(post: Path, cards_dir: Path) -> ImportPlan:
    """Read `post` and decide, without writing, which card files it becomes."""
    rel = post.name
    try:
        data = post.read_bytes()
    except OSError as exc:
        raise MkdeckError(f"cannot read the post: {exc.strerror}", str(post)) from exc
    lines = decode_source(data, rel).split("\n")
    front = read_front_matter(lines, rel)
    body = front.body
    tags = _tags(front.data.get("tags"))
    fenced = scan_fences(lines, body, rel)
    starts = [i for i in range(body, len(lines)) if not fenced[i] and QUESTION.match(lines[i])]
    if not starts:
        raise MkdeckError(
            "no questions found: expected headings like `# 1、…`, `## 1.` or `# 1.`", rel, body + 1
        )

    left_out: list[LeftOut] = []
    _leave_out(lines, body, starts[0], "prose before the first question", left_out)
    existing = _existing_titles(cards_dir)
    images: dict[Path, PlannedImage] = {}
    warnings: list[Diagnostic] = []
    planned: list[PlannedCard] = []
    taken = set(existing.values())
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        stop = next(
            (i for i in range(start + 1, end) if not fenced[i] and THEMATIC_BREAK.match(lines[i])),
            end,
        )
        what = "footer after the last question" if k + 1 == len(starts) else "text after a rule"
        _leave_out(lines, stop, end, what, left_out)
        title = QUESTION.match(lines[start]).group(2).strip()  # type: ignore[union-attr]
        context, points, extra = _split(lines, fenced, start + 1, stop)
        if not points:
            warnings.append(
                Diagnostic(rel, start + 1, "question has no numbered points: skipped", "warning")
            )
            continue
        keep = _ImageKeeper(post.parent, rel, lines, images, warnings)
        markdown = _card_markdown(
            title, tags, keep(context), [keep(p) for p in points], keep(extra)
        )
        filename = existing.get(title) or _filename(title, taken)
        taken.add(filename)
        planned.append(PlannedCard(title, filename, markdown, len(points), existing.get(title)))
    return ImportPlan(tuple(planned), tuple(left_out), tuple(images.values()), tuple(warnings))


def apply_plan(plan: ImportPlan, cards_dir: Path) -> None:
    """Write the new card files and copy their images."""
    cards_dir.mkdir(parents=True, exist_ok=True)
    for image in plan.images:
        target = cards_dir / image.target
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image.source, target)
    for card in plan.cards:
        if card.existing is None:
            (cards_dir / card.filename).write_text(card.text, encoding="utf-8")


def _tags(value: object) -> list[str]:
    if isinstance(value, str):
        value = value.split()
    return list(normalise_tags(value)) if isinstance(value, list) else []


def _leave_out(lines: list[str], start: int, end: int, what: str, out: list[LeftOut]) -> None:
    filled = [i for i in range(start, end) if lines[i].strip()]
    if filled:
        out.append(LeftOut(filled[0] + 1, filled[-1] + 1, what))


Numbered = tuple[list[str], list[list[str]], list[str]]


def _split(lines: list[str], fenced: list[bool], start: int, end: int) -> Numbered:
    """A question's lines → context lines, each point's lines, Extra lines."""
    context: list[str] = []
    points: list[list[str]] = []
    extra: list[str] = []
    blank_before = False
    for i in range(start, end):
        line = lines[i].rstrip()
        if not fenced[i] and POINT_START.match(line) and not extra:
            points.append([line])
        elif not points:
            context.append(line)
        elif extra or (
            blank_before
            and not fenced[i]
            and line
            and not line[0].isspace()
            and not ATTACHED.match(line)
        ):
            extra.append(line)
        else:
            points[-1].append(line)
        blank_before = not line.strip() and not fenced[i]
    return context, points, extra


def _card_markdown(
    title: str, tags: list[str], context: list[str], points: list[list[str]], extra: list[str]
) -> str:
    front = yaml.safe_dump(
        {"id": fresh_id(title), "tags": tags},
        allow_unicode=True,
        default_flow_style=None,
        sort_keys=False,
    )
    out = [f"---\n{front}---", f"# {title}", ""]
    if _text(context):
        out += [_text(context), ""]
    for n, point in enumerate(points, 1):
        first = POINT_START.sub("", point[0], count=1).strip()
        out.append(f"{n}. {first}")
        rest = _trim(point[1:])
        out += [f"   {line}" if line else "" for line in rest]
    if _text(extra):
        out += ["", _text(extra)]
    return "\n".join(out) + "\n"


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _text(lines: list[str]) -> str:
    return "\n".join(_trim(lines))


def _filename(title: str, taken: set[str]) -> str:
    return unique_name(slug(title), ".md", taken)


def _existing_titles(cards_dir: Path) -> dict[str, str]:
    """Question → file name for the card files already in the folder (import is idempotent)."""
    titles: dict[str, str] = {}
    if not cards_dir.is_dir():
        return titles
    for path in sorted(cards_dir.glob("*.md")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for line in text.split("\n"):
            m = HEADING.match(line)
            if m:
                titles.setdefault((m.group(2) or "").strip(), path.name)
                break
    return titles


class _ImageKeeper:
    """Keeps images that exist (copied under images/), drops missing ones with a warning."""

    def __init__(
        self,
        post_dir: Path,
        rel: str,
        post_lines: list[str],
        images: dict[Path, PlannedImage],
        warnings: list[Diagnostic],
    ) -> None:
        self.post_dir, self.rel, self.post_lines = post_dir, rel, post_lines
        self.images, self.warnings = images, warnings

    def __call__(self, lines: list[str]) -> list[str]:
        return [IMAGE.sub(self._keep, line) for line in lines]

    def _keep(self, m: re.Match[str]) -> str:
        src = m.group(2)
        if is_remote(src):
            return m.group(0)  # a web address stays as it is
        path = local_path(src.lstrip("/"), self.post_dir)
        if not path.is_file():
            line = next((i for i, t in enumerate(self.post_lines, 1) if src in t), 0)
            self.warnings.append(
                Diagnostic(self.rel, line, f"image not found, left out: `{src}`", "warning")
            )
            return ""
        planned = self.images.setdefault(path, PlannedImage(path, f"images/{path.name}"))
        return f"![{m.group(1)}]({planned.target})"
