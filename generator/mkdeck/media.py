"""Images: which file each one is, whether it may be packed, and its name in Anki.

Rendering leaves each local image as a token (`media_token`) and lists it as an `ImageRef`;
this module resolves those references against the card file's folder. A file is packed only
from inside the cards folder (symlinks resolved first, so a link cannot smuggle a file out),
and under a name made of its content's hash, so it can never collide with another deck's
`image.png` in Anki's one media folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from .errors import Diagnostic

MEDIA_OPEN, MEDIA_CLOSE = "\ufdd4", "\ufdd5"
# `http:`, `data:`, `//host/x.png`: not a file of the deck. One letter before the colon is a
# Windows drive (`C:\notes\a.png`), which is a local path, and refused below as outside.
REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]+:|//)", re.IGNORECASE)
# A local image in raw HTML (Typora writes `<img src="a.png" style="zoom:50%;">`): the text up
# to its source, and the source. Only for pointing it at the packed file; what is kept is the
# sanitizer's business.
HTML_IMAGE = re.compile(r"(<img\b[^>]*?\bsrc\s*=\s*[\"']?)([^\"'\s>]+)", re.IGNORECASE)
PACKED_NAME = re.compile(r"mkdeck-[0-9a-f]{20}(?:\.[a-z0-9]{1,8})?")
# Timestamps tick as coarsely as every 2 s (FAT): a file changed this recently may change again
# without its size and time showing it.
RACY_NS = 3_000_000_000


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An image as the Markdown names it, and the line it is on.

    `vault`: an Obsidian embed (`![[a.png]]`), which names a file anywhere in the vault.
    """

    src: str
    line: int
    vault: bool = False


class ImageStamp(NamedTuple):
    """An image file's size and modification time when its packed name was worked out (a
    memo's record: a named tuple, which a build that finds nothing changed loads sooner)."""

    size: int
    mtime_ns: int
    name: str


@dataclass(frozen=True)
class MediaFile:
    path: Path
    name: str  # collision-proof name in Anki's media folder
    stamp: ImageStamp | None = None  # None: too recent to tell a later change by (git's "racy")


def racy(mtime_ns: int) -> bool:
    """Whether a file's modification time is too recent to tell a later change of the same size."""
    return mtime_ns > racy_since()


def racy_since() -> int:
    """The time (ns) after which a stamp is too recent to trust (`racy`)."""
    return time.time_ns() - RACY_NS


def is_image(data: bytes) -> bool:
    """Whether these bytes are an image a card can show: PNG, JPEG, GIF, WebP, BMP, AVIF or
    SVG, by their content, whatever the file is called (a deck may be shared: no `notes.txt`
    rides along as `notes.png`)."""
    head = data[:32]
    if head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis", b"mif1", b"heic"):
        return True
    text = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<?xml", b"<svg", b"<!doctype svg", b"<!--")) and b"<svg" in text


LFS_POINTER = b"version https://git-lfs.github.com/spec/"


def _not_image(data: bytes) -> str:
    """Why a file that is no image is not packed, and how to go on."""
    if data.startswith(LFS_POINTER):
        return "is a Git LFS pointer, not the image itself: run `git lfs pull` in its repository"
    return "is not an image (by its bytes: PNG, JPEG, GIF, WebP, BMP, AVIF, SVG): not packed"


def _packed(file: Path, known: Mapping[str, ImageStamp]) -> MediaFile | str:
    """The packed file, or why its bytes are not packed."""
    stat = file.stat()
    seen = known.get(str(file))
    if seen is not None and (seen.size, seen.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
        return MediaFile(file, seen.name, seen)
    data = file.read_bytes()
    if not is_image(data):
        return _not_image(data)
    name = f"mkdeck-{hashlib.sha256(data).hexdigest()[:20]}{file.suffix.lower()}"
    # Else a change in the same tick would look like no change to the next build.
    stamp = None if racy(stat.st_mtime_ns) else ImageStamp(stat.st_size, stat.st_mtime_ns, name)
    return MediaFile(file, name, stamp)


def _files_by_name(root: Path) -> dict[str, list[Path]]:
    """The cards folder's files by name, and by name case-folded (after the exact names)."""
    found: dict[str, list[Path]] = {}
    folded: dict[str, list[Path]] = {}
    for file in _files_under(root):
        found.setdefault(file.name, []).append(file)
        folded.setdefault(file.name.casefold(), []).append(file)
    for name, files in folded.items():
        found.setdefault(name, files)
    return found


def _files_under(root: Path) -> list[Path]:
    """Every file below `root`, a link to one too, in path order: none hidden or in a hidden
    folder, and none in a linked folder, which is not entered (as `Path.rglob`). A vault's
    thousands of attachments are listed without a system call each."""
    files: list[Path] = []
    folders = [str(root)]
    while folders:
        try:
            entries = list(os.scandir(folders.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                folders.append(entry.path)
            elif entry.is_file():
                files.append(Path(entry.path))
    return sorted(files)


def find_image(
    src: str, folder: Path, roots: tuple[Path, ...], real: Callable[[Path], Path] = Path.resolve
) -> Path:
    """The file an image path names, as notes write it: relative to the note's folder; with
    Windows separators read as `/` when no file has the backslashes in its name; from the
    site's root (`roots`: the cards folder first, then the static folders, or a post's own
    folder) when it starts with `/`. Card files and import find images by this one rule.
    `real` gives a path's real path (`RealPaths` for many images)."""
    path = written_path(src)
    file = real(folder / path)
    if file.is_file():
        return file
    if "\\" in path:
        path = path.replace("\\", "/")
        file = real(folder / path)
        if file.is_file():
            return file
    if path.startswith("/") and not path.startswith("//"):
        for root in roots:
            candidate = real(root / path.lstrip("/"))
            if candidate.is_file():
                return candidate
        return real(roots[0] / path.lstrip("/"))
    return file


class RealPaths:
    """Real paths (symlinks resolved, as `Path.resolve`), each folder's found once: a deck's
    images sit in a few folders, and resolving each image's path alone walks every folder
    above it again (a tenth of a rebuild of 700 images)."""

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}

    def __call__(self, path: Path) -> Path:
        folder, name = os.path.split(path)
        if name in ("", ".", ".."):
            return path.resolve()
        real = self._folders.get(folder)
        if real is None:
            real = self._folders[folder] = os.path.realpath(folder)
        # The real path of a file that is no link is its real folder's path and its name.
        whole = os.path.join(real, name)
        return Path(os.path.realpath(whole) if os.path.islink(whole) else whole)


def find_embedded(
    name: str,
    folder: Path,
    root: Path,
    index: dict[str, list[Path]],
    real: Callable[[Path], Path] = Path.resolve,
) -> Path:
    """The file an Obsidian embed (`![[a.png]]`) names: its path from the note's folder, else
    the file of that name (or of that name in another case) nearest to it below `root`.
    `index` is `root`'s files by name, filled on first use (one walk for many embeds); `real`
    as for `find_image`."""
    file = find_image(name, folder, (root,), real)
    return file if file.is_file() else _embedded_by_name(name, folder, root, index, real, file)


def _embedded_by_name(
    name: str,
    folder: Path,
    root: Path,
    index: dict[str, list[Path]],
    real: Callable[[Path], Path],
    missing: Path,
) -> Path:
    """The file of the embed's name nearest to the note's folder below `root`, for an embed
    whose path names no file (`missing`, what it names)."""
    if not index:
        index.update(_files_by_name(root))
    base = PurePosixPath(name).name
    found = index.get(base) or index.get(base.casefold(), [])
    return real(_nearest(found, real(folder), missing))


def _nearest(candidates: list[Path], here: Path, missing: Path) -> Path:
    """Of the files with the embed's name, the one closest to the card file's folder (`here`,
    its real path), as Obsidian takes it."""
    if not candidates:
        return missing
    parts = here.parts

    def distance(file: Path) -> tuple[int, str]:
        there = file.parent.parts
        shared = next(
            (i for i, (a, b) in enumerate(zip(parts, there, strict=False)) if a != b), None
        )
        shared = min(len(parts), len(there)) if shared is None else shared
        return len(parts) + len(there) - 2 * shared, str(file)

    return min(candidates, key=distance)


def is_remote(src: str) -> bool:
    return bool(REMOTE.match(src.strip()))


def media_token(index: int) -> str:
    """What stands in the HTML for a file's `index`-th image until packaging names it."""
    return f"{MEDIA_OPEN}{index}{MEDIA_CLOSE}"


def written_path(src: str) -> str:
    """An image reference's path as its author wrote it: no `#fragment` or `?query`, and no
    percent-encoding (which Markdown links get on their way through the parser)."""
    return urllib.parse.unquote(src.split("#", 1)[0].split("?", 1)[0])


def resolve_media(
    images: list[tuple[Path, str, tuple[ImageRef, ...]]],
    cards_dir: Path,
    known: Mapping[str, ImageStamp] | None = None,
    static: tuple[Path, ...] = (),
) -> tuple[dict[tuple[str, int], MediaFile], list[Diagnostic]]:
    """Each (card file path, rel, its images) → packed files keyed by (rel, image index).

    Paths are read as real notes write them: relative to the card file, Windows-style
    (`img\\a.png`), from the site's root (`/images/a.png`: the cards folder, or one of the
    `static` folders), or, for an Obsidian embed, by its name anywhere in the cards folder
    (also when its case differs, with a warning). An image shown by many cards is read and
    hashed once; `known` (path → what an earlier build found) spares reading an image that
    has not changed since.
    """
    known = {} if known is None else known
    resolved: dict[tuple[str, int], MediaFile] = {}
    packed: dict[Path, MediaFile | str] = {}
    problems: list[Diagnostic] = []
    root = cards_dir.resolve()
    roots = (root, *(folder.resolve() for folder in static))
    by_name: dict[str, list[Path]] = {}  # filled once, if an embed needs it
    real = RealPaths()  # (a build's own: a folder may become a link between two builds)
    for path, rel, refs in images:
        for index, ref in enumerate(refs):
            written = urllib.parse.unquote(ref.src)  # as the note writes it, for messages
            file = find_image(ref.src, path.parent, roots, real)
            if ref.vault and not file.is_file():  # by its name, as `find_embedded`
                name = PurePosixPath(ref.src).name
                file = _embedded_by_name(ref.src, path.parent, root, by_name, real, file)
                # (A link of another name is followed to its file: only a case is a slip.)
                if file.is_file() and file.name != name and file.name.casefold() == name.casefold():
                    problems.append(
                        Diagnostic(
                            rel,
                            ref.line,
                            f"embed `{written}` found as `{file.name}`, whose case differs: "
                            "other systems will not find it, so rename one of them",
                            "warning",
                        )
                    )
            if not any(file.is_relative_to(r) for r in roots):
                why = (
                    f"image `{written}` is outside the cards folder; mkdeck only packs files "
                    "from inside it"
                )
            elif not file.is_file():
                why = f"image not found: `{written}`"
            else:
                if file not in packed:
                    packed[file] = _packed(file, known)
                media = packed[file]
                if not isinstance(media, str):
                    resolved[rel, index] = media
                    continue
                why = f"`{written}` {media}"
            # Said, and shown where the image would be: the rest of the card is still a card.
            problems.append(
                Diagnostic(rel, ref.line, f"{why} (the card shows a placeholder)", "warning")
            )
    return resolved, problems
