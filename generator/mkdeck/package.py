"""Write the `.apkg`: genanki builds the collection, mkdeck fixes what genanki gets wrong for it.

genanki stamps every note with the build time, makes every new card "New #0" and stores the
zip uncompressed. mkdeck needs a note's time to be when its content last changed (so Anki's
"update if newer" import updates exactly the edited notes), cards due in source order, and a
compressed package. So genanki writes the SQLite collection, mkdeck sets `notes.mod` and
writes the zip itself. The file appears under its final name only when complete.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import genanki

from .files import atomic_write, temporary_beside
from .media import MediaFile
from .notetype import css, notetype


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


def deck_id(name: str) -> int:
    """Stable id from the deck's name: the same deck lands in the same place on every import."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return (int.from_bytes(digest[:7], "big") | (1 << 56)) & ((1 << 62) - 1)


def package_fingerprint(notes: list[AnkiNote], media: list[MediaFile]) -> str:
    """What the package would hold: equal fingerprints mean an equal package."""
    h = hashlib.sha256(css().encode("utf-8"))
    for n in notes:
        h.update(repr((n.guid, n.digest, n.mtime, n.deck, n.position)).encode("utf-8"))
    for m in media:
        h.update(repr((m.name, str(m.path))).encode("utf-8"))
    return h.hexdigest()


def write_package(notes: list[AnkiNote], media: list[MediaFile], out: Path) -> None:
    """Write `out` atomically: a temporary file beside it, renamed over it when complete."""
    model = notetype()
    decks: dict[str, genanki.Deck] = {}
    for note in notes:
        deck = decks.get(note.deck)
        if deck is None:
            deck = decks[note.deck] = genanki.Deck(deck_id(note.deck), note.deck)
            deck.add_model(model)
        deck.add_note(
            genanki.Note(
                model=model,
                fields=[note.text, note.extra, note.source],
                tags=list(note.tags),
                guid=note.guid,
                due=note.position,
            )
        )

    def write(tmp: Path) -> None:
        db = temporary_beside(out, ".anki2")
        try:
            _write_collection(db, list(decks.values()), notes)
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.write(db, "collection.anki2")
                zf.writestr("media", json.dumps({str(i): m.name for i, m in enumerate(media)}))
                for i, m in enumerate(media):
                    zf.write(m.path, str(i))
        finally:
            db.unlink(missing_ok=True)

    atomic_write(out, write)


def _write_collection(db_path: Path, decks: list[genanki.Deck], notes: list[AnkiNote]) -> None:
    now = time.time()
    conn = sqlite3.connect(db_path)
    try:
        cursor = conn.cursor()
        package = genanki.Package(decks)
        package.write_to_db(cursor, now, itertools.count(int(now * 1000)))
        # genanki stamps every note with the build time; a note's time is when it changed.
        # The index keeps this one statement linear in the deck.
        cursor.execute("CREATE INDEX IF NOT EXISTS mkdeck_guid ON notes (guid)")
        cursor.executemany(
            "UPDATE notes SET mod = ? WHERE guid = ?", [(n.mtime, n.guid) for n in notes]
        )
        cursor.execute("DROP INDEX mkdeck_guid")
        conn.commit()
    finally:
        conn.close()
