"""`mkdeck sync`: put the built package into the user's own Anki, exactly as File → Import does.

Both routes hand the package to Anki's own importer with File → Import's rules (a note is
updated only when the package's copy is newer, review history is kept, nothing is deleted), so
sync never writes notes one by one with rules of its own:

- Anki is running with the AnkiConnect add-on: AnkiConnect's `importPackage` asks the running
  Anki to import the file.
- Anki is closed: the profile's collection is opened with Anki's own backend (the `anki`
  package, the `anki` extra) and the notes of the package that an import could change are
  imported there (a package of just those, made from the built one; none when nothing
  changed). A collection that Anki has open is refused by the backend itself, and sync says
  what to do.

What the importer does not do, sync does around it, and says: it leaves out a note that Anki
has only outside the project's deck (another project's), moves the cards of a file moved to
another folder, and names the notes edited in Anki whose edit the import replaced. For these,
and to know which notes Anki has as it left them, it remembers per Anki what it sent each note
(`sent_record`).
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from . import files, install_hint
from .discover import stamp_of
from .errors import MkdeckError
from .package import (
    SOURCE_FIELD,
    Changes,
    OpenedPackage,
    PackagedNote,
    PackagedNotetype,
    PartCollection,
    ZippedFrom,
    note_digest,
    notetype_summary,
)

if TYPE_CHECKING:
    from .opening import Opening

ANKICONNECT_URL = "http://127.0.0.1:8765"
ANKICONNECT_CODE = "2055492159"  # the add-on's code, for Tools → Add-ons → Get Add-ons
NOT_PROFILES = {"addons21", "logs", "crash.log"}


@dataclass(frozen=True)
class SyncResult:
    """What Anki's importer reported; None where the route does not tell."""

    route: str  # how the package went in: "collection" or "AnkiConnect"
    target: str  # the collection file, or AnkiConnect's address
    added: int | None = None
    updated: int | None = None
    unchanged: int | None = None
    conflicts: int | None = None  # notes Anki could not update (its note type differs)
    # The files of notes edited in Anki since mkdeck last dated them, whose Markdown changed:
    # the import replaced those edits (None: not known).
    replaced: tuple[str, ...] | None = None
    # Notes left as they are in Anki, because none of their cards is in this project's decks:
    # (the file, the deck Anki has them in). None: the route cannot tell.
    elsewhere: tuple[tuple[str, str], ...] | None = None
    # The notes whose cards sync moved, because their file moved to another folder:
    # (the file, the deck they were in, the deck they are in now). None: the route cannot tell.
    moved: tuple[tuple[str, str, str], ...] | None = None
    # How many notes went to Anki's importer: sync sends only the notes an import could
    # change (None: the whole package went, with nothing recorded to tell by).
    sent: int | None = None


def anki_base() -> Path:
    """Anki's data folder, where Anki looks for it on this system."""
    if base := os.environ.get("ANKI_BASE"):
        return Path(base)
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "Anki2"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Anki2"
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "Anki2"


def profiles(base: Path) -> list[str]:
    """The profiles in Anki's data folder: the folders that hold a collection."""
    if not base.is_dir():
        return []
    return sorted(
        p.name
        for p in base.iterdir()
        if p.is_dir() and p.name not in NOT_PROFILES and (p / "collection.anki2").is_file()
    )


def choose_collection(base: Path, profile: str | None) -> Path:
    """The collection of `profile`; without one, of the only profile there is."""
    names = profiles(base)
    if profile is not None:
        if profile not in names:
            known = ", ".join(names) or "none"
            raise MkdeckError(f"no Anki profile `{profile}` in {base} (profiles: {known})")
        return base / profile / "collection.anki2"
    if not names:
        raise MkdeckError(
            f"no Anki profile found in {base}: open Anki once, or name a collection with "
            "--collection PATH"
        )
    if len(names) > 1:
        raise MkdeckError(
            f"there are several Anki profiles ({', '.join(names)}): choose one with --profile NAME"
        )
    return base / names[0] / "collection.anki2"


def anki_collection(install: str) -> Any:
    """Anki's `Collection` class, or an error that says what to install for it."""
    try:
        from anki.collection import Collection
    except ImportError as exc:
        raise MkdeckError(f"this needs Anki's own backend: {install}") from exc
    return Collection


def import_as_file_import(col: Any, package: Path) -> Any:
    """Import `package` into the open collection with File → Import's rules (notes updated
    only when newer, scheduling not imported); Anki's importer log."""
    from anki.collection import ImportAnkiPackageOptions, ImportAnkiPackageRequest
    from anki.import_export_pb2 import ImportAnkiPackageUpdateCondition

    condition = ImportAnkiPackageUpdateCondition.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_IF_NEWER
    try:
        return col.import_anki_package(
            ImportAnkiPackageRequest(
                package_path=str(package),
                options=ImportAnkiPackageOptions(
                    with_scheduling=False, update_notes=condition, update_notetypes=condition
                ),
            )
        ).log
    except Exception as exc:  # the importer's own words say what is wrong
        raise MkdeckError(f"Anki could not import {package.name}: {exc}") from exc


class _InAnki(NamedTuple):
    """What a collection has of a note: enough to tell whether an import could change it."""

    nid: int
    mod: int  # seconds: when it last changed, in Anki or by an import
    notetype: int
    cards: int


def _notes_in_anki(
    col: Any, guids: set[str] | None = None, known: Mapping[str, _InAnki] | None = None
) -> dict[str, _InAnki]:
    """Every note of the collection by guid, in one pass (Anki keeps no index on guid); or
    only these, when they are few: by their ids where `known` has them all (as after an
    import that only updated notes), else by their guids."""
    # Each note's cards counted through Anki's index on them: fewer rows to read than
    # counting every card of the collection first, and none for a few notes.
    query = (
        "select n.id, n.guid, n.mod, n.mid, (select count() from cards c where c.nid = n.id)"
        " from notes n"
    )
    asked: tuple[str, ...] = ()
    if guids is not None and len(guids) <= 500:
        if not guids:
            return {}
        if known is not None and all(guid in known for guid in guids):
            query += f" where n.id in ({','.join(str(known[g].nid) for g in guids)})"
        else:
            asked = tuple(guids)
            query += f" where n.guid in ({','.join('?' * len(asked))})"
    return {
        guid: _InAnki(nid, mod, mid, cards)
        for nid, guid, mod, mid, cards in col.db.all(query, *asked)
        if guids is None or guid in guids
    }


def _contents_in_anki(
    col: Any, in_anki: Mapping[str, _InAnki], guids: Iterable[str]
) -> dict[str, str]:
    """`note_digest` of these notes as the collection has them (those it has)."""
    nids = [in_anki[g].nid for g in guids if g in in_anki]
    if not nids:
        return {}
    return {
        guid: note_digest(flds, tags.split())
        for guid, flds, tags in col.db.all(
            f"select guid, flds, tags from notes where id in ({','.join(map(str, nids))})"
        )
    }


def _edited_in_anki(
    col: Any,
    in_anki: Mapping[str, _InAnki],
    notes: Mapping[str, PackagedNote],
    sent: Mapping[str, Sent],
    changed: Changes,
) -> set[str]:
    """The notes about to change whose content in Anki is neither what sync last sent nor
    what it sends now: edited in Anki (as the AnkiConnect route tells them). A note sync has
    no record of is told by its time: changed in Anki since mkdeck last dated it (a note's
    `mod` is when it last changed, in Anki or by an import)."""
    told = {g for g, was in sent.items() if was.content}  # (not by a record of another format)
    edited = {
        guid
        for guid, change in changed.items()
        if guid not in told and guid in in_anki and change.dated < in_anki[guid].mod < change.dating
    }
    about = [g for g, n in notes.items() if g in told and sent[g].content != n.content]
    for guid, content in _contents_in_anki(col, in_anki, about).items():
        if content not in (sent[guid].content, notes[guid].content):
            edited.add(guid)
    return edited


def _takes_notetype(col: Any, notetypes: Mapping[int, PackagedNotetype]) -> bool:
    """Whether Anki's importer would change the collection's note types for the package's
    in a way a reader sees: add one it lacks, add a copy of one whose fields or templates are
    named otherwise now, or update an older one whose CSS or templates differ. (Every full
    write of the package dates its note type anew; one that only is newer changes nothing.)"""
    for mid, packaged in notetypes.items():
        model = col.models.get(mid)
        if model is None:
            return True
        have = notetype_summary(model)
        if have.schema != packaged.schema:
            return True
        if packaged.mod > have.mod and packaged.look != have.look:
            return True
    return False


def _to_send(
    notes: Mapping[str, PackagedNote],
    sent: Mapping[str, Sent],
    as_left: Callable[[str, Sent, PackagedNote], bool],
) -> set[str]:
    """The notes of the package that an import could change in Anki. A note is left out only
    when sync sent it before with the content it has now and Anki has it as that sync left it
    (`as_left`, as far as the route can tell): Anki's importer would find it unchanged, or
    keep an edit made in Anki as the newer. The note types are the caller's: when Anki would
    take one, every note goes."""
    return {
        guid
        for guid, note in notes.items()
        if (was := sent.get(guid)) is None
        or was.content != note.content
        or not as_left(guid, was, note)
    }


def _as_left(in_anki: Mapping[str, _InAnki], guid: str, was: Sent, note: PackagedNote) -> bool:
    """Whether the collection has the note as the last sync left it: the time it had then,
    the package's note type, and every card the package gives it."""
    now = in_anki.get(guid)
    return (
        now is not None
        and now.mod == was.mod
        and now.notetype == note.notetype
        and now.cards >= note.cards
    )


class _CardsOf:
    """The cards of some notes in a collection, by guid, with the deck each is at home in (a
    card in a filtered deck is at home in the deck it came from)."""

    def __init__(self, col: Any, in_anki: Mapping[str, _InAnki], guids: Iterable[str]) -> None:
        self.col = col
        self.names: dict[int, str] = {}
        self.cards: dict[str, list[tuple[int, int]]] = {}
        guid_of = {in_anki[g].nid: g for g in guids if g in in_anki}
        if not guid_of:
            return
        for nid, cid, did in col.db.all(
            "select nid, id, (case when odid then odid else did end) from cards "
            f"where nid in ({','.join(map(str, guid_of))})"
        ):
            self.cards.setdefault(guid_of[nid], []).append((cid, did))

    def deck(self, did: int) -> str:
        name = self.names.get(did)
        if name is None:
            name = self.names[did] = self.col.decks.name(did)
        return name


def _under(deck: str, root: str) -> bool:
    """Is `deck` the deck `root` or one under it (Anki's deck names ignore case)?"""
    deck, root = deck.casefold(), root.casefold()
    return deck == root or deck.startswith(root + "::")


def _in_other_decks(
    known: _CardsOf, notes: Mapping[str, PackagedNote], root: str
) -> dict[str, tuple[str, str]]:
    """The package's notes that Anki has with no card in the deck `root` or under it: guid →
    (its file, a deck Anki has it in). Such a note is another project's (two projects first
    built before each deck had notes of its own share the notes of the files they both have),
    or one moved out of this project's decks in Anki; updating it would put this file's text
    over that note."""
    found = {}
    for guid, note in notes.items():
        decks = [known.deck(did) for _, did in known.cards.get(guid, ())]
        if decks and not any(_under(d, root) for d in decks):
            found[guid] = (note.file, decks[0])
    return found


NOT_KNOWN = (-1, 0)  # a `Sent`'s time and id, when Anki's are not known


class Sent(NamedTuple):
    """What sync last sent one note to an Anki: its deck, its content (`note_digest`), and
    the time and id Anki had for it after that sync (-1 and 0: not known)."""

    deck: str
    content: str
    mod: int = -1
    nid: int = 0


@dataclass(frozen=True)
class SentRecord:
    """What sync last sent one Anki: each note, by guid, and how each note type looked."""

    notes: dict[str, Sent]
    notetypes: dict[int, str]  # note type id → how it looked (`PackagedNotetype.look`)
    stored: bool = False  # read from a record in its own file, which a sync then updates


def _moves(notes: Mapping[str, PackagedNote], sent: Mapping[str, Sent]) -> dict[str, str]:
    """The notes whose deck changed in the Markdown (a file moved to another folder) since
    the last sync: guid → the deck that sync sent them to."""
    return {g: sent[g].deck for g, n in notes.items() if g in sent and sent[g].deck != n.deck}


def _move_cards(
    col: Any, known: _CardsOf, notes: Mapping[str, PackagedNote], moves: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    """Move the cards of each moved note that are still in the deck sync sent them to into
    the note's deck now; a card moved by hand stays where it was put. (file, from, to) of
    each note moved."""
    moved = set()
    for guid, before in moves.items():
        cards = [
            cid
            for cid, did in known.cards.get(guid, ())
            if known.deck(did).casefold() == before.casefold()  # Anki's names ignore case
        ]
        if cards:
            col.set_deck(cards, col.decks.id(notes[guid].deck))
            moved.add((notes[guid].file, before, notes[guid].deck))
    return sorted(moved)


def _record_of(collection: Path, deck: str | None, sent_in: Path | None) -> Path | None:
    """The record of what sync sent a closed collection. Without a deck to keep notes in, none
    either: the whole package goes, as File → Import takes it."""
    return sent_record(sent_in, str(collection.resolve())) if sent_in and deck else None


def sent_record(folder: Path, target: str) -> Path:
    """Where sync keeps the deck it sent each note of a project to, for one Anki (a collection
    file, or AnkiConnect's address and profile)."""
    return folder / f"{hashlib.sha256(target.encode('utf-8')).hexdigest()[:16]}.sqlite"


# The record: a row a note, so that a sync rewrites only the notes it changed, and its note
# types' looks. Releases before wrote it as one JSON file beside, read when there is no other.
RECORD_SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
  guid TEXT PRIMARY KEY, deck TEXT NOT NULL, content TEXT NOT NULL, mod INTEGER NOT NULL,
  nid INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS notetypes (mid INTEGER PRIMARY KEY, look TEXT NOT NULL);
"""
# The JSON record's keys for its note types and its format (a guid holds no space). Its format
# 2 holds each note's `note_digest`; one without it holds another hash: its notes' contents
# are unknown, as without a record, and their decks, times and ids still serve.
NOTETYPES_KEY = " note types"
FORMAT_KEY, FORMAT = " format", 2


def _read_sent(record: Path | None) -> SentRecord:
    """What sync sent; nothing when never recorded or unreadable (then nothing moves, no Anki
    edit can be told, and every note is sent)."""
    if record is None:
        return SentRecord({}, {})
    if not record.is_file():
        return _read_json_record(record.with_suffix(".json"))
    try:
        db = sqlite3.connect(f"{record.absolute().as_uri()}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT guid, deck, content, mod, nid FROM notes").fetchall()
            looks = db.execute("SELECT mid, look FROM notetypes").fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return SentRecord({}, {})
    notes = {
        guid: Sent(deck, content, mod, nid)
        for guid, deck, content, mod, nid in rows
        if type(deck) is str and type(content) is str and type(mod) is int and type(nid) is int
    }
    return SentRecord(notes, {mid: look for mid, look in looks if type(look) is str}, True)


def _read_json_record(record: Path) -> SentRecord:
    """A record as releases before wrote it: one JSON object."""
    nothing = SentRecord({}, {})
    try:
        data = json.loads(record.read_text("utf-8"))
    except (OSError, ValueError):
        return nothing
    if not isinstance(data, dict):
        return nothing
    notetypes = data.pop(NOTETYPES_KEY, None)
    digests = data.pop(FORMAT_KEY, None) == FORMAT
    notes = {}
    for guid, value in data.items():
        # A release wrote no times and ids; a damaged entry is as good as none.
        if type(value) is list and 2 <= len(value) <= 4:
            deck, content, *anki = value
            if type(deck) is str and type(content) is str and all(type(v) is int for v in anki):
                notes[guid] = Sent(deck, content if digests else "", *anki)
    looks = {}
    for mid, look in notetypes.items() if isinstance(notetypes, dict) else ():
        with contextlib.suppress(TypeError, ValueError):
            looks[int(mid)] = str(look)
    return SentRecord(notes, looks)


def _write_sent(
    record: Path | None,
    sent: SentRecord,
    notes: Mapping[str, PackagedNote],
    left: Mapping[str, object],
    anki: Mapping[str, tuple[int, int]],
    notetypes: Mapping[int, PackagedNotetype],
) -> None:
    """What was sent now, over what was recorded (`sent`), with the time and id Anki has for
    each note after the sync (`anki`); a note left as it is in Anki keeps its record. Not
    being able to write this loses nothing but the next sync's moves and edits told, and
    makes it send every note, so it is not an error."""
    if record is None:
        return
    # Each note's `Sent` as a plain tuple, compared with the record's at C speed: a sync
    # after one edit makes no `Sent` for the thousands of notes that did not change.
    now = {
        g: (n.deck, n.content, *anki.get(g, NOT_KNOWN)) for g, n in notes.items() if g not in left
    }
    looks = {i: t.look for i, t in notetypes.items()}
    recorded = sent.notes.get
    changed = {g: was for g, was in now.items() if recorded(g) != was}
    if sent.stored and not changed and looks == sent.notetypes:
        return  # as recorded: a sync that changed nothing writes nothing
    try:
        rows: Mapping[str, tuple[str, str, int, int]]
        if sent.stored:
            rows = changed
        else:  # none yet, one of a release before, or one that could not be read: all anew
            rows = sent.notes | now
            record.unlink(missing_ok=True)
            record.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(record)
        try:
            db.execute("PRAGMA synchronous = OFF")  # a record lost in a crash only costs time
            with db:
                db.executescript(RECORD_SCHEMA)
                db.executemany(
                    "INSERT OR REPLACE INTO notes VALUES (?, ?, ?, ?, ?)",
                    ((g, *was) for g, was in rows.items()),
                )
                db.execute("DELETE FROM notetypes")
                db.executemany("INSERT INTO notetypes VALUES (?, ?)", looks.items())
        finally:
            db.close()
        if not sent.stored:  # what a record of a release before held is in this one now
            record.with_suffix(".json").unlink(missing_ok=True)
    except (OSError, sqlite3.Error):  # (a record that cannot be written only costs time)
        with contextlib.suppress(OSError):
            record.unlink()


# A sync that changed nothing in Anki leaves a mark beside its record: the package, the
# collection (with its journal) and the record as they were once Anki's backend had closed the
# collection. While all three are so and the build finds nothing changed, a sync would do that
# same nothing again (every note is in Anki as sent, and sent as packaged), so it is not done:
# Anki is not even opened. Any sync that goes to Anki removes the mark first.
SETTLED_SUFFIX = ".settled"


def _file_stamp(path: Path) -> list[int] | None:
    """Size, times and inode (None: not there): what changes when anything writes the file."""
    try:
        return list(stamp_of(path))
    except FileNotFoundError:
        return None


def _as_settled(record: Path, package: Path, collection: Path) -> list[list[int] | None]:
    journal = collection.with_name(collection.name + "-wal")
    return [_file_stamp(p) for p in (package, collection, journal, record)]


def settled_sync(
    package: Path, collection: Path, deck: str | None, sent_in: Path | None
) -> SyncResult | None:
    """What a sync of `package` into the closed `collection` comes to when the last one
    changed nothing there and nothing has changed since, without opening Anki: nothing sent,
    said as such a sync says it. None when that is not known (then a sync goes to Anki)."""
    record = _record_of(collection, deck, sent_in)
    if record is None:
        return None
    try:
        mark = json.loads(record.with_suffix(SETTLED_SUFFIX).read_text("utf-8"))
        notes, stamps = mark["notes"], mark["stamps"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if type(notes) is not int or stamps != _as_settled(record, package, collection):
        return None
    return SyncResult(
        route="collection",
        target=str(collection),
        added=0,
        updated=0,
        unchanged=notes,
        conflicts=0,
        sent=0,
        replaced=(),
        elsewhere=(),
        moved=(),
    )


def _unsettle(record: Path | None) -> None:
    if record is not None:
        with contextlib.suppress(OSError):
            record.with_suffix(SETTLED_SUFFIX).unlink()


def _settle(record: Path | None, package: Path, collection: Path, notes: int) -> None:
    """Mark the sync just done, which changed nothing in Anki, as `settled_sync` reads it
    (losing it only costs the next sync its time, so it is not an error)."""
    if record is None or not record.is_file():
        return
    mark = {"notes": notes, "stamps": _as_settled(record, package, collection)}
    with contextlib.suppress(OSError):
        files.atomic_write(
            record.with_suffix(SETTLED_SUFFIX),
            lambda tmp: tmp.write_text(json.dumps(mark), "utf-8"),
        )


class _ImportLog(NamedTuple):
    """What Anki's importer logs, when nothing was given it to import."""

    new: tuple[()] = ()
    updated: tuple[()] = ()
    duplicate: tuple[()] = ()
    conflicting: tuple[()] = ()


@contextlib.contextmanager
def _package_of(opened: OpenedPackage, guids: set[str], total: int) -> Iterator[Path | None]:
    """The package to hand Anki's importer for these notes, while the block runs: the built
    one when they are all its notes, one of just these otherwise, none when there are none."""
    with _part_of(opened, guids, total) as part, _sent_package(part, opened.apkg) as sent:
        yield sent


@contextlib.contextmanager
def _part_of(
    opened: OpenedPackage, guids: set[str], total: int
) -> Iterator[PartCollection | Literal["all"] | None]:
    """These notes cut from the package's collection, while the block runs: "all" when they
    are all its notes, None when there are none."""
    if not guids:
        yield None
    elif len(guids) == total:
        yield "all"
    else:
        with tempfile.TemporaryDirectory(prefix="mkdeck-") as folder:
            yield opened.part(guids, Path(folder) / "part.anki2")


@contextlib.contextmanager
def _sent_package(
    part: PartCollection | Literal["all"] | None, package: Path
) -> Iterator[Path | None]:
    """The package to hand Anki's importer for the notes `_part_of` cut from `package`:
    `package` itself for all of them, one of the part with its images, none for none."""
    if part is None or part == "all":
        yield None if part is None else package
        return
    with tempfile.TemporaryDirectory(prefix="mkdeck-") as folder:
        sent = Path(folder) / package.name
        part.zip(package, sent)
        yield sent


def open_collection(collection: Path) -> Any:
    """A collection Anki does not have open, opened with Anki's backend (raises `MkdeckError`
    with what to do: install the backend, close Anki, name another file)."""
    collection_class = anki_collection(
        f"{install_hint('anki')} (or start Anki with the AnkiConnect add-on, code "
        f"{ANKICONNECT_CODE}, to sync while it runs)"
    )
    from anki.errors import DBError

    if not collection.is_file():
        raise MkdeckError(f"no Anki collection at {collection}")
    try:
        return collection_class(str(collection))
    except DBError as exc:
        if "already open" not in str(exc):
            raise MkdeckError(f"cannot open the Anki collection {collection}: {exc}") from exc
        raise MkdeckError(
            f"Anki has this collection open ({collection}). Close Anki and sync again, or "
            f"install the AnkiConnect add-on (code {ANKICONNECT_CODE}) to sync while Anki runs"
        ) from exc
    except Exception as exc:  # a damaged file: the backend's own words say what is wrong
        raise MkdeckError(f"cannot open the Anki collection {collection}: {exc}") from exc


class Before(NamedTuple):
    """The open collection, and what it and sync's record say before the package is looked
    at: all of it can be read while the deck builds."""

    col: Any
    record: Path | None
    in_anki: dict[str, _InAnki]
    was_sent: SentRecord


def open_before(collection: Path, deck: str | None, sent_in: Path | None) -> Before:
    """`collection` opened, its notes, and sync's record of what it sent there."""
    col = open_collection(collection)
    record = _record_of(collection, deck, sent_in)
    try:
        return Before(col, record, _notes_in_anki(col), _read_sent(record))
    except BaseException:
        col.close()
        raise


class PackageRead(NamedTuple):
    """A package opened, its notes and its note types."""

    opened: OpenedPackage
    notes: dict[str, PackagedNote]
    notetypes: dict[int, PackagedNotetype]


@contextlib.contextmanager
def package_read(
    package: Path,
    packaged: Mapping[str, PackagedNote] | None = None,
    zipped_from: ZippedFrom | None = None,
) -> Iterator[PackageRead]:
    """The package opened and read: from the collection file it was `zipped_from`, read where
    it is when the build says and it is still so (what is read of it counts only while
    `opened.as_left()`), else unzipped; its notes as the build that wrote it says it
    `packaged` them (`Report.packaged`), when it says, else as read."""
    in_place = OpenedPackage.in_place(package, zipped_from) if zipped_from else None
    if in_place is not None:
        yield _read(in_place, packaged)
    else:
        with OpenedPackage.of(package) as opened:
            yield _read(opened, packaged)


def _read(opened: OpenedPackage, packaged: Mapping[str, PackagedNote] | None) -> PackageRead:
    notes = dict(packaged) if packaged is not None else opened.notes()
    return PackageRead(opened, notes, opened.notetypes())


class ImportPlan(NamedTuple):
    """What an import into a closed collection will do, all worked out before Anki is
    changed: the package's notes and note types; the notes edited in Anki, and those whose
    file moved (guid → the deck sync sent them to); the notes to send, cut from the package's
    collection (`_part_of`); the cards of the notes sent or moved, as Anki has them; and the
    notes left as they are for being Anki's only outside the project's deck."""

    notes: dict[str, PackagedNote]
    notetypes: dict[int, PackagedNotetype]
    edited: set[str]
    moves: dict[str, str]
    wanted: set[str]
    part: PartCollection | Literal["all"] | None
    known: _CardsOf
    elsewhere: dict[str, tuple[str, str]]


class NotesPlan(NamedTuple):
    """What the package's notes alone say of an import, against the collection and sync's
    record: the notes edited in Anki, those whose file moved (guid → the deck sync sent them
    to), and those Anki does not have as sync left them (`_to_send`: what is sent, unless a
    note type changed)."""

    edited: set[str]
    moves: dict[str, str]
    unsent: set[str]


def notes_plan(
    before: Before, notes: Mapping[str, PackagedNote], changed: Changes, deck: str | None
) -> NotesPlan:
    """`NotesPlan` of the package's `notes` against the collection opened `before` (for
    these `deck` and sync's record). A sync works it out before the package is written."""
    col, _, in_anki, was_sent = before
    sent = was_sent.notes
    return NotesPlan(
        _edited_in_anki(col, in_anki, notes, sent, changed),
        _moves(notes, sent),
        set(notes)
        if deck is None
        else _to_send(notes, sent, lambda g, was, note: _as_left(in_anki, g, was, note)),
    )


@contextlib.contextmanager
def import_plan(
    before: Before,
    read: PackageRead,
    changed: Changes,
    deck: str | None,
    noted: NotesPlan | None = None,
) -> Iterator[ImportPlan]:
    """The plan of importing the package `read` into the collection opened `before` (for
    these `deck` and sync's record), while the block runs; `noted`: its notes' plan, when it
    was worked out already (`notes_plan`). It reads the collection, and changes nothing: a
    sync works it out while the build still zips the package."""
    col, _, in_anki, _ = before
    opened, notes, notetypes = read
    noted = noted or notes_plan(before, notes, changed, deck)
    wanted = set(notes) if deck is None or _takes_notetype(col, notetypes) else set(noted.unsent)
    # Only a note sent could overwrite another project's; only one moved has cards to move
    # (none without a deck and a record).
    known = _CardsOf(col, in_anki, wanted | set(noted.moves) if deck is not None else ())
    elsewhere: dict[str, tuple[str, str]] = {}
    if deck is not None:
        elsewhere = _in_other_decks(known, {g: notes[g] for g in wanted}, deck)
    wanted -= set(elsewhere)
    with _part_of(opened, wanted, len(notes)) as part:
        yield ImportPlan(
            notes, notetypes, noted.edited, noted.moves, wanted, part, known, elsewhere
        )


@contextlib.contextmanager
def package_zipped(
    package: Path, packaged: Mapping[str, PackagedNote] | None, zipped_from: ZippedFrom
) -> Iterator[PackageRead | None]:
    """The package the build is zipping from `zipped_from` now, read from that file where it
    is (`OpenedPackage.in_place`: what is read counts only while `opened.as_left()`); None:
    the file is no longer as the build left it. Its notes as the build says it packages them,
    when it says (`Report.packaged`). The package itself may not be there yet: its images are
    read from it at the import (`import_into_collection`)."""
    opened = OpenedPackage.in_place(package, zipped_from)
    yield None if opened is None else _read(opened, packaged)


@contextlib.contextmanager
def _planned_now(
    before: Before,
    package: Path,
    changed: Changes,
    deck: str | None,
    packaged: Mapping[str, PackagedNote] | None,
    zipped_from: ZippedFrom | None,
) -> Iterator[ImportPlan]:
    """The import worked out after the build, while the block runs (`import_plan`), from
    the package as `package_read` reads it; from the package itself when the collection file
    the build zipped, read where it is, was written while it was read (another build took
    it)."""
    with contextlib.ExitStack() as stack:
        read = stack.enter_context(package_read(package, packaged, zipped_from))
        plan = stack.enter_context(import_plan(before, read, changed, deck))
        if read.opened.as_left():
            yield plan
            return
    with (
        package_read(package, packaged) as read,
        import_plan(before, read, changed, deck) as plan,
    ):
        yield plan


def import_into_collection(
    package: Path,
    collection: Path,
    changed: Changes | None = None,
    deck: str | None = None,
    sent_in: Path | None = None,
    before: Before | None = None,
    packaged: Mapping[str, PackagedNote] | None = None,
    zipped_from: ZippedFrom | None = None,
    plan: ImportPlan | None = None,
) -> SyncResult:
    """Import with Anki's backend into a collection Anki does not have open. `changed`: the
    notes whose Markdown changed since the last build (`Report.changed`), to tell which Anki
    edits the import replaces where sync has no record of them. `deck`: the project's root
    deck; a note Anki has outside it is left as it is (`_in_other_decks`). `sent_in`: the
    folder where sync records what it sent each note and the time Anki had for it after, so
    that the cards of a file moved to another folder follow it, and so that the next sync
    hands Anki's importer only the notes it could change (`_to_send`): after one edit, one
    note, and none when nothing changed. `before`: the collection opened, and what it and the
    record said then (`open_before`, for these `deck` and `sent_in`); it is closed when done.
    `packaged`: its notes, as the build that wrote it says (`Report.packaged`), and
    `zipped_from`, the file its collection was zipped from (`Report.zipped_from`). `plan`:
    the import worked out already from these (`import_plan`), while the package was zipped."""
    before = before or open_before(collection, deck, sent_in)
    col, record, in_anki, was_sent = before
    try:
        with contextlib.ExitStack() as stack:
            if plan is None:
                plan = stack.enter_context(
                    _planned_now(before, package, changed or {}, deck, packaged, zipped_from)
                )
            _unsettle(record)
            with _sent_package(plan.part, package) as part:
                log = _ImportLog() if part is None else import_as_file_import(col, part)
        notes, wanted, elsewhere = plan.notes, plan.wanted, plan.elsewhere
        moved = _move_cards(
            col, plan.known, notes, {g: d for g, d in plan.moves.items() if g not in elsewhere}
        )
        now = in_anki | _notes_in_anki(col, wanted, in_anki)
        # An edit made in Anki that is newer than the package's note outlives the import.
        replaced = {
            notes[g].file
            for g, content in _contents_in_anki(col, in_anki, plan.edited).items()
            if content == notes[g].content
        }
        anki = {g: (m.mod, m.nid) for g, m in now.items()}
        _write_sent(record, was_sent, notes, elsewhere, anki, plan.notetypes)
    finally:
        col.close()
    if not (wanted or elsewhere or moved or replaced):  # nothing changed in Anki
        _settle(record, package, collection, len(notes))
    changed_now = len(log.new) + len(log.updated) + len(log.conflicting)
    return SyncResult(
        route="collection",
        target=str(collection),
        added=len(log.new),
        updated=len(log.updated),
        unchanged=len(notes) - len(elsewhere) - changed_now,
        conflicts=len(log.conflicting),
        sent=len(wanted),
        replaced=tuple(sorted(replaced)),
        elsewhere=None if deck is None else tuple(sorted(elsewhere.values())),
        moved=None if deck is None else tuple(moved),
    )


def ankiconnect(url: str, action: str, key: str | None, timeout: float, **params: object) -> object:
    """One AnkiConnect request; its `result`, or an `MkdeckError` with AnkiConnect's words."""
    import urllib.error  # (only this route speaks HTTP: a closed Anki's sync goes without)
    import urllib.request

    body: dict[str, object] = {"action": action, "version": 6, "params": params}
    if key:
        body["key"] = key
    request = urllib.request.Request(
        url, json.dumps(body).encode("utf-8"), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            reply = json.loads(answer.read().decode("utf-8"))
    except TimeoutError as exc:
        raise MkdeckError(f"AnkiConnect at {url} did not answer within {timeout:g} s") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise MkdeckError(f"AnkiConnect at {url} cannot be reached ({exc})") from exc
    except ValueError as exc:
        raise MkdeckError(f"AnkiConnect at {url} answered something that is not JSON") from exc
    if not isinstance(reply, dict) or set(reply) != {"result", "error"}:
        raise MkdeckError(f"{url} does not answer like AnkiConnect")
    if reply["error"] is not None:
        said = str(reply["error"])
        hint = ""
        if "collection is not available" in said:  # Anki waits at its profile chooser
            hint = (
                ": open a profile in Anki (it is waiting at the profile chooser), then sync again"
            )
        raise MkdeckError(f"AnkiConnect refused `{action}`: {said}{hint}")
    return reply["result"]


def ankiconnect_running(url: str, timeout: float) -> bool:
    """Is something listening where AnkiConnect would?"""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # it answered, if not with a page
    except (urllib.error.URLError, OSError):
        return False


def import_through_ankiconnect(
    package: Path,
    url: str,
    key: str | None,
    timeout: float,
    profile: str | None = None,
    sent_in: Path | None = None,
    deck: str | None = None,
    packaged: Mapping[str, PackagedNote] | None = None,
    zipped_from: ZippedFrom | None = None,
) -> SyncResult:
    """Ask the running Anki to import the package, as File → Import does: into `profile`,
    which it opens first (one it does not have is an error, never another profile's deck).
    `sent_in`: as for `import_into_collection`; with it, only the notes an import could change
    are sent (`_to_send`); `packaged` and `zipped_from` as there. The moved notes' cards are
    found by a search, since AnkiConnect tells no note's guid, and so are the notes edited in
    Anki and the ids Anki gave the notes sent."""
    if profile is not None:
        names = ankiconnect(url, "getProfiles", key, timeout)
        if not isinstance(names, list) or profile not in names:
            known = ", ".join(str(n) for n in names) if isinstance(names, list) else "none said"
            raise MkdeckError(f"the running Anki has no profile `{profile}` (profiles: {known})")
        if ankiconnect(url, "loadProfile", key, timeout, name=profile) is not True:
            raise MkdeckError(f"the running Anki could not open profile `{profile}`")
    record = sent_record(sent_in, f"{url} {profile or ''}") if sent_in else None
    if record is None:  # nothing to go by: the whole package, as File → Import takes it
        _import_through_ankiconnect(package, url, key, timeout)
        return SyncResult(route="AnkiConnect", target=url)
    asked = _AnkiConnect(url, key, timeout)
    with package_read(package, packaged, zipped_from) as (opened, notes, notetypes):
        sent = _read_sent(record)
        replaced = _edited_through_ankiconnect(asked, notes, sent.notes, deck)
        moves = _moves(notes, sent.notes)
        present = asked.present(s.nid for s in sent.notes.values() if s.nid)
        # Every note when a note type does not look as the one sync last sent (its CSS or
        # templates changed, and Anki would take the newer one); else those Anki does not
        # have as sync left them: by its id, whether Anki still has it at all.
        wanted = (
            set(notes)
            if any(sent.notetypes.get(mid) != t.look for mid, t in notetypes.items())
            else _to_send(notes, sent.notes, lambda g, was, note: was.nid in present)
        )
        with _package_of(opened, wanted, len(notes)) as part:
            if not opened.as_left():  # (another build took the collection file meanwhile)
                raise MkdeckError(
                    f"another build replaced {package.name} while sync read it: sync again"
                )
            if part is not None:
                _import_through_ankiconnect(part, url, key, timeout)
    # The ids of the notes Anki did not have as sync left them (new, or deleted there).
    unknown = {g for g in wanted if g not in sent.notes or sent.notes[g].nid not in present}
    ids = {g: s.nid for g, s in sent.notes.items() if s.nid in present}
    ids |= asked.ids(deck, notes, unknown) if deck is not None else {}
    if replaced and deck is not None:  # Anki updates only a note older than the package's
        replaced = _now_as_packaged(asked, notes, deck, replaced)
    moved = []
    for file, before, now in sorted({(notes[g].file, d, notes[g].deck) for g, d in moves.items()}):
        # The cards of that file still in the deck sync sent them to (not in one under it).
        query = (
            f'"deck:{_searched(before)}" -"deck:{_searched(before)}::*" "Source:{_searched(file)}"'
        )
        cards = ankiconnect(url, "findCards", key, timeout, query=query)
        if isinstance(cards, list) and cards:
            ankiconnect(url, "changeDeck", key, timeout, cards=cards, deck=now)
            moved.append((file, before, now))
    _write_sent(record, sent, notes, {}, {g: (-1, n) for g, n in ids.items()}, notetypes)
    return SyncResult(
        route="AnkiConnect", target=url, replaced=replaced, moved=tuple(moved), sent=len(wanted)
    )


def _import_through_ankiconnect(package: Path, url: str, key: str | None, timeout: float) -> None:
    result = ankiconnect(url, "importPackage", key, timeout, path=str(package.resolve()))
    if result is not True:
        raise MkdeckError(f"AnkiConnect could not import {package.name} (it answered {result!r})")


# Beyond this many changed files, AnkiConnect is not asked which were edited in Anki (two
# requests a file): the sync then does not say which edits it replaced.
ASKED_FILES = 50


@dataclass(frozen=True)
class _AnkiConnect:
    url: str
    key: str | None
    timeout: float

    def present(self, nids: Iterable[int]) -> set[int]:
        """Which of these notes the running Anki has (Anki's search, a few thousand a time);
        none when it cannot say, and then every note is sent."""
        wanted, found = list(nids), set()
        try:
            for start in range(0, len(wanted), 2000):
                query = "nid:" + ",".join(map(str, wanted[start : start + 2000]))
                got = ankiconnect(self.url, "findNotes", self.key, self.timeout, query=query)
                found |= {n for n in got if isinstance(n, int)} if isinstance(got, list) else set()
        except MkdeckError:
            return set()
        return found

    def ids(self, deck: str, notes: Mapping[str, PackagedNote], guids: set[str]) -> dict[str, int]:
        """The ids the running Anki gave these notes, found by their Source in the project's
        deck and told apart by their content (AnkiConnect tells no guid). A note whose
        content in Anki is another (kept there, newer) stays unknown, and is sent again."""
        if not guids:
            return {}
        files = sorted({notes[g].file for g in guids})
        if len(files) > ASKED_FILES:  # one search for the deck rather than one a file
            queries = [f'"deck:{_searched(deck)}"']
        else:
            queries = [f'"deck:{_searched(deck)}" "Source:{_searched(f)}"' for f in files]
        found: list[int] = []
        by_content: dict[str | None, int] = {}
        by_file: dict[str, list[int]] = {}
        try:
            for query in queries:
                got = ankiconnect(self.url, "findNotes", self.key, self.timeout, query=query)
                found += [n for n in got if isinstance(n, int)] if isinstance(got, list) else []
            for start in range(0, len(found), 1000):  # each answer quick, however large the deck
                part = found[start : start + 1000]
                infos = ankiconnect(self.url, "notesInfo", self.key, self.timeout, notes=part)
                for nid, info in zip(part, infos if isinstance(infos, list) else [], strict=False):
                    by_content[_content_in_anki(info)] = nid
                    by_file.setdefault(_source_in_anki(info), []).append(nid)
        except MkdeckError:  # the notes not found yet are only sent again by the next sync
            pass
        packaged: dict[str, list[str]] = {}
        for guid, note in notes.items():
            packaged.setdefault(note.file, []).append(guid)
        ids = {}
        for guid in guids:
            note = notes[guid]
            if note.content in by_content:
                ids[guid] = by_content[note.content]
            elif len(by_file.get(note.file, ())) == 1 and len(packaged[note.file]) == 1:
                ids[guid] = by_file[note.file][0]  # the file's one note, edited in Anki
        return ids

    def contents(self, deck: str, file: str) -> list[str | None]:
        """`note_digest` of each note of `file` in the running Anki: found by its Source in
        the project's deck, since AnkiConnect tells no guid."""
        query = f'"deck:{_searched(deck)}" "Source:{_searched(file)}"'
        found = ankiconnect(self.url, "findNotes", self.key, self.timeout, query=query)
        if not isinstance(found, list) or not found:
            return []
        infos = ankiconnect(self.url, "notesInfo", self.key, self.timeout, notes=found)
        return [_content_in_anki(i) for i in infos] if isinstance(infos, list) else []


def _edited_through_ankiconnect(
    asked: _AnkiConnect,
    notes: Mapping[str, PackagedNote],
    sent: Mapping[str, Sent],
    deck: str | None,
) -> tuple[str, ...] | None:
    """The files of notes that changed since the last sync to this Anki and whose content in
    Anki is neither what sync sent then nor what it sends now: edited in Anki, and about to
    be replaced. (Asking each note's time needs `notesModTime`, which the add-on's releases
    of 2025 lack; their content every release gives.) None: not known."""
    if deck is None or not sent or not all(sent[g].content for g in notes if g in sent):
        return None  # (contents a record of another format holds are not known)
    changed = {n.file for g, n in notes.items() if g in sent and sent[g].content != n.content}
    if len(changed) > ASKED_FILES:
        return None
    known: dict[str, set[str]] = {file: set() for file in changed}
    for guid, note in notes.items():
        if note.file in known:
            known[note.file] |= {note.content, *([sent[guid].content] if guid in sent else [])}
    try:
        return tuple(
            file
            for file in sorted(changed)
            if any(c not in known[file] for c in asked.contents(deck, file))
        )
    except MkdeckError:  # only a report: an add-on that cannot say does not stop the sync
        return None


def _now_as_packaged(
    asked: _AnkiConnect, notes: Mapping[str, PackagedNote], deck: str, files: tuple[str, ...]
) -> tuple[str, ...] | None:
    """Of these files, those whose notes in Anki now read as the package does: an edit made
    in Anki in the second the build dated the note is newer, and the import left it."""
    packaged: dict[str, set[str]] = {}
    for note in notes.values():
        packaged.setdefault(note.file, set()).add(note.content)
    try:
        return tuple(
            f for f in files if all(c in packaged.get(f, ()) for c in asked.contents(deck, f))
        )
    except MkdeckError:
        return None


def _fields_in_anki(info: object) -> list[str] | None:
    """A note's fields in order, as AnkiConnect's `notesInfo` describes it (None: it does
    not, as for a note Anki does not have)."""
    if not isinstance(info, dict) or not isinstance(info.get("fields"), dict):
        return None
    fields = sorted(info["fields"].values(), key=lambda f: f.get("order", 0))
    return [str(f.get("value", "")) for f in fields]


def _content_in_anki(info: object) -> str | None:
    """`note_digest` of a note as AnkiConnect's `notesInfo` describes it."""
    fields = _fields_in_anki(info)
    if fields is None:
        return None
    assert isinstance(info, dict)
    return note_digest("\x1f".join(fields), info.get("tags") or ())


def _source_in_anki(info: object) -> str:
    """The file a note's Source field names, as AnkiConnect's `notesInfo` describes it."""
    fields = _fields_in_anki(info) or []
    return html.unescape(fields[SOURCE_FIELD]) if len(fields) > SOURCE_FIELD else ""


def _searched(text: str) -> str:
    """`text` as Anki's search matches it literally inside double quotes."""
    return re.sub(r'([\\"*_])', r"\\\1", text)


def sync_package(
    package: Path,
    collection: Path | None = None,
    profile: str | None = None,
    url: str = ANKICONNECT_URL,
    key: str | None = None,
    timeout: float = 10.0,
    newest: int = 0,
    changed: Changes | None = None,
    deck: str | None = None,
    sent_in: Path | None = None,
    opening: Opening | None = None,
    packaged: Mapping[str, PackagedNote] | None = None,
    zipped_from: ZippedFrom | None = None,
) -> SyncResult:
    """Import `package` into the user's Anki by the route that fits how Anki is now.

    A collection named with `--collection` is imported into directly. Else a running Anki
    with AnkiConnect gets the package; else the profile's collection is opened.

    `newest` is the latest time a note in the package carries. A changed note is dated one
    second past its last time, so a burst of saves can date it ahead of the clock; if Anki got
    it then, an edit made in Anki a moment later would be older than the note, and the next
    sync would overwrite it. So the import waits until the clock has reached `newest`: Anki
    dates an edit in whole seconds and replaces a note only with a strictly newer one, so an
    edit made afterwards, even within that second, outlives a sync of the unchanged note. A
    note dated now (one save) waits for nothing.

    `deck` is the project's root deck: into a closed Anki, a note of the package that Anki
    has only outside it is left as it is (`SyncResult.elsewhere`). AnkiConnect cannot tell.
    `sent_in`: where sync records the deck each note went to, so that when a file moves to
    another folder its cards follow (`SyncResult.moved`); cards moved by hand stay.
    `opening`: the closed collection this route leads to, opening while the deck was built
    (`opening.opening_ahead`), which imports the package. `packaged`: the package's notes as
    the build that wrote it says (`Report.packaged`): not read back from it; `zipped_from`,
    the file its collection was zipped from (`Report.zipped_from`): copied, not unzipped.
    """
    ahead = newest - time.time()
    if ahead > 0:
        time.sleep(ahead)
    changed = changed or {}
    if opening is not None:  # (opened for these `deck` and `sent_in`)
        return opening.import_package(package, changed, packaged, zipped_from)
    closed = closed_collection(collection, profile, url, timeout)
    if closed is None:
        return import_through_ankiconnect(
            package, url, key, timeout, profile, sent_in, deck, packaged, zipped_from
        )
    return import_into_collection(
        package, closed, changed, deck, sent_in, packaged=packaged, zipped_from=zipped_from
    )


def closed_collection(
    collection: Path | None, profile: str | None, url: str, timeout: float
) -> Path | None:
    """The route a sync takes: the collection it opens with Anki's backend (the one named,
    else the profile's when no AnkiConnect answers), or None when it goes through AnkiConnect.
    Raises `MkdeckError` when the profile is not clear."""
    if collection is not None:
        return collection
    if ankiconnect_running(url, min(timeout, 2.0)):
        return None
    return choose_collection(anki_base(), profile)
