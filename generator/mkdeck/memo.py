"""The memo: what earlier builds computed, remembered by content hash, so that a rebuild is the
full pipeline with most of its work looked up instead of done again.

It is a removable layer: only `build.py` asks it, no stage imports it, and a build equals a
clean build whatever it holds (`--no-cache` opens none; a memo that cannot be read is started
afresh with one note). It remembers

- for each card file, by the hash of its bytes: what reading it gave (the question and its
  problems), and its note's fields as sealed for some ordinals and images, with their digest
  (the fields are fetched only for the notes a build must write); and, by path, its code
  blocks' HTML, for the file's next version (read in the build's own process);
- each post, by the hash of its bytes: the questions it was cut into, each as a card file of
  its own, and what was said of it (`posts.CutPost`);
- each image's packed name by its size and modification time;
- each card file's stamp (size, times, inode) with the hash of the bytes it had: a file whose
  stamp is unchanged is not read again;
- the parsed lock by the hash of its text, an entry a row, and a copy of its bytes: the
  tables a pulled lock holds byte for byte as they were need not be parsed again;
- what the last build made of each card file (`LastNote`): a file whose bytes and lock entry
  are still those is carried over as that note, unread (`build.collect`), under that lock or
  a pulled one;
- the collection of the last package (`package.KeptCollection`), updated in place by a row
  diff, with its rows, their new-card order, and its pieces as they were deflated;
- the last build's outcome by a hash of all its inputs: when they are the same, nothing
  changed and the build only says so.

Everything a result depends on besides its inputs (the settings, mkdeck's own source, the
versions of the parser and of Pygments) is the memo's salt: a memo made under another salt is
started afresh. It is data only (SQLite holding JSON, a collection, a copy of the lock), and
it lives in the user's cache folder, never in the project: a cloned repository cannot ship a
memo that puts HTML its sanitizer never saw into a card, nor a collection file from elsewhere
into a package.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from . import __version__
from .discover import KnownFile, stamp_of
from .errors import Diagnostic
from .files import place_in_cache, stamp
from .lockfile import Lock, LockedNote, WrittenLock
from .media import PACKED_NAME, ImageStamp

if TYPE_CHECKING:  # the stages' own types, loaded only by a build that reads or packs
    from .assemble import LastNote
    from .media import ImageRef
    from .package import Deflated, KeptCollection, NoteRow, ZippedFrom
    from .parse import Point, Question, Section
    from .posts import CutPost
    from .readcards import CardRead

FORMAT = 7
MEMO_FILE = "memo.sqlite"
# Up to this many files a build's questions are answered one query each (a rebuild's few);
# past it, every file's record is loaded at once (a first build's many).
FEW_FILES = 1000
KEPT_NAME = re.compile(r"collection-[0-9a-f]{12}\.anki2")
SCHEMA = """
-- A new memo's pages: its rows hold a card file's fields, several KB, which pages of 4 KB
-- (SQLite's default) spread over chains of overflow pages that a first build writes slowly.
PRAGMA page_size = 16384;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
  rel TEXT PRIMARY KEY, hash TEXT NOT NULL,
  plain INTEGER NOT NULL DEFAULT 0, note_id TEXT, id_line INTEGER, deck TEXT, lines TEXT,
  sealed TEXT, digest TEXT, card TEXT NOT NULL, text TEXT, extra TEXT, code TEXT
);
CREATE TABLE IF NOT EXISTS lock (
  path TEXT PRIMARY KEY, guid TEXT NOT NULL, id TEXT, mtime INTEGER NOT NULL,
  digest TEXT NOT NULL, next INTEGER NOT NULL, ordinals TEXT NOT NULL, points TEXT NOT NULL
);
-- What a rebuild reads of every file and lock entry to carry notes over, apart from the
-- large columns: each a narrow index it scans alone.
CREATE INDEX IF NOT EXISTS files_carried
  ON files (rel, hash, plain, note_id, id_line, deck, lines, sealed, digest);
CREATE INDEX IF NOT EXISTS lock_carried ON lock (path, guid, id, mtime, digest, ordinals);
-- The kept collection's rows; their new-card order is the meta value `order` (a list of
-- guids), so that a file added before many others rewrites one value, not their rows.
CREATE TABLE IF NOT EXISTS kept (
  guid TEXT PRIMARY KEY, deck TEXT NOT NULL, digest TEXT NOT NULL, mtime INTEGER NOT NULL,
  ordinals TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stamps (
  rel TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime INTEGER NOT NULL, ctime INTEGER NOT NULL,
  inode INTEGER NOT NULL, hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS posts (
  rel TEXT PRIMARY KEY, hash TEXT NOT NULL, key TEXT NOT NULL, cut TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
  path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime INTEGER NOT NULL, name TEXT NOT NULL
);
"""


def memo_folder(package: Path) -> Path:
    """The memo of the package at `package`: in the user's cache folder, one a package."""
    return place_in_cache("memo", package)


def salt_of(settings: object) -> str:
    """Everything besides a file's bytes that what is remembered of it depends on."""
    parts = [
        f"format {FORMAT}",
        f"mkdeck {__version__} {_source_hash()}",
        f"markdown-it-py {_declared_version('markdown_it')}",
        f"pygments {_declared_version('pygments')}",
        f"python {sys.version_info[:2]}",
        repr(settings),
    ]
    return "|".join(parts)


def _declared_version(package: str) -> str:
    """The `__version__` a package's `__init__.py` declares, read without importing it (nor
    `importlib.metadata`, which costs a build that finds nothing changed more than the rest
    of its start-up); the file's size and time when it declares none in that form."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return "absent"
    init = Path(spec.origin)
    m = _VERSION.search(init.read_text("utf-8", errors="replace"))
    if m is not None:
        return m.group(1)
    stat = init.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


_VERSION = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.MULTILINE)


@lru_cache(maxsize=1)
def _source_hash(here: str = os.path.dirname(__file__)) -> str:
    """mkdeck's own code and data, every module of it (the dialect's plugins too), told by
    each file's size and modification time, as a card file is told: a contributor who
    changes the dialect sees it at once, and no build reads mkdeck's source to know."""
    found = []
    for folder, folders, files in os.walk(here):
        folders[:] = [name for name in folders if name != "__pycache__"]
        found += [os.path.join(folder, name) for name in files if name.endswith((".py", ".json"))]
    h = hashlib.sha256()
    for path in sorted(found):
        stat = os.stat(path)
        name = os.path.relpath(path, here).replace(os.sep, "/")
        h.update(f"{name}\0{stat.st_size}:{stat.st_mtime_ns}\0".encode())
    return h.hexdigest()[:16]


def sealed_key(ordinals: tuple[int, ...], names: tuple[str, ...]) -> str:
    """What a note's fields were sealed for: its cloze ordinals and packed image names (which
    hold no space)."""
    return " ".join([",".join(map(str, ordinals)), *names])


class Outcome(NamedTuple):
    """What the last build saw (`key`, a hash of all its inputs) and what it reported (a
    named tuple: the one record a build that finds nothing changed needs, loaded sooner)."""

    key: str
    images: tuple[str, ...]  # the image files it packed, to stamp again
    package: tuple[int, int]  # size and mtime_ns of the package it wrote
    notes: int
    cards: int
    media: int
    diagnostics: tuple[Diagnostic, ...]
    newest: int = 0  # the latest modification time of a note in the package
    posts: tuple[int, int, int] = (0, 0, 0)  # posts, the notes they hold, of those topics


@dataclass
class MemoUpdate:
    """What a build learnt, for the memo to remember."""

    reads: dict[str, tuple[str, CardRead]] = field(default_factory=dict)  # fresh: rel → hash
    # rel → what the note was sealed for (`sealed_key`), its digest, Text and Extra
    sealed: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)
    # What was read as a card now (card files, each post as its questions): the other reads
    # are forgotten.
    present: frozenset[str] = frozenset()
    # The posts there now, by path: the hash of each one's bytes, its `posts.cut_key` and its
    # cut; and those cut now, which the memo did not know.
    posts: Mapping[str, tuple[str, str, CutPost]] = field(default_factory=dict)
    cut_now: frozenset[str] = frozenset()
    images: dict[str, ImageStamp] = field(default_factory=dict)
    # The card files read, by path, with their stamps (None: not to be trusted, `build._stamps`)
    stamps: dict[str, KnownFile | None] = field(default_factory=dict)
    listed: frozenset[str] = frozenset()  # the card files on disk now: the others' stamps go
    # The lock's hash and its entries, but for those of the carried paths, which are as loaded.
    lock: tuple[str, Lock, frozenset[str]] | None = None
    lock_file: Path | None = None  # where the lock is, kept beside the memo as it is now
    rows: Sequence[NoteRow] | None = None  # the package's rows, as its collection holds them
    kept: KeptCollection | None = None
    outcome: Outcome | None = None


class Memo:
    """One package's memo. `Memo.none()` remembers nothing (`--no-cache`)."""

    def __init__(self, folder: Path | None, salt: str, writable: bool) -> None:
        self.folder = folder
        self.salt = salt
        self.writable = writable and folder is not None
        self.problem: Diagnostic | None = None  # why what was there was not used
        self._db: sqlite3.Connection | None = None
        self._loaded: dict[str, tuple[str, str, str | None, str | None]] | None = None
        self._asked: dict[str, tuple[str, str, str | None, str | None] | None] = {}  # one by one
        self._kept: dict[str, NoteRow] = {}
        self._order: list[str] = []  # the kept rows' guids, in new-card order
        self._lock: dict[str, LockedNote] = {}  # as loaded: a save writes what differs
        self._lock_rows = False  # whether the lock table holds the meta lock's rows
        self._lock_paths: list[str] = []  # the paths it holds, when it does
        self._staged: dict[str, str] | None = None  # the meta values of what `stage` wrote
        self._meta: dict[str, str] = {}
        self._stamps: dict[str, KnownFile] | None = None  # as loaded
        self._posts: set[str] | None = None  # the paths of the posts it holds, when asked
        self.images: dict[str, ImageStamp] = {}
        if folder is None:
            return
        try:
            self._open(folder / MEMO_FILE, salt)
        except (sqlite3.Error, OSError, ValueError):
            self._forget(folder / MEMO_FILE)
            with contextlib.suppress(sqlite3.Error, OSError, ValueError):
                self._open(folder / MEMO_FILE, salt)
        if self.writable and self._db is None:  # no memo to be had: nothing is kept either
            self.folder, self.writable = None, False

    @classmethod
    def none(cls) -> Memo:
        return cls(None, "", False)

    def _open(self, path: Path, salt: str) -> None:
        if not path.is_file() and not self.writable:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        uri = path.as_uri() + ("" if self.writable else "?mode=ro")
        db = self._connect(uri)
        meta = dict(db.execute("SELECT key, value FROM meta"))
        if meta.get("salt") != salt:  # another mkdeck, other settings: nothing here holds
            self._db = None
            db.close()
            if not self.writable:
                return
            # Started anew as a file, not emptied: another format has other columns, and a
            # new file takes the schema's page size.
            for stale in path.parent.glob(MEMO_FILE + "*"):
                stale.unlink()
            db = self._connect(uri)
            db.execute("INSERT INTO meta VALUES ('salt', ?)", (salt,))
            db.commit()
            meta = {"salt": salt}
        self._meta = meta
        for path_, size, mtime, name in db.execute("SELECT path, size, mtime, name FROM images"):
            if PACKED_NAME.fullmatch(name):
                self.images[path_] = ImageStamp(size, mtime, name)

    def _connect(self, uri: str) -> sqlite3.Connection:
        db = sqlite3.connect(uri, uri=True)
        self._db = db
        db.execute("PRAGMA synchronous = OFF")  # a memo lost in a crash only costs time
        if self.writable:
            db.executescript(SCHEMA)
        return db

    def _files(self) -> dict[str, tuple[str, str, str | None, str | None]]:
        """rel → hash, card, sealed key, digest, of every file: loaded when first asked."""
        if self._loaded is None:
            self._loaded = {}
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    rows = self._db.execute("SELECT rel, hash, card, sealed, digest FROM files")
                    self._loaded = {row[0]: row[1:] for row in rows}
        return self._loaded

    def _file(self, rel: str) -> tuple[str, str, str | None, str | None] | None:
        """One file's record. A rebuild asks for few (the others are carried over): each is
        looked up alone until so many are asked that loading them all is cheaper."""
        if rel in self._asked:
            return self._asked[rel]
        if self._loaded is None and self._db is not None and len(self._asked) < FEW_FILES:
            row = self._row("SELECT hash, card, sealed, digest FROM files WHERE rel = ?", rel)
            found = None if row is None else (row[0], row[1], row[2], row[3])
            self._asked[rel] = found
            return found
        return self._files().get(rel)

    def _forget(self, path: Path) -> None:
        """A memo that cannot be read is started afresh: it only ever costs time."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db = None
        self._loaded, self._meta, self.images, self._stamps = None, {}, {}, None
        self._posts = None
        self.problem = Diagnostic(
            str(path), 0, "the build memo could not be read: building everything", "note"
        )
        if self.writable:
            for stale in path.parent.glob(MEMO_FILE + "*"):
                with contextlib.suppress(OSError):
                    stale.unlink()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # --- what a build asks -------------------------------------------------------------------

    def outcome(self) -> Outcome | None:
        raw = self._meta.get("outcome")
        if raw is None:
            return None
        try:
            o = json.loads(raw)
            return Outcome(
                o["key"],
                tuple(o["images"]),
                (int(o["package"][0]), int(o["package"][1])),
                int(o["notes"]),
                int(o["cards"]),
                int(o["media"]),
                tuple(_diagnostic(d) for d in o["diagnostics"]),
                int(o.get("newest", 0)),
                _three(o.get("posts", (0, 0, 0))),
            )
        except (ValueError, KeyError, TypeError, IndexError):
            return None

    def stamps(self) -> dict[str, KnownFile]:
        """Each card file's stamp when a build read it, with the hash of the bytes it read."""
        if self._stamps is None:
            self._stamps = {}
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    rows = self._db.execute(
                        "SELECT rel, size, mtime, ctime, inode, hash FROM stamps"
                    )
                    self._stamps = {row[0]: row for row in rows}
        return self._stamps

    def read(self, rel: str, data_hash: str) -> CardRead | None:
        """What reading the file with these bytes gave, without its HTML."""
        hit = self._file(rel)
        if hit is None or hit[0] != data_hash:
            return None
        try:
            return _card_read(json.loads(hit[1]), rel)
        except (ValueError, KeyError, TypeError, IndexError):
            return None

    def read_as_card(self, rel: str, data_hash: str, lock_hash: str | None) -> bool:
        """Whether the last build read the file with these bytes as a card file (not as a
        post), under the lock whose text has this hash (None: under whatever lock)."""
        if lock_hash is not None and (not lock_hash or self._meta.get("lock") != lock_hash):
            return False
        hit = self._file(rel)
        return hit is not None and hit[0] == data_hash

    def _row(self, query: str, *values: object) -> tuple | None:
        """The one row a query asks for; None when there is none, or no memo to read."""
        if self._db is None:
            return None
        try:
            return self._db.execute(query, values).fetchone()
        except sqlite3.Error:
            return None

    def cut(self, rel: str, data_hash: str, key: str) -> CutPost | None:
        """The post with these bytes as cut before under `key` (`posts.cut_key`)."""
        if self._posts is None:  # the paths of the posts remembered: a build asks of each file
            self._posts = set()
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._posts = {rel for (rel,) in self._db.execute("SELECT rel FROM posts")}
        if rel not in self._posts:
            return None
        found = self._row(
            "SELECT cut FROM posts WHERE rel = ? AND hash = ? AND key = ?", rel, data_hash, key
        )
        try:
            return None if found is None else _cut_post(json.loads(found[0]))
        except (ValueError, KeyError, TypeError, IndexError):
            return None

    def code(self, rel: str) -> dict[str, str]:
        """The HTML of the code blocks of the file at `rel` as the last build that read it in
        its own process made it, by `markup.code_key` (whatever the file holds now)."""
        found = self._row("SELECT code FROM files WHERE rel = ?", rel)
        if found is None or found[0] is None:
            return {}
        try:
            return {str(key): str(html) for key, html in json.loads(found[0]).items()}
        except (ValueError, AttributeError):
            return {}

    def digest(self, rel: str, data_hash: str, key: str) -> str | None:
        """The digest of the note's fields, if sealed for `key` (`sealed_key`) before."""
        hit = self._file(rel)
        if hit is None or hit[0] != data_hash or hit[2] != key:
            return None
        return hit[3]

    def fields(self, rel: str, data_hash: str, key: str) -> tuple[str, str] | None:
        """The note's Text and Extra, as sealed for `key` before."""
        if self.digest(rel, data_hash, key) is None:
            return None
        found = self._row(
            "SELECT text, extra FROM files WHERE rel = ? AND hash = ? AND sealed = ?",
            rel,
            data_hash,
            key,
        )
        if found is None or not all(isinstance(f, str) for f in found):
            return None
        return found[0], found[1]

    def lines(self) -> dict[tuple[str, int], int]:
        """Where each card's point is written, as the last build left the cards: (card file,
        cloze ordinal) → line."""
        found = {}
        for rel, (_, card, key, _) in self._files().items():
            with contextlib.suppress(ValueError, KeyError, TypeError, IndexError):
                if key is None:
                    continue
                points = json.loads(card)["question"][7]
                ordinals = key.split(" ")[0].split(",")
                for ordinal, point in zip(ordinals, points, strict=True):
                    found[rel, int(ordinal)] = int(point[0])
        return found

    def lock(self, lock_hash: str, without: frozenset[str] = frozenset()) -> Lock | None:
        """The lock whose text has this hash, as parsed when a build last wrote or read it,
        but for the entries at the paths `without` (carried: never decoded)."""
        if self._meta.get("lock") != lock_hash:
            return None
        return self._entries(without)

    def lock_paths(self) -> dict[str, str]:
        """Each note's path in the lock the last build wrote or read, by guid (nothing when
        there is none)."""
        if self._db is None or not self._meta.get("lock"):
            return {}
        try:
            return {guid: path for path, guid in self._db.execute("SELECT path, guid FROM lock")}
        except sqlite3.Error:
            return {}

    def last_lock(self) -> Lock | None:
        """The lock the last build wrote or read, whatever the lock is now: the copy of
        identity that a lost or cut lock is recovered from."""
        return self._entries(frozenset())

    def _entries(self, without: frozenset[str]) -> Lock | None:
        if self._db is None or not self._meta.get("lock"):
            return None
        try:
            db = self._db
            # A rebuild's: most entries are carried, and the few others fetched one by one.
            paths = [p for (p,) in db.execute("SELECT path FROM lock ORDER BY path")]
            self._lock_paths = paths
            wanted = [p for p in paths if p not in without] if without else paths
            if len(wanted) <= FEW_FILES:
                query = "SELECT * FROM lock WHERE path = ?"
                rows = [db.execute(query, (p,)).fetchone() for p in wanted]
            else:
                everything = db.execute("SELECT * FROM lock ORDER BY path")
                rows = [row for row in everything if row[0] not in without]
            self._lock = {row[0]: _locked_note(row) for row in rows}
        except (sqlite3.Error, ValueError, TypeError):
            return None
        self._lock_rows = True
        return Lock(tuple(self._lock.values()))

    def last_notes(self, lock_hash: str) -> dict[str, LastNote]:
        """What the last build made of each card file that may be carried over, by path, when
        the lock's text is the one it wrote (else nothing: identity must be worked out)."""
        if not lock_hash or self._meta.get("lock") != lock_hash:
            return {}
        return self._last_notes()

    def holds_another_lock(self, lock_hash: str) -> bool:
        """Whether the last build wrote or read a lock, and not the one whose text has this
        hash (a lock changed by other hands: a pull, a checkout)."""
        return bool(self._meta.get("lock")) and self._meta.get("lock") != lock_hash

    def notes_left_in(self, written: WrittenLock) -> dict[str, LastNote]:
        """`last_notes` of the card files whose tables the lock `written` (not the one the
        last build wrote or read: one pulled, say) holds byte for byte as that lock did, when
        the memo kept that lock's bytes (`_keep_lock`): an entry the same, whatever the
        others, gives the note it gave, as under that lock (`build.collect`). The entries of
        the others are loaded, to be compared with those the build writes (`_stage`)."""
        then = self._lock_then()
        if then is None:
            return {}
        same = written.same_tables(WrittenLock(then))
        if self._entries(frozenset(same)) is None:
            return {}
        return {rel: note for rel, note in self._last_notes().items() if rel in same}

    def _lock_then(self) -> bytes | None:
        """The bytes of the lock the last build wrote or read, when the memo keeps them."""
        lock_hash = self._meta.get("lock")
        if not lock_hash or self.folder is None:
            return None
        try:
            data = (self.folder / _lock_copy(lock_hash)).read_bytes()
        except OSError:
            return None
        # (A copy whose bytes are not those the memo describes is none.)
        return data if hashlib.sha256(data).hexdigest() == lock_hash else None

    def _keep_lock(self, lock: Path, lock_hash: str) -> None:
        """Keep a copy of the lock at `lock`, whose bytes have this hash, for the next build to
        compare a pulled lock with (`notes_left_in`); older ones are let go. (A copy, not a
        link: a lock written over in place, as `cp` and editors do, would change it too.)"""
        assert self.folder is not None
        kept = self.folder / _lock_copy(lock_hash)
        if not kept.is_file():
            made = self.folder / f"lock-{os.urandom(6).hex()}.tmp"
            try:
                shutil.copyfile(lock, made)
                os.replace(made, kept)
            except OSError:  # not kept: the next build after a pull reads every file again
                made.unlink(missing_ok=True)
                return
        with contextlib.suppress(OSError):  # (one left costs only room)
            for old in self.folder.glob("lock-*"):
                if old.name != kept.name:
                    old.unlink(missing_ok=True)

    def _last_notes(self) -> dict[str, LastNote]:
        from .assemble import LastNote

        if self._db is None:
            return {}
        try:
            rows = self._db.execute(
                "SELECT f.rel, f.hash, f.note_id, f.id_line, f.deck, l.guid, l.mtime, l.digest,"
                " f.sealed, l.ordinals, f.lines"
                # Both narrow indexes, the files' scanned and the lock's searched: SQLite
                # itself would fetch each lock row from the table, its points and all.
                " FROM files f CROSS JOIN lock l INDEXED BY lock_carried ON l.path = f.rel"
                " WHERE f.plain = 1 AND f.digest = l.digest"
                " AND l.id IS f.note_id"
            )
            found = {}
            for rel, h, i, il, d, g, m, dg, sealed, locked, ln in rows:
                ordinals = _numbers(sealed)  # in source order; the lock's in ordinal order
                if sealed == locked or sorted(ordinals) == list(_numbers(locked)):
                    found[rel] = LastNote(h, i, il, d, g, m, dg, ordinals, ln)
            return found
        except (sqlite3.Error, ValueError, TypeError):
            return {}

    def kept_file(self, package: Path) -> ZippedFrom | None:
        """The collection file the package at `package` was zipped from, and its stamp now,
        when the memo keeps it and that package is there still (a build that found nothing
        changed tells sync so: `Report.zipped_from`). Only the memo's own description is read:
        a build takes the file under another name before it writes it."""
        found = self._kept_meta()
        if found is None:
            return None
        k, path = found
        try:
            if (int(k["package"][0]), int(k["package"][1])) != stamp(package):
                return None
            return path, stamp_of(path)
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None

    def _kept_meta(self) -> tuple[dict, Path] | None:
        """The memo's description of the collection it keeps, and the file, when it is there."""
        raw = self._meta.get("kept")
        if raw is None or self.folder is None or self._db is None:
            return None
        try:
            k = json.loads(raw)
            if k is None or not KEPT_NAME.fullmatch(k["name"]):
                return None  # only a collection of our own making, from our own folder
        except (ValueError, KeyError, TypeError):
            return None
        path = self.folder / k["name"]
        return (k, path) if path.is_file() else None

    def kept(self) -> KeptCollection | None:
        """The collection of the last package written, when it is still there."""
        from .package import KeptCollection, NoteRow

        found = self._kept_meta()
        if found is None or self._db is None:
            return None
        k, path = found
        try:
            if not self._kept:
                order = json.loads(self._meta.get("order", "[]"))
                position = {guid: i for i, guid in enumerate(order)}
                rows = self._db.execute("SELECT guid, deck, digest, mtime, ordinals FROM kept")
                self._kept = {
                    guid: NoteRow(guid, deck, digest, mtime, position[guid], _numbers(o))
                    for guid, deck, digest, mtime, o in rows
                }
                self._order = order
            package = (int(k["package"][0]), int(k["package"][1]))
            deflated = self._deflated(path, k.get("deflated"))
            return KeptCollection(
                path, str(k["structure"]), self._kept, tuple(k["media"]), package, deflated
            )
        except (ValueError, KeyError, TypeError, IndexError, sqlite3.Error):
            return None

    @staticmethod
    def _deflated(collection: Path, raw: dict | None) -> Deflated | None:
        """The kept collection's pieces as they were zipped: the file beside it, of its name."""
        from .package import Deflated

        if raw is None:
            return None
        digests, lengths = tuple(map(str, raw["digests"])), tuple(map(int, raw["lengths"]))
        if len(digests) != len(lengths):
            return None
        return Deflated(collection.with_suffix(".deflate"), digests, lengths)

    # --- what a build tells ------------------------------------------------------------------

    def stage(self, update: MemoUpdate) -> None:
        """Write what the build learnt of its files, its lock and its rows, uncommitted: a
        build does this while its package is zipped, and `save` commits it with the rest."""
        if not self.writable or self._db is None or self._staged is not None:
            return
        try:
            self._staged = self._stage(self._db, update)
        except sqlite3.Error:  # a memo that cannot be written only costs time
            self._staged = None
            with contextlib.suppress(sqlite3.Error):
                self._db.rollback()
            self.writable = False

    def trust(self, stamps: Mapping[str, KnownFile | None]) -> None:
        """Remember these stamps of files read again (None: not yet to be trusted) besides
        those remembered: a build that found nothing changed has read these files again."""
        if not self.writable or self._db is None:
            return
        known = self.stamps()
        new = [row for row in stamps.values() if row is not None and known.get(row[0]) != row]
        if not new:
            return
        try:
            self._db.executemany("INSERT OR REPLACE INTO stamps VALUES (?, ?, ?, ?, ?, ?)", new)
            self._db.commit()
        except sqlite3.Error:  # a memo that cannot be written only costs time
            with contextlib.suppress(sqlite3.Error):
                self._db.rollback()
        else:
            known.update((row[0], row) for row in new)

    def save(self, update: MemoUpdate) -> None:
        self.stage(update)
        if not self.writable or self._db is None or self._staged is None:
            return
        try:
            self._save(self._db, update, self._staged)
        except sqlite3.Error:  # a memo that cannot be written only costs time
            with contextlib.suppress(sqlite3.Error):
                self._db.rollback()

    def _stage(self, db: sqlite3.Connection, update: MemoUpdate) -> dict[str, str]:
        """The rows written; the meta values to go with them."""
        there = update.present
        if self._loaded is not None:
            gone = [(rel,) for rel in self._loaded if rel not in there]
        else:  # not loaded: only the paths are needed
            gone = [row for row in db.execute("SELECT rel FROM files") if row[0] not in there]
        db.executemany("DELETE FROM files WHERE rel = ?", gone)
        # A file read and sealed in this build (every file of a first one) is written in one
        # row: written first without its fields, then again with them, it costs twice as long.
        sealed = update.sealed
        db.executemany(
            "INSERT OR REPLACE INTO files (rel, hash, card, plain, note_id, id_line, deck, lines,"
            " sealed, digest, text, extra, code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " CAST(? AS TEXT), CAST(? AS TEXT), ?)",
            (
                (
                    rel,
                    h,
                    _dump(_card_json(r)),
                    *_summary(r),
                    *_sealed_row(sealed.get(rel)),
                    _dump(dict(r.rendered.code)) if r.rendered and r.rendered.code else None,
                )
                for rel, (h, r) in update.reads.items()
            ),
        )
        db.executemany(
            "UPDATE files SET sealed = ?, digest = ?, text = CAST(? AS TEXT),"
            " extra = CAST(? AS TEXT) WHERE rel = ?",
            (
                (*_sealed_row(fields), rel)
                for rel, fields in sealed.items()
                if rel not in update.reads
            ),
        )
        posts = update.posts
        self._posts = None  # (as they are now written)
        db.executemany(
            "DELETE FROM posts WHERE rel = ?",
            (row for row in db.execute("SELECT rel FROM posts").fetchall() if row[0] not in posts),
        )
        db.executemany(
            "INSERT OR REPLACE INTO posts VALUES (?, ?, ?, ?)",
            (
                (rel, data_hash, key, _dump(_cut_json(cut)))
                for rel, (data_hash, key, cut) in posts.items()
                if rel in update.cut_now
            ),
        )
        # The stamps of files read now; the others' stay as remembered, but for files gone.
        stamps, listed = self.stamps(), update.listed
        forget = [r for r in stamps if r not in listed]
        forget += [r for r, row in update.stamps.items() if row is None and r in stamps]
        db.executemany("DELETE FROM stamps WHERE rel = ?", ((r,) for r in forget))
        db.executemany(
            "INSERT OR REPLACE INTO stamps VALUES (?, ?, ?, ?, ?, ?)",
            (
                row
                for row in update.stamps.values()
                if row is not None and stamps.get(row[0]) != row
            ),
        )
        images = [(p, s) for p, s in update.images.items() if self.images.get(p) != s]
        db.executemany(
            "INSERT OR REPLACE INTO images VALUES (?, ?, ?, ?)",
            ((p, s.size, s.mtime_ns, s.name) for p, s in images),
        )
        meta: dict[str, str] = {}
        if update.lock is not None and update.lock[0] != self._meta.get("lock"):
            lock_hash, lock, carried = update.lock
            # As loaded; when not loaded, every row is written again (and none is carried).
            entries = self._lock if self._lock_rows else {}
            if not self._lock_rows:
                assert not carried  # a carried entry is one of the rows loaded
                db.execute("DELETE FROM lock")
            new = {n.path: n for n in lock.notes}
            held = self._lock_paths if self._lock_rows else []  # (none, after the DELETE)
            db.executemany(
                "DELETE FROM lock WHERE path = ?",
                ((p,) for p in held if p not in new and p not in carried),
            )
            db.executemany(
                "INSERT OR REPLACE INTO lock VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (_locked_row(n) for p, n in new.items() if entries.get(p) != n),
            )
            meta["lock"] = lock_hash
        if update.rows is not None:
            kept = self._kept  # as loaded; when not loaded, every row is written again
            if not kept:
                db.execute("DELETE FROM kept")
            present = {r.guid for r in update.rows}
            db.executemany(
                "DELETE FROM kept WHERE guid = ?", ((g,) for g in kept if g not in present)
            )
            db.executemany(
                "INSERT OR REPLACE INTO kept VALUES (?, ?, ?, ?, ?)",
                (
                    (r.guid, r.deck, r.digest, r.mtime, _ordinals_text(r.ordinals))
                    for r in update.rows
                    if (old := kept.get(r.guid)) != r  # (equal rows: compared at C speed)
                    and (old is None or not old.same_note(r))
                ),
            )
            order = [r.guid for r in update.rows]  # (a row's position is its place here)
            if order != self._order:
                meta["order"] = _dump(order)
        return meta

    def _save(self, db: sqlite3.Connection, update: MemoUpdate, meta: dict[str, str]) -> None:
        meta = dict(meta)
        if update.kept is not None:
            k = update.kept
            meta["kept"] = _dump(
                {
                    "name": k.path.name,
                    "structure": k.structure,
                    "media": list(k.media),
                    "package": list(k.package),
                    "deflated": None
                    if k.deflated is None or k.deflated.path != k.path.with_suffix(".deflate")
                    else {"digests": list(k.deflated.digests), "lengths": list(k.deflated.lengths)},
                }
            )
        else:  # no collection kept: the rows staged describe none
            meta["kept"] = _dump(None)
        if update.outcome is not None:
            meta["outcome"] = _dump(_outcome_json(update.outcome))
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())
        db.commit()
        self._meta.update(meta)
        lock_hash = self._meta.get("lock")
        if update.lock_file is not None and lock_hash:
            self._keep_lock(update.lock_file, lock_hash)


def _lock_copy(lock_hash: str) -> str:
    """The name of the lock with this hash, as the memo keeps it."""
    return f"lock-{lock_hash[:24]}"


# --- the format: plain JSON of each value -------------------------------------------------------


# The sealing columns of a file read and not sealed (a file with no card, or one with errors).
_NOT_SEALED = (None, None, None, None)


def _sealed_row(sealed: tuple[str, str, str, str] | None) -> tuple[object, ...]:
    """The sealing columns, Text and Extra as their UTF-8 bytes (read back as text: `CAST`).
    Python keeps the UTF-8 form of a string it hands SQLite for as long as the string lives,
    and a build's fields live until it ends: bound as strings, every note's fields would be
    held twice (18 of a first build's 206 MB at 20,000 notes)."""
    if sealed is None:
        return _NOT_SEALED
    key, digest, text, extra = sealed
    return key, digest, text.encode("utf-8"), extra.encode("utf-8")


def _dump(value: object) -> str:
    return _ENCODER.encode(value)


# One encoder for every value: `json.dumps` with options makes an encoder at every call, a
# third of the time a first build of 20,000 notes spent turning the memo's values into JSON.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _diagnostic_json(d: Diagnostic) -> list:
    return [d.path, d.line, d.message, d.severity, *([d.column] if d.column else [])]


def _diagnostic(raw: list) -> Diagnostic:
    path, line, message, severity, *column = raw
    if severity not in ("error", "warning", "note"):
        raise ValueError(severity)
    return Diagnostic(str(path), int(line), str(message), severity, *map(int, column[:1]))


def _cut_json(cut: CutPost) -> dict:
    return {
        "questions": [[key, data.decode("utf-8")] for key, data in cut.questions],
        "reading": [_diagnostic_json(d) for d in cut.reading],
        "said": [_diagnostic_json(d) for d in cut.said],
        "topics": cut.topics,
    }


def _cut_post(raw: dict) -> CutPost:
    from .posts import CutPost

    return CutPost(
        tuple((str(key), str(text).encode("utf-8")) for key, text in raw["questions"]),
        tuple(_diagnostic(d) for d in raw["reading"]),
        tuple(_diagnostic(d) for d in raw["said"]),
        int(raw["topics"]),
    )


def _card_json(read: CardRead) -> dict:
    q = read.question
    out: dict = {"problems": [_diagnostic_json(d) for d in read.problems]}
    if q is not None:
        out["question"] = [
            q.id,
            q.id_line,
            list(q.tags),
            q.deck,
            q.title,
            q.title_line,
            [q.context.line, q.context.markdown],
            [[p.line, p.number, p.markdown, *p.lead, p.style] for p in q.points],
            [q.extra.line, q.extra.markdown],
            q.layout,
        ]
    if read.media:  # from `read.media`: a read made in a worker carries no rendered HTML
        out["media"] = [[m.src, m.line, m.vault] for m in read.media]
    return out


@lru_cache(maxsize=1)
def _card_types() -> tuple[
    type[ImageRef], type[Point], type[Question], type[Section], type[CardRead]
]:
    """The types a card read is made of, imported once (a build that finds nothing changed
    never needs them, nor the parser they come with)."""
    from .media import ImageRef
    from .parse import Point, Question, Section
    from .readcards import CardRead

    return ImageRef, Point, Question, Section, CardRead


def _card_read(raw: dict, rel: str) -> CardRead:
    ImageRef, Point, Question, Section, CardRead = _card_types()
    said = raw["problems"]
    problems = tuple(_diagnostic(d) for d in said) if said else ()
    if "question" not in raw:
        return CardRead(None, None, problems)
    (note_id, id_line, tags, deck, title, title_line, context, points, extra, layout) = raw[
        "question"
    ]
    # The memo is mkdeck's own, in the user's own folder: its values are taken as they are.
    question = Question(
        rel,
        note_id,
        id_line,
        tuple(tags),
        deck,
        title,
        title_line,
        Section(*context),
        tuple(Point(p[0], p[1], p[2], Section(*p[3:5]), p[5]) for p in points),
        Section(*extra),
        layout,
    )
    media = tuple(ImageRef(*m) for m in raw["media"]) if "media" in raw else ()
    return CardRead(question, None, problems, media=media)


def _summary(read: CardRead) -> tuple[int, str | None, int, str | None, str]:
    """The columns a carried note is made from: whether it may be carried (a card with no
    problems and no images: nothing to say or to pack again), its id, deck and point lines."""
    q = read.question
    if q is None:
        return 0, None, 0, None, ""
    plain = int(not read.problems and not read.media)
    return plain, q.id, q.id_line, q.deck, ",".join(str(p.line) for p in q.points)


@lru_cache(maxsize=4096)
def _numbers(text: str) -> tuple[int, ...]:
    """Ordinals written "1,2,3": most notes of a deck share a handful of these."""
    return tuple(int(n) for n in text.split(",")) if text else ()


def _ordinals_text(ordinals: Iterable[int]) -> str:
    return ",".join(str(ordinal) for ordinal in ordinals)


def _locked_row(n: LockedNote) -> tuple:
    ordinals = _ordinals_text(ordinal for ordinal, _ in n.points)  # in ordinal order
    return (n.path, n.guid, n.id, n.mtime, n.digest, n.next, ordinals, _dump(n.points))


def _locked_note(row: tuple) -> LockedNote:
    path, guid, note_id, mtime, digest, nxt, _, points = row
    texts = tuple(map(tuple, json.loads(points)))
    return LockedNote(path, guid, note_id, mtime, digest, nxt, texts)


def _three(counts: list) -> tuple[int, int, int]:
    return int(counts[0]), int(counts[1]), int(counts[2])


def _outcome_json(o: Outcome) -> dict:
    return {
        "key": o.key,
        "images": list(o.images),
        "package": list(o.package),
        "notes": o.notes,
        "cards": o.cards,
        "media": o.media,
        "diagnostics": [_diagnostic_json(d) for d in o.diagnostics],
        "newest": o.newest,
        "posts": list(o.posts),
    }


def inputs_key(parts: Iterable[object]) -> str:
    """A hash of everything a build reads: equal keys make an equal package."""
    h = hashlib.sha256()
    for part in parts:
        h.update(repr(part).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()
