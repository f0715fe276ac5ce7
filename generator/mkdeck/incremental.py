"""A rebuild after editing a few card files in place: only those files are read, identified and
packed again, around what the last build made of all the others.

This is the edit loop's path (edit a note, build, import), and it is only taken when it gives
exactly what a full build would. The last build's state must still describe the package, the
lock and the kept collection that are there now, the same files must be there, with no image
changed, and each edited file must have been a card and still be one, with the same `id` and
deck. Then no other file's identity, place in the new-card order or deck can change: each
keeps the lock entry it has, and the edited ones are matched against their own entries as
`identify` would. Anything else (a file added, removed or renamed, an image or the lock changed
by other hands, a problem to report) returns None, and the full build runs. Tests compare the
two builds' packages and locks.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .assemble import Card, anki_note
from .cache import BuildState, BuiltNote, KeptCollection, inputs_now, stamp
from .config import Config
from .discover import Snapshot
from .errors import Diagnostic
from .identify import identify, lock_entry, modification_time, retired_points
from .lockfile import (
    LOCK_NAME,
    Lock,
    LockedNote,
    entry_in,
    splice_entries,
    write_lock_text,
)
from .media import MediaFile, resolve_media
from .package import AnkiNote, row_key, update_package
from .readcards import read_card

# Past this many edited files the full build is as quick: it renders on every core.
MAX_EDITED = 50


@dataclass(frozen=True)
class Rebuilt:
    state: BuildState  # the new state, which the report is made from
    once: list[Diagnostic]  # said by this build only: points just removed
    rendered: int
    up_to_date: bool  # the edits changed no note: the package was left as it was


def rebuild_in_place(
    state: BuildState,
    snap: Snapshot,
    cards_dir: Path,
    out: Path,
    config: Config,
    salt: str,
    now: int | None,
) -> Rebuilt | None:
    """The rebuild, written, when only card files edited in place changed; else None."""
    before = state.inputs
    if (
        state.salt != salt
        or (before.root, before.package) != (config.deck_name(cards_dir), str(out))
        or state.package != stamp(out)
        or not isinstance(state.collection, KeptCollection)
        or not state.collection.path.is_file()
        or [rel for rel, _ in before.hashes] != [s.rel for s in snap.sources]
        or inputs_now("", out, (), "", before.images).stamps != before.stamps
    ):
        return None
    edited = [
        (source, read)
        for source, read, (_, old_hash) in zip(snap.sources, snap.files, before.hashes, strict=True)
        if not isinstance(read, tuple) or read[1] != old_hash
    ]
    lock_path = cards_dir / LOCK_NAME
    try:
        lock_bytes = lock_path.read_bytes()
    except OSError:
        return None
    if (
        not 0 < len(edited) <= MAX_EDITED
        or hashlib.sha256(lock_bytes).hexdigest() != before.lock
        or not state.ids_unique  # else whose entry an id names could change
    ):
        return None
    lock_text = lock_bytes.decode("utf-8")  # as the last build wrote it: its hash says so

    root, settings = before.root, config.render_settings
    now = int(time.time()) if now is None else now
    notes: list[AnkiNote] = []
    entries: list[LockedNote] = []
    built = dict(state.notes)
    problems: list[Diagnostic] = []
    once: list[Diagnostic] = []
    for source, read in edited:
        last = state.notes.get(source.rel)
        if last is None or not isinstance(read, tuple):
            return None  # it was no card, or cannot be read now: the full build says why
        parsed, found = read_card((source.rel, read[0], settings))
        entry = entry_in(lock_text, source.rel)
        if parsed is None or entry is None or any(d.severity == "error" for d in found):
            return None
        question, rendered = parsed
        if (question.id, entry.id, entry.guid) != (last.id, last.id, last.guid):
            return None  # its id changed: whose note it is may change
        [identity] = identify([question], Lock((entry,)))
        if identity.guid != last.guid:
            return None
        media, missing = resolve_media([(source.path, source.rel, rendered.media)], cards_dir)
        if any(d.severity == "error" for d in missing):
            return None
        card = Card(source, question, rendered, identity)
        note = anki_note(card, root, media, last.position)
        if note.deck != last.deck:
            return None  # a deck's notes changed: the full build writes the decks again
        mtime = modification_time(entry, note.digest, now)
        notes.append(replace(note, mtime=mtime))
        entries.append(lock_entry(question, identity, note.digest, mtime))
        packed = tuple(
            (m.name, str(m.path))
            for m in (media[source.rel, i] for i in range(len(rendered.media)))
        )
        built[source.rel] = BuiltNote(
            last.guid, last.id, last.deck, last.position, len(note.ordinals), packed
        )
        problems += [*found, *missing]
        once += retired_points(question, identity)

    lock_text_new = splice_entries(lock_text, entries)
    if lock_text_new is None:
        return None
    kept = state.collection
    changed = [n for n in notes if kept.rows.get(n.guid) != row_key(n)]
    files = {name: path for b in sorted(built.values(), key=_place) for name, path in b.media}
    media_files = [MediaFile(Path(files[name]), name) for name in sorted(files)]
    old_media = {name for b in state.notes.values() for name, _ in b.media}
    collection = kept
    if changed or set(files) != old_media:
        # The package first, then the lock, as in a full build.
        collection = update_package(kept, changed, media_files, out, kept.path.parent) or kept
    lock_hash = before.lock
    if lock_text_new != lock_text:
        lock_hash = write_lock_text(lock_path, lock_text_new)

    rels = {source.rel for source, _ in edited}
    count, cards, _, said = state.summary
    cards += sum(b.cards for rel, b in built.items() if rel in rels)
    cards -= sum(b.cards for rel, b in state.notes.items() if rel in rels)
    diagnostics = [*(d for d in said if d.path not in rels), *problems]
    images = tuple(sorted({path for b in built.values() for _, path in b.media}))
    inputs = inputs_now(root, out, snap.hashes, lock_hash, images)
    summary = (count, cards, len(files), tuple(diagnostics))
    new_state = BuildState(salt, inputs, stamp(out), summary, built, collection, True)
    return Rebuilt(new_state, once, len(edited), collection is kept)


def _place(note: BuiltNote) -> int:
    return note.position
