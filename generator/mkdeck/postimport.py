"""`mkdeck import`: split posts of many questions into card files, and bring them up to date.

Which heading of a post is a question, a topic, a section, the title or a footer is decided
by `posts.py`, the module `mkdeck build` reads posts with: import and build agree on every
post. This module plans the card files as data (`ImportPlan`), so `--dry-run` shows exactly
what a real run does; `apply_plan` is the only part that writes.

- A question's answer is copied as written: the card format reads every numbering people use,
  so nothing is renumbered or re-indented, and what follows the last point at the margin stays
  Extra, as in any card file. A file that holds one question is imported as one card file.
- A section's name becomes a tag of the questions under it; the post's folder, below the
  folder imported, becomes the card files' folder (a subdeck).
- Each card records where it came from (`imported_from`: the post and the question) and a
  hash of what import wrote (`imported_hash`). Importing again after the post changed updates
  the card files nobody edited since, leaves the edited ones alone and lists them, and names
  the questions that are new and those that are gone. Two posts may both ask `优缺点`: a card
  is matched by its post and question, never by a title alone.
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
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from .discover import CARD_SUFFIXES, NOT_CARDS, decode_source, not_a_card
from .errors import Diagnostic, MkdeckError
from .files import atomic_write, unique_name
from .frontmatter import read_front_matter
from .media import HTML_IMAGE, find_embedded, find_image, is_image, is_remote
from .newcard import fresh_id, slug
from .parse import (
    card_settings,
    id_comment,
    is_blank,
    normalise_tags,
    parse_question,
    scan_fences,
)
from .posts import LeftOut, Post, PostQuestion, answer_lines, clean_title, read_post

# A path is `<in angle brackets>` or may hold one level of parentheses (`640%20(1).gif`), as
# CommonMark allows.
MD_IMAGE = re.compile(
    r"(!\[[^\]]*\]\(\s*)(<[^>\n]+>|(?:[^()\s<]|\([^()\s]*\))+)((?:\s+\"[^\"]*\")?\s*\))"
)
# An Obsidian embed: `![[图.png]]`, `![[图.png|300]]`.
EMBED = re.compile(r"!\[\[([^\]|#\n]+)(?:\|[^\]\n]*)?\]\]")
ORIGIN_KEY = "imported_from"
HASH_KEY = "imported_hash"
HASH_LINE = re.compile(rf"^{HASH_KEY}:.*\n", re.MULTILINE)

# What became of a planned card file.
NEW, UPDATED, UNCHANGED, EDITED = "new", "updated", "unchanged", "edited by you"
STATES = (NEW, UPDATED, UNCHANGED, EDITED)


@dataclass(frozen=True)
class PlannedCard:
    title: str
    filename: str  # relative to the cards folder
    text: str
    points: int  # 0: an answer without numbered points, one card
    origin: str
    state: str  # NEW, UPDATED, UNCHANGED or EDITED (left as the user has it)
    topic: bool = False


@dataclass(frozen=True)
class PlannedImage:
    source: Path
    target: str  # relative to the cards folder


@dataclass(frozen=True)
class ImportPlan:
    """What importing one post does."""

    post: str  # the post, as named in `imported_from`
    cards: tuple[PlannedCard, ...]
    sections: tuple[str, ...]
    left_out: tuple[LeftOut, ...]
    images: tuple[PlannedImage, ...]
    warnings: tuple[Diagnostic, ...]
    skipped: tuple[Diagnostic, ...]  # questions with no answer
    gone: tuple[str, ...] = ()  # card files of questions the post no longer asks

    def count(self, state: str) -> int:
        return sum(card.state == state for card in self.cards)


def posts_in(paths: list[Path]) -> list[tuple[Path, Path]]:
    """Each Markdown file named, or below a folder named, with the folder it was found in (a
    file named itself: its own folder), in a stable order. In a folder, what the build never
    reads as notes is not imported either: hidden files, drawings, templates, a docs site's
    navigation."""
    found = []
    for path in paths:
        if path.is_dir():
            for post in sorted(path.rglob("*")):
                rel = post.relative_to(path)
                visible = not any(part.startswith(".") for part in rel.parts)
                note = not_a_card(rel.as_posix(), rel.parent.parts, ()) is None
                if visible and note and post.is_file() and post.suffix.lower() in CARD_SUFFIXES:
                    found.append((post, path))
        else:
            found.append((path, path.parent))
    return found


def plan_import(
    post: Path, cards_dir: Path, outside: bool = False, base: Path | None = None
) -> ImportPlan:
    """Read `post` and decide, without writing, which card files it becomes. `base` is the
    folder it was found in: its folder below `base` is the card files' folder. `outside`: also
    copy images from outside the post's folder (the user's own posts, with absolute paths)."""
    base = base or post.parent
    folder = post.parent.relative_to(base).as_posix() if post.parent != base else ""
    rel = (PurePosixPath(folder) / post.name).as_posix() if folder else post.name
    try:
        data = post.read_bytes()
    except OSError as exc:
        raise MkdeckError(f"cannot read the post: {exc.strerror}", str(post)) from exc
    lines = decode_source(data, rel).split("\n")
    front = read_front_matter(lines, rel)
    tags = list(card_settings(front, rel)["tags"])  # as the build reads them: categories too
    fenced = scan_fences(lines, front.body, rel)
    read = read_post(lines, fenced, front)
    skipped: list[Diagnostic] = []
    if read.kind == "card" and post.stem.lower() in NOT_CARDS:  # as the build reads it
        why = "a README describes its folder: not imported (unless it is a post)"
        return ImportPlan(rel, (), (), (), (), (), (Diagnostic(rel, 0, why, "note"),))
    if read.kind == "card":  # one question: the whole file is its card
        read, skipped = _one_question(lines, front.body, rel)

    target = cards_dir / folder if folder else cards_dir
    existing = _imported(cards_dir)
    taken = {p.name for p in target.glob("*") if p.is_file()} if target.is_dir() else set()
    images: dict[Path, PlannedImage] = {}
    warnings: list[Diagnostic] = []
    planned: list[PlannedCard] = []
    vault = Vault(base.resolve())  # where an embed's file is looked for by its name
    asked = set()
    for question in read.questions:
        origin = f"{rel} › {question.key}"
        asked.add(origin)
        start, stop = question.heading + 1, question.end
        named = id_comment(lines, start, stop)
        if named is not None:
            start = named[1] + 1
        answer = [
            _images(line, i, post.parent, rel, folder, images, warnings, outside, vault)
            for i, line in _answer(lines, question, start, stop)
        ]
        found = existing.get(origin) or existing.get(_old_origin(rel, lines, question))
        note_id = named[0] if named else found.note_id if found else None
        note_id = note_id or fresh_id(question.title)
        markdown = _card_markdown(
            question.title,
            note_id,
            [*tags, *normalise_tags(list(question.sections))],
            origin,
            answer,
        )
        # Read as the build will read it: its points counted, an empty answer found.
        card, problems = parse_question(markdown, "card")
        if card is None:
            why = "its answer is empty once the footer and missing images are left out"
            line = question.heading + 1
            skipped.append(Diagnostic(rel, line, f"`{question.title}`: {why}: skipped", "warning"))
            if any(d.severity == "error" for d in problems):
                raise MkdeckError(problems[0].message, problems[0].path, problems[0].line)
            continue
        if found is None:
            name = unique_name(slug(question.title), ".md", taken)
            taken.add(name)
            filename, state = f"{folder}/{name}" if folder else name, NEW
        else:
            filename, state = found.filename, _state(found, markdown)
        points = 0 if card.whole_answer else len(card.points)
        planned.append(
            PlannedCard(question.title, filename, markdown, points, origin, state, question.topic)
        )
    if not planned and not skipped:
        raise MkdeckError(
            "no questions found: expected headings that ask (`…？`, `什么是…`, `How …`) or "
            "are numbered beside ones that ask, each with an answer below it",
            rel,
            front.body + 1,
        )
    gone = tuple(
        sorted(
            card.filename
            for origin, card in existing.items()
            if origin.startswith(f"{rel} › ") and origin not in asked and card.origin == origin
        )
    )
    return ImportPlan(
        rel,
        tuple(planned),
        read.sections,
        read.left_out,
        tuple(images.values()),
        tuple(warnings),
        tuple(skipped),
        gone,
    )


def _one_question(lines: list[str], body: int, rel: str) -> tuple[Post, list[Diagnostic]]:
    """A file that holds one question, as a post of that one: its question is the card file's
    question, and its whole text below the front matter is the answer. A file that holds no
    card is a post of none, with the reason."""
    question, problems = parse_question("\n".join(lines), rel)
    if question is None:
        return Post("card", "no card"), problems
    heading = question.title_line - 1
    if heading < body or question.title not in lines[heading]:  # named by the file
        heading = body - 1
    title = clean_title(question.title)[0]  # as a post's question: without its number
    return Post(
        "card", "one question", (PostQuestion(title, title, heading, len(lines), False, ()),)
    ), []


def _old_origin(rel: str, lines: list[str], question: PostQuestion) -> str:
    """Where earlier imports said a card came from: the post and its heading as written."""
    return f"{PurePosixPath(rel).name} › {lines[question.heading].strip()}"


@dataclass(frozen=True)
class ImportedCard:
    """A card file an earlier import wrote, as it is now."""

    filename: str  # relative to the cards folder
    origin: str
    note_id: str | None
    text: str
    written: str | None  # the hash import recorded of what it wrote; None: before hashes


def _state(card: ImportedCard, markdown: str) -> str:
    """What import does to a card file it wrote before, now that its question reads
    `markdown`: nothing, update it (nobody changed it since), or leave it to its editor."""
    if card.text == markdown:
        return UNCHANGED
    if card.written is not None and card.written == text_hash(card.text):
        return UPDATED
    return EDITED


def apply_plan(plan: ImportPlan, cards_dir: Path) -> None:
    """Write the new and updated card files and copy their images."""
    cards_dir.mkdir(parents=True, exist_ok=True)
    # Each file whole or not at all: an import killed halfway leaves no empty card file, and
    # running it again finishes the job.
    for image in plan.images:
        target = cards_dir / image.target
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, functools.partial(_copy_to, image.source))
    for card in plan.cards:
        if card.state in (NEW, UPDATED):
            target = cards_dir / card.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, functools.partial(_write_to, card.text))


def _copy_to(source: Path, tmp: Path) -> None:
    shutil.copyfile(source, tmp)


def _write_to(text: str, tmp: Path) -> None:
    tmp.write_bytes(text.encode("utf-8"))


def _answer(
    lines: list[str], question: PostQuestion, start: int, end: int
) -> list[tuple[int, str]]:
    """The answer's lines `start:end` with their indices, blank ones at either end dropped;
    a list item's moved to the margin (`posts.answer_lines`)."""
    written = dict(enumerate(answer_lines(lines, question), question.heading + 1))
    while start < end and is_blank(lines[start]):
        start += 1
    while end > start and is_blank(lines[end - 1]):
        end -= 1
    return [(i, written.get(i, lines[i]).rstrip()) for i in range(start, end)]


def text_hash(text: str) -> str:
    """A card file's text hashed as import records it: without the line that records it."""
    return hashlib.sha256(HASH_LINE.sub("", text).encode("utf-8")).hexdigest()[:16]


def _card_markdown(
    title: str, note_id: str, tags: list[str], origin: str, answer: list[str]
) -> str:
    front = {"id": note_id, "tags": list(dict.fromkeys(tags)), ORIGIN_KEY: origin}
    head = yaml.safe_dump(
        front, allow_unicode=True, default_flow_style=None, sort_keys=False, width=1000
    )
    text = "\n".join([f"---\n{head}---", f"# {title}", "", *answer]) + "\n"
    return text.replace("\n---\n", f"\n{HASH_KEY}: {text_hash(text)}\n---\n", 1)


@dataclass
class Vault:
    """The folder imported, in which an Obsidian embed names a file by its name alone."""

    root: Path
    by_name: dict[str, list[Path]] = field(default_factory=dict)  # filled on first use


def _images(
    line: str,
    index: int,
    post_dir: Path,
    rel: str,
    folder: str,
    images: dict[Path, PlannedImage],
    warnings: list[Diagnostic],
    outside: bool,
    vault: Vault,
) -> str:
    """Point the line's images (Obsidian's embeds too) at their copies beside the card files;
    leave out, with a warning, the missing ones, those that are no image by their bytes, and
    (unless `outside`) those from outside the folder imported (a file's own folder, when a
    file is named): a shared deck must not carry someone's other files."""

    def leave_out(m: re.Match[str], why: str, markdown: bool) -> str:
        warnings.append(Diagnostic(rel, index + 1, why, "warning"))
        return "" if markdown else m.group(1)

    def keep(m: re.Match[str], markdown: bool, embed: bool = False) -> str:
        src = m.group(1 if embed else 2).removeprefix("<").removesuffix(">")
        if is_remote(src):
            return m.group(0)  # a web address stays as it is
        if embed:  # by its name anywhere in the folder imported, as Obsidian finds it
            path = find_embedded(src, post_dir, vault.root, vault.by_name)
        else:
            path = find_image(src, post_dir, (post_dir.resolve(),))  # `/a.png`: the post's
        if not path.is_file() and outside and Path(src).is_absolute():
            path = Path(src).resolve()  # Typora's absolute path on the author's own disk
        if not path.is_file():
            return leave_out(m, f"image not found, left out: `{src}`", markdown)
        if not outside and not path.is_relative_to(vault.root):
            why = (
                f"image `{src}` is outside the folder imported, left out (for your own posts, "
                "`mkdeck import --outside-images` copies it)"
            )
            return leave_out(m, why, markdown)
        data = path.read_bytes()
        if not is_image(data):
            return leave_out(m, f"`{src}` is not an image (by its bytes), left out", markdown)
        if path not in images:
            digest = hashlib.sha256(data).hexdigest()[:10]
            name = f"images/{path.stem}-{digest}{path.suffix.lower()}"
            images[path] = PlannedImage(path, f"{folder}/{name}" if folder else name)
        target = images[path].target.removeprefix(f"{folder}/" if folder else "")
        if embed or (markdown and (m.group(2).startswith("<") or re.search(r"[\s()]", target))):
            target = f"<{target}>"
        if embed:
            return f"![]({target})"
        return m.group(1) + target + (m.group(3) if markdown else "")

    # Embeds last: what they become is Markdown that the patterns before would read again.
    line = MD_IMAGE.sub(lambda m: keep(m, markdown=True), line)
    line = HTML_IMAGE.sub(lambda m: keep(m, markdown=False), line)
    return EMBED.sub(lambda m: keep(m, markdown=True, embed=True), line)


def _imported(cards_dir: Path) -> dict[str, ImportedCard]:
    """Origin → the card file an earlier import wrote for it (import is idempotent)."""
    found: dict[str, ImportedCard] = {}
    if not cards_dir.is_dir():
        return found
    for path in sorted(cards_dir.rglob("*.md")):
        try:
            text = path.read_text(encoding="utf-8")
            data = read_front_matter(text.split("\n"), path.name).data
        except (OSError, UnicodeDecodeError, MkdeckError):
            continue
        origin, written, note_id = data.get(ORIGIN_KEY), data.get(HASH_KEY), data.get("id")
        if isinstance(origin, str) and origin not in found:
            found[origin] = ImportedCard(
                path.relative_to(cards_dir).as_posix(),
                origin,
                str(note_id) if note_id is not None else None,
                text,
                str(written) if written is not None else None,
            )
    return found
