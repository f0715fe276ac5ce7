"""The pipeline: discover → parse → render → identify → package, then the lock.

This module only calls the stages in order and gathers what they report; the work lives in
the stage modules. Nothing is written until every file has been read and rendered without
error (Pelican's read-all-then-write): a bad source reports its `path:line` and leaves the
previous package and lock exactly as they were. `check` is the same pipeline stopped before
packaging.

A build first asks the last build's state (`cache.BuildState`): with nothing changed it only
says so, and with a few card files changed `incremental.py` rebuilds around them; only when
neither applies does the whole pipeline run.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .cache import (
    BuildCache,
    BuildState,
    cache_salt,
    inputs_now,
    load_cache,
    load_state,
    save_cache,
    save_state,
    stamp,
)
from .config import Config
from .discover import Snapshot, SourceFile, snapshot
from .errors import Diagnostic, MkdeckError
from .files import remove_stale_temporaries
from .lockfile import LOCK_NAME, Lock, lock_bytes, read_lock, write_lock

if TYPE_CHECKING:
    from .assemble import Card, MediaMap
    from .package import AnkiNote
    from .parse import Question
    from .preview import Preview
    from .readcards import Progress
    from .render import RenderedNote


@dataclass
class Report:
    """What a run did, for the summary line."""

    package: Path | None = None
    notes: int = 0
    cards: int = 0
    media: int = 0
    diagnostics: list[Diagnostic] = field(default_factory=list)
    seconds: float = 0.0
    up_to_date: bool = False  # nothing changed: the package was left as it was
    rendered: int = 0  # files rendered this run (the others came from the cache)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]


@dataclass(frozen=True)
class Collected:
    """Everything read from the cards folder, and every problem found on the way."""

    cards: list[Card]
    media: MediaMap
    lock: Lock
    diagnostics: list[Diagnostic]
    rendered: int = 0
    lock_parsed: bool = False  # the lock changed since the cache last saw it
    once: list[Diagnostic] = field(default_factory=list)  # said once: points just removed


def check(
    cards_dir: Path,
    config: Config,
    progress: Progress | None = None,
    strict: bool = False,
    cache_dir: Path | None = None,
) -> Report:
    """Every problem in the cards folder, nothing written (the build cache is only read)."""
    started = time.perf_counter()
    cache = load_cache(cache_dir, cache_salt(config.render_settings), read_only=True)
    found = collect(cards_dir, config, progress, cache)
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
    use_cache: bool = True,
    parallel: bool | None = None,
) -> Report:
    """Build the package at `out` and update the lock, or report why not and write nothing.

    `now` is the clock (seconds) for notes whose content changed; None: the current time.
    The cache lives beside the package (`use_cache=False`: render everything, keep nothing);
    `parallel` None renders on every core when the deck is large enough to pay for it.
    """
    with _no_cycle_collection():
        return _build(cards_dir, out, config, progress, strict, now, use_cache, parallel)


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """A build makes millions of small objects and no reference cycles to speak of: Python's
    cycle collector would walk them again and again (a quarter of a large rebuild) to free
    nothing that reference counting does not free anyway."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _build(
    cards_dir: Path,
    out: Path,
    config: Config,
    progress: Progress | None,
    strict: bool,
    now: int | None,
    use_cache: bool,
    parallel: bool | None,
) -> Report:
    started = time.perf_counter()
    folder = out.parent if use_cache else None
    salt = cache_salt(config.render_settings)
    root = config.deck_name(cards_dir)
    try:
        snap = snapshot(cards_dir)
    except MkdeckError as exc:
        return _report(
            Collected([], {}, Lock(), [exc.diagnostic]), [exc.diagnostic], strict, started
        )
    state = load_state(folder)
    lock_now = lock_bytes(cards_dir)  # read once: the checks below both need it
    if (
        state is not None
        and (state.salt, state.package) == (salt, stamp(out))
        and state.inputs == inputs_now(root, out, snap, lock_now[1], state.inputs.images)
    ):
        return _state_report(state, out, strict, started)
    if state is not None:
        from .incremental import rebuild_in_place

        rebuilt = rebuild_in_place(state, snap, lock_now, cards_dir, out, config, salt, now)
        if rebuilt is not None:
            save_state(folder, rebuilt.state)
            report = _state_report(rebuilt.state, out, strict, started, rebuilt.once)
            report.up_to_date, report.rendered = rebuilt.up_to_date, rebuilt.rendered
            return report

    # Only now the modules a real build needs: an unchanged deck never loads them.
    from .assemble import assemble, built_note
    from .identify import kept_entries, lock_entry, modification_time
    from .package import package_fingerprint, write_package
    from .readcards import read_card

    cache = load_cache(folder, salt)
    found = collect(cards_dir, config, progress, cache, parallel, snap)
    report = _report(found, [*found.diagnostics, *found.once], strict, started)
    if report.errors:
        return report

    now = int(time.time()) if now is None else now
    notes, entries = [], []
    assembled: dict[str, tuple[tuple, AnkiNote]] = {}

    def rerender(rel: str) -> RenderedNote:
        parsed, _ = read_card((rel, snap.data[rel], config.render_settings))
        assert parsed is not None  # it rendered before, from these very bytes
        return parsed[1]

    for position, card in enumerate(found.cards):
        note = assemble(card, root, found.media, position, cache, assembled, rerender)
        mtime = modification_time(card.identity.previous, note.digest, now)
        notes.append(replace(note, mtime=mtime))
        entries.append(lock_entry(card.question, card.identity, note.digest, mtime))
    kept, gone = kept_entries(found.lock, entries, lambda rel: (cards_dir / rel).is_file())
    files = {m.name: m for m in found.media.values()}
    media = [files[name] for name in sorted(files)]
    # The package first, then the lock: a crash in between leaves an old lock beside a new
    # package, which the next build simply redoes; never a lock that no package matches.
    fingerprint = package_fingerprint(notes, media)
    kept_collection = state.collection if state is not None else None
    if cache.package is not None and cache.package == (fingerprint, *stamp(out)):
        report.up_to_date = True  # the package there is exactly what would be written
    else:
        keep_in = cache.path.parent if cache.path is not None else None
        kept_collection = write_package(notes, media, out, keep_in, kept_collection)
        cache.package = (fingerprint, *stamp(out))
    lock = Lock(tuple(entries + kept))
    if lock != found.lock:
        cache.lock = (write_lock(cards_dir / LOCK_NAME, lock), lock)
    else:
        remove_stale_temporaries(cards_dir / LOCK_NAME)  # a killed build may have left one
    cache.notes = assembled
    if found.rendered or found.lock_parsed or not report.up_to_date:
        save_cache(cache)  # else the cache on disk says all this already
    images = tuple(sorted({str(m.path) for m in found.media.values()}))
    summary = (report.notes, report.cards, report.media, tuple(found.diagnostics))
    inputs = inputs_now(root, out, snap, cache.lock[0] if cache.lock else "", images)
    cards = zip(found.cards, notes, strict=True)
    ids = [entry.id for entry in lock.notes if entry.id is not None]
    outcome = BuildState(
        salt,
        inputs,
        stamp(out),
        summary,
        notes={n.source: built_note(card, n, found.media) for card, n in cards},
        collection=kept_collection,
        ids_unique=len(ids) == len(set(ids)),
        kept=tuple(entry.path for entry in kept),
    )
    save_state(folder, outcome)
    report.diagnostics = sorted([*report.diagnostics, *gone], key=_where)
    report.package = out
    report.seconds = time.perf_counter() - started
    return report


def _state_report(
    state: BuildState, out: Path, strict: bool, started: float, once: Sequence[Diagnostic] = ()
) -> Report:
    """The report of a build whose outcome `state` describes (and what it said just once)."""
    notes, cards, media, diagnostics = state.summary
    found = Collected([], {}, Lock(), list(diagnostics))
    report = _report(found, [*diagnostics, *once], strict, started)
    report.notes, report.cards, report.media = notes, cards, media
    report.package, report.up_to_date = out, True
    return report


def _report(
    found: Collected, diagnostics: list[Diagnostic], strict: bool, started: float
) -> Report:
    if strict:  # `--strict`: a warning fails the run, as in `mkdocs build --strict`
        diagnostics = [
            replace(d, severity="error") if d.severity == "warning" else d for d in diagnostics
        ]
    return Report(
        rendered=found.rendered,
        notes=len(found.cards),
        cards=sum(len(c.question.points) for c in found.cards),
        media=len({m.name for m in found.media.values()}),
        diagnostics=sorted(diagnostics, key=_where),
        seconds=time.perf_counter() - started,
    )


def _where(d: Diagnostic) -> tuple[bool, str, int]:
    """Files in order, then what concerns the whole folder."""
    return d.path == ".", d.path, d.line


def collect(
    cards_dir: Path,
    config: Config,
    progress: Progress | None = None,
    cache: BuildCache | None = None,
    parallel: bool | None = None,
    snap: Snapshot | None = None,
) -> Collected:
    """Read, render and identify every card file and find its images; report all problems."""
    from .assemble import Card
    from .identify import duplicate_ids, identify, retired_points
    from .media import resolve_media
    from .readcards import read_all

    cache = cache if cache is not None else BuildCache(None, "")
    diagnostics: list[Diagnostic] = [cache.problem] if cache.problem else []
    try:
        lock, hashed = read_lock(cards_dir, cache.lock)
        snap = snap or snapshot(cards_dir)
    except MkdeckError as exc:
        return Collected([], {}, Lock(), [exc.diagnostic])
    lock_parsed = cache.lock is None or cache.lock[0] != hashed
    cache.lock = (hashed, lock)
    diagnostics += snap.skipped
    read: list[tuple[SourceFile, Question, RenderedNote]] = []
    results, rendered = read_all(snap, config.render_settings, cache, progress, parallel)
    for source, (parsed, problems) in zip(snap.sources, results, strict=True):
        diagnostics += problems
        if parsed is not None:
            read.append((source, *parsed))
    if not read and not any(d.severity == "error" for d in diagnostics):
        diagnostics.append(
            Diagnostic(".", 0, "no cards: no file here holds a question with an answer")
        )
    questions = [q for _, q, _ in read]
    diagnostics += duplicate_ids(questions)
    identities = identify(questions, lock)
    cards = [Card(*r, i) for r, i in zip(read, identities, strict=True)]
    once = [d for card in cards for d in retired_points(card.question, card.identity)]
    media, problems = resolve_media(
        [(c.source.path, c.source.rel, c.rendered.media) for c in cards], cards_dir, cache.images
    )
    return Collected(cards, media, lock, diagnostics + problems, rendered, lock_parsed, once)


def preview(
    cards_dir: Path, config: Config, out_dir: Path, progress: Progress | None = None
) -> tuple[Report, Preview | None]:
    """Build, then write the preview page of every card (None when the build has errors)."""
    from .preview import write_preview  # needs Anki's backend: only the preview loads it

    report = build(cards_dir, config.package_path(cards_dir), config, progress)
    if report.errors or report.package is None:
        return report, None
    # The lines of the points, from what the build just cached: nothing is rendered again.
    salt = cache_salt(config.render_settings)
    found = collect(cards_dir, config, cache=load_cache(report.package.parent, salt, True))
    lines = {
        (card.source.rel, ordinal): point.line
        for card in found.cards
        for ordinal, point in zip(
            card.identity.ordinals.ordinals, card.question.points, strict=True
        )
    }
    title = config.deck_name(cards_dir)
    return report, write_preview(report.package, lines, out_dir, title)
