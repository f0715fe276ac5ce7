"""`mkdeck watch`: build again whenever a card file, an image or the settings change.

watchfiles reports changes in batches (a burst of saves becomes one rebuild); this module
decides which changes matter. Files that mkdeck writes itself (the lock, the build folder)
and editors' temporary and swap files never start a build, so a build cannot start itself.
A build with errors leaves the last good package where it is, and watching goes on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .config import load_config
from .discover import CARD_SUFFIXES
from .errors import MkdeckError
from .lockfile import LOCK_NAME

if TYPE_CHECKING:
    from .build import Report

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".bmp", ".avif"}
# What editors write beside a file while saving it: vim's `.x.swp` and `4913`, emacs' `.#x`
# and `#x#`, `x~`, JetBrains' `x___jb_tmp___`, and hidden files in general.
EDITOR_TEMPORARY = re.compile(r"^(?:\..*|#.*#|4913|.*~|.*\.sw[a-p]|.*___jb_\w+___|.*\.tmp)$")
# Saves within this many milliseconds are one change.
DEBOUNCE_MS = 300


@dataclass(frozen=True)
class Changed:
    """One batch of changes that calls for a build: the paths, as the user would name them."""

    paths: tuple[str, ...]


def matters(path: Path, cards_dir: Path, settings: Path | None, output: Path) -> bool:
    """Does a change to `path` call for a build?"""
    if settings is not None and path == settings:
        return True
    if path.name == LOCK_NAME or EDITOR_TEMPORARY.match(path.name):
        return False
    if path.is_relative_to(output) or not path.is_relative_to(cards_dir):
        return False
    return path.suffix.lower() in CARD_SUFFIXES | IMAGE_SUFFIXES


def changes(
    cards_dir: Path,
    settings: Path | None,
    output: Path,
    stop: Callable[[], bool] | None = None,
) -> Iterator[Changed]:
    """Each batch of changes that matters, until interrupted."""
    import watchfiles

    if not cards_dir.is_dir():
        raise MkdeckError("cards folder not found: nothing to watch", str(cards_dir))
    cards_dir, output = cards_dir.resolve(), output.resolve()
    settings = settings.resolve() if settings is not None else None
    watched = [cards_dir, *([settings] if settings is not None else [])]

    def keep(_change: object, name: str) -> bool:
        return matters(Path(name), cards_dir, settings, output)

    for batch in watchfiles.watch(
        *watched, watch_filter=keep, debounce=DEBOUNCE_MS, recursive=True, raise_interrupt=True
    ):
        paths = sorted({_relative(Path(p), cards_dir) for _, p in batch})
        if paths:
            yield Changed(tuple(paths))
        if stop is not None and stop():
            return


def _relative(path: Path, cards_dir: Path) -> str:
    try:
        return path.relative_to(cards_dir).as_posix()
    except ValueError:
        return path.name


@dataclass(frozen=True)
class Rebuilt:
    """One rebuild: the settings' error, or the build's report, and what syncing it said."""

    package: Path | None = None
    report: Report | None = None
    settings_error: MkdeckError | None = None
    synced: bool = False
    sync_error: MkdeckError | None = None
    replaced: tuple[str, ...] = ()  # files whose notes' Anki edits the sync replaced
    elsewhere: tuple[tuple[str, str], ...] = ()  # notes the sync left (`SyncResult.elsewhere`)
    moved: tuple[tuple[str, str, str], ...] = ()  # whose cards it moved (`SyncResult.moved`)
    sent: int | None = None  # the notes sync gave Anki's importer (`SyncResult.sent`)


@dataclass(frozen=True)
class AnkiConnect:
    """Where a running Anki listens, its key, and how long to wait for it."""

    url: str = "http://127.0.0.1:8765"
    key: str | None = None
    timeout: float = 30.0


def rebuild(
    cards_dir: Path,
    given: Path | None,
    also_sync: bool,
    collection: Path | None = None,
    profile: str | None = None,
    anki: AnkiConnect = AnkiConnect(),
) -> Rebuilt:
    """Build once (and sync a good build). The settings are read again each time: they may be
    what just changed; an error in them is reported and watching goes on."""
    from .build import build
    from .opening import build_and_sync

    try:
        settings = load_config(given)
    except MkdeckError as exc:
        return Rebuilt(settings_error=exc)
    package = settings.package_path(cards_dir)
    if not also_sync:
        return Rebuilt(package, build(cards_dir, package, settings))
    where = (anki.url, anki.key, anki.timeout)
    report, result = build_and_sync(cards_dir, settings, collection, profile, where, fork=False)
    if result is None:  # errors about the whole folder: nothing was written to sync
        return Rebuilt(package, report)
    if isinstance(result, MkdeckError):
        return Rebuilt(package, report, sync_error=result)
    return Rebuilt(
        package,
        report,
        synced=True,
        sent=result.sent,
        replaced=result.replaced or (),
        elsewhere=result.elsewhere or (),
        moved=result.moved or (),
    )
