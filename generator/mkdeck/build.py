"""The pipeline: discover → read (parse, render) → identify → assemble → package, then the lock.

There is one pipeline. A rebuild runs every stage, as a first build does; what an earlier
build computed from the same inputs comes from the memo (`memo.py`), which only this module
asks, by content hash: a file whose stamp is unchanged is not even read, one whose bytes are
unchanged is not parsed again, a note whose ordinals and images are unchanged is not sealed
again, and only the notes whose rows changed are written into the last collection. A file
whose bytes and lock entry are both as the last build left them is carried over as the note
it made, without decoding anything but its row (`collect`): a rebuild's work follows what
changed, not the size of the deck. The lock's bytes and the memo's rows are made while the
package is zipped. When the hash of all inputs is the one the last build saw, nothing
changed, and the build only says so. Whatever the memo holds, the package, the lock and the
report are what a build without it gives.

Nothing is written until every file has been read without error (Pelican's read-all-then-
write): a bad source reports its `path:line` and leaves the previous package and lock exactly
as they were. `check` is the same pipeline stopped before packaging, writing nothing.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Config
from .discover import KnownFile, Snapshot, content, snapshot, stamp_of
from .errors import Diagnostic, MkdeckError
from .files import held_alone, is_zip, place_in_cache, stamp
from .lockfile import LOCK_NAME, Lock, WrittenLock, file_of, lock_text, parse_lock, question_of
from .memo import Memo, MemoUpdate, Outcome, inputs_key, memo_folder, salt_of, sealed_key

if TYPE_CHECKING:
    from .assemble import Card, CarriedNote, MediaMap
    from .lockfile import LockedNote, LockFile
    from .media import MediaFile
    from .package import (
        KeptCollection,
        MarkdownChange,
        NoteRow,
        PackagedColumns,
        PackagedNote,
        PackagePlan,
        ZippedFrom,
    )
    from .posts import CutPost
    from .preview import Preview
    from .readcards import CardRead, Job, Progress


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
    rendered: int = 0  # files read this run (the others came from the memo)
    built: list[Card] = field(default_factory=list)  # what each card file read this run became
    carried: list[CarriedNote] = field(default_factory=list)  # and each one carried over
    # The latest modification time of a note in the package: Anki must not see it before the
    # clock has passed it (`sync.sync_package`).
    newest: int = 0
    # Each note whose Markdown changed in this build, by guid.
    changed: dict[str, MarkdownChange] = field(default_factory=dict)
    posts: int = 0  # files read as posts of many questions
    post_questions: int = 0  # the notes those posts hold
    post_topics: int = 0  # of those, the ones a topic heading names (`## 虚函数`)
    # The card files, and the questions of posts (`post.md#question`), left out for errors.
    left_out_sources: list[str] = field(default_factory=list)
    # The rows the package was written from (`packaged`): None when nothing changed.
    rows: list[NoteRow] | None = None
    # When nothing changed: the memo (its folder and salt) that holds the package's rows.
    remembered: tuple[Path, str] | None = None
    # The collection file the package was zipped from, as the build left it (sync reads it
    # where it is rather than unzip the package); None without a memo.
    zipped_from: ZippedFrom | None = None

    def packaged(self) -> dict[str, PackagedNote] | None:
        """Each note of the package, by guid, as sync reads a package's: its file, deck,
        digest, note type and cards (`OpenedPackage.notes`, without reading it). When nothing
        changed, as the memo keeps the package's rows, read only now that sync asks (a build
        that finds nothing changed reads none). None when the build wrote no package, or the
        memo has not kept its rows."""
        from .package import packaged_notes

        columns = self.packaged_columns()
        return None if columns is None else packaged_notes(columns)

    def packaged_columns(self) -> PackagedColumns | None:
        """`packaged`, a column for each field: what sync hands a process of its own, made
        from the rows as they are (a third of the time of the notes themselves)."""
        if self.rows is None:
            return self._remembered_columns()
        files = {card.identity.guid: card.source.rel for card in self.built}
        files |= {note.last.guid: note.source.rel for note in self.carried}
        return _packaged_columns(self.rows, files)

    def _remembered_columns(self) -> PackagedColumns | None:
        if self.remembered is None or self.package is None:
            return None
        memo = Memo(*self.remembered, writable=False)
        try:
            kept, files = memo.kept(), memo.lock_paths()
        finally:
            memo.close()
        if kept is None or kept.package != stamp(self.package):
            return None  # not the package there: sync reads that one
        rows = list(kept.rows.values())
        if not all(row.guid in files for row in rows):
            return None
        return _packaged_columns(rows, files)

    def lines(self) -> dict[tuple[str, int], int]:
        """Where each card's point is written: (card file, cloze ordinal) → line."""
        lines = {
            (card.source.rel, ordinal): point.line
            for card in self.built
            for ordinal, point in zip(card.ordinals, card.question.points, strict=True)
        }
        for note in self.carried:
            for ordinal, line in zip(note.ordinals, note.last.lines, strict=True):
                lines[note.source.rel, ordinal] = line
        return lines

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def left_out(self) -> list[str]:
        """The files left out of the package written, for their errors (for a post, the
        questions with errors are left out, and the file is named)."""
        if self.package is None:
            return []
        return sorted({d.path for d in self.errors})

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]


@dataclass(frozen=True)
class Collected:
    """Everything read from the cards folder, and every problem found on the way.

    A card file whose bytes and lock entry are those the last build saw is carried over as
    the note that build made, unread; `lock` then holds only the other files' entries, and
    the carried ones keep their tables in the lock's text as written.
    """

    notes: list[Card | CarriedNote]  # in source order
    media: MediaMap
    lock: Lock
    written: WrittenLock  # the lock's text as read
    lock_hash: str
    diagnostics: list[Diagnostic]  # said by every build of these inputs
    once: list[Diagnostic] = field(default_factory=list)  # said once: points just removed
    fresh: dict[str, tuple[str, CardRead]] = field(default_factory=dict)  # read this run
    left_out: frozenset[str] = frozenset()  # card files (and questions of posts) with an error
    snap: Snapshot | None = None  # the sources read: each post as its questions
    reading: list[Diagnostic] = field(default_factory=list)  # how each file was read (`check`)
    posts: int = 0
    post_topics: int = 0
    cuts: dict[str, tuple[str, str, CutPost]] = field(default_factory=dict)  # `Split.cuts`
    cut_now: frozenset[str] = frozenset()

    @functools.cached_property
    def cards(self) -> list[Card]:
        """The card files read (from their bytes or the memo), not carried over."""
        from .assemble import Card

        return [note for note in self.notes if isinstance(note, Card)]

    @functools.cached_property
    def carried(self) -> list[CarriedNote]:
        """The notes carried over, unread."""
        from .assemble import CarriedNote

        return [note for note in self.notes if isinstance(note, CarriedNote)]

    @functools.cached_property
    def carried_paths(self) -> frozenset[str]:
        return frozenset(note.source.rel for note in self.carried)


def check(
    cards_dir: Path,
    config: Config,
    progress: Progress | None = None,
    strict: bool = False,
    out: Path | None = None,
) -> Report:
    """Every problem in the cards folder, nothing written (the memo is only read)."""
    started = time.perf_counter()
    out = out or config.package_path(cards_dir)
    memo = Memo(memo_folder(out), salt_of(config.render_settings), writable=False)
    try:
        found = collect(cards_dir, config, memo, progress, out=out, how_read=True)
    finally:
        memo.close()
    no_id = [
        Diagnostic(
            note.source.rel,
            1,
            "no `id` in the front matter: the note is known by its path (kept in "
            "mkdeck.lock); an `id` keeps it even without the lock",
            "note",
        )
        for note in found.notes
        if note.note_id is None and not question_of(note.source.rel)
    ]
    return _report(found, [*found.diagnostics, *found.reading, *no_id], strict, started)


def build(
    cards_dir: Path,
    out: Path,
    config: Config,
    progress: Progress | None = None,
    strict: bool = False,
    now: int | None = None,
    use_cache: bool = True,
    parallel: bool | None = None,
    new_notes: frozenset[str] = frozenset(),
    building: Callable[[], object] | None = None,
    packaging: Callable[[Report], object] | None = None,
    zipping: Callable[[ZippedFrom], object] | None = None,
) -> Report:
    """Build the package at `out` and update the lock, or report why not and write nothing.

    `now` is the clock (seconds) for notes whose content changed; None: the current time.
    `use_cache=False`: remember nothing, use nothing remembered; `parallel` None renders on
    every core when the deck is large enough to pay for it. `new_notes`: card files (paths
    in the cards folder) that get a note of their own instead of the one the lock gives them:
    for a file whose note in Anki is another project's (`sync.SyncResult.elsewhere`).
    `building` is called once the build knows it has something to do, that is, when it has not
    found everything as the last build left it (what only a changed deck needs can start then).
    `packaging(report)` is called before the package is written, with the report as far as
    the package goes (its notes: `Report.packaged`), and `zipping(zipped_from)` while it is
    zipped, when the memo keeps its collection, with the collection file it is zipped from: a
    sync works out its import meanwhile.
    """
    # One build of a folder at a time: a second one (a `watch` beside a `build`, say) waits for
    # the first, so the two never write the package, the lock or the memo over each other.
    with contextlib.ExitStack() as held:
        try:
            place = place_in_cache("locks", cards_dir)
            place.parent.mkdir(parents=True, exist_ok=True)
            held.enter_context(held_alone(place.with_suffix(".lock"), BUSY_SECONDS))
        except TimeoutError:
            busy = Diagnostic(
                ".",
                0,
                f"another mkdeck build of this folder has run for over {BUSY_SECONDS} s: let "
                "it finish, or stop it, and build again",
            )
            return _report(_nothing(busy), [busy], strict, time.perf_counter())
        except OSError:  # no cache folder to lock in (a read-only home): build, unguarded
            pass
        salt = salt_of(config.render_settings)
        memo = Memo(memo_folder(out), salt, writable=True) if use_cache else Memo.none()
        try:
            with _no_cycle_collection():
                return _build(
                    cards_dir,
                    out,
                    config,
                    memo,
                    progress,
                    strict,
                    now,
                    parallel,
                    new_notes,
                    building,
                    packaging,
                    zipping,
                )
        finally:
            memo.close()


# Up to this many files read in one build, each is handed its code blocks as highlighted before
# (one query a file): a rebuild's few, read in this process, need not load Pygments for code
# they did not change. Many go to workers, where each loads it once.
FEW_READS = 100
# How long a build waits for another build of the same folder to finish.
BUSY_SECONDS = 600


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """A build makes millions of small objects and no reference cycles to speak of: Python's
    cycle collector would walk them again and again (a quarter of a large rebuild) to free
    nothing that reference counting does not free anyway.

    What outlives the build (its report, the memo's reads) is set aside from the young
    collections (`gc.freeze`): enabled again, the collector would otherwise walk every one of
    those objects at its next allocation (5 % of a one-edit rebuild at 20,000 notes), in a
    command that exits right after. Nothing is kept alive by it, as a build leaves no cycles
    behind to collect (a test holds a rebuild to none); the next build hands them back first."""
    was = gc.isenabled()
    gc.disable()
    gc.unfreeze()
    try:
        yield
    finally:
        if was:
            gc.freeze()
            gc.enable()


def _build(
    cards_dir: Path,
    out: Path,
    config: Config,
    memo: Memo,
    progress: Progress | None,
    strict: bool,
    now: int | None,
    parallel: bool | None,
    new_notes: frozenset[str] = frozenset(),
    building: Callable[[], object] | None = None,
    packaging: Callable[[Report], object] | None = None,
    zipping: Callable[[ZippedFrom], object] | None = None,
) -> Report:
    started = time.perf_counter()
    root = config.deck_name(cards_dir)
    misplaced = _misplaced_package(cards_dir, out)
    if misplaced is not None:
        return _report(_nothing(misplaced), [misplaced], strict, started)
    try:
        snap = snapshot(cards_dir, config.exclude, config.static, memo.stamps())
    except MkdeckError as exc:
        return _report(_nothing(exc.diagnostic), [exc.diagnostic], strict, started)
    unknown = sorted(new_notes - {file_of(s.rel) for s in snap.sources}) if new_notes else []
    if unknown:
        said = [
            Diagnostic(rel, 0, "`--new-note`: no card file here has this path") for rel in unknown
        ]
        return _report(_nothing(said[0]), said, strict, started)
    last = memo.outcome()
    if (
        not new_notes
        and last is not None
        and last.package == stamp(out)
        and last.key == _inputs(root, out, snap, snap.lock[1], last.images, racy_as_changed=False)
    ):
        if snap.stamps:
            # Files read again because the build that last read them was too close to their
            # change to trust their stamps: trusted now, they are not read next time.
            memo.trust(_stamps(snap))
        return _outcome_report(last, out, strict, started, memo)

    if building is not None:
        building()
    # Only now the modules a real build needs: an unchanged deck never loads them.
    from .identify import kept_entries
    from .lockfile import place_lock, prepare_lock

    found = collect(cards_dir, config, memo, progress, parallel, snap, out, new_notes)
    snap = _without_bytes(snap)  # (`collect` read every file it needed)
    report = _report(found, [*found.diagnostics, *found.once], strict, started)
    # Files with errors are left out and the rest builds; an error about the whole folder (the
    # lock, the settings), or any error under `--strict`, writes nothing.
    left = {file_of(rel) for rel in found.left_out}
    whole = [d for d in report.errors if d.path not in left]
    if whole or (strict and report.errors) or not found.notes:
        return report
    report.left_out_sources = sorted(found.left_out)

    now = int(time.time()) if now is None else now
    units = found.snap or snap
    update = MemoUpdate(
        reads=found.fresh,
        present=units.readable,
        posts=found.cuts,
        cut_now=found.cut_now,
        stamps=_stamps(snap),
        listed=snap.readable,
    )
    try:
        rows, entries, sealed, changed = _assemble(found, root, memo, config, units, now, update)
    except MkdeckError as exc:  # a file read again (`_without_bytes`) changed meanwhile
        report.diagnostics = [*report.diagnostics, exc.diagnostic]
        return report

    @functools.cache
    def posts_read() -> frozenset[str]:  # asked only for entries that were not built
        return frozenset(file_of(s.rel) for s in units.sources if question_of(s.rel))

    def present(rel: str) -> bool:
        """Whether an entry's file is still there, and (for a question of a post) its post
        holds it still, left out for an error, or could not be read as a post this time."""
        if not (cards_dir / file_of(rel)).is_file():
            return False
        if not question_of(rel) or rel in found.left_out:
            return True
        return file_of(rel) not in posts_read()

    kept, gone = kept_entries(found.lock, entries, present)
    files = {m.name: m for m in found.media.values()}
    media = [files[name] for name in sorted(files)]
    update.images = {str(m.path): m.stamp for m in media if m.stamp is not None}
    images = tuple(sorted(str(m.path) for m in media))

    # The package and the lock land together: the lock is written when the package is
    # complete and before it takes its place, so a lock that cannot be written leaves the
    # previous package where it was. (A crash between the two leaves a new lock beside the
    # old package, which the next build simply finishes.) Its bytes are made while the
    # package is zipped.
    lock = Lock(tuple(entries + kept))
    lock_path = cards_dir / LOCK_NAME
    prepared: list[LockFile] = []

    def prepare_the_lock() -> None:
        if not prepared and (lock != found.lock or not found.lock_hash):
            before = (found.lock, found.written)
            prepared.append(
                prepare_lock(lock_path, lock, before, found.carried_paths, found.lock_hash)
            )

    def written_hash() -> str:  # (once the lock is prepared)
        return prepared[0].hash if prepared else found.lock_hash

    def write_the_lock() -> None:
        prepare_the_lock()
        if prepared:
            place_lock(lock_path, prepared[0])

    @functools.cache
    def inputs_now() -> str:
        """The hash of this build's inputs, the lock as written, for the next build to compare
        (`Outcome.key`): made while the package is zipped when it is, so that the build's
        end (what sync waits for) does not hash every file's path and hash again. Asked
        once the lock is prepared."""
        return _inputs(root, out, snap, written_hash(), images, racy_as_changed=True)

    def meanwhile(zipped_from: Path | None) -> None:
        """While the package is zipped: what sync reads ahead, the lock's bytes, the memo's
        rows, the inputs' hash."""
        if zipping is not None and zipped_from is not None:
            zipping((zipped_from, stamp_of(zipped_from)))
        prepare_the_lock()
        update.lock = (written_hash(), lock, carried_paths)
        memo.stage(update)
        inputs_now()

    carried_paths = found.carried_paths
    update.rows = rows
    report.built = found.cards
    report.carried = found.carried
    report.newest = max((row.mtime for row in rows), default=0)
    report.changed = changed
    report.rows = rows
    if packaging is not None:
        packaging(report)
    try:
        update.kept, report.up_to_date = _package(
            found, rows, media, out, memo, config, units, sealed, meanwhile, write_the_lock
        )
        if report.up_to_date:
            write_the_lock()
    except OSError as exc:  # a full disk, a read-only folder: said, and nothing changed
        where = exc.filename or str(out)
        problem = Diagnostic(str(where), 0, f"cannot write: {exc.strerror or exc}")
        report.diagnostics = [*report.diagnostics, problem]
        return report
    except MkdeckError as exc:  # a file read again changed meanwhile: nothing written
        report.diagnostics = [*report.diagnostics, exc.diagnostic]
        return report
    finally:  # a lock made ready and not placed: the package did not take its place either
        for ready in prepared:
            if ready.temporary is not None:
                ready.temporary.unlink(missing_ok=True)
    lock_hash = written_hash()
    if update.kept is not None:
        with contextlib.suppress(OSError):
            report.zipped_from = (update.kept.path, stamp_of(update.kept.path))

    # What the next build starts from.
    update.lock, update.lock_file = (lock_hash, lock, carried_paths), lock_path
    update.outcome = Outcome(
        inputs_now(),
        images,
        stamp(out),
        report.notes,
        report.cards,
        report.media,
        tuple(sorted(found.diagnostics, key=_where)),
        report.newest,
        (report.posts, report.post_questions, report.post_topics),
    )
    memo.save(update)
    report.diagnostics = sorted([*report.diagnostics, *gone], key=_where)
    report.package = out
    report.seconds = time.perf_counter() - started
    return report


def _assemble(
    found: Collected,
    root: str,
    memo: Memo,
    config: Config,
    snap: Snapshot,
    now: int,
    update: MemoUpdate,
) -> tuple[
    list[NoteRow],
    list[LockedNote],
    dict[str, tuple[str, str]],
    dict[str, MarkdownChange],
]:
    """Each note's row, the lock entry of each note read, the fields sealed this run (by
    guid): a note is sealed again only when its ordinals or images are new to the memo; and
    the notes whose Markdown changed (`Report.changed`)."""
    from .assemble import Card, carried_row, fields_digest, media_names, note_row
    from .identify import lock_entry, modification_time
    from .package import MarkdownChange

    rows, entries, sealed_now = [], [], {}
    changed: dict[str, MarkdownChange] = {}
    for position, card in enumerate(found.notes):
        if not isinstance(card, Card):  # carried over: its row as the last build made it
            rows.append(carried_row(card, root, position))
            continue
        rel, names = card.source.rel, media_names(card, found.media)
        key = sealed_key(card.ordinals, names)
        digest = memo.digest(rel, card.data_hash, key)
        if digest is None:
            sealed = _seal(card, names, config, snap)
            digest = fields_digest(card, sealed)
            sealed_now[card.identity.guid] = sealed
            update.sealed[rel] = (key, digest, *sealed)
        previous = card.identity.previous
        mtime = modification_time(previous, digest, now)
        if previous is not None and mtime != previous.mtime:  # its Markdown changed
            changed[card.identity.guid] = MarkdownChange(previous.mtime, mtime, file_of(rel))
        rows.append(note_row(card, root, digest, mtime, position))
        entries.append(lock_entry(card.question, card.identity, digest, mtime))
    return rows, entries, sealed_now, changed


def _package(
    found: Collected,
    rows: list[NoteRow],
    media: list[MediaFile],
    out: Path,
    memo: Memo,
    config: Config,
    snap: Snapshot,
    sealed: dict[str, tuple[str, str]],
    meanwhile: Callable[[Path | None], None],
    before: Callable[[], None],
) -> tuple[KeptCollection | None, bool]:
    """Write the package, by a row diff against the collection the memo kept; the collection
    now kept, and whether the package there was exactly this one already. `meanwhile` runs
    while the package is zipped, `before` when it is complete and before it takes its place."""
    from .assemble import Card, anki_note
    from .package import DamagedCollection, plan_package, write_package

    by_guid = {note.guid: note for note in found.notes}
    names = [m.name for m in media]
    kept = memo.kept()
    plan = plan_package(rows, names, out, kept)
    if plan.unchanged:
        return kept, True

    def write(plan: PackagePlan) -> KeptCollection | None:
        notes = {}
        for row in rows:
            if row.guid not in plan.write:
                continue
            card = by_guid[row.guid]
            if not isinstance(card, Card):  # carried over: as the memo keeps it
                tags, fields = _carried_fields(card, memo)
                notes[row.guid] = anki_note(card.source, tags, row, fields)
                continue
            fields = sealed.get(row.guid) or _stored_fields(card, found.media, memo, config, snap)
            notes[row.guid] = anki_note(card.source, card.question.tags, row, fields)
        return write_package(plan, notes, media, out, memo.folder, meanwhile, before)

    try:
        return write(plan), False
    except DamagedCollection:  # nothing written: the collection is written whole
        return write(plan_package(rows, names, out, None)), False


def _misplaced_package(cards_dir: Path, out: Path) -> Diagnostic | None:
    """Why the package cannot go to `out`: inside the cards folder (where it would be read as
    notes, or replace one), or over a file that is no package. None: it can."""
    if out.resolve().is_relative_to(cards_dir.resolve()):
        why = "the package would be written inside the cards folder: choose a path outside it"
        return Diagnostic(str(out), 0, why)
    if out.exists() and (out.is_dir() or not is_zip(out)):
        why = "is there already and is no .apkg: mkdeck does not write over it (choose another -o)"
        return Diagnostic(str(out), 0, why)
    return None


def _seal(card: Card, names: tuple[str, ...], config: Config, snap: Snapshot) -> tuple[str, str]:
    """The card's fields for its ordinals and images: sealed where it was read when its points
    are numbered 1, 2, 3…, else sealed now from its HTML (read again, when it came from the
    memo or from a worker, which keep no HTML: this is the rare note whose ordinals moved)."""
    from .assemble import note_fields, with_names

    if card.read.fresh is not None and card.fresh_ordinals():
        return with_names(card.read.fresh, names, card.read.media)
    rendered = card.read.rendered or _read_again(card, config, snap).rendered
    assert rendered is not None  # it held a card when it was read from these very bytes
    return with_names(note_fields(card.question, rendered, card.ordinals), names, card.read.media)


def _stored_fields(
    card: Card, media: MediaMap, memo: Memo, config: Config, snap: Snapshot
) -> tuple[str, str]:
    """The fields of a note that was sealed by an earlier build, as it sealed them."""
    from .assemble import media_names

    names = media_names(card, media)
    stored = memo.fields(card.source.rel, card.data_hash, sealed_key(card.ordinals, names))
    if stored is not None:
        return stored
    return _seal(card, names, config, snap)


def _carried_fields(note: CarriedNote, memo: Memo) -> tuple[tuple[str, ...], tuple[str, str]]:
    """The tags and fields of a note carried over, which the memo holds: it was carried over
    because it does (`Memo.last_notes`)."""
    rel, last = note.source.rel, note.last
    read = memo.read(rel, last.data_hash)
    fields = memo.fields(rel, last.data_hash, sealed_key(last.ordinals, ()))
    assert read is not None and read.question is not None and fields is not None
    return read.question.tags, fields


def _read_again(card: Card, config: Config, snap: Snapshot) -> CardRead:
    """The card read again from the bytes this build read it from."""
    from .readcards import read_card

    job: Job = (card.source.rel, snap.content(card.source.rel), config.render_settings, {})
    return read_card(job)


def _stamps(snap: Snapshot) -> dict[str, KnownFile | None]:
    """The stamp of each card file read now, with the hash of its bytes, for the next build
    to trust; None for a file changed too recently to tell a later change of the same size
    by (git's "racy" rule): the next build reads that one again."""
    from .media import racy_since

    since = racy_since()
    return {  # (a `KnownFile`'s mtime and ctime, in nanoseconds)
        rel: known if known[2] <= since and known[3] <= since else None
        for rel, known in snap.stamps.items()
    }


def _inputs(
    root: str,
    out: Path,
    snap: Snapshot,
    lock_hash: str,
    images: Sequence[str],
    racy_as_changed: bool,
) -> str:
    """A hash of everything a build reads. An image stamped within a timestamp tick of now
    counts, when remembered, as one that matches nothing: the next build looks again."""
    from .media import racy

    stamps = []
    for path in images:
        size, mtime = stamp(Path(path))
        stamps.append((path, size, -1 if racy_as_changed and racy(mtime) else mtime))
    skipped = tuple(d.path for d in snap.skipped)
    return inputs_key([root, str(out), snap.digest, lock_hash, stamps, skipped, snap.tree])


def _nothing(*problems: Diagnostic) -> Collected:
    return Collected([], {}, Lock(), WrittenLock(b""), "", list(problems))


def _outcome_report(last: Outcome, out: Path, strict: bool, started: float, memo: Memo) -> Report:
    """The report of a build whose inputs are those of the last one: nothing changed."""
    # (Its posts, for the paths of their questions' problems: shown as the posts'.)
    had = replace(_nothing(), posts=last.posts[0])
    report = _report(had, list(last.diagnostics), strict, started)
    report.notes, report.cards, report.media = last.notes, last.cards, last.media
    report.package, report.up_to_date = out, True
    report.newest = last.newest
    report.posts, report.post_questions, report.post_topics = last.posts
    if memo.folder is not None:  # (none without a memo: `--no-cache`)
        report.remembered = (memo.folder, memo.salt)
        report.zipped_from = memo.kept_file(out)
    return report


def _packaged_columns(rows: Sequence[NoteRow], files: Mapping[str, str]) -> PackagedColumns:
    """The package's notes, as sync reads them, from its rows and each note's path."""
    from .notetype import NOTETYPE_ID

    return (
        [row.guid for row in rows],
        [file_of(files[row.guid]) for row in rows],
        [row.deck for row in rows],
        [row.digest for row in rows],
        [NOTETYPE_ID] * len(rows),
        [len(row.ordinals) for row in rows],
    )


def _report(
    found: Collected, diagnostics: list[Diagnostic], strict: bool, started: float
) -> Report:
    if strict:  # `--strict`: a warning fails the run, as in `mkdocs build --strict`
        diagnostics = [
            replace(d, severity="error") if d.severity == "warning" else d for d in diagnostics
        ]
    if found.posts:  # paths as the user knows them: a question's is its post's
        diagnostics = [
            replace(d, path=file_of(d.path)) if "#" in d.path else d for d in diagnostics
        ]
    return Report(
        posts=found.posts,
        # The questions of posts that are notes: those left out for an error are not.
        post_questions=sum(bool(question_of(n.source.rel)) for n in found.notes)
        if found.posts
        else 0,
        post_topics=found.post_topics,
        rendered=len(found.fresh),
        notes=len(found.notes),
        cards=sum(len(note.ordinals) for note in found.notes),
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
    memo: Memo,
    progress: Progress | None = None,
    parallel: bool | None = None,
    snap: Snapshot | None = None,
    out: Path | None = None,
    new_notes: frozenset[str] = frozenset(),
    how_read: bool = False,
) -> Collected:
    """Read every card file (from the memo when its bytes were read before), identify it
    against the lock, find its images; report all problems. `how_read`: say how each file
    was read (`check`), a card file that a post's rule holds to one question too, where a
    build takes a file the last build read as a card file as one without looking again.

    A file whose bytes and lock entry are those the last build saw, with nothing to say and no
    image, is carried over as the note that build made (`Memo.last_notes`), unless a file read
    now shares its `id`: identity's only cross-file rule, that each entry is claimed once, then
    gives what it gave before, and the other files are identified against the rest of the lock.
    """
    from .assemble import Card, CarriedNote
    from .identify import duplicate_ids, identify, retired_points
    from .media import resolve_media
    from .posts import look_at, split_posts
    from .readcards import CardRead, read_cards
    from .workers import InWorkers

    once: list[Diagnostic] = [memo.problem] if memo.problem else []
    try:
        snap = snap or snapshot(cards_dir, config.exclude, config.static, memo.stamps())
        data, lock_hash = snap.lock
        written = WrittenLock(data)
        last = memo.last_notes(lock_hash)
        # A lock changed by other hands (a pull, a checkout): a note whose table it holds byte
        # for byte as the last build's lock did is carried over, as under that lock, and only
        # the other tables are parsed, their files read and identified again.
        pulled = not last and bool(lock_hash) and memo.holds_another_lock(lock_hash)
        if pulled:
            last = memo.notes_left_in(written)
        # Each post becomes its questions, one source each; a file the lock knows as a card
        # file stays one, and one the last build read as a card file from these very bytes
        # is one without being looked at again.
        split = split_posts(
            snap,
            written.known,
            config.topics,
            lambda rel, data_hash: (
                not how_read
                and (
                    (rel in last and last[rel].data_hash == data_hash)
                    or memo.read_as_card(rel, data_hash, lock_hash)
                    # Under another lock (one pulled), when this one knows it as a card file
                    # too: its front matter does not say `kind: post` (or could not be read),
                    # so it is one still (`posts.held_as_card`).
                    or (written.known(rel) == "card" and memo.read_as_card(rel, data_hash, None))
                )
            ),
            memo.cut,
            explain=how_read,
            look=lambda jobs: InWorkers(
                jobs, parallel, look_at, look_at, progress, "Looking for posts"
            ),
        )
        snap = split.snap
        carry = {
            s.rel: CarriedNote(s, made)
            for s, f in zip(snap.sources, snap.files, strict=True)
            if (made := last.get(s.rel)) is not None
            and isinstance(f, tuple)
            and made.data_hash == f[1]
            and s.rel in written.spans
            and not (new_notes and file_of(s.rel) in new_notes)
        }
    except MkdeckError as exc:
        return _nothing(exc.diagnostic)
    diagnostics: list[Diagnostic] = [*snap.skipped, *split.said]

    def start_reading(
        rels: set[str],
    ) -> tuple[InWorkers[Job, CardRead], Callable[[], dict[str, tuple[str, CardRead]]]]:
        """Start reading these files (from the memo, or now: in workers when many): the reading
        under way, and what each file gives, once the function returned is called."""
        reads: dict[str, tuple[str, CardRead]] = {}
        jobs: list[tuple[Job, str]] = []
        for source, file in zip(snap.sources, snap.files, strict=True):
            if source.rel not in rels:
                continue
            if isinstance(file, Diagnostic):
                reads[source.rel] = ("", CardRead(None, None, (file,)))
                continue
            data_hash = file[1]
            hit = memo.read(source.rel, data_hash)
            if hit is not None:
                reads[source.rel] = (data_hash, hit)
                continue
            try:
                data = content(source, file)
            except MkdeckError as exc:  # it changed since it was found
                reads[source.rel] = ("", CardRead(None, None, (exc.diagnostic,)))
                continue
            jobs.append(((source.rel, data, config.render_settings, {}), data_hash))
        if len(jobs) < FEW_READS:  # each with its code blocks as highlighted before
            jobs = [((*job[:3], memo.code(job[0])), data_hash) for job, data_hash in jobs]
        under_way = read_cards([job for job, _ in jobs], parallel, progress)

        def taken() -> dict[str, tuple[str, CardRead]]:
            for (job, data_hash), read in zip(jobs, under_way, strict=True):
                reads[job[0]] = fresh[job[0]] = (data_hash, read)
            return reads

        return under_way, taken

    def read_all(rels: set[str]) -> dict[str, tuple[str, CardRead]]:
        return start_reading(rels)[1]()

    fresh: dict[str, tuple[str, CardRead]] = {}
    carried_then: set[str] = set()
    parsed = False  # the lock parsed here (not given by the memo)
    # The files are read (in workers, when many) while the lock is looked up: a lock the memo
    # does not hold (a clone's, a pulled one) is parsed meanwhile, not before the workers start.
    under_way, reads_of = start_reading({s.rel for s in snap.sources if s.rel not in carry})
    try:
        lock = memo.lock(lock_hash, frozenset(carry)) if lock_hash else None
        if lock is None:  # changed since the last build: by other hands, cut, or gone
            if not pulled:
                # (None from a memo that held this lock but could not give it: read them all.)
                carried_then, carry = set(carry), {}
            as_read = _lock_but(written, carry) if lock_hash else Lock()  # ("": no lock file)
            lock, recovered = _recovered(as_read, memo, carry)
            parsed = True
            once += recovered
            if not lock.notes and not carry and out is not None and is_zip(out):
                under_way.close()
                return _nothing(_lock_lost(out))
    except BaseException as exc:  # (an interrupt too: the workers are not waited for)
        under_way.close()
        if isinstance(exc, MkdeckError):
            return _nothing(exc.diagnostic)
        raise
    reads = reads_of()
    if carried_then:
        reads |= read_all(carried_then)
    # An id that a file read now also claims, or that another entry of the lock holds: the
    # carried note is read too, and identity decides between them as it always does.
    ids = {r.question.id for _, r in reads.values() if r.question is not None}
    ids |= {n.id for n in lock.notes}
    ids.discard(None)
    shared = {rel for rel, note in carry.items() if note.last.id in ids}
    if shared:
        carry = {rel: note for rel, note in carry.items() if rel not in shared}
        reads |= read_all(shared)
        if parsed:  # (said already what was recovered)
            lock = _recovered(_lock_but(written, carry), memo, carry)[0]
        else:
            lock = memo.lock(lock_hash, frozenset(carry)) or lock

    held: list[tuple[int, str, CardRead]] = []
    for position, source in enumerate(snap.sources):
        if source.rel in carry:
            continue
        data_hash, read = reads[source.rel]
        diagnostics += read.problems
        if read.question is not None:
            held.append((position, data_hash, read))
    if config.allow_scripts:  # said on every build: a weaker card is a choice made somewhere
        diagnostics.append(_scripts_kept(config, diagnostics))
    if not held and not carry and not any(d.severity == "error" for d in diagnostics):
        diagnostics.append(
            Diagnostic(".", 0, "no cards: no file here holds a question with an answer")
        )
    diagnostics += duplicate_ids([read.question for _, _, read in held if read.question])
    showing = [
        (snap.sources[position].path, snap.sources[position].rel, read.media)
        for position, _, read in held
        if read.media
    ]
    media, problems = resolve_media(showing, cards_dir, memo.images, config.static)
    diagnostics += problems

    # A file with an error is left out, and the rest builds (as mkdocs and Sphinx go on); its
    # lock entry is kept for it (`identify.kept_entries`), and no other file may take it over.
    # One whose question was read is identified with the others, so that it claims what it
    # would claim, and is left out after; the entry at the path of one that could not be read
    # is no other file's to recognise by its points.
    broken = {d.path for d in diagnostics if d.severity == "error"}
    unread = broken - {snap.sources[position].rel for position, _, _ in held}
    reserved = {n.guid for n in lock.notes if n.path in unread and n.id is None}
    # A file given a note of its own claims no entry; its old guid is never handed out again.
    if new_notes:
        reserved |= {n.guid for n in lock.notes if file_of(n.path) in new_notes}
    taken = frozenset(note.last.guid for note in carry.values()) | reserved
    usable = Lock(tuple(n for n in lock.notes if n.guid not in reserved))
    questions = [read.question for _, _, read in held if read.question is not None]
    identities = identify(questions, usable, config.deck_name(cards_dir), taken)
    built = [
        (position, Card(snap.sources[position], data_hash, read, identity))
        for (position, data_hash, read), identity in zip(held, identities, strict=True)
        if snap.sources[position].rel not in broken
    ]
    cards = [card for _, card in built]
    once += [d for card in cards for d in retired_points(card.question, card.identity)]
    by_position: dict[int, Card | CarriedNote] = dict(built)
    for position, source in enumerate(snap.sources):
        if source.rel in carry:
            by_position[position] = carry[source.rel]
    notes = [by_position[p] for p in sorted(by_position)]
    return Collected(
        notes,
        {key: file for key, file in media.items() if key[0] not in broken},
        lock,
        written,
        lock_hash,
        diagnostics,
        once,
        fresh,
        frozenset(broken & {s.rel for s in snap.sources}),
        _without_bytes(snap),
        split.reading,
        split.posts,
        split.topics,
        split.cuts,
        split.cut_now,
    )


def _lock_but(written: WrittenLock, carried: Mapping[str, CarriedNote]) -> Lock:
    """The lock but for the entries of the notes carried over, parsed without their tables
    (raises `MkdeckError` for a lock that cannot be read). The whole lock is parsed when the
    rest cannot be, to say what is wrong where, or when a table parsed clashes with one left
    out (a path or a guid twice), which only the whole lock tells."""
    if carried:
        with contextlib.suppress(MkdeckError):
            rest = parse_lock(lock_text(written.without(carried)), LOCK_NAME)
            guids = {note.last.guid for note in carried.values()}
            if not any(n.path in carried or n.guid in guids for n in rest.notes):
                return rest
    whole = parse_lock(lock_text(written.data), LOCK_NAME)
    return Lock(tuple(note for note in whole.notes if note.path not in carried))


def _without_bytes(snap: Snapshot) -> Snapshot:
    """The snapshot without the bytes of its card files, once every file has been read: a
    need after that (a note sealed for other ordinals) reads its file again, and checks its
    hash (`Snapshot.content`), as for a file trusted by its stamp. A question of a post keeps
    its bytes: they are cut from the post, not a file of their own. A large deck's build
    holds its notes until they are written, and need not hold their sources too."""
    files = tuple(
        (None, f[1]) if isinstance(f, tuple) and f[0] is not None and not question_of(s.rel) else f
        for s, f in zip(snap.sources, snap.files, strict=True)
    )
    return replace(snap, files=files)


def _recovered(
    lock: Lock, memo: Memo, carried: Mapping[str, CarriedNote]
) -> tuple[Lock, list[Diagnostic]]:
    """The lock (but for the entries of the notes `carried` over) with the entries the last
    build wrote and it lacks (deleted, or cut short), taken back from the memo: without them,
    a note's points would be numbered afresh and cards would trade their review histories."""
    guids = {n.guid for n in lock.notes} | {note.last.guid for note in carried.values()}
    paths = {n.path for n in lock.notes} | set(carried)
    # Each entry's guid and path first: most often none is lost, and no entry's points are read.
    if all(guid in guids or path in paths for guid, path in memo.lock_paths().items()):
        return lock, []
    last = memo.last_lock()
    if last is None:
        return lock, []
    lost = tuple(n for n in last.notes if n.guid not in guids and n.path not in paths)
    if not lost:
        return lock, []
    what = "is missing" if not paths else f"lacks {len(lost)} of the entries"
    note = Diagnostic(
        LOCK_NAME,
        0,
        f"the lock {what} that the last build wrote: taken back from what that build "
        "remembered, so every card keeps its history. Commit the lock this build writes",
        "note",
    )
    return Lock(lock.notes + lost), [note]


def _lock_lost(out: Path) -> Diagnostic:
    """A package built before, and no lock to say which card is which: building now would
    number every point afresh."""
    return Diagnostic(
        LOCK_NAME,
        0,
        f"the lock is missing, but {out.name} was built from these cards before: restore the "
        "lock (`git checkout -- mkdeck.lock` in the cards folder) so that cards keep their "
        f"review history; to start afresh instead, delete {out}",
    )


def _scripts_kept(config: Config, diagnostics: list[Diagnostic]) -> Diagnostic:
    from .markup import KEPT_SCRIPT

    files = sorted({file_of(d.path) for d in diagnostics if d.message.startswith(KEPT_SCRIPT)})
    where = str(config.source) if config.source is not None else "."
    shown = ", ".join(files[:5]) + (", …" if len(files) > 5 else "")
    return Diagnostic(
        where,
        config.allow_scripts_line,
        f"`allow_scripts = true`: {len(files)} card "
        f"{'file keeps' if len(files) == 1 else 'files keep'} script "
        f"or HTML that cards otherwise may not carry{': ' + shown if files else ''}; Anki runs "
        "it on every device that shows them",
        "warning",
    )


def preview(
    cards_dir: Path, config: Config, out_dir: Path, progress: Progress | None = None
) -> tuple[Report, Preview | None]:
    """Build, then write the preview page of every card (None when the build has errors)."""
    from .preview import write_preview  # needs Anki's backend: only the preview loads it

    out = config.package_path(cards_dir)
    report = build(cards_dir, out, config, progress)
    if report.package is None:
        return report, None
    lines = report.lines()
    if report.up_to_date and not report.built:  # nothing was built: as the last build left them
        memo = Memo(memo_folder(out), salt_of(config.render_settings), writable=False)
        try:
            lines = memo.lines()
        finally:
            memo.close()
    title = config.deck_name(cards_dir)
    from .lockfile import read_lock

    sources = {note.guid: note.path for note in read_lock(cards_dir)[0].notes}
    return report, write_preview(report.package, lines, out_dir, title, sources)
