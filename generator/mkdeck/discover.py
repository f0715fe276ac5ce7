"""Find the card files of a cards folder, and read one as text.

Reading is where encodings go wrong, so it lives here: a UTF-8 BOM is dropped, CRLF and CR
become LF, and bytes that are not UTF-8 are an error at the line where they occur (with a hint
for GBK, the encoding Chinese notes are most often saved in by older editors).
"""

from __future__ import annotations

import fnmatch
import hashlib
import operator
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from .errors import Diagnostic, MkdeckError
from .lockfile import LOCK_NAME, lock_bytes

CARD_SUFFIXES = {".md", ".markdown"}
# A folder's README describes the folder; it is not a question, unless it is a post of them
# (`posts.split_posts` decides).
NOT_CARDS = {"readme"}
# A docs site's navigation, beside the notes it links: docsify's sidebar, navbar and cover
# (GitBook's is `SUMMARY.md`, in capitals: a note may well be called `summary.md`).
SITE_FILES = {"_sidebar.md", "_navbar.md", "_coverpage.md"}
# A book's table of contents, beside its chapters (`目录预览.md`): each chapter's list of
# section titles and page numbers would be a card that hides hundreds of characters.
TABLES_OF_CONTENTS = {
    "目录", "目录预览", "总目录", "toc", "contents", "table of contents", "table-of-contents",
    "table_of_contents",
}  # fmt: skip
# A card file holds one question. Far past this size it is some other file (a log, an export)
# put in the folder by mistake, and rendering it would only look like a hang.
MAX_BYTES = 1_000_000


class SourceFile(NamedTuple):
    """A card file: where it is, and the subdeck its folder names (a named tuple: a large
    deck has tens of thousands)."""

    file: str  # the path to open (a string: a large deck has tens of thousands)
    rel: str  # POSIX path relative to the cards folder: shown to the reader, keys the lock
    subdecks: tuple[str, ...]

    @property
    def path(self) -> Path:
        return Path(self.file)


def discover(
    cards_dir: Path, exclude: tuple[str, ...] = ()
) -> tuple[list[SourceFile], list[Diagnostic], list[str]]:
    """Every Markdown file below `cards_dir` in a stable order (folders, then names), the
    files skipped, and the other files (images, the lock) by their paths.

    `NOTES.MD` counts as much as `notes.md`. Hidden files and folders (`.git`, `.obsidian`,
    editor swap files) are not cards; an Excalidraw drawing, a file in a `templates` folder
    and one that `exclude` names are skipped, and `check` says why. A README is found here;
    unless it is a post, it is skipped later.
    """
    if not cards_dir.is_dir():
        raise MkdeckError("cards folder not found", ".")
    found: list[SourceFile] = []
    skipped: list[Diagnostic] = []
    others: list[str] = []
    root = os.path.realpath(cards_dir) + os.sep
    # Depth first, a folder's files before its subfolders, each in name order: the files come
    # out in (subdeck, path) order, as a deck lists them, without sorting them all again.
    # `scandir` says which entries are links without another system call a file; a linked
    # folder is not entered (as `os.walk`).
    folders: list[tuple[str, tuple[str, ...]]] = [(str(cards_dir), ())]
    while folders:
        folder, subdecks = folders.pop()
        try:
            entries = sorted(os.scandir(folder), key=_NAME)
        except OSError:
            continue
        prefix = "".join(f"{d}/" for d in subdecks)
        barred = not_for_cards(subdecks)
        inside: list[tuple[str, tuple[str, ...]]] = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            link = entry.is_symlink()
            if entry.is_dir(follow_symlinks=False):
                inside.append((entry.path, (*subdecks, name)))
                continue
            if link and entry.is_dir():
                continue  # a linked folder: not entered
            rel = prefix + name
            if name[name.rfind(".") :].lower() not in CARD_SUFFIXES:
                if rel != LOCK_NAME:  # hashed on its own; the build writes it
                    others.append(rel)
                continue
            why_not = barred or not_a_card(rel, (), exclude)
            if why_not is not None:
                skipped.append(Diagnostic(rel, 0, why_not, "note"))
                continue
            if link and not os.path.realpath(entry.path).startswith(root):
                why = "a link to a file outside the cards folder: not read"
                skipped.append(Diagnostic(rel, 0, why, "warning"))
                continue
            found.append(SourceFile(entry.path, rel, subdecks))
        folders += reversed(inside)  # the first in name order is walked next
    return found, sorted(skipped), sorted(others)


_NAME = operator.attrgetter("name")  # a DirEntry's, for sorting (no Python call an entry)


def not_a_card(rel: str, folders: tuple[str, ...], exclude: tuple[str, ...]) -> str | None:
    """Why a Markdown file is no card, by its path; None: it may be one. `exclude` globs
    match the path in the cards folder, `*` across folders too (`drafts/*`, `*.draft.md`)."""
    barred = not_for_cards(folders) if folders else None
    if barred is not None:
        return barred
    name = rel[rel.rfind("/") + 1 :].lower()
    if name.endswith(".excalidraw.md"):
        return "an Excalidraw drawing: not a card"
    if name in _NAMED_NOT_CARDS or not name.endswith(_CARD_ENDINGS):
        # (Looked at closer only then: a large deck asks this of every file.)
        if name in SITE_FILES or (rel.endswith("SUMMARY.md") and name == "summary.md"):
            return "a docs site's navigation (docsify, GitBook): not a card"
        if name.rpartition(".")[0] in TABLES_OF_CONTENTS:
            return "a table of contents: it lists questions, and is not one"
    for pattern in exclude:
        if fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(
            rel, pattern.rstrip("/") + "/*"
        ):
            return f'excluded by `exclude = ["{pattern}"]`: not a card'
    return None


# The card file names, lower-cased, that say a file is no card (a drawing's aside): any other
# name that ends as a card file does is a card's at a glance.
_NAMED_NOT_CARDS = frozenset(
    {*SITE_FILES, "summary.md", *(s + e for s in TABLES_OF_CONTENTS for e in CARD_SUFFIXES)}
)
_CARD_ENDINGS = tuple(CARD_SUFFIXES)


def not_for_cards(folders: tuple[str, ...]) -> str | None:
    """Why no Markdown file in these folders is a card; None: files there may be. (The part
    of `not_a_card` that a folder's files share, asked first: `discover` asks it once a
    folder, and `not_a_card` of its files with no folders.)"""
    if any(folder.lower() == "templates" for folder in folders):
        return "in a templates folder: not a card"
    return None


def decode_source(data: bytes, rel: str) -> str:
    """Bytes of a card file → text with LF line ends and no BOM."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        hint = ""
        try:
            data.decode("gb18030")
            import shlex  # only this hint needs it

            name = shlex.quote(rel)
            temporary = shlex.quote(rel + ".utf8")
            hint = (
                "; it looks like GBK/GB18030 (common for Chinese notes): re-save it as UTF-8 in "
                f"your editor, or convert it in the cards folder with `iconv -f GB18030 -t UTF-8 "
                f"{name} > {temporary} && mv {temporary} {name}`"
            )
        except UnicodeDecodeError:
            pass
        raise MkdeckError(f"file is not valid UTF-8 (byte {exc.start}){hint}", rel, line) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_source(source: SourceFile) -> tuple[bytes, Stamp]:
    """A card file's bytes (decoded later: a cached render never needs the text), and its
    stamp when they were read."""
    try:
        fd = os.open(source.file, os.O_RDONLY)
        try:
            st = os.fstat(fd)
            size = st.st_size
            if size > MAX_BYTES:
                raise MkdeckError(
                    f"file is {size / 1e6:.1f} MB; a card file holds one question and is "
                    f"limited to {MAX_BYTES // 1_000_000} MB (split it, or move it out of the "
                    "cards folder)",
                    source.rel,
                )
            data = os.read(fd, size + 1)  # one call: a short read is the end of the file
            if len(data) > size:  # it grew since it was measured: read on to its end
                while more := os.read(fd, 1 << 16):
                    data += more
        finally:
            os.close(fd)
    except OSError as exc:
        raise MkdeckError(f"cannot read file: {exc.strerror}", source.rel) from exc
    return data, Stamp(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


class Stamp(NamedTuple):
    """What a file's metadata says of it: while all of it stays the same, so do its bytes (as
    git's index trusts, with its "racy" rule for times too recent to tell by)."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int


# What a build remembers of a card file it read: (its path, size, mtime_ns, ctime_ns, inode,
# the hash of the bytes read with that stamp), as the memo stores it. A plain tuple, compared
# field by field with `os.stat`'s: a large deck has tens of thousands, and a rebuild makes
# none of them into objects.
KnownFile = tuple[str, int, int, int, int, str]


def stamp_of(path: str | Path) -> Stamp:
    """A file's stamp now (raises `OSError` for a file that is not there)."""
    st = os.stat(path)
    return Stamp(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def stamped_as(path: str, known: KnownFile) -> bool:
    """Whether the file at `path` has the stamp it had when it was read (its bytes then
    unchanged)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return (
        st.st_mtime_ns == known[2]
        and st.st_size == known[1]
        and st.st_ctime_ns == known[3]
        and st.st_ino == known[4]
    )


@dataclass(frozen=True)
class Snapshot:
    """The card files as they are now: each one's bytes and their hash, or why it is unreadable.

    A file whose stamp is the one it had when a build read these bytes before is not read
    (its bytes are None) until a stage needs them (`content`)."""

    sources: tuple[SourceFile, ...]
    skipped: tuple[Diagnostic, ...]  # files that are not cards (a README)
    files: tuple[tuple[bytes | None, str] | Diagnostic, ...]
    tree: str = ""  # the hash of the other files' paths: an image found by its name may change
    lock: tuple[bytes, str] = (b"", "")  # the lock's bytes and their hash ("": there is none)
    # The files read now, by path: as the memo remembers them (a file trusted by its stamp is
    # remembered already).
    stamps: Mapping[str, KnownFile] = field(default_factory=dict)

    @cached_property
    def readable(self) -> frozenset[str]:
        """The paths in the cards folder of the files that could be read."""
        return frozenset(
            s.rel for s, f in zip(self.sources, self.files, strict=True) if isinstance(f, tuple)
        )

    @cached_property
    def _by_rel(self) -> dict[str, tuple[SourceFile, tuple[bytes | None, str]]]:
        return {
            s.rel: (s, f)
            for s, f in zip(self.sources, self.files, strict=True)
            if isinstance(f, tuple)
        }

    def content(self, rel: str) -> bytes:
        """A readable file's bytes, read now when they were not (raises `MkdeckError`)."""
        source, file = self._by_rel[rel]
        return content(source, file)

    @cached_property
    def digest(self) -> str:
        """A hash of each card file's path and the hash of its bytes (or why it is unreadable):
        the paths, then the hashes, each list joined at once (no path holds a NUL)."""
        paths = "\0".join([s.rel for s in self.sources])
        hashes = "\0".join([f[1] if isinstance(f, tuple) else str(f) for f in self.files])
        return hashlib.sha256(f"{paths}\0\0{hashes}".encode()).hexdigest()


def content(source: SourceFile, file: tuple[bytes | None, str]) -> bytes:
    """The bytes of a file of a snapshot, read now when its stamp said they were known: they
    must still be those (raises `MkdeckError` when the file changed since)."""
    data, data_hash = file
    if data is not None:
        return data
    data, _ = read_source(source)
    if hashlib.sha256(data).hexdigest() != data_hash:
        raise MkdeckError("the file changed while mkdeck read the folder: build again", source.rel)
    return data


def snapshot(
    cards_dir: Path,
    exclude: tuple[str, ...] = (),
    static: tuple[Path, ...] = (),
    known: Mapping[str, KnownFile] | None = None,
) -> Snapshot:
    """Find and read every card file, and the lock, once: everything a build reads from the
    cards folder (raises `MkdeckError` when the folder or the lock cannot be read). The
    `static` folders' files are listed too: an image may appear there. `known`: rel → the
    stamp a file had when a build read it, with the hash of the bytes it read then; a file
    with that stamp still is not read now."""
    sources, skipped, others = discover(cards_dir, exclude)
    for folder in static:
        others += sorted(f"{folder}:{p.relative_to(folder)}" for p in folder.rglob("*"))
    files: list[tuple[bytes | None, str] | Diagnostic] = []
    stamps: dict[str, KnownFile] = {}
    known = known or {}
    for source in sources:
        before = known.get(source.rel)
        if before is not None and stamped_as(source.file, before):
            files.append((None, before[5]))
            continue
        try:
            data, found = read_source(source)
        except MkdeckError as exc:
            files.append(exc.diagnostic)
        else:
            data_hash = hashlib.sha256(data).hexdigest()
            files.append((data, data_hash))
            stamps[source.rel] = (source.rel, *found, data_hash)
    tree = hashlib.sha256("\n".join(others).encode("utf-8")).hexdigest()
    return Snapshot(
        tuple(sources), tuple(skipped), tuple(files), tree, lock_bytes(cards_dir), stamps
    )
