"""Write the `.apkg`: a SQLite collection and the media, zipped.

genanki writes the collection's schema, its deck and note type records; mkdeck writes the
note and card rows itself, because it needs what genanki does not give: a note's time is when
its content last changed (so Anki's "update if newer" import updates exactly the edited
notes), cards are due in source order, and card ordinals come from the lock. Writing the rows
directly also skips genanki's per-note HTML checks, which cost more than the rows.

A rebuild does not write the collection again: the last one is kept (the memo says where), and
`plan_package` compares each note's row with the row it has there, by named fields, so that
only the notes that changed are replaced in it, under a new name first. It is zipped in pieces
deflated one by one, and a rebuild deflates again only the pieces whose pages changed. The
package carries what Anki's importer reads, and nothing it works out itself: no sort field, no
checksum, no indexes for scheduling. The package and the kept collection each appear under
their final name only when complete.

Sync reads a built package back (`OpenedPackage`): what each note is, and a package of just the
notes Anki's importer is to see.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import shutil
import sqlite3
import struct
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, BinaryIO, NamedTuple

from .discover import Stamp, stamp_of
from .files import atomic_write, remove_stale_temporaries, stamp, temporary_beside
from .media import PACKED_NAME, MediaFile
from .notetype import ANSWER, BASE_CSS, NOTETYPE_ID, QUESTION, notetype

# Deflate level 1: zipping a 20,000-note collection (52 MB) took 0.19 s for 5.6 MB, against
# 0.54 s for 4.3 MB at the default level 6. A rebuild waits on this; a package is copied once.
ZIP_LEVEL = 1
# Media that is compressed already: deflating it again saves about 2 % and costs most of the
# time of zipping a deck with many screenshots (2.4 s against 0.2 s for 113 MB of PNG).
COMPRESSED = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".mp3", ".m4a", ".ogg", ".mp4"}
# The indexes of Anki's schema that a package does without (`_write_collection`).
UNUSED_INDEXES = (
    "ix_cards_sched", "ix_cards_usn", "ix_notes_usn", "ix_notes_csum", "ix_revlog_usn",
)  # fmt: skip
NEW_CARD = (0, 0, 0, 0, 0, 0, 0, 0, "")  # a new card's ivl, factor, reps, lapses, left, …, data


class DamagedCollection(Exception):
    """The kept collection cannot be updated: only a build of every note can write it."""


class NoteRow(NamedTuple):
    """What a note's rows in the collection are, besides the text of its fields (which its
    `digest` stands for): equal rows need no writing."""

    guid: str
    deck: str
    digest: str  # of the fields and tags: tells whether the note changed since the last build
    mtime: int  # seconds; when the content last changed
    position: int  # new-card order: source order across the deck
    ordinals: tuple[int, ...]  # its cloze ordinals: one card each

    def same_note(self, other: NoteRow) -> bool:
        """Whether the two rows write the same note and cards, wherever each stands in the
        new-card order."""
        return (self.guid, self.deck, self.digest, self.mtime, self.ordinals) == (
            other.guid, other.deck, other.digest, other.mtime, other.ordinals
        )  # fmt: skip


@dataclass(frozen=True)
class AnkiNote:
    """One note as Anki will store it."""

    row: NoteRow
    text: str
    extra: str
    source: str
    tags: tuple[str, ...]


class Deflated(NamedTuple):
    """A collection as a build zipped it: the digest of each piece (`PIECE` bytes) and the
    length it took deflated, and the file that holds the deflated pieces one after another."""

    path: Path
    digests: tuple[str, ...]
    lengths: tuple[int, ...]


@dataclass(frozen=True)
class KeptCollection:
    """The collection of the last package written, and what it holds."""

    path: Path
    structure: str  # note type and decks: a change there means a full write
    rows: Mapping[str, NoteRow]  # guid → its note's row
    media: tuple[str, ...] = ()  # the packed names of the media zipped beside it
    package: tuple[int, int] = (-1, -1)  # size and mtime_ns of the package zipped from it
    deflated: Deflated | None = None  # the collection as it was zipped, piece by piece


@dataclass(frozen=True)
class PackagePlan:
    """What writing the package takes: the notes to write (all of them when the collection is
    written whole), the notes that only moved in the new-card order, those gone."""

    rows: tuple[NoteRow, ...]
    structure: str
    media: tuple[str, ...]
    write: frozenset[str]  # guids
    moved: tuple[tuple[int, str], ...]  # (new position, guid)
    gone: tuple[str, ...]
    kept: KeptCollection | None  # the collection updated; None: written whole
    unchanged: bool  # the package at its place is exactly this one already


def deck_id(name: str) -> int:
    """Stable id from the deck's name: the same deck lands in the same place on every import."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return (int.from_bytes(digest[:7], "big") | (1 << 56)) & ((1 << 62) - 1)


def plan_package(
    rows: Sequence[NoteRow], media: Sequence[str], out: Path, kept: KeptCollection | None
) -> PackagePlan:
    """Which notes must be written into the package at `out`, given the collection kept."""
    structure = structure_of({r.deck for r in rows})
    media = tuple(media)
    if kept is None or kept.structure != structure or not kept.path.is_file():
        guids = frozenset(r.guid for r in rows)
        return PackagePlan(tuple(rows), structure, media, guids, (), (), None, False)
    write, moved = [], []
    for row in rows:
        old = kept.rows.get(row.guid)
        if old == row:  # most rows of a rebuild
            continue
        if old is None or not old.same_note(row):
            write.append(row.guid)  # new, or its fields, time, deck or cards differ
        elif old.position != row.position:
            moved.append((row.position, row.guid))  # only its place in the new-card order
    present = {r.guid for r in rows}
    gone = tuple(guid for guid in kept.rows if guid not in present)
    unchanged = not (write or moved or gone) and kept.media == media and kept.package == stamp(out)
    return PackagePlan(
        tuple(rows), structure, media, frozenset(write), tuple(moved), gone, kept, unchanged
    )


def write_package(
    plan: PackagePlan,
    notes: Mapping[str, AnkiNote],
    media: Sequence[MediaFile],
    out: Path,
    keep_in: Path | None = None,
    meanwhile: Callable[[Path | None], object] | None = None,
    before: Callable[[], object] | None = None,
) -> KeptCollection | None:
    """Write `out` atomically, as `plan` says; `notes` holds (at least) the notes to write.

    With `keep_in`, the collection written is kept there for the next build, and returned.
    `meanwhile` runs while the package is zipped (it must not write where a build's outputs
    go), told the collection file it is zipped from when that is kept; `before` runs when the
    package is complete and before it takes its place (the lock is written then): if either
    fails, the previous package is still there.
    Raises `DamagedCollection` when the kept collection cannot be updated: the build then
    plans a whole collection.
    """
    to_write = [notes[r.guid] for r in plan.rows if r.guid in plan.write]
    rows = {r.guid: r for r in plan.rows}
    written = KeptCollection(Path(), plan.structure, rows, plan.media)
    remove_stale_temporaries(out)
    if keep_in is not None:
        keep_in.mkdir(parents=True, exist_ok=True)
        db = keep_in / f"collection-{os.urandom(6).hex()}.anki2"
    else:
        db = temporary_beside(out, ".anki2")
    kept = plan.kept
    try:
        if kept is None:
            _write_collection(db, to_write)
        else:
            # The kept collection is updated where it is, under a new name first: the memo
            # names a collection only as it described it, so a build that stops half-way
            # leaves the next one to write a whole collection, never to trust this one.
            try:
                if keep_in is not None and kept.path.parent == keep_in:
                    os.replace(kept.path, db)
                else:
                    shutil.copyfile(kept.path, db)
                _update_collection(db, to_write, list(plan.moved), list(plan.gone))
            except sqlite3.DatabaseError as exc:
                raise DamagedCollection(kept.path) from exc
        last = kept.deflated if kept is not None else None
        keep = db.with_suffix(".deflate") if keep_in is not None else None
        # The package there is the one the kept collection was zipped into, as it wrote it:
        # its images are taken from it as zipped.
        earlier = out if kept is not None and kept.package == stamp(out) else None
        deflated: list[Deflated | None] = []

        def zipping() -> None:
            if meanwhile is not None:
                meanwhile(db if keep_in is not None else None)

        def write(tmp: Path) -> None:
            deflated.append(_zip(tmp, db, last, keep, media, zipping, earlier))

        atomic_write(out, write, clean=False, before=before)
        if keep_in is None:
            return None
        for old in [*keep_in.glob("collection-*.anki2"), *keep_in.glob("collection-*.deflate")]:
            if old.stem != db.stem:  # the last build's, or a killed build's
                old.unlink(missing_ok=True)
        return replace(written, path=db, package=stamp(out), deflated=deflated[0])
    except BaseException:
        db.unlink(missing_ok=True)
        db.with_suffix(".deflate").unlink(missing_ok=True)
        raise
    finally:
        if keep_in is None:
            db.unlink(missing_ok=True)


# The collection is deflated in pieces this large, each on its own and ended by a full flush,
# so that the pieces joined are one deflate stream. A rebuild changes a few pages of the
# collection: only their pieces are deflated again, and the others are taken as the last
# build deflated them. Deflate looks back 32 KB at most, so the pieces cost nothing in size.
PIECE = 1 << 18
COPY_PIECE = 1 << 20  # an image copied from the last package is read this much at a time
LAST_BLOCK = b"\x03\x00"  # an empty final block: the end of a deflate stream


def _zip(
    tmp: Path,
    db: Path,
    last: Deflated | None,
    keep: Path | None,
    media: Sequence[MediaFile],
    meanwhile: Callable[[], object] | None,
    earlier: Path | None = None,
) -> Deflated | None:
    """The collection and the media, zipped into `tmp` in a thread of its own (zlib lets go
    of the interpreter while it deflates), while `meanwhile` runs; the pieces deflated are
    written to `keep` for the next build. An image that `earlier`, the last package as it
    was written, holds already is copied from it as zipped (`_copy_member`)."""
    import threading

    done: list[Deflated | None] = []
    failed: list[BaseException] = []

    def work() -> None:
        try:
            with (
                zipfile.ZipFile(
                    tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL
                ) as zf,
                _zipped_media(earlier) as zipped,
            ):
                done.append(_zip_collection(zf, db, last, keep))
                zf.writestr("media", json.dumps({str(i): m.name for i, m in enumerate(media)}))
                for i, m in enumerate(media):
                    stored = Path(m.name).suffix in COMPRESSED
                    compression = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                    if not _copy_member(zf, m, str(i), compression, zipped):
                        zf.write(m.path, str(i), compression)
        except BaseException as exc:  # raised again in the build's own thread
            failed.append(exc)

    zipping = threading.Thread(target=work, name="mkdeck-zip")
    zipping.start()
    try:
        if meanwhile is not None:
            meanwhile()
    finally:
        zipping.join()
    if failed:
        raise failed[0]
    return done[0]


# The images of the last package: the package, open, and each image's member by its name.
ZippedMedia = tuple[BinaryIO, dict[str, zipfile.ZipInfo]]
# A member's local header: its signature, then fixed fields up to the lengths of its name and
# extra field (the last two of them), 30 bytes in all.
LOCAL_HEADER_SIGNATURE = b"PK\x03\x04"
LOCAL_HEADER_SIZE = 30


@contextlib.contextmanager
def _zipped_media(package: Path | None) -> Iterator[ZippedMedia | None]:
    """The images of the package at `package` (None: none to take, or it cannot be read)."""
    if package is None:
        yield None
        return
    try:
        with zipfile.ZipFile(package) as zf:
            names = json.loads(zf.read("media"))
            members = {str(name): zf.getinfo(str(i)) for i, name in names.items()}
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, AttributeError):
        yield None
        return
    with package.open("rb") as source:
        yield source, members


def _copy_member(
    zf: zipfile.ZipFile,
    media: MediaFile,
    name: str,
    compression: int,
    zipped: ZippedMedia | None,
) -> bool:
    """Write the image into `zf` as `name` with the bytes the last package holds of it, as they
    are: an image not read, checked and deflated again. Its packed name is a hash of its bytes,
    and its header is the one `ZipFile.write` gives, so the package is byte for byte the same.
    False: the last package does not hold it so (the image is written as always)."""
    old = zipped[1].get(media.name) if zipped is not None else None
    if zipped is None or old is None:
        return False
    member = zipfile.ZipInfo.from_file(media.path, name)
    member.compress_type = compression
    # (A zip tells time to two seconds: a time read back has the even second.)
    if (old.file_size, _zip_time(old), old.compress_type, old.flag_bits) != (
        member.file_size,
        _zip_time(member),
        compression,
        0,
    ):
        return False
    source = zipped[0]
    source.seek(old.header_offset)
    header = source.read(LOCAL_HEADER_SIZE)
    if header[:4] != LOCAL_HEADER_SIGNATURE:
        return False
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    start = old.header_offset + LOCAL_HEADER_SIZE + name_length + extra_length
    member.CRC, member.compress_size = old.CRC, old.compress_size
    # As `ZipFile.open(member, "w")` writes a member's header, and its data after it.
    target = zf.fp
    assert target is not None
    target.seek(zf.start_dir)
    member.header_offset = target.tell()
    target.write(member.FileHeader(member.file_size * 1.05 > zipfile.ZIP64_LIMIT))
    _copy_range(source, target, start, old.compress_size)
    zf.start_dir = target.tell()
    zf.filelist.append(member)
    zf.NameToInfo[member.filename] = member
    zf._didModify = True  # type: ignore[attr-defined]
    return True


def _zip_time(member: zipfile.ZipInfo) -> tuple[int, ...]:
    """A member's time as its header holds it."""
    *day_and_minute, second = member.date_time
    return (*day_and_minute, second // 2)


def _copy_range(source: BinaryIO, target: IO[bytes], start: int, length: int) -> None:
    """`length` bytes of `source` from `start` written to `target` where it stands: copied by
    the kernel where it can (`copy_file_range`), else read and written."""
    target.flush()
    end = target.tell() + length
    copied = 0
    with contextlib.suppress(OSError, AttributeError):  # (not Linux, or across file systems)
        while copied < length:
            step = os.copy_file_range(
                source.fileno(), target.fileno(), length - copied, start + copied
            )
            if step == 0:
                break
            copied += step
    if copied < length:
        target.seek(end - length + copied)
        source.seek(start + copied)
        while copied < length:
            piece = source.read(min(COPY_PIECE, length - copied))
            if not piece:
                raise OSError(f"{getattr(source, 'name', 'the last package')} is cut short")
            target.write(piece)
            copied += len(piece)
    target.seek(end)


class _Deflated:
    """Stands in for the compressor of a zip member being written: it hands over each piece
    as deflated already, while `zipfile` counts the bytes and their CRC as it always does."""

    def __init__(self) -> None:
        self.piece = b""

    def compress(self, data: object) -> bytes:
        piece, self.piece = self.piece, b""
        return piece

    def flush(self) -> bytes:
        return LAST_BLOCK


def _zip_collection(
    zf: zipfile.ZipFile, db: Path, last: Deflated | None, keep: Path | None
) -> Deflated | None:
    """Write the collection into `zf`, deflating only the pieces that differ from `last`."""
    large = db.stat().st_size > zipfile.ZIP64_LIMIT // 2
    reuse = last is not None and last.path.is_file()
    starts = list(itertools.accumulate(last.lengths, initial=0)) if last is not None else []
    digests: list[str] = []
    lengths: list[int] = []
    stand_in = _Deflated()
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(db.open("rb"))
        before = stack.enter_context(last.path.open("rb")) if reuse and last else None
        kept = stack.enter_context(keep.open("wb")) if keep is not None else None
        target = stack.enter_context(zf.open("collection.anki2", "w", force_zip64=large))
        whole = not hasattr(target, "_compressor")  # not the zipfile this was written for
        if not whole:
            target._compressor = stand_in  # type: ignore[attr-defined]
        while data := source.read(PIECE):
            if whole:
                target.write(data)
                continue
            index = len(digests)
            digest = hashlib.sha256(data).hexdigest()[:32]
            if (
                before is not None
                and last is not None
                and index < len(last.digests)
                and (last.digests[index] == digest)
            ):
                before.seek(starts[index])
                piece = before.read(last.lengths[index])
            else:
                compressor = zlib.compressobj(ZIP_LEVEL, zlib.DEFLATED, -15)
                piece = compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)
            stand_in.piece = piece
            target.write(data)
            if kept is not None:
                kept.write(piece)
            digests.append(digest)
            lengths.append(len(piece))
    if whole or keep is None:
        return None
    return Deflated(keep, tuple(digests), tuple(lengths))


def structure_of(decks: set[str]) -> str:
    """The note type and the decks: what a kept collection must share with the new one. (The
    note type's look is its templates and mkdeck's CSS, and Pygments' palettes, which only a
    new Pygments changes: the memo that keeps a collection is salted with its version.)"""
    look = (NOTETYPE_ID, QUESTION, ANSWER, BASE_CSS)
    return hashlib.sha256(repr((*look, sorted(decks))).encode("utf-8")).hexdigest()


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
    for name in sorted({n.row.deck for n in notes}):
        deck = genanki.Deck(deck_id(name), name)
        deck.add_model(model)
        decks.append(deck)
    conn = _open(db_path)
    try:
        cursor = conn.cursor()
        genanki.Package(decks).write_to_db(cursor, now, itertools.count(int(now * 1000)))
        # Anki's importer reads the package's notes and cards whole, and builds the indexes
        # of the collection it imports into: the schema's indexes for scheduling and sync
        # would only be a fifth of the collection to zip, and work for every row written.
        for index in UNUSED_INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {index}")
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
        for guid in [*gone, *(n.row.guid for n in changed)]:
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
    """Note and card rows as genanki writes them, with mkdeck's times, order and ordinals: a
    note's id, then its cards' ids. The rows are made as SQLite takes them, not gathered
    first: a large deck's fields would otherwise be held twice, as notes and as rows."""
    sizes = (1 + len(n.row.ordinals) for n in notes)
    nids = list(itertools.accumulate(sizes, initial=first_id))[: len(notes)]

    def note_rows() -> Iterator[tuple[object, ...]]:
        for nid, n in zip(nids, notes, strict=True):
            tags = f" {' '.join(n.tags)} " if n.tags else ""
            fields = "\x1f".join([n.text, n.extra, n.source])
            # The sort field and the checksum are left empty: Anki's importer works both out
            # from the fields it stores, and the sort field would be a second copy of the
            # Text, zipped again by every rebuild.
            yield (nid, n.row.guid, NOTETYPE_ID, n.row.mtime, -1, tags, fields, "", 0, 0, "")

    def card_rows() -> Iterator[tuple[object, ...]]:
        for nid, n in zip(nids, notes, strict=True):
            row, did = n.row, deck_id(n.row.deck)
            for cid, ordinal in enumerate(row.ordinals, nid + 1):
                # id, nid, did, ord, mod, usn, type, queue, due, then ivl … odid, flags: 0; data
                yield (cid, nid, did, ordinal - 1, row.mtime, -1, 0, 0, row.position, *NEW_CARD)

    cursor.executemany("INSERT INTO notes VALUES (?,?,?,?,?,?,?,?,?,?,?)", note_rows())
    cursor.executemany(
        "INSERT INTO cards VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", card_rows()
    )


# --- reading a package back, for `mkdeck sync` ----------------------------------------------

SOURCE_FIELD = 2  # Text, Extra, Source


class PackagedNote(NamedTuple):
    file: str  # the card file (or post) its Source field names
    deck: str  # the deck its cards are in
    content: str  # `note_digest` of its fields and tags: the build's `NoteRow.digest`
    notetype: int
    cards: int  # how many cards it has


# The package's notes a column each: their guids, then each field of `PackagedNote`. So they
# cross to another process (pickled as lists of strings and numbers, 20,000 notes cost a third
# of what tuples do), and so a build makes them from its rows.
PackagedColumns = tuple[list[str], list[str], list[str], list[str], list[int], list[int]]


def packaged_notes(columns: PackagedColumns) -> dict[str, PackagedNote]:
    """The notes of `columns`, by guid."""
    guids, files, decks, contents, notetypes, cards = columns
    return dict(
        zip(guids, map(PackagedNote, files, decks, contents, notetypes, cards), strict=True)
    )


def packaged_columns(notes: Mapping[str, PackagedNote]) -> PackagedColumns:
    """The columns of these notes."""
    values = notes.values()
    return (
        list(notes),
        [note.file for note in values],
        [note.deck for note in values],
        [note.content for note in values],
        [note.notetype for note in values],
        [note.cards for note in values],
    )


class MarkdownChange(NamedTuple):
    """A note whose Markdown changed in a build (`Report.changed`): the time the build before
    gave it, the time this one gives it, and its file. An edit made in Anki between the two
    is one the import replaces."""

    dated: int
    dating: int
    file: str


# The notes whose Markdown changed in a build, by guid.
Changes = Mapping[str, MarkdownChange]


class PackagedNotetype(NamedTuple):
    """What Anki's importer compares of a note type it has (which is newer, and the names),
    and what a reader sees of it."""

    mod: int
    schema: tuple[str, ...]  # the names of its fields, then of its templates: Anki's match
    look: str  # a hash of its CSS and its templates' question and answer


def content_digest(*parts: object) -> str:
    """What Anki would receive, hashed: equal digests mean the note did not change."""
    h = hashlib.sha256()
    for part in parts:
        h.update(repr(part).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def note_digest(flds: str, tags: Iterable[str]) -> str:
    """`NoteRow.digest` of a note as Anki stores it (its fields joined by \\x1f, the Source
    escaped as a package writes it; its tags): the same from the build, from a package and
    from what Anki has, so that sync tells by one hash a note changed in its Markdown from one
    edited in Anki. Fields other than mkdeck's three hash to what no build gives."""
    fields = flds.split("\x1f")
    if len(fields) != SOURCE_FIELD + 1:
        return content_digest(fields, sorted(tags))
    text, extra, source = fields
    if "&" in source:  # (a path's `&`, `<` or `>`, escaped as the package writes it)
        import html

        source = html.unescape(source)
    return content_digest(text, extra, source, sorted(tags))


# The collection file a build zipped into its package (the memo keeps it), with its stamp
# right after: `Report.zipped_from`.
ZippedFrom = tuple[Path, Stamp]


class OpenedPackage:
    """A package's collection, unpacked into a temporary folder while it is open (`of`), or
    read where the build left it (`in_place`): read what it holds, or cut some of its notes
    into a package of their own."""

    def __init__(self, apkg: Path, db: Path, left: ZippedFrom | None = None) -> None:
        self.apkg = apkg
        self.db = db
        # Read in place: the collection file the build zipped, and its stamp as it left it.
        self._left = left

    @classmethod
    @contextlib.contextmanager
    def of(cls, apkg: Path) -> Iterator[OpenedPackage]:
        """The package at `apkg`, its collection unzipped while the block runs."""
        with tempfile.TemporaryDirectory(prefix="mkdeck-") as folder:
            with zipfile.ZipFile(apkg) as zf:
                db = Path(zf.extract("collection.anki2", folder))
            yield cls(apkg, db)

    @classmethod
    def in_place(cls, apkg: Path, zipped_from: ZippedFrom) -> OpenedPackage | None:
        """The package `apkg` opened as the collection file it was zipped from (the memo
        keeps it), read where it is (None: it is not as the build left it): not unzipped (an
        83 MB collection takes 0.23 s to unzip), not even copied (that would take the disk and
        the memory from a zip going on). What is read counts only while the file stays as the
        build left it (`as_left`): a later build takes it under another name before it writes
        it."""
        opened = cls(apkg, zipped_from[0], zipped_from)
        return opened if opened.as_left() else None

    def as_left(self) -> bool:
        """Whether all read of a collection read in place (`in_place`) was read as the build
        left it: it is so still (a later build takes it under another name before it writes
        it). Always, for a collection of its own."""
        if self._left is None:
            return True
        try:
            return stamp_of(self._left[0]) == self._left[1]
        except OSError:
            return False

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._uri(), uri=True)

    def _uri(self) -> str:
        """The collection's URI: read only, and without locks, when read in place (the build
        that wrote it takes none)."""
        uri = self.db.absolute().as_uri()
        return uri if self._left is None else f"{uri}?mode=ro&immutable=1"

    def notes(self) -> dict[str, PackagedNote]:
        """Each note, by guid: its file, its deck, its content, its note type and cards."""
        import html

        conn = self._connect()
        try:
            decks = {
                int(i): d["name"]
                for i, d in json.loads(conn.execute("SELECT decks FROM col").fetchone()[0]).items()
            }
            cards = {
                nid: (did, n)
                for nid, did, n in conn.execute(
                    "SELECT nid, min(did), count() FROM cards GROUP BY nid"
                )
            }
            rows = conn.execute("SELECT id, guid, mid, flds, tags FROM notes").fetchall()
        finally:
            conn.close()
        notes = {}
        for nid, guid, mid, flds, tags in rows:
            did, count = cards.get(nid, (None, 0))
            notes[guid] = PackagedNote(
                html.unescape(flds.split("\x1f")[SOURCE_FIELD]),
                decks.get(did, ""),
                note_digest(flds, tags.split()),
                mid,
                count,
            )
        return notes

    def notetypes(self) -> dict[int, PackagedNotetype]:
        """Each note type, by id: when it was last changed, and what Anki matches it by."""
        conn = self._connect()
        try:
            models = json.loads(conn.execute("SELECT models FROM col").fetchone()[0])
        finally:
            conn.close()
        return {int(i): notetype_summary(m) for i, m in models.items()}

    def write_with(self, guids: set[str], dest: Path) -> None:
        """A package at `dest` of only these notes, their cards, and the media their fields
        show: what Anki's importer reads of the rest (note types and decks) is as it was."""
        self.part(guids, dest.with_name(dest.name + ".anki2")).zip(self.apkg, dest)

    def part(self, guids: set[str], db: Path) -> PartCollection:
        """A collection at `db` of only these notes and their cards (note types and decks as
        they are): zipped with its images (`PartCollection.zip`) once the package that holds
        them is there. A sync cuts it while the build still zips that package."""
        conn = sqlite3.connect(db.absolute().as_uri(), uri=True)
        try:
            conn.execute("ATTACH DATABASE ? AS whole", (self._uri(),))
            schema = conn.execute(
                "SELECT sql FROM whole.sqlite_master WHERE sql IS NOT NULL"
            ).fetchall()
            for (sql,) in schema:
                conn.execute(sql)
            conn.execute("CREATE TEMP TABLE wanted (guid TEXT PRIMARY KEY)")
            conn.executemany("INSERT INTO wanted VALUES (?)", ((g,) for g in guids))
            conn.execute("INSERT INTO main.col SELECT * FROM whole.col")
            conn.execute("INSERT INTO main.notes SELECT * FROM whole.notes WHERE guid IN wanted")
            conn.execute(
                "INSERT INTO main.cards SELECT * FROM whole.cards "
                "WHERE nid IN (SELECT id FROM main.notes)"
            )
            shown = frozenset(  # the packed names these notes' fields show
                name
                for (flds,) in conn.execute("SELECT flds FROM main.notes")
                for name in PACKED_NAME.findall(flds)
            )
            conn.commit()
        finally:
            conn.close()
        return PartCollection(db, shown)


class PartCollection(NamedTuple):
    """Some notes of a package, cut into a collection of their own (`OpenedPackage.part`),
    and the packed names of the images their fields show."""

    db: Path
    shown: frozenset[str]

    def zip(self, package: Path, dest: Path) -> None:
        """The package at `dest` of these notes, with the images they show, as `package`
        holds them; the collection file is gone after."""
        with zipfile.ZipFile(package) as whole, zipfile.ZipFile(dest, "w") as copy:
            copy.write(self.db, "collection.anki2", zipfile.ZIP_DEFLATED, ZIP_LEVEL)
            media: dict[str, str] = json.loads(whole.read("media"))
            # Anki copies a `_` file whether a note shows it or not.
            wanted = [
                (n, name) for n, name in media.items() if name in self.shown or name[:1] == "_"
            ]
            for i, (number, _) in enumerate(wanted):
                copy.writestr(str(i), whole.read(number))
            copy.writestr("media", json.dumps({str(i): name for i, (_, name) in enumerate(wanted)}))
        self.db.unlink()


def notetype_summary(model: Mapping[str, object]) -> PackagedNotetype:
    """A note type as Anki stores it (a dict, in a package or a collection): its time, the
    names Anki's importer matches it by, and what a reader sees of it."""
    fields = model.get("flds")
    templates = model.get("tmpls")
    names = [
        str(part.get("name", ""))
        for parts in (fields, templates)
        if isinstance(parts, list)
        for part in parts
        if isinstance(part, dict)
    ]
    mod = model.get("mod")
    shown = [
        [str(t.get(side, "")) for side in ("qfmt", "afmt")]
        for t in (templates if isinstance(templates, list) else [])
        if isinstance(t, dict)
    ]
    look = hashlib.sha256(json.dumps([str(model.get("css", "")), shown]).encode("utf-8"))
    return PackagedNotetype(mod if isinstance(mod, int) else 0, tuple(names), look.hexdigest()[:16])
