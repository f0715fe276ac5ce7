"""`cards/mkdeck.lock`: which Anki note and which cloze card each Markdown point is.

The lock is committed beside the cards. It is TOML, one table per card file, sorted by path,
one line per point, so that a diff reads like the edit that caused it:

    ["attention/mha.md"]
    guid = "kT3#x!a9Qe"
    id = "mha-self-attention-flops"
    mtime = 1764470000
    digest = "9f86d081884c7d65"
    next = 6
    points = [
      [1, "QKV 线性变换：$6sD^2$"],
      [3, "缩放：$hs^2$"],
    ]

`next` is the next fresh ordinal; an ordinal below it that no point holds is retired and is
never handed out again. A lock that cannot be read is an error that says how to recover,
never a silent reset: resetting would move years of reviews onto the wrong points.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .errors import MkdeckError
from .files import remove_stale_temporaries, written_beside

LOCK_NAME = "mkdeck.lock"
VERSION = 1
HEADER = """\
# mkdeck.lock: which Anki note and card each Markdown point is. Commit it with the cards.
# Written by `mkdeck build`. If git reports a conflict here, keep one side
# (`git checkout --theirs cards/mkdeck.lock`), then run `mkdeck build` again.
"""
CONFLICT = re.compile(r"^(<{7}|={7}|>{7})(?:[^\S\n]|$)", re.MULTILINE)
TOML_LINE = re.compile(r"at line (\d+)")
# Text that JSON and TOML write between quotes as it is: no quote, backslash or control code.
PLAIN = re.compile(r'[^"\\\x00-\x1f\x7f\u2028\u2029]*')
CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


class LockedNote(NamedTuple):
    """What the lock remembers of one card file (a named tuple: a large lock holds a hundred
    thousand, read on every build)."""

    path: str
    guid: str
    id: str | None
    mtime: int
    digest: str
    next: int
    points: tuple[tuple[int, str], ...]  # (ordinal, point text) in ordinal order

    @property
    def retired(self) -> frozenset[int]:
        held = {ordinal for ordinal, _ in self.points}
        return frozenset(range(1, self.next)) - held


@dataclass(frozen=True)
class Lock:
    notes: tuple[LockedNote, ...] = ()


def lock_bytes(cards_dir: Path) -> tuple[bytes, str]:
    """The lock's bytes and their hash (b"" and "": no lock yet)."""
    try:
        data = (cards_dir / LOCK_NAME).read_bytes()
    except FileNotFoundError:
        return b"", ""
    except OSError as exc:
        raise MkdeckError(f"cannot read the lock file: {exc}", LOCK_NAME) from exc
    return data, hashlib.sha256(data).hexdigest()


def read_lock(cards_dir: Path) -> tuple[Lock, str]:
    """The lock of a cards folder (an empty lock when there is none yet), and its hash."""
    data, digest = lock_bytes(cards_dir)
    return (parse_lock(lock_text(data), LOCK_NAME) if digest else Lock()), digest


def lock_text(data: bytes) -> str:
    """The lock's bytes as text. Problems are located at `mkdeck.lock`, relative to the cards
    folder like those of every card file, so that they print as the user would type the path."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")  # a BOM some Windows editors add
    except UnicodeDecodeError as exc:
        raise MkdeckError(f"cannot read the lock file: {exc}", LOCK_NAME) from exc


def parse_lock(text: str, where: str) -> Lock:
    lines = text.split("\n")
    # (The markers are looked for as they are first: a search for them at each line's start
    # takes four times as long, on a lock that has none.)
    marked = any(marker in text for marker in ("<" * 7, "=" * 7, ">" * 7))
    conflict = CONFLICT.search(text) if marked else None
    if conflict is not None:
        raise MkdeckError(
            "the lock file has merge-conflict markers. Keep one side "
            "(`git checkout --theirs` on this file, or `--ours`), then run `mkdeck build`: "
            "points are matched again by their text, so no review history is lost",
            where,
            text.count("\n", 0, conflict.start()) + 1,
        )
    data = _read_own_format(lines)
    try:
        if data is None:  # written or edited by other hands: TOML says what is wrong
            data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = TOML_LINE.search(str(exc))
        raise MkdeckError(
            f"the lock file is damaged ({exc}). Restore it from version control "
            "(`git checkout --` on this file) rather than deleting it: without it, cards lose "
            "track of their review history",
            where,
            int(m.group(1)) if m else 0,
        ) from exc

    def fail(message: str, key: str | None = None) -> MkdeckError:
        line = _line_of_table(lines, key) if key else 0
        return MkdeckError(
            f"the lock file is damaged: {message}. Restore it from version control "
            "(`git checkout --` on this file)",
            where,
            line,
        )

    if data.pop("version", None) != VERSION:
        raise fail(f"expected `version = {VERSION}`")
    notes = []
    guids: set[str] = set()
    for rel, table in sorted(data.items()):
        if not isinstance(table, dict):
            raise fail(f"`{rel}` is not a table", rel)
        try:
            guid, mtime, digest, nxt = (table[k] for k in ("guid", "mtime", "digest", "next"))
            points = tuple((int(o), str(t)) for o, t in table.get("points", []))
        except (KeyError, TypeError, ValueError) as exc:
            raise fail(f"entry `{rel}` is incomplete ({exc})", rel) from exc
        note_id = table.get("id")
        ok = (
            isinstance(guid, str)
            and guid
            and isinstance(mtime, int)
            and isinstance(nxt, int)
            and isinstance(digest, str)
            and (note_id is None or isinstance(note_id, str))
        )
        ordinals = [o for o, _ in points]
        if not ok or len(set(ordinals)) != len(ordinals) or any(not 0 < o < nxt for o in ordinals):
            raise fail(f"entry `{rel}` has invalid values", rel)
        if guid in guids:
            raise fail(f"guid `{guid}` appears twice", rel)
        guids.add(guid)
        notes.append(LockedNote(rel, guid, note_id, mtime, digest, nxt, points))
    return Lock(tuple(notes))


# A JSON string that is also a TOML basic string: no `\/`, no raw control character or DEL.
# (Runs of plain characters, each escape between them: a run is matched at once, not a
# character at a time through an alternation.)
_STRING = r'"[^"\\\x00-\x1f\x7f]*(?:\\[^/][^"\\\x00-\x1f\x7f]*)*"'


@functools.cache
def _own_line() -> re.Pattern[str]:
    """A line as `format_lock` writes it. (Compiled when a lock is first parsed: a build that
    finds nothing changed never parses one, and the pattern takes a millisecond to compile.)"""
    return re.compile(
        rf"^(?:(?P<table>\[{_STRING}\])|(?P<skey>guid|id|digest) = (?P<str>{_STRING})"
        rf"|(?P<ikey>version|mtime|next) = (?P<int>0|[1-9]\d*)|(?P<open>points = \[)"
        rf"|  \[(?P<ord>0|[1-9]\d*), (?P<text>{_STRING})\],|(?P<close>\])|#.*|)$"
    )


def _string(quoted: str) -> str:
    """A string as `format_lock` writes it (JSON's): one with no escape is its inner text
    (raises `ValueError` for an escape JSON does not know)."""
    inner = quoted[1:-1]
    return json.loads(quoted) if "\\" in inner else inner


def _read_own_format(lines: list[str]) -> dict | None:
    """The lock as `tomllib` reads it, when it is exactly in the shape `format_lock` writes; None
    otherwise. A large lock parses several times faster this way: most strings hold no escape
    and are taken as they are, and the points that do are decoded at the end, in one call."""
    data: dict = {}
    table: dict | None = None
    points: list | None = None
    escaped: list[list] = []  # the points whose text holds an escape, still quoted
    own_line = _own_line().match
    try:
        for line in lines:
            m = own_line(line)
            if m is None:
                return None
            if m["table"]:
                key = _string(m["table"][1:-1])
                if key in data or points is not None:
                    return None
                table = data[key] = {}
            elif m["skey"] or m["ikey"]:
                name = m["skey"] or m["ikey"]
                target = data if name == "version" and table is None else table
                if target is None or points is not None or name in target:
                    return None
                target[name] = _string(m["str"]) if m["skey"] else int(m["int"])
            elif m["open"]:
                if table is None or points is not None or "points" in table:
                    return None
                points = table["points"] = []
            elif m["ord"]:
                if points is None:
                    return None
                text = m["text"]
                point = [int(m["ord"]), text[1:-1]]
                if "\\" in text:
                    point[1] = text
                    escaped.append(point)
                points.append(point)
            elif m["close"]:
                if points is None:
                    return None
                points = None
        if escaped:
            decoded = json.loads(f"[{','.join(point[1] for point in escaped)}]")
            for point, text in zip(escaped, decoded, strict=True):
                point[1] = text
    except ValueError:  # an escape JSON does not know: TOML says what is wrong
        return None
    return data if points is None else None


class WrittenLock:
    """A lock's bytes, indexed once by its tables' headers: how it knows each file (as a
    "card" file: a table at its path; as a "post": tables of its questions, `post.md#…`), and
    where each table is written, from the blank line before it, so that a table whose entry
    stays the same is copied as written, undecoded (in a lock that mkdeck wrote, string
    values hold no raw line break: a header line only ever starts a table)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.cards: set[str] = set()
        self.posts: set[str] = set()
        self.spans: dict[str, tuple[int, int]] = {}  # path → its table's place in `data`
        ours = data.startswith(_HEADER_BYTES)
        opened: str | None = None  # the table being read, when it has a span
        start = 0
        for m in _TABLE_HEADER.finditer(data):
            if opened is not None:
                self.spans[opened] = (start, m.start())
            opened = None
            try:
                header = m.group(1).decode("utf-8")
                inner = header[1:-1]
                path = inner if "\\" not in inner and '"' not in inner else json.loads(header)
            except ValueError:  # (UnicodeDecodeError is one)
                continue
            if not isinstance(path, str):
                continue
            post = IN_POST.match(path) if "#" in path else None
            if post is not None:
                self.posts.add(post.group(1))
            else:
                self.cards.add(path)
            if ours and data[m.start() - 1] == 10 and path not in self.spans:  # a blank line
                opened, start = path, m.start()
        if opened is not None:
            self.spans[opened] = (start, len(data))

    def known(self, path: str) -> str | None:
        if path in self.posts:
            return "post"
        return "card" if path in self.cards else None

    def same_tables(self, other: WrittenLock) -> set[str]:
        """The paths whose tables `other` holds byte for byte as this lock does."""
        mine, theirs = self.data, other.data
        return {
            path
            for path, (start, end) in self.spans.items()
            if (span := other.spans.get(path)) is not None
            and end - start == span[1] - span[0]
            and mine[start:end] == theirs[span[0] : span[1]]
        }

    def without(self, paths: Iterable[str]) -> bytes:
        """The lock's bytes without the tables at these paths (each one has a span)."""
        pieces, at = [], 0
        for start, end in sorted(self.spans[path] for path in paths):
            pieces.append(self.data[at:start])
            at = end
        pieces.append(self.data[at:])
        return b"".join(pieces)

    def table(self, span: tuple[int, int]) -> bytes | memoryview:
        """The bytes written at `span`, ending with a line break: a view of them, uncopied."""
        start, end = span
        if end > start and self.data[end - 1] == 10:
            return memoryview(self.data)[start:end]
        return self.data[start:end] + b"\n"


# A table's header, as mkdeck writes it: `["a.md"]` on a line of its own.
_TABLE_HEADER = re.compile(rb'\n\[("[^\n]*")\]\n')
_HEADER_BYTES = HEADER.encode("utf-8")
# Where the path of a question of a post ends in the name of its question (`posts/a.md#What
# is X?`): the post's entries are its questions'.
IN_POST = re.compile(r"^(.*?\.(?:md|markdown))#", re.IGNORECASE)


def file_of(rel: str) -> str:
    """The file a source is in: itself, or for a question of a post the post."""
    m = IN_POST.match(rel) if "#" in rel else None  # (asked of every note of a deck)
    return m.group(1) if m else rel


def question_of(rel: str) -> str:
    """For a question of a post, its name in the post; "" for a card file."""
    m = IN_POST.match(rel) if "#" in rel else None
    return rel[m.end() :] if m else ""


def _line_of_table(lines: list[str], key: str) -> int:
    header = f"[{json.dumps(key, ensure_ascii=False)}]"
    return next((i for i, line in enumerate(lines, 1) if line.strip() == header), 0)


def format_lock(
    lock: Lock,
    before: tuple[Lock, WrittenLock] | None = None,
    carried: Iterable[str] = (),
) -> str:
    """The lock's text. `before` is the lock as read and its bytes: a table whose entry is
    the same is kept as it was written, so a large lock with one entry changed is not
    formatted again. `carried` paths keep their tables as written; their entries are not in
    `lock`."""
    return b"".join(_lock_pieces(lock, before, carried)).decode("utf-8")


def _lock_pieces(
    lock: Lock, before: tuple[Lock, WrittenLock] | None, carried: Iterable[str]
) -> Iterator[bytes | memoryview]:
    """The lock's bytes in pieces, made as they are taken: runs of tables copied as written
    are views of the bytes read, never copied before they are hashed and written, and a new
    table is formatted only when its turn comes (a first build's lock is never held whole)."""
    written = before[1] if before is not None else WrittenLock(b"")
    previous = {n.path: n for n in before[0].notes} if before is not None else {}
    carried = carried if isinstance(carried, set | frozenset) else set(carried)
    # In the order written (sorted, as mkdeck writes them): sorting them again is one pass.
    tables: dict[str, LockedNote | tuple[int, int]] = {
        path: span for path, span in written.spans.items() if path in carried
    }
    # A carried entry is one whose table the lock holds: one dropped here would lose a
    # note's identity, so it is never let go silently.
    assert len(tables) == len(carried), sorted(set(carried) - set(tables))[:3]
    for note in lock.notes:
        span = written.spans.get(note.path)
        same = span is not None and previous.get(note.path) == note
        tables[note.path] = span if same and span is not None else note
    yield _HEADER_BYTES
    yield f"version = {VERSION}\n".encode()
    run: tuple[int, int] | None = None  # tables written one after another: copied at once
    for path in sorted(tables):
        table = tables[path]
        if isinstance(table, LockedNote):  # (a named tuple itself: asked first)
            if run is not None:
                yield written.table(run)
            run = None
            yield format_entry(table).encode("utf-8")
        elif run is not None and run[1] == table[0]:
            run = (run[0], table[1])
        else:
            if run is not None:
                yield written.table(run)
            run = table
    if run is not None:
        yield written.table(run)


def format_entry(note: LockedNote) -> str:
    """One card file's table, with the blank line before it."""
    out = [f"\n[{_str(note.path)}]\nguid = {_str(note.guid)}\n"]
    if note.id is not None:
        out.append(f"id = {_str(note.id)}\n")
    out.append(f"mtime = {note.mtime}\ndigest = {_str(note.digest)}\nnext = {note.next}\n")
    out.append("points = [\n")
    out.extend(f"  [{ordinal}, {_str(text)}],\n" for ordinal, text in note.points)
    out.append("]\n")
    return "".join(out)


def _str(value: str) -> str:
    """A TOML basic string: JSON's string escapes are all valid TOML escapes."""
    if PLAIN.fullmatch(value):  # most point texts: nothing to escape, and much faster
        return f'"{value}"'
    if not CONTROL.search(value):  # formulas: only backslashes and quotes, escaped as JSON does
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    # JSON leaves DEL as it is, and TOML forbids it in a string.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


class LockFile(NamedTuple):
    """A lock made ready to be written: the hash of its bytes (as `lock_bytes` gives it), and
    the temporary file beside the lock that holds them (None: the lock there holds them)."""

    hash: str
    temporary: Path | None


def prepare_lock(
    path: Path,
    lock: Lock,
    before: tuple[Lock, WrittenLock] | None = None,
    carried: Iterable[str] = (),
    current: str = "",
) -> LockFile:
    """The lock's text (`format_lock`) written beside `path`, for `place_lock` to put in its
    place; when it is the text there now (`current`, its hash), the lock there is left as it
    is, so that `git status` shows no churn. A build does this while the package is zipped."""
    remove_stale_temporaries(path)  # also when unchanged: a killed build may have left one
    h = hashlib.sha256()

    def write(tmp: Path) -> None:
        # Hashed as written, in one pass: a first build's lock is as large as its notes'
        # questions, and is never held whole.
        with tmp.open("wb") as f:
            for piece in _lock_pieces(lock, before, carried):
                h.update(piece)
                f.write(piece)

    temporary = written_beside(path, write)
    data_hash = h.hexdigest()
    if data_hash == current:
        temporary.unlink()
        return LockFile(data_hash, None)
    return LockFile(data_hash, temporary)


def place_lock(path: Path, lock: LockFile) -> None:
    if lock.temporary is not None:
        os.replace(lock.temporary, path)
