"""A closed Anki opened while the deck builds: `mkdeck sync` (and `watch --sync`) hand the
package to a collection that is open, its notes and sync's record read, by the time the build
is done, instead of opening it after. `sync.import_into_collection` does the import, with the
rules it always has; this module only decides where the opening happens, and when.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from .errors import MkdeckError
from .package import (
    Changes,
    PackagedColumns,
    PackagedNote,
    ZippedFrom,
    packaged_columns,
    packaged_notes,
)
from .sync import (
    ANKICONNECT_URL,
    Before,
    ImportPlan,
    NotesPlan,
    SyncResult,
    anki_collection,
    closed_collection,
    import_into_collection,
    import_plan,
    notes_plan,
    open_before,
    package_zipped,
    settled_sync,
    sync_package,
)

if TYPE_CHECKING:
    from .build import Report
    from .config import Config
    from .readcards import Progress


# What the build sends the opening process that waits, when it has work to do after all.
OPEN = "open"


class Opening(Protocol):
    """What `sync.sync_package` imports through: a closed collection, opening while the deck
    builds, for these `deck` and `sent_in`."""

    def import_package(
        self,
        package: Path,
        changed: Changes,
        packaged: Mapping[str, PackagedNote] | None,
        zipped_from: ZippedFrom | None = None,
    ) -> SyncResult:
        """`sync.import_into_collection` of the package, into the collection opened."""

    def plan(self, package: Path, report: Report) -> None:
        """Told, before the build writes `package`, its report as far as the package goes:
        work out meanwhile what its notes say (`sync.notes_plan`), if this opening can (its
        notes are made for it, `Report.packaged_columns`, only then). Anki is changed only by
        `import_package`, once the package is there."""

    def zipping(self, zipped_from: ZippedFrom) -> None:
        """Told the collection file the build zips the package from, while it does: cut the
        notes to send from it meanwhile, read where it is (`sync.import_plan`), if this
        opening can."""

    collection: Path
    started: bool  # False: waiting to be told to open (`start`)
    planned: bool  # told the package's notes (`plan`): `import_package` needs them no more

    def start(self) -> None:
        """Open the collection, where the opening was made to wait for this."""

    def close(self) -> None:
        """Close the collection unused, when the package was not handed over."""


class OpeningCollection:
    """A closed Anki's collection opened in a process of its own, Anki's backend loaded there
    first, while this one builds the deck: after one edit the two take about as long, and a
    sync would otherwise wait for each in turn. That process imports the package when it is
    handed one, or closes the collection unused (a build with errors, Ctrl-C). With `wait`, it
    loads the backend and touches nothing until told to open (`start`); never told, it is
    ended as it waits."""

    def __init__(
        self, collection: Path, deck: str | None, sent_in: Path | None, wait: bool = False
    ) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self.collection = collection
        self.started = not wait
        self.planned = False
        # What the build tells while it builds (`plan`, `zipping`), sent in order by a thread
        # of its own (`_tell`): the process may still be loading Anki's backend, not reading,
        # and tens of thousands of notes fill the pipe many times over. The build never waits.
        self._outbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._telling: threading.Thread | None = None
        self._ours, theirs = context.Pipe()
        self._process = context.Process(
            target=_open_then_import,
            args=(theirs, collection, deck, sent_in, wait),
            daemon=True,
        )
        self._process.start()
        theirs.close()

    def start(self) -> None:
        if not self.started:
            self.started = True
            with contextlib.suppress(OSError):  # (gone: said when the package is handed over)
                self._ours.send(OPEN)

    def plan(self, package: Path, report: Report) -> None:
        self.start()
        self._outbox.put(Planning(package, report.changed, report.packaged_columns()))
        self._telling = threading.Thread(target=self._tell, daemon=True)
        self._telling.start()
        self.planned = True

    def zipping(self, zipped_from: ZippedFrom) -> None:
        if self._telling is not None:
            self._outbox.put(Zipping(zipped_from))

    def _tell(self) -> None:
        while (told := self._outbox.get()) is not None:
            with contextlib.suppress(OSError):  # (gone: said when the package is handed over)
                self._ours.send(told)

    def _told(self) -> None:
        """Wait until what the build told is sent (one message at a time on the pipe)."""
        if self._telling is not None:
            self._outbox.put(None)
            self._telling.join()
            self._telling = None

    def import_package(
        self,
        package: Path,
        changed: Changes,
        packaged: Mapping[str, PackagedNote] | None,
        zipped_from: ZippedFrom | None = None,
    ) -> SyncResult:
        self.start()
        self._told()
        # The notes told to `plan` are not sent again: they are the package's.
        columns = None if self.planned or packaged is None else packaged_columns(packaged)
        try:
            self._ours.send((package, changed, columns, zipped_from))
            kind, value = self._ours.recv()
        except (EOFError, OSError) as exc:
            raise MkdeckError(
                f"Anki's backend stopped before it imported {package.name} into "
                f"{self.collection}: sync again"
            ) from exc
        finally:
            self._process.join()
        if kind == "error":
            raise MkdeckError(*value)
        if kind == "crash":  # a bug: its traceback, as it would have been here
            raise RuntimeError(f"sync failed in Anki's process:\n{value}")
        return value

    def close(self) -> None:
        if self._process.is_alive():
            if not self.started:  # it has opened nothing: ended as it is
                self._process.terminate()
            self._told()
            with contextlib.suppress(OSError):
                self._ours.send(None)
            self._process.join(30)
            if self._process.is_alive():
                self._process.terminate()
        self._ours.close()


class OpeningInThread:
    """A closed Anki's collection opened in a thread while the deck builds, where Anki's
    backend is loaded in this process already (`watch`, after its first sync): opening it and
    reading its notes run mostly in the backend, which leaves the interpreter to the build.
    With `wait`, the thread starts when told (`start`)."""

    def __init__(
        self, collection: Path, deck: str | None, sent_in: Path | None, wait: bool = False
    ) -> None:
        import threading

        self.collection = collection
        self.started = False
        self._deck, self._sent_in = deck, sent_in
        self._before: Before | None = None
        self._failed: Exception | None = None  # said when the build asks, in its thread
        self._thread = threading.Thread(target=self._open, daemon=True)
        if not wait:
            self.start()

    def start(self) -> None:
        if not self.started:
            self.started = True
            self._thread.start()

    def _open(self) -> None:
        try:
            self._before = open_before(self.collection, self._deck, self._sent_in)
        except Exception as exc:
            self._failed = exc

    # Nothing is worked out ahead: in this process, that work would take the interpreter from
    # the build's own.
    planned = False

    def plan(self, package: Path, report: Report) -> None:
        pass

    def zipping(self, zipped_from: ZippedFrom) -> None:
        pass

    def import_package(
        self,
        package: Path,
        changed: Changes,
        packaged: Mapping[str, PackagedNote] | None,
        zipped_from: ZippedFrom | None = None,
    ) -> SyncResult:
        self.start()
        self._thread.join()
        before, self._before = self._before, None  # (closed by the import)
        if before is None:
            assert self._failed is not None
            raise self._failed
        return import_into_collection(
            package,
            self.collection,
            changed,
            self._deck,
            self._sent_in,
            before,
            packaged,
            zipped_from,
        )

    def close(self) -> None:
        if self.started:
            self._thread.join()
        if self._before is not None:
            self._before.col.close()
            self._before = None


def _open_then_import(
    theirs: Any,
    collection: Path,
    deck: str | None,
    sent_in: Path | None,
    wait: bool,
) -> None:
    """The opening process: the collection and what it and sync's record say, then whatever
    the build hands over. With `wait`, the backend is loaded first, and the rest waits for the
    build to say so (`OPEN`)."""
    import gc
    import signal

    # Ctrl-C is the build's to handle: it ends this process through the pipe, after the
    # collection is closed as Anki would.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # This process lives for one sync. The collector would walk Anki's objects and the
    # package's notes again and again as it makes a large deck's tens of thousands of
    # entries (30 ms of the import, after an edit of 20,000 notes); all it would find is
    # freed when the process ends.
    gc.disable()
    # The build comes first: this process takes what the machine leaves it.
    with contextlib.suppress(OSError):
        os.nice(10)
    if wait:
        with contextlib.suppress(MkdeckError):  # (said as the collection is opened)
            anki_collection("")
        try:
            if theirs.recv() != OPEN:
                return  # the build needs no Anki after all
        except EOFError:  # the build's process is gone
            return
    failed: BaseException | None = None
    before = None
    try:
        before = open_before(collection, deck, sent_in)
    except Exception as exc:  # said when the build asks: as its own words, or as a bug
        failed = exc
    _import_when_asked(theirs, collection, deck, sent_in, before, failed)


def _import_when_asked(
    theirs: Any,
    collection: Path,
    deck: str | None,
    sent_in: Path | None,
    before: Before | None,
    failed: BaseException | None,
) -> None:
    """Wait for the build: work the import out as far as it can while the build writes the
    package, from what the build tells of it (`Planning`, `Zipping`); import what it hands
    over and send back what came of it, or close the collection unused."""
    import traceback

    with contextlib.ExitStack() as stack:
        asked = _asked(theirs)
        # What the build told of the package: its notes (as read here), what they say, and
        # the import worked out from the collection file it zipped, with that file.
        told, notes, noted, plan, planned_from = None, None, None, None, None
        if isinstance(asked, Planning):
            told, notes = asked, _packaged_notes(asked.columns)
            if before is not None and failed is None and notes is not None:
                with contextlib.suppress(Exception):  # (then worked out at the import)
                    noted = notes_plan(before, notes, told.changed, deck)
            asked = _asked(theirs)
        if isinstance(asked, Zipping) and told is not None:
            if before is not None and noted is not None:
                planned_from = asked.zipped_from
                plan = _import_planned(stack, before, told, notes, planned_from, noted, deck)
            asked = _asked(theirs)
        if asked is None:
            if before is not None:
                before.col.close()
            return
        try:
            if failed is not None:
                raise failed
            package, changed, columns, zipped_from = asked
            if zipped_from != planned_from:
                plan = None  # (not the package planned: read as it is)
            packaged = _packaged_notes(columns) if told is None else notes
            result = import_into_collection(
                package,
                collection,
                changed,
                deck,
                sent_in,
                before,
                packaged,
                zipped_from,
                plan,
            )
            theirs.send(("result", result))
        except MkdeckError as exc:
            theirs.send(("error", (exc.message, exc.path, exc.line, exc.severity, exc.column)))
        except BaseException:
            theirs.send(("crash", traceback.format_exc()))


def _asked(theirs: Any) -> Any:
    """What the build sends next (None: it is gone, or has nothing to import)."""
    try:
        return theirs.recv()
    except EOFError:  # the build's process is gone
        return None


def _import_planned(
    stack: contextlib.ExitStack,
    before: Before,
    told: Planning,
    notes: Mapping[str, PackagedNote] | None,
    zipped_from: ZippedFrom,
    noted: NotesPlan,
    deck: str | None,
) -> ImportPlan | None:
    """The import worked out from the collection file the build is zipping, held open by
    `stack`; None when it cannot be now (the file changed, or the collection cannot be read
    as expected): the import works it out itself, and says what is wrong."""
    try:
        read = stack.enter_context(package_zipped(told.package, notes, zipped_from))
        if read is None:
            return None
        plan = stack.enter_context(import_plan(before, read, told.changed, deck, noted))
    except Exception:
        return None
    # (Written since: what was read may be half of each.)
    return plan if read.opened.as_left() else None


class Planning(NamedTuple):
    """What the build tells the opening process before it writes the package
    (`Opening.plan`): the package, the notes whose Markdown changed, and the package's notes
    (`PackagedColumns`)."""

    package: Path
    changed: Changes
    columns: PackagedColumns | None


class Zipping(NamedTuple):
    """What the build tells the opening process as it zips the package (`Opening.zipping`):
    the collection file it zips."""

    zipped_from: ZippedFrom


def _packaged_notes(columns: PackagedColumns | None) -> dict[str, PackagedNote] | None:
    return None if columns is None else packaged_notes(columns)


@contextlib.contextmanager
def opening_ahead(
    collection: Path | None,
    profile: str | None = None,
    url: str = ANKICONNECT_URL,
    timeout: float = 10.0,
    deck: str | None = None,
    sent_in: Path | None = None,
    package: Path | None = None,
    fork: bool = True,
) -> Iterator[Opening | None]:
    """While the block builds the deck, the closed collection `sync_package` would import into
    (for this `deck` and `sent_in`, as there) opens: in a thread where Anki's backend is loaded
    here already (`OpeningInThread`), else on Linux in a process of its own, which loads the
    backend and works the import out as the build tells what it packages (`OpeningCollection`:
    a process running Anki's backend is not forked). None where it cannot: AnkiConnect answers
    (no collection to open), the route is not clear yet (several profiles: said after the
    build, as without this), or the backend would load beside the build in one interpreter,
    which only slows both. `fork` False: a process that syncs again and again (`watch`) loads
    the backend here once, rather than in a process of its own for each sync. When the last
    sync changed nothing in Anki and nothing has changed since (`sync.settled_sync`, of the
    `package` the build writes), the opening waits until the build says it has work to do
    (`Opening.start`)."""
    opening: Opening | None = None
    if "anki" in sys.modules or not fork or sys.platform == "linux":
        with contextlib.suppress(MkdeckError):  # (the sync says it, after the build)
            collection = closed_collection(collection, profile, url, timeout)
    else:
        collection = None
    if collection is not None and not fork and "anki" not in sys.modules:
        with contextlib.suppress(ImportError):  # (without it, sync says what to install)
            import anki.collection  # noqa: F401
    # The last sync changed nothing in Anki, and nothing has changed since: a build that
    # finds nothing changed needs no Anki, so the opening waits for the build to find work.
    wait = (
        collection is not None
        and package is not None
        and settled_sync(package, collection, deck, sent_in) is not None
    )
    if collection is not None and "anki" in sys.modules:
        opening = OpeningInThread(collection, deck, sent_in, wait)
    elif collection is not None and fork and sys.platform == "linux":
        with contextlib.suppress(OSError):  # no process to be had: opened after the build
            opening = OpeningCollection(collection, deck, sent_in, wait)
    try:
        yield opening
    finally:
        if opening is not None:
            opening.close()


def build_and_sync(
    cards_dir: Path,
    settings: Config,
    collection: Path | None,
    profile: str | None,
    anki: tuple[str, str | None, float],
    built: Callable[[Report], None] = lambda report: None,
    progress: Progress | None = None,
    strict: bool = False,
    fork: bool = True,
) -> tuple[Report, SyncResult | MkdeckError | None]:
    """Build the deck and sync it (`mkdeck sync`, and each save of `watch --sync`), the closed
    Anki it goes to opening meanwhile (`opening_ahead`; `fork` as there). `anki`: AnkiConnect's
    address, key and timeout. `built(report)` runs between the two (the command line says the
    build's problems there, and stops on errors). The build's report, and what the sync did,
    or why it could not; None when the build wrote nothing (an error about the whole folder)."""
    from .build import build
    from .files import place_in_cache

    url, key, timeout = anki
    deck, sent_in = settings.deck_name(cards_dir), place_in_cache("synced", cards_dir)
    package = settings.package_path(cards_dir)
    ahead = (collection, profile, url, timeout, deck, sent_in, package)
    with opening_ahead(*ahead, fork=fork) as opening:
        building = packaging = zipping = None
        if opening is not None:
            building, zipping = opening.start, opening.zipping
            packaging = functools.partial(opening.plan, package)

        report = build(
            cards_dir,
            package,
            settings,
            progress,
            strict,
            building=building,
            packaging=packaging,
            zipping=zipping,
        )
        built(report)
        if report.package is None:  # files left out for their errors: the rest is synced
            return report, None
        if report.up_to_date and opening is not None and not opening.started:
            settled = settled_sync(report.package, opening.collection, deck, sent_in)
            if settled is not None:  # (asked again: Anki may have changed meanwhile)
                return report, settled
        try:
            return report, sync_package(
                report.package,
                collection,
                profile,
                url,
                key,
                timeout,
                newest=report.newest,
                changed=report.changed,
                deck=deck,
                sent_in=sent_in,
                opening=opening,
                packaged=None if opening is not None and opening.planned else report.packaged(),
                zipped_from=report.zipped_from,
            )
        except MkdeckError as exc:
            return report, exc
