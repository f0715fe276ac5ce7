"""The build cache: what the last build learnt, kept beside its package so a rebuild redoes
only what changed.

It holds, for each card file, the hash of its bytes with what reading and rendering them gave;
the hash of each image by its size and time; the parsed lock by the hash of its text; and a
fingerprint of the last package written. Everything a render depends on besides the file
(mkdeck's version, the parser's and Pygments' versions, the render settings) is the cache's
`salt`: a cache made under another salt is dropped whole. The cache is a removable layer:
deleting it (or `build/`) only costs time, and a cache that cannot be read is ignored with one
warning. It is a pickle, because it is only ever read back by the mkdeck that wrote it into
the user's own build folder.

Beside it, the last build's state (`BuildState`, small and read first) holds what that build
saw (`Inputs`), what it made of each card file (`BuiltNote`), the collection it kept, and its
report: enough to say that nothing changed, or to rebuild around a few changed files
(`incremental.py`), without the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from . import __version__
from .discover import Snapshot
from .errors import Diagnostic
from .files import atomic_write

CACHE_DIR = ".mkdeck-cache"
CACHE_FILE = "build.pickle"
STATE_FILE = "state.pickle"
FORMAT = 6
RACY_NS = 3_000_000_000


def cache_salt(settings: object) -> str:
    """Everything besides a file's bytes that its render depends on."""
    from importlib import resources
    from importlib.metadata import version

    names = resources.files(__package__).joinpath("tex_names.json")  # what `check` knows

    parts = [
        f"format {FORMAT}",
        f"mkdeck {__version__}",
        f"markdown-it-py {version('markdown-it-py')}",
        f"pygments {version('pygments')}",
        f"python {sys.version_info[:2]}",
        f"tex names {hashlib.sha256(names.read_bytes()).hexdigest()[:16]}",
        repr(settings),
    ]
    return "|".join(parts)


@dataclass
class BuildCache:
    """What the last build kept; `path` None: in memory only (`--no-cache`, `check`)."""

    path: Path | None
    salt: str
    renders: dict[str, tuple[str, Any]] = field(default_factory=dict)  # rel → (hash, result)
    images: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # path → size, ns, name
    lock: tuple[str, Any] | None = None  # (hash of the lock's text, parsed lock)
    package: tuple[str, int, int] | None = None  # fingerprint, size and mtime_ns of the package
    notes: dict[str, tuple[tuple, Any]] = field(default_factory=dict)  # rel → (key, Anki note)
    problem: Diagnostic | None = None  # why the cache on disk was not used

    def render(self, rel: str, data_hash: str) -> Any | None:
        hit = self.renders.get(rel)
        return hit[1] if hit is not None and hit[0] == data_hash else None


class Inputs(NamedTuple):
    """Everything a build reads, as stamps: equal inputs make an equal package."""

    root: str  # the root deck's name
    package: str  # where the package goes
    hashes: tuple[tuple[str, str], ...]  # each card file and the hash of its bytes
    lock: str  # the hash of the lock's text
    stamps: tuple[tuple[str, int, int], ...]  # each image packed, with its size and time
    images: tuple[str, ...]  # the images packed
    skipped: tuple[str, ...]  # the files that are not cards (a README)
    tree: str  # the hash of the other files' paths (`Snapshot.tree`)


def inputs_now(root: str, out: Path, snap: Snapshot, lock: str, images: tuple[str, ...]) -> Inputs:
    skipped = tuple(d.path for d in snap.skipped)
    stamps = stamps_of(images)
    return Inputs(root, str(out), snap.hashes, lock, stamps, images, skipped, snap.tree)


def stamps_of(images: tuple[str, ...]) -> tuple[tuple[str, int, int], ...]:
    return tuple((path, *stamp(Path(path))) for path in images)


def racy(mtime_ns: int) -> bool:
    """Whether a file's modification time is too recent to tell a later change of the same
    size (timestamps tick as coarsely as every 2 s, on FAT)."""
    return mtime_ns > time.time_ns() - RACY_NS


def stamp(path: Path) -> tuple[int, int]:
    """Size and modification time in ns; (-1, -1) for a file that is not there."""
    try:
        stat = path.stat()
    except OSError:
        return -1, -1
    return stat.st_size, stat.st_mtime_ns


@dataclass
class KeptCollection:
    """The last collection written (`package.py`), and what each of its notes was."""

    path: Path
    structure: str = ""  # note type and decks: a change there means a full write
    rows: dict[str, tuple] = field(default_factory=dict)  # guid → what the note's rows hold


@dataclass(frozen=True)
class BuiltNote:
    """What the last build made of one card file: enough to rebuild around it unread."""

    guid: str
    id: str | None
    deck: str
    position: int  # in the new-card order
    cards: int
    media: tuple[tuple[str, str], ...]  # each image's packed name and file, in the note's order
    by_name: bool = False  # an image was found by its name elsewhere (an Obsidian embed)


@dataclass(frozen=True)
class BuildState:
    """What the last build saw, made and reported: when all of it is still so, nothing
    changed, and the build can say so without loading the cache or reading any lock."""

    salt: str
    inputs: Inputs
    package: tuple[int, int]  # size and mtime_ns of the package written
    summary: tuple  # notes, cards, media, diagnostics
    notes: dict[str, BuiltNote] = field(default_factory=dict)  # card file → its note
    collection: KeptCollection | None = None  # the package's collection, kept
    ids_unique: bool = False  # no `id` is on two entries of the lock
    kept: tuple[str, ...] = ()  # files with a lock entry and no card this time


def load_state(folder: Path | None) -> BuildState | None:
    if folder is None:
        return None
    try:
        with (folder / CACHE_DIR / STATE_FILE).open("rb") as f:
            state = pickle.load(f)
    except Exception:  # missing, damaged or foreign: the full build will tell
        return None
    return state if isinstance(state, BuildState) else None


def save_state(folder: Path | None, state: BuildState) -> None:
    if folder is None:
        return
    # An image changed within a timestamp tick of being read looks unchanged by its size and
    # time (git's "racy" entries): a stamp that recent is kept as one that matches nothing,
    # so the next build looks at the image again.
    stamps = tuple(
        (path, size, -1 if racy(mtime) else mtime) for path, size, mtime in state.inputs.stamps
    )
    state = replace(state, inputs=state.inputs._replace(stamps=stamps))
    data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    with contextlib.suppress(OSError):
        atomic_write(folder / CACHE_DIR / STATE_FILE, lambda tmp: tmp.write_bytes(data))


def load_cache(folder: Path | None, salt: str, read_only: bool = False) -> BuildCache:
    """The cache in `folder`, or an empty one; never an error. `read_only`: never saved
    (`check` promises to write nothing)."""
    cache = _load(folder, salt)
    if read_only:
        cache.path = None
    return cache


def _load(folder: Path | None, salt: str) -> BuildCache:
    if folder is None:
        return BuildCache(None, salt)
    path = folder / CACHE_DIR / CACHE_FILE
    try:
        with path.open("rb") as f:
            stored = pickle.load(f)
    except FileNotFoundError:
        return BuildCache(path, salt)
    except Exception:  # a damaged or foreign file: anything pickle may raise
        problem = Diagnostic(
            str(path), 0, "the build cache could not be read: rendering everything", "note"
        )
        return BuildCache(path, salt, problem=problem)
    if not isinstance(stored, BuildCache) or stored.salt != salt:
        return BuildCache(path, salt)  # another mkdeck version or other settings
    stored.path, stored.problem = path, None
    return stored


def save_cache(cache: BuildCache) -> None:
    """Write the cache. A file whose note is kept whole is kept without its rendered HTML:
    the note holds that HTML already, and it is rendered again in the rare build that needs
    it (its ordinals or images changed while its text did not)."""
    if cache.path is None:
        return
    renders = {
        rel: (data_hash, _lighter(result) if rel in cache.notes else result)
        for rel, (data_hash, result) in cache.renders.items()
    }
    stored = replace(cache, path=None, problem=None, renders=renders)
    data = pickle.dumps(stored, protocol=pickle.HIGHEST_PROTOCOL)
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
        atomic_write(cache.path, lambda tmp: tmp.write_bytes(data))


def _lighter(result: Any) -> Any:
    parsed, problems = result
    if parsed is None:
        return result
    question, rendered = parsed
    return (question, rendered.without_html()), problems
