"""Write the `.apkg`: a SQLite collection and the media, zipped.

genanki writes the collection's schema, its deck and note type records; mkdeck writes the
note and card rows itself, because it needs what genanki does not give: a note's time is when
its content last changed (so Anki's "update if newer" import updates exactly the edited
notes), cards are due in source order, and card ordinals come from the lock. Writing the rows
directly also skips genanki's per-note HTML checks, which cost more than the rows.

A rebuild does not write the collection again: the last one is kept beside the build cache,
and only the notes that changed are replaced in a copy of it, which is then zipped. The
package and the kept collection each appear under their final name only when complete.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import secrets
import shutil
import sqlite3
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .cache import KeptCollection
from .files import atomic_write, remove_stale_temporaries, temporary_beside
from .media import MediaFile
from .notetype import NOTETYPE_ID, css, notetype

# Deflate level 1: zipping a 20,000-note collection (52 MB) took 0.19 s for 5.6 MB, against
# 0.54 s for 4.3 MB at the default level 6. A rebuild waits on this; a package is copied once.
ZIP_LEVEL = 1
# Media that is compressed already: deflating it again saves about 2 % and costs most of the
# time of zipping a deck with many screenshots (2.4 s against 0.2 s for 113 MB of PNG).
COMPRESSED = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".mp3", ".m4a", ".ogg", ".mp4"}
NEW_CARD = (0, 0, 0, 0, 0, 0, 0, 0, "")  # a new card's ivl, factor, reps, lapses, left, …, data


class DamagedCollection(Exception):
    """The kept collection cannot be updated: only a build of every note can write it."""


@dataclass(frozen=True)
class AnkiNote:
    """One note as Anki will store it."""

    guid: str
    deck: str
    text: str
    extra: str
    source: str
    tags: tuple[str, ...]
    digest: str  # of the fields and tags: tells whether the note changed since the last build
    mtime: int  # seconds; when the content last changed
    position: int  # new-card order: source order across the deck
    ordinals: tuple[int, ...] = (1,)  # its cloze ordinals: one card each


def deck_id(name: str) -> int:
    """Stable id from the deck's name: the same deck lands in the same place on every import."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return (int.from_bytes(digest[:7], "big") | (1 << 56)) & ((1 << 62) - 1)


def package_fingerprint(notes: list[AnkiNote], media: list[MediaFile]) -> str:
    """What the package would hold: equal fingerprints mean an equal package."""
    h = hashlib.sha256(css().encode("utf-8"))
    for n in notes:
        h.update(repr(row_key(n)).encode("utf-8"))
    for m in media:
        h.update(repr((m.name, str(m.path))).encode("utf-8"))
    return h.hexdigest()


def row_key(note: AnkiNote) -> tuple:
    return note.guid, note.digest, note.mtime, note.deck, note.position, note.ordinals


def write_package(
    notes: list[AnkiNote],
    media: list[MediaFile],
    out: Path,
    keep_in: Path | None = None,
    kept: KeptCollection | None = None,
) -> KeptCollection | None:
    """Write `out` atomically, from the `kept` collection when there is one that fits.

    With `keep_in`, the collection written is kept there for the next build, and returned.
    """
    structure = _structure(notes)
    rows = {n.guid: row_key(n) for n in notes}
    if kept is not None and kept.structure == structure and kept.path.is_file():
        previous = kept.rows
        changed, moved = [], []
        for n in notes:
            old, new = previous.get(n.guid), rows[n.guid]
            if old is None or old[:4] != new[:4] or old[5] != new[5]:
                changed.append(n)  # new, or its fields, time, deck or cards differ
            elif old[4] != new[4]:
                moved.append((n.position, n.guid))  # only its place in the new-card order
        gone = [guid for guid in previous if guid not in rows]
        source = kept.path

        def fill(db: Path) -> None:
            try:
                shutil.copyfile(source, db)
                _update_collection(db, changed, moved, gone)
            except sqlite3.DatabaseError:  # the kept collection is damaged: write it whole
                db.unlink(missing_ok=True)
                _write_collection(db, notes)

    else:

        def fill(db: Path) -> None:
            _write_collection(db, notes)

    return _package(fill, media, out, keep_in, KeptCollection(Path(), structure, rows))


def update_package(
    kept: KeptCollection,
    changed: list[AnkiNote],
    moved: dict[str, int],
    gone: list[str],
    media: list[MediaFile],
    out: Path,
    keep_in: Path,
) -> KeptCollection | None:
    """Write `out` from the `kept` collection with only these notes replaced, re-dated (`moved`:
    guid → new place in the new-card order) and dropped (`gone`: their guids). The decks must
    be the kept collection's (`write_package` covers the rest). Raises `DamagedCollection`,
    having written nothing, when the kept collection cannot be read."""
    dropped = set(gone)
    rows = {guid: row for guid, row in kept.rows.items() if guid not in dropped}
    for guid, position in moved.items():
        old = rows[guid]
        rows[guid] = (*old[:4], position, *old[5:])
    rows.update((n.guid, row_key(n)) for n in changed)
    shifts = [(position, guid) for guid, position in moved.items()]

    def fill(db: Path) -> None:
        try:
            shutil.copyfile(kept.path, db)
            _update_collection(db, changed, shifts, gone)
        except sqlite3.DatabaseError as exc:
            raise DamagedCollection(kept.path) from exc

    return _package(fill, media, out, keep_in, KeptCollection(Path(), kept.structure, rows))


def _package(
    fill: Callable[[Path], None],
    media: list[MediaFile],
    out: Path,
    keep_in: Path | None,
    written: KeptCollection,
) -> KeptCollection | None:
    """Fill a fresh collection file, zip it with the media into `out`, and keep it.

    Each kept collection has a name of its own: a build killed before its state was saved
    leaves a state that names a collection which is gone or still the old one, never one
    that the state does not describe.
    """
    remove_stale_temporaries(out)
    db = temporary_beside(out, ".anki2")
    try:
        fill(db)

        def write(tmp: Path) -> None:
            with zipfile.ZipFile(
                tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL
            ) as zf:
                zf.write(db, "collection.anki2")
                zf.writestr("media", json.dumps({str(i): m.name for i, m in enumerate(media)}))
                for i, m in enumerate(media):
                    stored = Path(m.name).suffix in COMPRESSED
                    zf.write(m.path, str(i), zipfile.ZIP_STORED if stored else None)

        atomic_write(out, write, clean=False)
        if keep_in is None:
            return None
        keep_in.mkdir(parents=True, exist_ok=True)
        path = keep_in / f"collection-{secrets.token_hex(6)}.anki2"
        os.replace(db, path)  # the collection just zipped is the one kept, as it is
        for old in keep_in.glob("collection-*.anki2"):
            if old != path:
                old.unlink(missing_ok=True)
        return replace(written, path=path)
    finally:
        db.unlink(missing_ok=True)


def _structure(notes: list[AnkiNote]) -> str:
    return structure_of({n.deck for n in notes})


def structure_of(decks: set[str]) -> str:
    """The note type and the decks: what a kept collection must share with the new one."""
    return hashlib.sha256(repr((NOTETYPE_ID, css(), sorted(decks))).encode("utf-8")).hexdigest()


def _open(db_path: Path) -> sqlite3.Connection:
    """A connection to a collection file of our own making: no journal and no waiting for the
    disk, because the file only takes its place when complete (`_package`)."""
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    return conn


def _write_collection(db_path: Path, notes: list[AnkiNote]) -> None:
    import genanki  # only a full write needs it

    now = time.time()
    model = notetype()
    decks = []
    for name in sorted({n.deck for n in notes}):
        deck = genanki.Deck(deck_id(name), name)
        deck.add_model(model)
        decks.append(deck)
    conn = _open(db_path)
    try:
        cursor = conn.cursor()
        genanki.Package(decks).write_to_db(cursor, now, itertools.count(int(now * 1000)))
        # Kept for later updates by guid; Anki's importer does not mind an extra index.
        cursor.execute("CREATE INDEX IF NOT EXISTS mkdeck_guid ON notes (guid)")
        _insert(cursor, notes, int(now * 1000))
        conn.commit()
    finally:
        conn.close()


def _update_collection(
    db_path: Path, changed: list[AnkiNote], moved: list[tuple[int, str]], gone: list[str]
) -> None:
    """Replace the rows of the notes that changed, drop those that are gone, re-date moves."""
    conn = _open(db_path)
    try:
        cursor = conn.cursor()
        for guid in [*gone, *(n.guid for n in changed)]:
            row = cursor.execute("SELECT id FROM notes WHERE guid = ?", (guid,)).fetchone()
            if row is not None:
                cursor.execute("DELETE FROM cards WHERE nid = ?", row)
                cursor.execute("DELETE FROM notes WHERE id = ?", row)
        cursor.executemany(
            "UPDATE cards SET due = ? WHERE nid = (SELECT id FROM notes WHERE guid = ?)",
            moved,
        )
        start = max(
            cursor.execute("SELECT coalesce(max(id), 0) FROM notes").fetchone()[0],
            cursor.execute("SELECT coalesce(max(id), 0) FROM cards").fetchone()[0],
            int(time.time() * 1000),
        )
        _insert(cursor, changed, start + 1)
        conn.commit()
    finally:
        conn.close()


def _insert(cursor: sqlite3.Cursor, notes: list[AnkiNote], first_id: int) -> None:
    """Note and card rows as genanki writes them, with mkdeck's times, order and ordinals."""
    ids = itertools.count(first_id)
    note_rows, card_rows = [], []
    for n in notes:
        nid = next(ids)
        tags = f" {' '.join(n.tags)} " if n.tags else ""
        fields = "\x1f".join([n.text, n.extra, n.source])
        note_rows.append((nid, n.guid, NOTETYPE_ID, n.mtime, -1, tags, fields, n.text, 0, 0, ""))
        did = deck_id(n.deck)
        for ordinal in n.ordinals:
            # id, nid, did, ord, mod, usn, type, queue, due, then ivl … odid, flags: 0; data
            card_rows.append(
                (next(ids), nid, did, ordinal - 1, n.mtime, -1, 0, 0, n.position, *NEW_CARD)
            )
    cursor.executemany("INSERT INTO notes VALUES (?,?,?,?,?,?,?,?,?,?,?)", note_rows)
    cursor.executemany("INSERT INTO cards VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", card_rows)
