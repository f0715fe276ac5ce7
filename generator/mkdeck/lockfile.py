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

import hashlib
import json
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
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
CONFLICT = re.compile(r"^(<{7}|={7}|>{7})(?:\s|$)")
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
    for number, line in enumerate(lines, 1):
        if CONFLICT.match(line):
            raise MkdeckError(
                "the lock file has merge-conflict markers. Keep one side "
                "(`git checkout --theirs` on this file, or `--ours`), then run `mkdeck build`: "
                "points are matched again by their text, so no review history is lost",
                where,
                number,
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
_STRING = r'"(?:[^"\\\x00-\x1f\x7f]|\\[^/])*"'
_OWN_LINE = re.compile(
    rf"^(?:(?P<table>\[{_STRING}\])|(?P<skey>guid|id|digest) = (?P<str>{_STRING})"
    rf"|(?P<ikey>version|mtime|next) = (?P<int>0|[1-9]\d*)|(?P<open>points = \[)"
    rf"|  \[(?P<ord>0|[1-9]\d*), (?P<text>{_STRING})\],|(?P<close>\])|#.*|)$"
)


def _read_own_format(lines: list[str]) -> dict | None:
    """The lock as `tomllib` reads it, when it is exactly in the shape `format_lock` writes; None
    otherwise. A large lock parses several times faster this way."""
    data: dict = {}
    table: dict | None = None
    points: list | None = None
    for line in lines:
        m = _OWN_LINE.match(line)
        if m is None:
            return None
        if m["table"]:
            key = json.loads(m["table"][1:-1])
            if key in data or points is not None:
                return None
            table = data[key] = {}
        elif m["skey"] or m["ikey"]:
            name = m["skey"] or m["ikey"]
            target = data if name == "version" and table is None else table
            if target is None or points is not None or name in target:
                return None
            target[name] = json.loads(m["str"]) if m["skey"] else int(m["int"])
        elif m["open"]:
            if table is None or points is not None or "points" in table:
                return None
            points = table["points"] = []
        elif m["ord"]:
            if points is None:
                return None
            points.append([int(m["ord"]), json.loads(m["text"])])
        elif m["close"]:
            if points is None:
                return None
            points = None
    return data if points is None else None


def known_as(text: str) -> Callable[[str], str | None]:
    """How a lock's text, as mkdeck writes it, knows a file: as a "card" file (a table at its
    path), as a "post" (tables of its questions, `post.md#…`), or not at all (None)."""
    cards: set[str] = set()
    posts: set[str] = set()
    # One pass over the tables' headers: a search of the whole text for each file would cost
    # a large lock's size once a file.
    for header in _TABLE_HEADER.findall(text):
        try:
            path = header[1:-1] if "\\" not in header else json.loads(header)
        except ValueError:
            continue
        if not isinstance(path, str):
            continue
        post = IN_POST.match(path)
        if post is not None:
            posts.add(post.group(1))
        else:
            cards.add(path)

    def known(path: str) -> str | None:
        if path in posts:
            return "post"
        return "card" if path in cards else None

    return known


# A table's header, as mkdeck writes it: `["a.md"]` on a line of its own.
_TABLE_HEADER = re.compile(r'\n\[("[^\n]*")\]\n')
# Where the path of a question of a post ends in the name of its question (`posts/a.md#What
# is X?`): the post's entries are its questions' (`posts.file_of`).
IN_POST = re.compile(r"^(.*?\.(?:md|markdown))#", re.IGNORECASE)


def _line_of_table(lines: list[str], key: str) -> int:
    header = f"[{json.dumps(key, ensure_ascii=False)}]"
    return next((i for i, line in enumerate(lines, 1) if line.strip() == header), 0)


def format_lock(
    lock: Lock,
    before: tuple[Lock, Mapping[str, str]] | None = None,
    carried: Iterable[str] = (),
) -> str:
    """The lock's text. `before` is the lock as read and its tables as written
    (`written_tables`): a table whose entry is the same is kept as it was written, so a large
    lock with one entry changed is not formatted again. `carried` paths keep their tables as
    written; their entries are not in `lock`."""
    written = before[1] if before is not None else {}
    previous = {n.path: n for n in before[0].notes} if before is not None else {}
    tables = {path: written[path] for path in carried}
    for note in lock.notes:
        table = written.get(note.path)
        same = table is not None and previous.get(note.path) == note
        tables[note.path] = table if same and table is not None else format_entry(note)
    return "".join([HEADER, f"version = {VERSION}\n", *(tables[p] for p in sorted(tables))])


def written_tables(text: str) -> dict[str, str]:
    """Each table of a lock that mkdeck wrote, by its path, as written (from the blank line
    before it). String values hold no raw line break, so a blank line followed by `[` only
    ever starts a table."""
    if not text.startswith(HEADER):
        return {}
    tables = {}
    for chunk in text.split("\n\n[")[1:]:
        header = chunk.partition("\n")[0]
        if not header.endswith('"]') or not header.startswith('"'):
            continue
        path = header[1:-2]
        if "\\" in path or '"' in path:  # escaped: read as JSON reads it
            try:
                path = json.loads(header[:-1])
            except ValueError:
                continue
        if isinstance(path, str):
            tables[path] = "\n[" + chunk + ("" if chunk.endswith("\n") else "\n")
    return tables


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
    before: tuple[Lock, Mapping[str, str]] | None = None,
    carried: Iterable[str] = (),
    current: str = "",
) -> LockFile:
    """The lock's text (`format_lock`) written beside `path`, for `place_lock` to put in its
    place; nothing is written when it is the text there now (`current`, its hash), so that
    `git status` shows no churn. A build does this while the package is zipped."""
    data = format_lock(lock, before, carried).encode("utf-8")
    data_hash = hashlib.sha256(data).hexdigest()
    remove_stale_temporaries(path)  # also when unchanged: a killed build may have left one
    if data_hash == current:
        return LockFile(data_hash, None)
    return LockFile(data_hash, written_beside(path, lambda tmp: tmp.write_bytes(data)))


def place_lock(path: Path, lock: LockFile) -> None:
    if lock.temporary is not None:
        os.replace(lock.temporary, path)
