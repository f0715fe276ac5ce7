"""The pipeline: discover → parse → render → identify → package, then the lock.

This module only calls the stages in order and gathers what they report; the work lives in
the stage modules. Nothing is written until every file has been read and rendered without
error (Pelican's read-all-then-write): a bad source reports its `path:line` and leaves the
previous package and lock exactly as they were. `check` is the same pipeline stopped before
packaging.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .cloze import plain, seal, unmark
from .config import Config
from .discover import SourceFile, discover, read_source
from .errors import Diagnostic, MkdeckError
from .identify import (
    NoteIdentity,
    content_digest,
    duplicate_ids,
    identify,
    kept_entries,
    lock_entry,
    modification_time,
    retired_points,
)
from .lockfile import LOCK_NAME, Lock, read_lock, write_lock
from .media import MediaFile, media_token, resolve_media
from .notetype import note_text
from .package import AnkiNote, write_package
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


MediaMap = dict[tuple[str, int], MediaFile]  # (card file, image index) → packed file


@dataclass(frozen=True)
class Collected:
    """Everything read from the cards folder, and every problem found on the way."""

    cards: list[Card]
    media: MediaMap
    lock: Lock
    diagnostics: list[Diagnostic]


def check(
    cards_dir: Path, config: Config, progress: Progress | None = None, strict: bool = False
) -> Report:
    """Every problem in the cards folder, nothing written."""
    started = time.perf_counter()
    found = collect(cards_dir, config, progress)
    no_id = [
        Diagnostic(
            card.source.rel,
            1,
            "no `id` in the front matter: the note is known by its path (kept in "
            "mkdeck.lock); an `id` keeps it even without the lock",
            "note",
        )
        for card in found.cards
        if card.question.id is None
    ]
    return _report(found, [*found.diagnostics, *no_id], strict, started)


def build(
    cards_dir: Path,
    out: Path,
    config: Config,
    progress: Progress | None = None,
    strict: bool = False,
    now: int | None = None,
) -> Report:
    """Build the package at `out` and update the lock, or report why not and write nothing.

    `now` is the clock (seconds) for notes whose content changed; None: the current time.
    """
    started = time.perf_counter()
    found = collect(cards_dir, config, progress)
    report = _report(found, found.diagnostics, strict, started)
    if report.errors:
        return report

    root = config.deck_name(cards_dir)
    now = int(time.time()) if now is None else now
    notes, entries = [], []
    for position, card in enumerate(found.cards):
        note = anki_note(card, root, found.media, position)
        mtime = modification_time(card.identity.previous, note.digest, now)
        notes.append(replace(note, mtime=mtime))
        entries.append(lock_entry(card.question, card.identity, note.digest, mtime))
    kept, gone = kept_entries(found.lock, entries, lambda rel: (cards_dir / rel).is_file())
    # The package first, then the lock: a crash in between leaves an old lock beside a new
    # package, which the next build simply redoes; never a lock that no package matches.
    files = {m.name: m for m in found.media.values()}
    write_package(notes, [files[name] for name in sorted(files)], out)
    write_lock(cards_dir / LOCK_NAME, Lock(tuple(entries + kept)))
    report.diagnostics = sorted([*report.diagnostics, *gone], key=_where)
    report.package = out
    report.seconds = time.perf_counter() - started
    return report


def _report(
    found: Collected, diagnostics: list[Diagnostic], strict: bool, started: float
) -> Report:
    if strict:  # `--strict`: a warning fails the run, as in `mkdocs build --strict`
        diagnostics = [
            replace(d, severity="error") if d.severity == "warning" else d for d in diagnostics
        ]
    return Report(
        notes=len(found.cards),
        cards=sum(len(c.question.points) for c in found.cards),
        media=len({m.name for m in found.media.values()}),
        diagnostics=sorted(diagnostics, key=_where),
        seconds=time.perf_counter() - started,
    )


def _where(d: Diagnostic) -> tuple[bool, str, int]:
    """Files in order, then what concerns the whole folder."""
    return d.path == ".", d.path, d.line


def collect(cards_dir: Path, config: Config, progress: Progress | None = None) -> Collected:
    """Read, render and identify every card file and find its images; report all problems."""
    diagnostics: list[Diagnostic] = []
    try:
        lock = read_lock(cards_dir)
        sources, skipped = discover(cards_dir)
    except MkdeckError as exc:
        return Collected([], {}, Lock(), [exc.diagnostic])
    diagnostics += skipped
    settings = RenderSettings(allow_scripts=config.allow_scripts)
    read: list[tuple[SourceFile, Question, RenderedNote]] = []
    for done, source in enumerate(sources, 1):
        parsed, problems = read_card(source, settings)
        diagnostics += problems
        if parsed is not None:
            read.append(parsed)
        if progress:
            progress(done, len(sources))
    if not read and not any(d.severity == "error" for d in diagnostics):
        diagnostics.append(
            Diagnostic(".", 0, "no cards: no file here holds a question with an answer")
        )
    questions = [q for _, q, _ in read]
    diagnostics += duplicate_ids(questions)
    identities = identify(questions, lock)
    cards = [Card(*r, i) for r, i in zip(read, identities, strict=True)]
    for card in cards:
        diagnostics += retired_points(card.question, card.identity)
    media, problems = resolve_media(
        [(c.source.path, c.source.rel, c.rendered.media) for c in cards], cards_dir
    )
    return Collected(cards, media, lock, diagnostics + problems)


def read_card(
    source: SourceFile, settings: RenderSettings
) -> tuple[tuple[SourceFile, Question, RenderedNote] | None, list[Diagnostic]]:
    """One card file read, parsed and rendered, or None when it holds no card."""
    try:
        question, problems = parse_question(read_source(source), source.rel)
        rendered = render_question(question, settings)
    except MkdeckError as exc:
        return None, [exc.diagnostic]
    return (source, question, rendered), [*problems, *rendered.problems]


def anki_note(card: Card, root: str, media: MediaMap, position: int) -> AnkiNote:
    q, r = card.question, card.rendered
    points = [
        seal(html, ordinal)
        for html, ordinal in zip(r.points_html, card.identity.ordinals.ordinals, strict=True)
    ]
    start = q.points[0].number if q.points else 1
    text = note_text(unmark(r.title_html), unmark(r.context_html), points, start, q.whole_answer)
    extra = plain(r.extra_html)
    for index in range(len(r.media)):
        token, name = media_token(index), media[card.source.rel, index].name
        text, extra = text.replace(token, name), extra.replace(token, name)
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
