"""A rebuild after a few card files were edited, added, removed or moved: only those files
are read, identified and packed, around what the last build made of all the others.

This is the edit loop's path (edit or add a note, build, import), and it is only taken when
it gives exactly what a full build would; tests compare the two builds' packages, locks and
reports. It needs the last build's state to describe the package, the lock and the kept
collection that are there now. Then:

- a card file showing an image that changed counts as edited, and is read again;
- an edited card file keeps its lock entry, and its points are matched against that entry as
  `identify` would, as long as its `id` is the same;
- a new card file continues the entry of a removed one that had its `id`, or, without an
  `id`, one whose points it shares (a file moved), as `identify` would; else it is a new note;
- a removed card file's note leaves the package and its entry the lock;
- the notes after an added or removed one move in the new-card order;
- every other file keeps the note, entry and place it had.

Anything else (an `id` changed, a card file that is no card now, a deck appearing or
emptied, the lock changed by other hands, a damaged kept collection, an error to report)
returns None, and the full build runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from .assemble import Card, anki_note, built_note
from .cache import BuildState, BuiltNote, KeptCollection, inputs_now, stamp, stamps_of
from .config import Config
from .discover import Snapshot, SourceFile
from .errors import Diagnostic
from .identify import (
    NoteIdentity,
    gone_note,
    identify,
    lock_entry,
    modification_time,
    retired_points,
)
from .lockfile import (
    LOCK_NAME,
    Lock,
    LockedNote,
    entry_in,
    entry_span,
    lock_names,
    splice_entries,
    write_lock_text,
)
from .media import MediaFile, resolve_media
from .package import AnkiNote, DamagedCollection, row_key, structure_of, update_package
from .parse import Question
from .readcards import read_card
from .render import RenderedNote

# Past this many changed files the full build is as quick: it renders on every core.
MAX_CHANGED = 50


@dataclass(frozen=True)
class Rebuilt:
    state: BuildState  # the new state, which the report is made from
    once: list[Diagnostic]  # said by this build only: points just removed, files gone
    rendered: int
    up_to_date: bool  # no note changed: the package was left as it was


@dataclass(frozen=True)
class Read:
    """A changed or new file, read: its card (None: it holds none) and what it says."""

    source: SourceFile
    card: tuple[Question, RenderedNote] | None
    problems: list[Diagnostic]


def rebuild_in_place(
    state: BuildState,
    snap: Snapshot,
    lock_now: tuple[bytes, str],
    cards_dir: Path,
    out: Path,
    config: Config,
    salt: str,
    now: int | None,
) -> Rebuilt | None:
    """The rebuild, written, when only a few card files changed; else None. `lock_now` is the
    lock's bytes and their hash, as they are now."""
    lock_path = cards_dir / LOCK_NAME
    lock_text = _lock_as_left(state, lock_now, out, config.deck_name(cards_dir), salt)
    changes = _changes(state, snap) if lock_text is not None else None
    if lock_text is None or changes is None:
        return None
    if state.inputs.tree != snap.tree and any(n.by_name for n in state.notes.values()):
        return None  # a file added or removed may be the image an embed now finds by name
    edited, removed = changes
    reads = _read(edited, state, config)
    if reads is None:
        return None

    # Each card file's place in the new-card order, and who each card read is.
    built = {rel: note for rel, note in state.notes.items() if rel not in removed}
    cards = {r.source.rel: r for r in reads if r.card is not None}
    order = [s.rel for s in snap.sources if s.rel in cards or s.rel in built]
    position = {rel: i for i, rel in enumerate(order)}
    identities = _identify(cards, state, removed, lock_text)
    if identities is None:
        return None

    # Their notes and lock entries, made as the full build makes them.
    root, kept = state.inputs.root, state.collection
    assert kept is not None  # `_lock_as_left` saw it
    now = int(time.time()) if now is None else now
    notes: list[AnkiNote] = []
    entries: list[LockedNote] = []
    problems = [d for r in reads for d in r.problems]
    once: list[Diagnostic] = []
    for rel, read in cards.items():
        assert read.card is not None
        question, rendered = read.card
        identity = identities[rel]
        media, missing = resolve_media([(read.source.path, rel, rendered.media)], cards_dir)
        if any(d.severity == "error" for d in missing):
            return None
        problems += missing
        card = Card(read.source, question, rendered, identity)
        note = anki_note(card, root, media, position[rel])
        mtime = modification_time(identity.previous, note.digest, now)
        notes.append(replace(note, mtime=mtime))
        entries.append(lock_entry(question, identity, note.digest, mtime))
        once += retired_points(question, identity)
        built[rel] = built_note(card, note, media)
    if structure_of({b.deck for b in built.values()}) != kept.structure:
        return None  # a deck appeared or was emptied: the full build writes the decks

    # The lock: the tables of the changed files replaced, added or taken out.
    continued = {i.previous.path for i in identities.values() if i.previous is not None}
    tables = [rel for rel in removed if entry_span(lock_text, rel) is not None]
    gone = [rel for rel in tables if rel not in continued]  # its note stays in Anki, alone
    new_text = splice_entries(lock_text, entries, tables, sorted([*state.notes, *state.kept]))
    if new_text is None:
        return None

    # The package: the changed notes replaced, the others re-dated when their place moved.
    moved = {}
    for rel, last in built.items():
        if rel not in cards and last.position != position[rel]:
            moved[last.guid] = position[rel]
            built[rel] = replace(last, position=position[rel])
    dropped = [state.notes[rel].guid for rel in gone if rel in state.notes]
    changed = [n for n in notes if kept.rows.get(n.guid) != row_key(n)]
    files = {name: path for b in sorted(built.values(), key=_place) for name, path in b.media}
    media_files = [MediaFile(Path(files[name]), name) for name in sorted(files)]
    collection = kept
    if (
        changed
        or moved
        or dropped
        or set(files) != {n for b in state.notes.values() for n, _ in b.media}
    ):
        # The package first, then the lock, as in a full build.
        keep_in = kept.path.parent
        try:
            written = update_package(kept, changed, moved, dropped, media_files, out, keep_in)
        except DamagedCollection:
            return None  # nothing written: the full build writes the collection whole
        collection = written or kept
    lock_hash = state.inputs.lock
    if new_text != lock_text:
        lock_hash = write_lock_text(lock_path, new_text)

    # What the next build starts from, and what this one says.
    touched = {s.rel for s, _ in edited} | set(removed) | set(state.inputs.skipped)
    diagnostics = (
        *(d for d in state.summary[3] if d.path not in touched),
        *snap.skipped,
        *problems,
    )
    cards_count = sum(b.cards for b in built.values())
    images = tuple(sorted({path for b in built.values() for _, path in b.media}))
    new_state = BuildState(
        salt,
        inputs_now(root, out, snap, lock_hash, images),
        stamp(out),
        (len(built), cards_count, len(files), diagnostics),
        notes=built,
        collection=collection,
        ids_unique=True,  # no id was added that the lock had
        kept=state.kept,
    )
    once += [gone_note(rel) for rel in gone]
    return Rebuilt(new_state, once, len(reads), collection is kept)


def _lock_as_left(
    state: BuildState, lock_now: tuple[bytes, str], out: Path, root: str, salt: str
) -> str | None:
    """The lock's text, when the package, the lock and the kept collection are all as the last
    build left them (and its settings the same); else None."""
    before, kept = state.inputs, state.collection
    if (
        state.salt != salt
        or (before.root, before.package) != (root, str(out))
        or state.package != stamp(out)
        or not state.ids_unique  # else whose entry an id names could change
        or not isinstance(kept, KeptCollection)
        or not kept.path.is_file()
        or lock_now[1] != before.lock
    ):
        return None
    return lock_now[0].decode("utf-8")  # as the last build wrote it: its hash says so


def _changes(
    state: BuildState, snap: Snapshot
) -> tuple[list[tuple[SourceFile, bytes]], list[str]] | None:
    """The files edited or added (with their bytes), or showing an image that changed, and
    the files removed (none at all: only files that are no cards changed); None when that is
    too much, or a file cannot be read."""
    before = state.inputs
    redrawn = {path for path, _, _ in set(before.stamps) - set(stamps_of(before.images))}
    showing = {rel for rel, n in state.notes.items() if any(p in redrawn for _, p in n.media)}
    hashes = dict(before.hashes)
    edited = []
    for source, read in zip(snap.sources, snap.files, strict=True):
        if not isinstance(read, tuple):
            return None  # unreadable: the full build says why
        if hashes.pop(source.rel, None) != read[1] or source.rel in showing:
            edited.append((source, read[0]))
    removed = list(hashes)
    if len(edited) + len(removed) > MAX_CHANGED or set(removed) & set(state.kept):
        return None
    return edited, removed


def _read(
    edited: list[tuple[SourceFile, bytes]], state: BuildState, config: Config
) -> list[Read] | None:
    """Each changed file read; None when one has an error or a card file became no card."""
    reads = []
    for source, data in edited:
        parsed, problems = read_card((source.rel, data, config.render_settings))
        if any(d.severity == "error" for d in problems):
            return None
        if parsed is None and source.rel in state.notes:
            return None  # a card file that is no card now keeps its entry: the full build
        reads.append(Read(source, parsed, problems))
    return reads


def _identify(
    cards: dict[str, Read], state: BuildState, removed: list[str], lock_text: str
) -> dict[str, NoteIdentity] | None:
    """Each read card's identity, as `identify` gives it over the whole lock; None when that
    could differ from what is worked out here from a few entries.

    An edited file continues its own entry. A new file continues the entry of a removed file
    that had its `id`, or, without an `id`, one whose points it shares (a file moved), else it
    is a new note. Entries that stay with their files are out of reach: their ids are their
    files' own, and their paths are not the new files' paths.
    """
    found: dict[str, NoteIdentity] = {}
    added: list[Question] = []
    for rel, read in cards.items():
        assert read.card is not None
        question, last = read.card[0], state.notes.get(rel)
        if last is None:
            added.append(question)
            continue
        entry = entry_in(lock_text, rel)  # edited: its own entry, by the same id or path
        if entry is None or (question.id, entry.id, entry.guid) != (last.id, last.id, last.guid):
            return None
        [found[rel]] = identify([question], Lock((entry,)))
    if not added:
        return found

    # What a new file could take over: the entries of the removed card files.
    ids = [q.id for q in added if q.id is not None]
    if len(ids) != len(set(ids)) or (state.kept and len(ids) < len(added)):
        return None  # two new files share an id; or one might be a file that was emptied
    removed_ids = {state.notes[rel].id for rel in removed if rel in state.notes}
    if any(lock_names(lock_text, "id", i) and i not in removed_ids for i in ids):
        return None  # the id is another file's: the full build reports it
    free = [entry_in(lock_text, rel) for rel in removed if rel in state.notes]
    if None in free or any(entry_span(lock_text, q.rel) is not None for q in added):
        return None
    identities = identify(added, Lock(tuple(e for e in free if e is not None)))
    fresh = [i.guid for i in identities if i.previous is None]
    if len(fresh) != len(set(fresh)) or any(lock_names(lock_text, "guid", g) for g in fresh):
        return None  # a fresh guid the lock holds: the full build draws another
    found.update((q.rel, i) for q, i in zip(added, identities, strict=True))
    return found


def _place(note: BuiltNote) -> int:
    return note.position
