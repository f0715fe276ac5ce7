"""The pipeline: discover → parse → render → identify → package, then the lock.

Nothing is written until every file has been read and rendered without error (Pelican's
read-all-then-write): a bad source reports its `path:line` and leaves the previous package
exactly as it was. `check` is the same pipeline stopped before packaging.
"""

from __future__ import annotations

import hashlib
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .cloze import plain, seal, unmark
from .config import Config
from .discover import SourceFile, discover, read_source
from .errors import Diagnostic, MkdeckError
from .identify import NoteIdentity, content_digest, identify, modification_time
from .lockfile import LOCK_NAME, Lock, LockedNote, read_lock, write_lock
from .package import AnkiNote, MediaFile, write_package
from .parse import Question, parse_question
from .render import RenderedNote, RenderSettings, render_question

Progress = Callable[[int, int], None]


@dataclass
class Report:
    """What a run did, for the summary line."""

    package: Path | None = None
    notes: int = 0
    cards: int = 0
    media: int = 0
    diagnostics: list[Diagnostic] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]


@dataclass(frozen=True)
class Card:
    """One card file carried through the pipeline."""

    source: SourceFile
    question: Question
    rendered: RenderedNote
    identity: NoteIdentity


MediaMap = dict[tuple[str, str], MediaFile]  # (card file, image token) → packed file


def check(cards_dir: Path, config: Config, progress: Progress | None = None) -> Report:
    """Every problem in the cards folder, nothing written."""
    started = time.perf_counter()
    report = Report()
    cards, media, _ = _collect(cards_dir, config, report, progress)
    for card in cards:
        if card.question.id is None:
            report.diagnostics.append(
                Diagnostic(
                    card.source.rel,
                    1,
                    "no `id` in the front matter: the note is known by its path (kept in "
                    "mkdeck.lock); an `id` keeps it even without the lock",
                    "note",
                )
            )
    report.diagnostics.sort(key=lambda d: (d.path, d.line))
    return _tally(report, cards, media, started)


def build(cards_dir: Path, out: Path, config: Config, progress: Progress | None = None) -> Report:
    """Build the package at `out` and update the lock, or report why not and write nothing."""
    started = time.perf_counter()
    report = Report()
    cards, media, lock = _collect(cards_dir, config, report, progress)
    if report.errors:
        return _tally(report, [], {}, started)

    root = config.deck_name(cards_dir)
    now = int(time.time())
    notes, locked = [], []
    for position, card in enumerate(cards):
        note = _anki_note(card, root, media, position)
        mtime = modification_time(card.identity.previous, note.digest, now)
        notes.append(replace(note, mtime=mtime))
        locked.append(_lock_entry(card, note.digest, mtime))
    locked.extend(_kept_entries(lock, cards, cards_dir, report))
    files = sorted({m.name: m for m in media.values()}.values(), key=lambda m: m.name)
    # The package first, then the lock: a crash in between leaves an old lock beside a new
    # package, which the next build simply redoes; never a lock that no package matches.
    write_package(notes, files, out)
    write_lock(cards_dir / LOCK_NAME, Lock(tuple(locked)))
    report.package = out
    return _tally(report, cards, media, started)


def _tally(report: Report, cards: list[Card], media: MediaMap, started: float) -> Report:
    report.notes = len(cards)
    report.cards = sum(len(c.question.points) for c in cards)
    report.media = len({m.name for m in media.values()})
    report.seconds = time.perf_counter() - started
    return report


def _collect(
    cards_dir: Path, config: Config, report: Report, progress: Progress | None
) -> tuple[list[Card], MediaMap, Lock]:
    """Read, render and identify every card file and find its images; report all problems."""
    try:
        lock = read_lock(cards_dir)
    except MkdeckError as exc:
        report.diagnostics.append(exc.diagnostic)
        return [], {}, Lock()
    settings = RenderSettings(allow_scripts=config.allow_scripts)
    read = _read_all(cards_dir, settings, report, progress)
    _check_unique_ids([q for _, q, _ in read], report)
    identities = identify([q for _, q, _ in read], lock)
    cards = [Card(*r, i) for r, i in zip(read, identities, strict=True)]
    _report_retired(cards, report)
    media = _resolve_media(cards, cards_dir, report)
    report.diagnostics.sort(key=lambda d: (d.path, d.line))
    return cards, media, lock


def _read_all(
    cards_dir: Path, settings: RenderSettings, report: Report, progress: Progress | None
) -> list[tuple[SourceFile, Question, RenderedNote]]:
    try:
        sources = discover(cards_dir)
    except MkdeckError as exc:
        report.diagnostics.append(exc.diagnostic)
        return []
    read = []
    for done, source in enumerate(sources, 1):
        try:
            question = parse_question(read_source(source), source.rel)
            rendered = render_question(question, settings)
        except MkdeckError as exc:
            report.diagnostics.append(exc.diagnostic)
        else:
            report.diagnostics.extend(rendered.problems)
            if question.points:
                read.append((source, question, rendered))
            else:
                report.diagnostics.append(
                    Diagnostic(
                        source.rel,
                        question.title_line,
                        "no numbered points after the question (write them as `1.`, `1、` or "
                        "`（1）`): the file is skipped",
                        "warning",
                    )
                )
        if progress:
            progress(done, len(sources))
    if not sources:
        report.diagnostics.append(Diagnostic(".", 0, "no card files (*.md) found", "warning"))
    return read


def _kept_entries(
    lock: Lock, cards: list[Card], cards_dir: Path, report: Report
) -> list[LockedNote]:
    """Lock entries to carry over for files that are still there but were skipped this time.

    A file emptied for a moment must not lose its identity. The lock holds one entry a path,
    so an entry whose path now belongs to another note (its `id` was changed) is dropped, as
    are entries of deleted files; the build says that those notes stay in Anki.
    """
    used = {card.identity.guid for card in cards}
    paths = {card.source.rel for card in cards}
    kept = []
    for entry in lock.notes:
        if entry.guid in used:
            continue
        if entry.path in paths:
            why = f"the `id` changed from `{entry.id}`: this is a new note; the old one"
        elif (cards_dir / entry.path).is_file():
            kept.append(entry)
            continue
        else:
            why = "card file is gone: its note"
        report.diagnostics.append(
            Diagnostic(entry.path, 0, f"{why} stays in Anki until you delete it there", "note")
        )
    return kept


def _report_retired(cards: list[Card], report: Report) -> None:
    for card in cards:
        previous = card.identity.previous
        if previous is None:
            continue
        texts = dict(previous.points)
        for ordinal in card.identity.ordinals.retired:
            report.diagnostics.append(
                Diagnostic(
                    card.source.rel,
                    card.question.title_line,
                    f"point c{ordinal} ({_clip(texts[ordinal])}) was removed: Anki keeps an "
                    "empty card for it until you run Tools → Empty Cards",
                    "note",
                )
            )


def _clip(text: str, width: int = 30) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _lock_entry(card: Card, digest: str, mtime: int) -> LockedNote:
    q, ordinals = card.question, card.identity.ordinals
    points = sorted(zip(ordinals.ordinals, (p.markdown for p in q.points), strict=True))
    return LockedNote(
        path=card.source.rel,
        guid=card.identity.guid,
        id=q.id,
        mtime=mtime,
        digest=digest,
        next=ordinals.next,
        points=tuple(points),
    )


def _check_unique_ids(questions: list[Question], report: Report) -> None:
    first: dict[str, Question] = {}
    for q in questions:
        if q.id is None:
            continue
        other = first.setdefault(q.id, q)
        if other is not q:
            report.diagnostics.append(
                Diagnostic(
                    q.rel,
                    q.id_line,
                    f"id `{q.id}` is already used by {other.rel}:{other.id_line}"
                    " (each card file needs its own id)",
                )
            )


def _resolve_media(cards: list[Card], cards_dir: Path, report: Report) -> MediaMap:
    """Map each image to a file inside the cards folder, named by its content."""
    resolved: MediaMap = {}
    packed: dict[Path, MediaFile] = {}  # an image shown by many cards is read once
    root = cards_dir.resolve()
    for card in cards:
        for ref in card.rendered.media:
            src = urllib.parse.unquote(ref.src.split("#", 1)[0].split("?", 1)[0])
            path = (card.source.path.parent / src).resolve()
            if not path.is_relative_to(root):
                report.diagnostics.append(
                    Diagnostic(
                        card.source.rel,
                        ref.line,
                        f"image `{ref.src}` is outside the cards folder; mkdeck only packs "
                        "files from inside it",
                    )
                )
            elif not path.is_file():
                report.diagnostics.append(
                    Diagnostic(card.source.rel, ref.line, f"image not found: `{ref.src}`")
                )
            else:
                if path not in packed:
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:20]
                    packed[path] = MediaFile(path, f"mkdeck-{digest}{path.suffix.lower()}")
                resolved[card.source.rel, ref.token] = packed[path]
    return resolved


def _anki_note(card: Card, root: str, media: MediaMap, position: int) -> AnkiNote:
    q, r = card.question, card.rendered
    parts = [f'<div class="question">{unmark(r.title_html)}</div>']
    if r.context_html:
        parts.append(f'<div class="context">{unmark(r.context_html)}</div>')
    parts.append('<ol class="points">')
    for html, ordinal in zip(r.points_html, card.identity.ordinals.ordinals, strict=True):
        parts.append(f"<li>{seal(html, ordinal)}</li>")
    parts.append("</ol>")
    text = "\n".join(parts)
    extra = plain(r.extra_html)
    for ref in r.media:
        name = media[card.source.rel, ref.token].name
        text = text.replace(ref.token, name)
        extra = extra.replace(ref.token, name)
    deck = q.deck or "::".join([root, *card.source.subdecks])
    return AnkiNote(
        guid=card.identity.guid,
        deck=deck,
        text=text,
        extra=extra,
        source=card.source.rel,
        tags=q.tags,
        digest=content_digest(text, extra, card.source.rel, sorted(q.tags)),
        mtime=0,
        position=position,
    )
