"""`mkdeck sync`: the built deck goes into the user's own Anki by Anki's own importer, into a
real profile folder with a real collection, or through a stand-in for AnkiConnect's HTTP layer
whose import is the real one."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from anki.collection import Collection

from helpers import answer_everything, import_package, reviews, run, write_cards
from mkdeck.errors import MkdeckError
from mkdeck.notetype import NOTETYPE_ID

NORM = "---\nid: norm\n---\n# 为什么要归一化？\n\n1. 量纲：防止大数值主导\n2. 分布：让输入更稳定\n"
IN_ANKI = "我在 Anki 里补充的"
LORA = "---\nid: lora\n---\n# LoRA 省在哪里？\n\n1. 显存：只存旁路的状态\n2. 通信：梯度变少\n"


def _project(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.mkdeck]\ndeck = "Test"\n', encoding="utf-8")
    write_cards(root, {"norm.md": NORM, "lora.md": LORA})
    return root


def _profile(base: Path, name: str = "User 1") -> Path:
    (base / name).mkdir(parents=True)
    path = base / name / "collection.anki2"
    Collection(str(path)).close()
    return path


def _nobody() -> str:
    """An address on this machine where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _reviews(col: Collection) -> dict[str, int]:
    rows = col.db.all(
        "select n.flds, count(r.id) from cards c join notes n on n.id = c.nid"
        " left join revlog r on r.cid = c.id group by c.id"
    )
    return {f"{flds[:20]}#{i}": n for i, (flds, n) in enumerate(sorted(rows))}


def _lora_edited_in_anki(col: Collection) -> int:
    """lora.md's note with its Extra edited in Anki, as a person edits it: the note's id."""
    [nid] = col.find_notes("lora")
    note = col.get_note(nid)
    note["Extra"] = IN_ANKI
    col.update_note(note)
    return nid


def _lora_changed_and_named(project: Path, address: str) -> None:
    """lora.md, edited in Anki, changes: the Markdown wins, and sync names the file. The
    change comes a second after the edit, as a person's does: in the edit's own second the
    note would not be newer than Anki's, and Anki's importer keeps Anki's edit."""
    time.sleep(1)
    lora = project / "cards" / "lora.md"
    lora.write_text(lora.read_text("utf-8") + "\n补充：秩通常取 8\n", "utf-8")
    replaced = run(["sync", "--anki-connect", address], project)
    assert replaced.exit_code == 0, replaced.stderr
    assert "1 note edited in Anki since the last sync had their Markdown changed" in (
        replaced.stderr
    )
    assert replaced.stderr.rstrip().endswith(": lora.md")


@contextlib.contextmanager
def _held_open(collection: Path) -> Iterator[None]:
    """While the block runs, another process has the collection open, as Anki desktop does."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom anki.collection import Collection\n"
            f"c = Collection({str(collection)!r})\nprint('open', flush=True)\ntime.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"open\n"
        yield
    finally:
        holder.kill()
        holder.wait()


def test_sync_into_a_closed_anki(tmp_path, monkeypatch):
    collection = _profile(tmp_path / "Anki2")
    monkeypatch.setenv("ANKI_BASE", str(tmp_path / "Anki2"))
    project = _project(tmp_path / "notes")
    nobody = _nobody()

    first = run(["sync", "--anki-connect", nobody], project)
    assert first.exit_code == 0, first.stderr
    where = "Synced 2 notes into " + str(collection)
    assert f"{where}: 2 added, 0 updated, 0 unchanged, 0 in conflict" in first.stdout

    col = Collection(str(collection))
    assert col.note_count() == 2 and col.card_count() == 4
    assert answer_everything(col) == 4
    history = _reviews(col)
    lora = _lora_edited_in_anki(col)
    col.close()

    again = run(["sync", "--anki-connect", nobody], project)
    assert again.exit_code == 0, again.stderr
    # Anki's importer leaves alone a note that is newer in Anki: the edit made there stays.
    assert f"{where}: 0 added, 0 updated, 2 unchanged, 0 in conflict" in again.stdout
    col = Collection(str(collection))
    assert col.get_note(lora)["Extra"] == IN_ANKI
    assert _reviews(col) == history
    col.close()

    (project / "cards" / "norm.md").write_text(NORM.replace("更稳定", "更加稳定"), "utf-8")
    edited = run(["sync", "--anki-connect", nobody], project)
    assert f"{where}: 0 added, 1 updated, 1 unchanged, 0 in conflict" in edited.stdout
    assert "edited in Anki" not in edited.stderr  # norm.md was not edited there

    # The Markdown of the note edited in Anki changes: the Markdown wins, and sync says so.
    _lora_changed_and_named(project, nobody)
    col = Collection(str(collection))
    assert col.note_count() == 2 and col.card_count() == 4
    assert sorted(_reviews(col).values()) == [1, 1, 1, 1]  # every card kept its review
    col.close()


def test_sync_refuses_a_collection_that_anki_has_open(tmp_path, monkeypatch):
    collection = _profile(tmp_path / "Anki2")
    monkeypatch.setenv("ANKI_BASE", str(tmp_path / "Anki2"))
    project = _project(tmp_path / "notes")
    with _held_open(collection):
        result = run(["sync", "--anki-connect", _nobody()], project)
    assert result.exit_code == 1
    assert "error: Anki has this collection open" in result.stderr
    assert "Close Anki and sync again, or install the AnkiConnect add-on (code 2055492159)" in (
        result.stderr
    )
    col = Collection(str(collection))
    assert col.note_count() == 0
    col.close()


def _mkdeck(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The command line in a process of its own, as a user runs it: Anki's backend is not
    loaded there yet, so sync opens the collection in another process while the deck builds."""
    return subprocess.run(
        [sys.executable, "-m", "mkdeck", *args], cwd=cwd, capture_output=True, text=True
    )


def test_a_sync_from_the_command_line_opens_anki_while_the_deck_builds(tmp_path):
    """Through the process that opens the collection during the build: notes go in and keep
    their reviews after an edit; a build that stops on an error leaves the collection closed
    and unchanged; a collection Anki has open is said as it is without that process."""
    collection = _profile(tmp_path / "Anki2")
    project = _project(tmp_path / "notes")
    sync = ["sync", "--collection", str(collection)]

    first = _mkdeck(sync, project)
    assert first.returncode == 0, first.stderr
    assert "2 added, 0 updated, 0 unchanged" in first.stdout
    col = Collection(str(collection))
    assert answer_everything(col) == 4
    col.close()
    (project / "cards" / "norm.md").write_text(NORM.replace("更稳定", "更加稳定"), "utf-8")
    edited = _mkdeck(sync, project)
    assert edited.returncode == 0, edited.stderr
    assert "0 added, 1 updated, 1 unchanged" in edited.stdout
    col = Collection(str(collection))
    assert sorted(_reviews(col).values()) == [1, 1, 1, 1]
    col.close()

    lock = project / "cards" / "mkdeck.lock"
    lock.write_text("<<<<<<< HEAD\n" + lock.read_text("utf-8"), "utf-8")
    (project / "cards" / "new.md").write_text("# 新的？\n\n1. 一点\n", "utf-8")
    stopped = _mkdeck(sync, project)
    assert stopped.returncode == 1
    assert "merge-conflict markers" in stopped.stderr and "nothing synced" in stopped.stderr
    col = Collection(str(collection))  # closed again: Anki could open it now
    assert col.note_count() == 2
    col.close()

    with _held_open(collection):
        lock.write_text(lock.read_text("utf-8").replace("<<<<<<< HEAD\n", ""), "utf-8")
        refused = _mkdeck(sync, project)
    assert refused.returncode == 1
    assert "error: Anki has this collection open" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_sync_from_the_command_line_that_would_change_nothing_never_loads_anki(tmp_path):
    """From the command line too, a sync after one that changed nothing in Anki, with nothing
    changed since, says so without Anki: here Anki's backend cannot even be loaded, which a
    sync that went to Anki would say. An edited file takes sync to Anki again."""
    collection = _profile(tmp_path / "Anki2")
    project = _project(tmp_path / "notes")
    sync = ["sync", "--collection", str(collection)]
    assert "2 added" in _mkdeck(sync, project).stdout
    settled = _mkdeck(sync, project)
    assert "0 added, 0 updated, 2 unchanged, 0 in conflict" in settled.stdout, settled.stderr
    no_anki = tmp_path / "no-anki" / "anki"
    no_anki.mkdir(parents=True)
    (no_anki / "__init__.py").write_text("raise ImportError('no Anki here')\n", "utf-8")
    env = {**os.environ, "PYTHONPATH": str(no_anki.parent)}

    def without_anki() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "mkdeck", *sync],
            cwd=project,
            capture_output=True,
            text=True,
            env=env,
        )

    quiet = without_anki()
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == settled.stdout
    (project / "cards" / "norm.md").write_text(NORM.replace("更稳定", "更加稳定"), "utf-8")
    needs_anki = without_anki()
    assert needs_anki.returncode == 1
    assert "this needs Anki's own backend" in needs_anki.stderr
    assert "Traceback" not in needs_anki.stderr


def test_the_opening_process_imports_what_sync_hands_it(tmp_path):
    """`opening_ahead` itself, in a process without Anki's backend: it opens the collection,
    and the package handed over goes in as `sync_package` would import it."""
    collection = _profile(tmp_path / "Anki2")
    project = _project(tmp_path / "notes")
    script = f"""
import sys
from pathlib import Path
from mkdeck.build import build
from mkdeck.config import load_config
from mkdeck.opening import OpeningCollection, opening_ahead
from mkdeck.sync import sync_package
config = load_config(Path("."))
cards = Path("cards")
with opening_ahead(Path({str(collection)!r}), deck="Test", sent_in=Path("synced")) as opening:
    assert isinstance(opening, OpeningCollection), opening
    report = build(cards, config.package_path(cards), config)
    result = sync_package(report.package, opening=opening, deck="Test", sent_in=Path("synced"))
print(result.added, result.updated, result.sent, "anki" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=project, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "0", "2", "False"]  # Anki's backend stayed there
    again = subprocess.run(
        [sys.executable, "-c", script], cwd=project, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == ["0", "0", "0", "False"]  # the record, read there: none sent
    col = Collection(str(collection))
    assert col.note_count() == 2
    col.close()


# A sync run in a process of its own without Anki's backend, so that the collection opens in
# a process forked from it (`OpeningCollection`), as on the command line. Each time sync works
# out an import, and each time it reads a package, is written to `told.log`, from whichever
# process. `FAIL` makes placing the lock fail, after the package is zipped.
_FORKED_SYNC = """
import os, sys
from pathlib import Path
import mkdeck.lockfile, mkdeck.opening, mkdeck.sync
from mkdeck.config import load_config
from mkdeck.opening import build_and_sync

def told(what, real):
    def wrapped(*args, **kwargs):
        with open("told.log", "a") as log:
            log.write(f"{what} {'child' if os.getpid() != PARENT else 'parent'}\\n")
        return real(*args, **kwargs)
    return wrapped

PARENT = os.getpid()
mkdeck.opening.import_plan = told("planned", mkdeck.opening.import_plan)
mkdeck.sync.import_plan = told("planned at the import", mkdeck.sync.import_plan)
mkdeck.sync.package_read = told("package read", mkdeck.sync.package_read)
if os.environ.get("FAIL"):
    def no_room(*args):
        raise OSError(28, "No space left on device", "cards/mkdeck.lock")
    mkdeck.lockfile.place_lock = no_room
config = load_config(Path("."))
report, result = build_and_sync(
    Path("cards"), config, Path(sys.argv[1]), None, ("http://127.0.0.1:9", None, 1.0)
)
print(report.package is not None, result and (result.added, result.updated, result.sent))
print("anki" in sys.modules)
"""


def _forked_sync(project: Path, collection: Path, fail: bool = False) -> tuple[str, list[str]]:
    """`_FORKED_SYNC` in `project`: what it printed, and what it told."""
    log = project / "told.log"
    log.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "FAIL"} | ({"FAIL": "1"} if fail else {})
    done = subprocess.run(
        [sys.executable, "-c", _FORKED_SYNC, str(collection)],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == "False"  # the backend stayed in the opening process
    told = log.read_text("utf-8").splitlines() if log.exists() else []
    return done.stdout.splitlines()[0], told


def test_the_opening_process_works_the_import_out_while_the_build_zips(tmp_path):
    """Forked, the opening process works out what it will import (the notes to send, cut from
    a copy of the collection the build zips) before the package is there, and imports that
    once it is, images and all; it reads no package. A build that fails after that (the lock
    cannot be written) leaves Anki as it was, and the next sync imports the edit."""
    from helpers import PNG

    collection = _profile(tmp_path / "Anki2")
    project = _project(tmp_path / "notes")
    assert _forked_sync(project, collection) == (
        "True (2, 0, 2)",
        ["planned child"],  # (each note is sent: the whole package, worked out ahead too)
    )
    (project / "cards" / "chart.png").write_bytes(PNG)
    norm = project / "cards" / "norm.md"
    norm.write_text(NORM.replace("更稳定", "更稳定 ![图](chart.png)"), "utf-8")
    assert _forked_sync(project, collection) == ("True (0, 1, 1)", ["planned child"])
    col = Collection(str(collection))
    try:
        (nid,) = col.find_notes("归一化")
        names = re.findall(r'src="([^"]+)"', col.get_note(nid)["Text"])
        assert len(names) == 1 and (Path(col.media.dir()) / names[0]).read_bytes() == PNG
    finally:
        col.close()

    norm.write_text(NORM.replace("更稳定", "更加稳定"), "utf-8")
    printed, told = _forked_sync(project, collection, fail=True)
    # Worked out, or not yet when the build gave up (it removes the collection it zipped):
    # either way, let go unimported.
    assert printed == "False None" and set(told) <= {"planned child"}
    col = Collection(str(collection))
    try:
        (nid,) = col.find_notes("归一化")
        assert "<img" in col.get_note(nid)["Text"] and not col.find_notes("更加稳定")
    finally:
        col.close()
    assert _forked_sync(project, collection) == ("True (0, 1, 1)", ["planned child"])
    col = Collection(str(collection))
    try:
        assert col.find_notes("更加稳定") == [nid] and "<img" not in col.get_note(nid)["Text"]
    finally:
        col.close()


def test_the_build_never_waits_for_the_opening_process_to_read(tmp_path):
    """Told the package's notes while it still loads Anki (not reading its pipe), the opening
    process holds up no build: `plan` and `zipping` return with nothing sent yet, and once the
    process reads, it is told both in order, then handed the package, and imports it."""
    collection = _profile(tmp_path / "Anki2")
    project = _project(tmp_path / "notes")
    script = f"""
import threading
from pathlib import Path
from mkdeck.build import build
from mkdeck.config import load_config
from mkdeck.opening import OpeningCollection, Planning
config = load_config(Path("."))
cards = Path("cards")
report = build(cards, config.package_path(cards), config)
opening = OpeningCollection(Path({str(collection)!r}), "Test", Path("synced"))
pipe, read, sent = opening._ours, threading.Event(), []

class NotReadYet:  # the process's end of the pipe, not read until `read` is set
    def send(self, message):
        if isinstance(message, Planning):
            read.wait(20)
        sent.append(type(message).__name__)
        pipe.send(message)

    def __getattr__(self, name):
        return getattr(pipe, name)

opening._ours = NotReadYet()
opening.plan(report.package, report)
opening.zipping(report.zipped_from)
print(sent)
read.set()
result = opening.import_package(
    report.package, report.changed, report.packaged(), report.zipped_from
)
opening.close()
print(sent, result.added, result.sent)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=project, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "['Planning', 'Zipping', 'tuple'] 2 2"]


def test_the_collection_a_build_zipped_is_read_in_place_only_while_it_is_as_left(tmp_path):
    """While the build zips its collection, sync reads that file where it is, read only:
    what it reads counts only while the file is as the build left it."""
    from helpers import build_deck
    from mkdeck.discover import stamp_of
    from mkdeck.package import OpenedPackage

    cards = write_cards(tmp_path / "notes", {"norm.md": NORM, "lora.md": LORA})
    build_deck(cards)
    (cards / "norm.md").write_text(NORM.replace("更稳定", "更加稳定"), "utf-8")
    report = build_deck(cards)
    assert report.zipped_from is not None and report.package is not None
    kept, left = report.zipped_from
    opened = OpenedPackage.in_place(report.package, report.zipped_from)
    assert opened is not None and opened.db == kept
    assert opened.notes() == report.packaged()
    guid = next(g for g, n in opened.notes().items() if n.file == "norm.md")
    part = opened.part({guid}, tmp_path / "part.anki2")
    assert opened.as_left() and stamp_of(kept) == left  # (read, and nothing written)
    with sqlite3.connect(part.db) as conn:
        assert conn.execute("SELECT guid FROM notes").fetchall() == [(guid,)]
    with kept.open("ab") as written:
        written.write(b"\x01")
    assert not opened.as_left()
    assert OpenedPackage.in_place(report.package, report.zipped_from) is None


def test_where_anki_is_loaded_the_collection_opens_in_a_thread_while_the_deck_builds(tmp_path):
    """In a process that has Anki's backend loaded already (`watch` after its first sync, and
    these tests), the collection opens in a thread beside the build; left unused, it is closed
    again, and a collection another process holds is said as it is."""
    from helpers import build_deck
    from mkdeck.opening import OpeningInThread, opening_ahead
    from mkdeck.sync import sync_package

    collection = _profile(tmp_path / "Anki2")
    cards = write_cards(tmp_path / "notes", {"norm.md": NORM, "lora.md": LORA})
    record = tmp_path / "synced"
    with opening_ahead(collection, deck="Test", sent_in=record) as opening:
        assert isinstance(opening, OpeningInThread)
        report = build_deck(cards)
        result = sync_package(
            report.package, opening=opening, deck="Test", sent_in=record, packaged=report.packaged()
        )
    assert (result.added, result.sent) == (2, 2)
    with opening_ahead(collection, deck="Test", sent_in=record) as opening:
        assert isinstance(opening, OpeningInThread)
    Collection(str(collection)).close()  # closed again: Anki could open it now
    held = pytest.raises(MkdeckError, match="Anki has this collection open")
    with _held_open(collection), opening_ahead(collection, deck="Test") as opening, held:
        sync_package(build_deck(cards).package, opening=opening, deck="Test")


def test_a_sync_that_would_change_nothing_leaves_anki_closed(tmp_path, monkeypatch):
    """Once a sync has changed nothing in Anki, the next one, with nothing changed in the
    notes or in Anki since, says what that sync said without opening Anki. Anki holding the
    collection open, a note deleted in Anki, or a file edited, takes sync to Anki again, as
    ever."""
    from mkdeck import sync as sync_module
    from mkdeck.config import Config
    from mkdeck.files import place_in_cache
    from mkdeck.opening import build_and_sync
    from mkdeck.sync import SyncResult, sent_record

    collection = _profile(tmp_path / "Anki2")
    cards = write_cards(tmp_path / "notes", {"norm.md": NORM, "lora.md": LORA})
    config = Config(root=cards.parent, cards=cards, output=cards.parent / "build", deck="Test")
    opened: list[Path] = []
    real = sync_module.open_collection
    monkeypatch.setattr(
        sync_module, "open_collection", lambda path: opened.append(path) or real(path)
    )

    def sync() -> tuple[bool, SyncResult]:
        opened.clear()
        report, result = build_and_sync(
            cards, config, collection, None, (_nobody(), None, 1.0), fork=False
        )
        assert isinstance(result, SyncResult), result
        return report.up_to_date, result

    assert sync()[1].added == 2
    up_to_date, settled = sync()  # changed nothing in Anki: the next one need not open it
    assert up_to_date and opened and (settled.sent, settled.unchanged) == (0, 2)
    assert sync() == (True, settled) and not opened
    with _held_open(collection):  # Anki desktop has it open (its journal is there): said so
        _, refused = build_and_sync(
            cards, config, collection, None, (_nobody(), None, 1.0), fork=False
        )
    assert isinstance(refused, MkdeckError) and "Anki has this collection open" in str(refused)
    mark = sent_record(place_in_cache("synced", cards), str(collection.resolve()))
    for damage in ["{", '{"notes": "2", "stamps": []}', "[]"]:  # damaged: as good as none
        mark.with_suffix(".settled").write_text(damage, "utf-8")
        assert sync() == (True, settled) and opened
    assert sync() == (True, settled) and not opened  # (the sync to Anki marked it again)

    col = Collection(str(collection))
    col.remove_notes([col.find_notes("")[0]])
    col.close()
    up_to_date, back = sync()  # Anki changed: sync goes there, and the import adds it again
    assert up_to_date and opened and (back.sent, back.added) == (1, 1)
    assert sync()[1].sent == 0 and opened
    assert sync() == (True, settled) and not opened

    (cards / "norm.md").write_text(NORM.replace("更稳定", "更加稳定"), "utf-8")
    up_to_date, edited = sync()
    assert not up_to_date and opened and (edited.sent, edited.updated) == (1, 1)
    col = Collection(str(collection))
    assert col.note_count() == 2
    assert any("更加稳定" in col.get_note(n)["Text"] for n in col.find_notes(""))
    col.close()


def test_a_build_that_found_nothing_changed_names_the_collection_its_package_came_from(
    tmp_path, monkeypatch
):
    """A build that finds nothing changed still tells sync the collection file its package
    was zipped from (the memo keeps it), as a build that wrote it does: sync reads the package
    from that file where it is, unzipping nothing. Once the package there is another file
    than the one zipped from it, the memo names none."""
    from helpers import build_deck
    from mkdeck.memo import Memo
    from mkdeck.sync import package_read

    cards = write_cards(tmp_path / "notes", {"norm.md": NORM, "lora.md": LORA})
    first = build_deck(cards)
    again = build_deck(cards)
    assert again.up_to_date and again.rows is None  # (answered from the memo)
    assert again.zipped_from is not None and again.zipped_from == first.zipped_from
    assert again.package is not None and again.remembered is not None
    unzipped = _unzipped(monkeypatch)
    with package_read(again.package, again.packaged(), again.zipped_from) as read:
        assert read.opened.db == again.zipped_from[0] and read.opened.as_left()
        assert read.notes == first.packaged() and read.opened.notes() == read.notes
    assert unzipped == []
    memo = Memo(*again.remembered, writable=False)
    try:
        assert memo.kept_file(again.package) == again.zipped_from
        os.utime(again.package, ns=(1, 1))  # (another file, as far as its stamp tells)
        assert memo.kept_file(again.package) is None
    finally:
        memo.close()


def _unzipped(monkeypatch) -> list[str]:
    """The members taken out of a zip from now on."""
    taken: list[str] = []
    real = zipfile.ZipFile.extract

    def extract(self, member, path=None, pwd=None):
        taken.append(member)
        return real(self, member, path, pwd)

    monkeypatch.setattr(zipfile.ZipFile, "extract", extract)
    return taken


def test_sync_reads_the_collection_a_build_zipped_where_it_is_while_it_is_as_left(
    tmp_path, monkeypatch
):
    """Sync reads the package's collection from the file the build zipped it from (the memo
    keeps it), where it is, rather than unzip it; from the package when that file was written
    since, and again from the package when it is written while sync reads it (by another
    mkdeck, say): each time the edit goes to Anki as it is."""
    from helpers import build_deck
    from mkdeck.package import OpenedPackage
    from mkdeck.sync import sync_package

    cards = write_cards(tmp_path / "notes", {"norm.md": NORM, "lora.md": LORA})
    collection = _profile(tmp_path / "anki")
    record = tmp_path / "synced"  # (with a record, only the edited note is sent: a part)
    sync_package(build_deck(cards).package, collection, deck="Test", sent_in=record)
    unzipped = _unzipped(monkeypatch)

    def edit_and_sync(old: str, new: str, written_before: bool = False) -> tuple[int, int]:
        text = (cards / "norm.md").read_text("utf-8")
        (cards / "norm.md").write_text(text.replace(old, new), "utf-8")
        report = build_deck(cards)
        assert report.zipped_from is not None and report.package is not None
        if written_before:  # (longer: told apart within a tick of the clock too)
            with report.zipped_from[0].open("ab") as written:
                written.write(b"\x01")
        done = sync_package(
            report.package,
            collection,
            deck="Test",
            sent_in=record,
            packaged=report.packaged(),
            zipped_from=report.zipped_from,
        )
        col = Collection(str(collection))
        try:
            assert len(col.find_notes(new)) == 1
        finally:
            col.close()
        return done.updated, done.sent

    assert (edit_and_sync("更稳定", "更加稳定"), unzipped) == ((1, 1), [])
    cut = OpenedPackage.part

    def written_meanwhile(self, guids, db):
        part = cut(self, guids, db)
        if self._left is not None:  # the file the build zipped, read where it is
            with self.db.open("ab") as written:
                written.write(b"\x02")
        return part

    with monkeypatch.context() as patched:
        patched.setattr(OpenedPackage, "part", written_meanwhile)
        assert (edit_and_sync("更加稳定", "十分稳定"), unzipped) == ((1, 1), ["collection.anki2"])
    unzipped.clear()
    assert (edit_and_sync("十分稳定", "非常稳定", written_before=True), unzipped) == (
        (1, 1),
        ["collection.anki2"],
    )


def test_what_a_build_says_it_packaged_is_what_its_package_holds(tmp_path):
    """Sync takes each note's file, deck, digest and cards from the build instead of reading
    the package back: the two agree for the shipped deck, tags, subfolders, an image, a post
    of questions, a file whose name HTML would escape, and again for a rebuild that carries
    most notes over, and for a build that finds nothing changed."""
    import shutil

    from helpers import PNG, build_deck
    from mkdeck.package import OpenedPackage

    cards = tmp_path / "notes" / "cards"
    shutil.copytree(Path(__file__).parents[1] / "cards", cards)
    (cards / "mkdeck.lock").unlink()
    write_cards(
        tmp_path / "notes",
        {
            "tagged.md": "---\ntags: [llm, 面试]\n---\n# 标签？\n\n1. 一：$x$\n2. 二\n",
            "sub/deep/a&b <c>.md": "# 转义？\n\n1. 名字里有 & 和 <\n",
            "sub/img.md": "# 图？\n\n1. 这里：![图](pic.png)\n",
            "sub/pic.png": PNG,
            "post.md": "# 帖子\n\n## 第一问？\n\n1. 甲\n2. 乙\n\n## 第二问？\n\n1. 丙\n",
        },
    )

    def agrees() -> int:
        report = build_deck(cards)
        assert report.package is not None and not report.errors, report.errors
        with OpenedPackage.of(report.package) as opened:
            held = opened.notes()
        assert report.packaged() == held
        return len(held)

    assert agrees() == 10
    (cards / "tagged.md").write_text(
        "---\ntags: [llm]\n---\n# 标签？\n\n1. 一：$x$\n2. 二，改过\n", "utf-8"
    )
    (cards / "sub" / "new.md").write_text("# 新的？\n\n1. 一点\n", "utf-8")
    assert agrees() == 11
    # Nothing changed, nothing written: the notes as the memo keeps the package's rows.
    again = build_deck(cards)
    assert again.up_to_date and again.rows is None
    with OpenedPackage.of(again.package) as opened:
        assert again.packaged() == opened.notes()


def test_sync_refuses_a_damaged_collection_and_leaves_it_alone(tmp_path):
    project = _project(tmp_path / "notes")
    damaged = tmp_path / "collection.anki2"
    damaged.write_bytes(b"this is not a database" * 100)
    result = run(["sync", "--collection", str(damaged)], project)
    assert result.exit_code == 1
    assert f"error: cannot open the Anki collection {damaged}" in result.stderr
    assert damaged.read_bytes() == b"this is not a database" * 100
    missing = run(["sync", "--collection", str(tmp_path / "none.anki2")], project)
    assert missing.exit_code == 1 and "no Anki collection at" in missing.stderr


def test_sync_names_the_profiles_to_choose_from(tmp_path, monkeypatch):
    _profile(tmp_path / "Anki2", "Alice")
    _profile(tmp_path / "Anki2", "Bob")
    monkeypatch.setenv("ANKI_BASE", str(tmp_path / "Anki2"))
    project = _project(tmp_path / "notes")
    several = run(["sync", "--anki-connect", _nobody()], project)
    assert several.exit_code == 1
    assert "several Anki profiles (Alice, Bob): choose one with --profile NAME" in several.stderr
    unknown = run(["sync", "--anki-connect", _nobody(), "--profile", "Carol"], project)
    assert unknown.exit_code == 1 and "no Anki profile `Carol`" in unknown.stderr
    chosen = run(["sync", "--anki-connect", _nobody(), "--profile", "Bob"], project)
    assert chosen.exit_code == 0, chosen.stderr
    assert "Bob/collection.anki2: 2 added" in chosen.stdout


class _AnkiConnect(BaseHTTPRequestHandler):
    """AnkiConnect's protocol for the one action sync uses; the import itself is Anki's."""

    collection: Path
    key: str | None = None
    delay = 0.0
    fail: str | None = None
    # Its profiles, and the one open: only "User 1" has the collection imports land in.
    profiles: tuple[str, ...] = ("User 1",)
    open_profile = "User 1"
    without_times = False  # as the add-on's releases of 2025 are: no `notesModTime`
    imported: list[int] = []  # noqa: RUF012 (set anew for each test by the fixture)

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(self.delay)
        if self.key is not None and request.get("key") != self.key:
            reply = {"result": None, "error": "valid api key must be provided"}
        elif self.fail:
            reply = {"result": None, "error": self.fail}
        elif request["action"] == "getProfiles":
            reply = {"result": list(self.profiles), "error": None}
        elif request["action"] == "loadProfile":
            known = request["params"]["name"] in self.profiles
            if known:
                type(self).open_profile = request["params"]["name"]
            reply = {"result": known, "error": None}
        elif request["action"] == "importPackage" and self.open_profile != "User 1":
            reply = {"result": True, "error": None}  # into another profile: not ours to check
        elif request["action"] == "importPackage":
            col = Collection(str(self.collection))
            try:
                log = import_package(col, Path(request["params"]["path"])).log
            finally:
                col.close()
            # How many notes each package held, for the tests to see what sync sent.
            type(self).imported.append(
                len(log.new) + len(log.updated) + len(log.duplicate) + len(log.conflicting)
            )
            reply = {"result": True, "error": None}
        elif request["action"] == "notesModTime" and self.without_times:
            reply = {"result": None, "error": "unsupported action"}
        elif request["action"] in (
            "findCards",
            "changeDeck",
            "findNotes",
            "notesModTime",
            "notesInfo",
        ):
            col = Collection(str(self.collection))  # Anki's own search and deck change
            try:
                params = request["params"]
                if request["action"] == "findCards":
                    reply = {"result": list(col.find_cards(params["query"])), "error": None}
                elif request["action"] == "findNotes":
                    reply = {"result": list(col.find_notes(params["query"])), "error": None}
                elif request["action"] == "notesInfo":  # as the add-on describes a note
                    notes = [col.get_note(n) for n in params["notes"]]
                    infos = [
                        {
                            "noteId": n.id,
                            "tags": n.tags,
                            "fields": {
                                name: {"value": value, "order": i}
                                for i, (name, value) in enumerate(n.items())
                            },
                        }
                        for n in notes
                    ]
                    reply = {"result": infos, "error": None}
                elif request["action"] == "notesModTime":
                    times = [{"noteId": n, "mod": col.get_note(n).mod} for n in params["notes"]]
                    reply = {"result": times, "error": None}
                else:
                    col.set_deck(params["cards"], col.decks.id(params["deck"]))
                    reply = {"result": None, "error": None}
            finally:
                col.close()
        else:
            reply = {"result": None, "error": "unsupported action"}
        body = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        body = b"AnkiConnect v.6"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def anki_connect(tmp_path):
    collection = _profile(tmp_path / "running")
    handler = type("Handler", (_AnkiConnect,), {"collection": collection, "imported": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler, f"http://127.0.0.1:{server.server_address[1]}", collection
    finally:
        server.shutdown()
        server.server_close()


def test_sync_through_ankiconnect(tmp_path, anki_connect):
    _handler, url, collection = anki_connect
    project = _project(tmp_path / "notes")
    result = run(["sync", "--anki-connect", url], project)
    assert result.exit_code == 0, result.stderr
    assert (
        f"Synced 2 notes into {url}: sent the 2 that could change (AnkiConnect does not report "
        "counts)" in result.stdout
    )
    col = Collection(str(collection))
    assert col.note_count() == 2
    assert len(col.media.check().unused) == 0
    col.close()
    again = run(["sync", "--anki-connect", url], project)
    assert f"Synced 2 notes into {url}: nothing to send (AnkiConnect" in again.stdout


def test_ankiconnect_errors_are_said_plainly(tmp_path, anki_connect):
    handler, url, collection = anki_connect
    project = _project(tmp_path / "notes")
    handler.key = "secret"
    wrong = run(["sync", "--anki-connect", url, "--key", "guess"], project)
    assert wrong.exit_code == 1
    assert "error: AnkiConnect refused `importPackage`: valid api key must be provided" in (
        wrong.stderr
    )
    handler.key, handler.fail = None, "collection is not available"
    failed = run(["sync", "--anki-connect", url], project)
    assert failed.exit_code == 1
    assert "AnkiConnect refused `importPackage`: collection is not available: open a profile" in (
        failed.stderr
    )
    col = Collection(str(collection))
    assert col.note_count() == 0  # a refused import imports nothing
    col.close()
    handler.fail, handler.delay = None, 3.0
    slow = run(["sync", "--anki-connect", url, "--timeout", "1"], project)
    assert slow.exit_code == 1
    assert f"AnkiConnect at {url} did not answer within 1 s" in slow.stderr
    time.sleep(3)  # let the slow answer finish before the collection is read
    col = Collection(str(collection))
    assert col.note_count() == 2  # the late import happened, once: no note twice
    col.close()


def test_watch_sync_reaches_ankiconnect_with_its_address_and_key(tmp_path, anki_connect):
    from mkdeck import watch

    handler, url, collection = anki_connect
    handler.key = "secret"
    project = _project(tmp_path / "notes")
    keyless = watch.AnkiConnect(url, None, 10.0)
    refused = watch.rebuild(project / "cards", project / "cards", True, anki=keyless)
    assert refused.sync_error is not None and "valid api key" in str(refused.sync_error)
    anki = watch.AnkiConnect(url, "secret", 10.0)
    done = watch.rebuild(project / "cards", project / "cards", True, anki=anki)
    assert done.synced and done.sync_error is None
    col = Collection(str(collection))
    assert col.note_count() == 2
    col.close()


def test_a_profile_is_opened_through_ankiconnect_and_an_unknown_one_refused(tmp_path, anki_connect):
    handler, url, collection = anki_connect
    handler.profiles = ("Other", "User 1")
    handler.open_profile = "Other"  # Anki shows another profile
    project = _project(tmp_path / "notes")
    unknown = run(["sync", "--anki-connect", url, "--profile", "Carol"], project)
    assert unknown.exit_code == 1
    assert "the running Anki has no profile `Carol` (profiles: Other, User 1)" in unknown.stderr
    assert handler.open_profile == "Other"
    chosen = run(["sync", "--anki-connect", url, "--profile", "User 1"], project)
    assert chosen.exit_code == 0, chosen.stderr
    assert handler.open_profile == "User 1"
    col = Collection(str(collection))
    assert col.note_count() == 2  # in the profile named, not the one that was open
    col.close()


def test_sync_leaves_another_projects_note_alone_and_new_note_gives_one_of_its_own(tmp_path):
    """Two vaults built before each deck had notes of its own share the note of the file they
    both have (here: the second vault's lock is the first's). Syncing the second leaves the
    first's note and its reviews as they are, and says what to do; `build --new-note` gives
    the file its own note, and nothing of the first vault's changes."""
    collection = _profile(tmp_path / "Anki2")
    projects = {}
    for name, answer in (("one", "指数后相除"), ("two", "减去最大值再指数")):
        root = tmp_path / name
        root.mkdir()
        (root / "pyproject.toml").write_text(f'[tool.mkdeck]\ndeck = "{name}"\n', "utf-8")
        write_cards(root, {"Softmax.md": f"# Softmax 怎么算？\n\n1. 计算：{answer}\n"})
        projects[name] = root
    assert run(["build"], projects["one"]).exit_code == 0
    lock = (projects["one"] / "cards" / "mkdeck.lock").read_text("utf-8")
    (projects["two"] / "cards" / "mkdeck.lock").write_text(lock, "utf-8")

    first = run(["sync", "--collection", str(collection)], projects["one"])
    assert first.exit_code == 0, first.stderr
    col = Collection(str(collection))
    assert answer_everything(col, "one") == 1
    history = _reviews(col)
    col.close()

    time.sleep(1)  # the second vault's note is newer: Anki's importer would update it
    second = run(["sync", "--collection", str(collection)], projects["two"])
    assert second.exit_code == 0, second.stderr
    assert "0 added, 0 updated, 0 unchanged" in second.stdout
    assert (
        "Softmax.md: warning: not synced: Anki has this file's note only in `one`, outside `two`"
        in second.stderr
    )
    assert "`mkdeck build --new-note FILE`" in second.stderr
    col = Collection(str(collection))
    [note] = [col.get_note(n) for n in col.find_notes("")]
    assert "指数后相除" in note["Text"] and _reviews(col) == history
    col.close()

    renewed = run(["build", "--new-note", "Softmax.md"], projects["two"])
    assert renewed.exit_code == 0, renewed.stderr
    assert "Softmax.md: note: this is a new note now" in renewed.stderr
    assert lock.split("guid = ")[1][:12] not in (
        projects["two"] / "cards" / "mkdeck.lock"
    ).read_text("utf-8")
    third = run(["sync", "--collection", str(collection)], projects["two"])
    assert third.exit_code == 0, third.stderr
    assert "1 added, 0 updated, 0 unchanged" in third.stdout and "warning" not in third.stderr
    col = Collection(str(collection))
    texts = sorted(col.get_note(n)["Text"] for n in col.find_notes(""))
    assert len(texts) == 2 and "指数后相除" in texts[1] and "减去最大值" in texts[0]
    reviewed = col.db.list(
        "select n.flds from revlog r join cards c on c.id = r.cid join notes n on n.id = c.nid"
    )
    assert len(reviewed) == 1 and "指数后相除" in reviewed[0]  # the first vault's review stays
    col.close()

    # Again with the same file: it is no new note any more, and a path that is no card file
    # is said plainly.
    assert "new note" not in run(["build"], projects["two"]).stderr
    wrong = run(["build", "--new-note", "Sofmax.md"], projects["two"])
    assert wrong.exit_code == 1
    assert "Sofmax.md: error: `--new-note`: no card file here has this path" in wrong.stderr


def test_sync_updates_a_note_whose_cards_sit_in_a_filtered_deck_or_a_subdeck(tmp_path):
    """Cards of this project moved into a subdeck of its own, or pulled into a filtered deck,
    are still this project's: their notes are updated."""
    collection = _profile(tmp_path / "Anki2")
    project = _project(tmp_path / "notes")
    assert run(["sync", "--collection", str(collection)], project).exit_code == 0
    col = Collection(str(collection))
    [norm] = col.find_notes("norm")
    [lora] = col.find_notes("lora")
    sub = col.decks.id("Test::我的子牌组")
    col.set_deck([c for c in col.find_cards(f"nid:{norm}")], sub)
    filtered = col.sched.get_or_create_filtered_deck(0)
    filtered.name = "今天"
    filtered.config.search_terms[0].search = f"nid:{lora}"
    col.sched.add_or_update_filtered_deck(filtered)
    assert {col.decks.name(col.get_card(c).did) for c in col.find_cards(f"nid:{lora}")} == {"今天"}
    col.close()

    time.sleep(1)
    for name in ("norm.md", "lora.md"):
        path = project / "cards" / name
        path.write_text(path.read_text("utf-8").replace("1. ", "1. 改过：", 1), "utf-8")
    synced = run(["sync", "--collection", str(collection)], project)
    assert synced.exit_code == 0, synced.stderr
    assert "0 added, 2 updated" in synced.stdout and "warning" not in synced.stderr
    col = Collection(str(collection))
    assert all("改过" in col.get_note(n)["Text"] for n in (norm, lora))
    col.close()


def _move_test(project: Path, route: list[str], col_path: Path) -> None:
    """Move a file (whose name Anki's search would read as a wildcard) into a folder: sync
    moves its cards, and says so, while a card moved by hand stays where it was put."""

    def sync():
        return run(["sync", *route], project)

    assert sync().exit_code == 0
    col = Collection(str(col_path))
    assert answer_everything(col) == 4
    col.close()
    cards = project / "cards"
    (cards / "norm.md").rename(cards / "norm_1.md")
    assert "moved" not in sync().stderr  # renamed in its folder: its deck is the same
    col = Collection(str(col_path))
    [lora] = col.find_notes("lora")
    mine = col.decks.id("我自己的")
    [kept, _] = sorted(col.find_cards(f"nid:{lora}"))
    col.set_deck([kept], mine)  # one of lora's cards, moved by hand
    col.close()
    (cards / "peft").mkdir()
    (cards / "lora.md").rename(cards / "peft" / "lora.md")
    (cards / "norm_1.md").rename(cards / "peft" / "norm_1.md")
    moved = sync()
    assert moved.exit_code == 0, moved.stderr
    assert "moved the cards of peft/lora.md from `Test` to `Test::peft`" in moved.stderr
    assert "moved the cards of peft/norm_1.md from `Test` to `Test::peft`" in moved.stderr
    col = Collection(str(col_path))
    decks = {c: col.decks.name(col.get_card(c).did) for c in col.find_cards("")}
    assert decks[kept] == "我自己的"
    assert sorted(d for c, d in decks.items() if c != kept) == ["Test::peft"] * 3
    assert sum(reviews(col, c) for c in decks) == 4  # every card kept its review
    col.close()
    assert "moved" not in sync().stderr  # said once


def test_sync_moves_the_cards_of_a_file_moved_to_a_folder(tmp_path):
    collection = _profile(tmp_path / "Anki2")
    _move_test(_project(tmp_path / "notes"), ["--collection", str(collection)], collection)


def test_sync_through_ankiconnect_moves_cards_too(tmp_path, anki_connect):
    _handler, url, collection = anki_connect
    _move_test(_project(tmp_path / "notes"), ["--anki-connect", url], collection)


def test_sync_through_ankiconnect_names_the_anki_edits_it_replaced(tmp_path, anki_connect):
    _handler, url, collection = anki_connect
    project = _project(tmp_path / "notes")
    assert run(["sync", "--anki-connect", url], project).exit_code == 0
    col = Collection(str(collection))
    _lora_edited_in_anki(col)
    col.close()
    time.sleep(1)
    norm = project / "cards" / "norm.md"
    norm.write_text(NORM.replace("更稳定", "更加稳定"), "utf-8")
    quiet = run(["sync", "--anki-connect", url], project)
    assert quiet.exit_code == 0 and "edited in Anki" not in quiet.stderr  # norm.md was not

    _lora_changed_and_named(project, url)


def test_an_ankiconnect_without_note_times_still_names_the_replaced_edits(tmp_path, anki_connect):
    """The add-on's 2025 releases have no `notesModTime` and give no `mod` in `notesInfo`:
    sync tells an Anki edit by the note's content, which every release gives."""
    handler, url, collection = anki_connect
    handler.without_times = True
    project = _project(tmp_path / "notes")
    assert run(["sync", "--anki-connect", url], project).exit_code == 0
    col = Collection(str(collection))
    note = col.get_note(col.find_notes("lora")[0])
    note.tags = [*note.tags, "我的标签"]  # a tag added in Anki is an edit too
    col.update_note(note)
    col.close()
    time.sleep(1)  # an edit in the second the build dates the note is newer: Anki keeps it
    lora = project / "cards" / "lora.md"
    lora.write_text(lora.read_text("utf-8") + "\n补充：秩通常取 8\n", "utf-8")
    norm = project / "cards" / "norm.md"
    norm.write_text(NORM.replace("更稳定", "更加稳定"), "utf-8")  # changed, not edited in Anki
    synced = run(["sync", "--anki-connect", url], project)
    assert synced.exit_code == 0, synced.stderr
    assert "error" not in synced.stderr
    assert synced.stderr.rstrip().endswith(
        "had their Markdown changed, and now read as the Markdown does: lora.md"
    )
    col = Collection(str(collection))
    assert "秩通常取 8" in col.get_note(col.find_notes("lora")[0])["Extra"]
    col.close()


def test_sync_sends_anki_only_the_notes_an_import_could_change(tmp_path):
    """Into a closed Anki, sync hands Anki's importer only the notes it could change, and
    nothing when nothing changed, with File → Import's outcome all the same: an edited file
    updates its note and keeps its reviews, a note deleted in Anki comes back, an edit made in
    Anki outlives a sync of its unchanged file, a new note brings its image, and a note type
    Anki has older than the package's goes in with every note, as an import of it all would."""
    from helpers import PNG, build_deck
    from mkdeck.sync import sync_package

    collection = _profile(tmp_path / "Anki2")
    cards = write_cards(tmp_path / "notes", {"norm.md": NORM, "lora.md": LORA, "img.png": PNG})
    record = tmp_path / "synced"

    def sync():
        report = build_deck(cards)
        return sync_package(
            report.package,
            collection,
            newest=report.newest,
            deck="Test",
            sent_in=record,
            packaged=report.packaged(),
        )

    first = sync()
    assert (first.sent, first.added) == (2, 2)
    col = Collection(str(collection))
    assert answer_everything(col) == 4
    col.close()

    again = sync()
    assert (again.sent, again.added, again.updated, again.unchanged) == (0, 0, 0, 2)

    (cards / "norm.md").write_text(NORM.replace("更稳定", "更加稳定"), "utf-8")
    edited = sync()
    assert (edited.sent, edited.updated, edited.unchanged) == (1, 1, 1)
    col = Collection(str(collection))
    assert sorted(_reviews(col).values()) == [1, 1, 1, 1]
    assert any("更加稳定" in col.get_note(n)["Text"] for n in col.find_notes(""))
    time.sleep(1)  # an edit in a second of its own, as a person's: Anki dates it in seconds
    lora = _lora_edited_in_anki(col)
    col.close()

    kept = sync()  # the note edited in Anki goes to the importer, which keeps the newer edit
    assert (kept.sent, kept.updated, kept.unchanged) == (1, 0, 2)
    col = Collection(str(collection))
    assert col.get_note(lora)["Extra"] == IN_ANKI
    col.remove_notes([lora])
    col.close()

    back = sync()  # deleted in Anki: an import of the package adds it again, and so does sync
    assert (back.sent, back.added) == (1, 1)

    (cards / "new.md").write_text("# 图在哪？\n\n1. 这里：![图](img.png)\n", "utf-8")
    with_image = sync()
    assert (with_image.sent, with_image.added) == (1, 1)
    col = Collection(str(collection))
    [shown] = [n for n in col.find_notes("") if "<img" in col.get_note(n)["Text"]]
    name = re.search(r'src="([^"]+)"', col.get_note(shown)["Text"])[1]
    assert (Path(col.media.dir()) / name).read_bytes() == PNG
    # Only older (as after every full write of the package): nothing a reader would see.
    col.db.execute("update notetypes set mtime_secs = 0 where id = ?", NOTETYPE_ID)
    col.close()
    assert sync().sent == 0

    # Older and looking otherwise (as after a release that changed the CSS): every note goes,
    # and Anki takes the note type.
    col = Collection(str(collection))
    model = col.models.get(NOTETYPE_ID)
    model["css"] = ".card { color: red }"
    col.models.update_dict(model)
    col.db.execute("update notetypes set mtime_secs = 0 where id = ?", NOTETYPE_ID)
    col.close()
    notetype = sync()
    assert notetype.sent == 3 and notetype.unchanged == 3
    assert sync().sent == 0  # Anki took the note type: it looks as the package's again
    col = Collection(str(collection))
    assert col.note_count() == 3 and col.card_count() == 5
    assert "color: red" not in col.models.get(NOTETYPE_ID)["css"]
    col.close()


def test_sync_of_a_deck_bigger_than_one_query_of_notes(tmp_path):
    """Sync asks Anki for the notes it sent by their guids, a few hundred at a time, and for
    all of them at once when there are more: a deck of 501 notes goes in whole, then one edit
    goes in alone."""
    from helpers import build_deck
    from mkdeck.sync import sync_package

    collection = _profile(tmp_path / "Anki2")
    files = {f"q{i:03d}.md": f"# 第 {i} 题？\n\n1. 要点：{i}\n" for i in range(501)}
    cards = write_cards(tmp_path / "notes", files)
    record = tmp_path / "synced"

    def sync():
        report = build_deck(cards)
        return sync_package(
            report.package, collection, newest=report.newest, deck="Test", sent_in=record
        )

    first = sync()
    assert (first.sent, first.added) == (501, 501)
    (cards / "q007.md").write_text("# 第 7 题？\n\n1. 要点：改过\n", "utf-8")
    edited = sync()
    assert (edited.sent, edited.updated, edited.unchanged) == (1, 1, 500)
    col = Collection(str(collection))
    assert col.note_count() == 501
    assert [col.get_note(n)["Text"] for n in col.find_notes("改过")] != []
    col.close()


def test_a_package_of_some_notes_carries_only_their_media(tmp_path):
    """The package sync makes of the notes to send holds those notes, their cards and the
    images they show, and Anki imports it."""
    from helpers import PNG, build_deck
    from mkdeck.package import OpenedPackage

    cards = write_cards(
        tmp_path,
        {
            "a.md": "# A？\n\n1. 一：![](a.png)\n2. 二\n",
            "b.md": "# B？\n\n1. 三：![](b.png)\n",
            "a.png": PNG,
            "b.png": PNG + b"b",
        },
    )
    report = build_deck(cards)
    with OpenedPackage.of(report.package) as opened:
        notes = opened.notes()
        [a] = [g for g, n in notes.items() if n.file == "a.md"]
        assert notes[a].cards == 2
        opened.write_with({a}, tmp_path / "part.apkg")
    with zipfile.ZipFile(tmp_path / "part.apkg") as part:
        media = json.loads(part.read("media"))
        assert len(media) == 1 and part.read("0") == PNG
    col = Collection(str(tmp_path / "c.anki2"))
    import_package(col, tmp_path / "part.apkg")
    assert col.note_count() == 1 and col.card_count() == 2
    assert [n.endswith(".png") for n in os.listdir(col.media.dir())] == [True]
    col.close()


def test_sync_through_ankiconnect_reads_the_collection_a_build_zipped(
    tmp_path, anki_connect, monkeypatch
):
    """The AnkiConnect route reads the package's collection as the closed one does: from the
    file the build zipped it from, where it is, not unzipped. Written while sync reads it
    (another build took it), nothing is sent, and sync says to sync again."""
    from helpers import build_deck
    from mkdeck.package import OpenedPackage
    from mkdeck.sync import sync_package

    handler, address, _collection = anki_connect
    cards = write_cards(tmp_path / "notes", {"norm.md": NORM, "lora.md": LORA})

    def sync() -> tuple[int, list[str]]:
        report = build_deck(cards)
        assert report.package is not None and report.zipped_from is not None
        unzipped = _unzipped(monkeypatch)
        result = sync_package(
            report.package,
            None,
            url=address,
            deck="Test",
            sent_in=tmp_path / "synced",
            packaged=report.packaged(),
            zipped_from=report.zipped_from,
        )
        monkeypatch.undo()
        return result.sent, unzipped

    assert sync()[0] == 2
    (cards / "norm.md").write_text(NORM.replace("更稳定", "更加稳定"), "utf-8")
    assert sync() == (1, []) and handler.imported == [2, 1]

    cut = OpenedPackage.part

    def written_meanwhile(self, guids, db):
        part = cut(self, guids, db)
        with self.db.open("ab") as written:
            written.write(b"\x02")
        return part

    (cards / "norm.md").write_text(NORM.replace("更稳定", "十分稳定"), "utf-8")
    with monkeypatch.context() as patched:
        patched.setattr(OpenedPackage, "part", written_meanwhile)
        with pytest.raises(MkdeckError, match="while sync read it: sync again"):
            sync()
    assert handler.imported == [2, 1]


def test_sync_through_ankiconnect_sends_only_the_notes_an_import_could_change(
    tmp_path, anki_connect
):
    """Through AnkiConnect too, the running Anki imports only what could change: nothing when
    nothing changed, the edited note after an edit (its reviews kept), a note deleted in Anki
    (known by the id Anki gave it), and every note when the note type is not the one sync
    last sent."""
    from helpers import build_deck
    from mkdeck.sync import sent_record, sync_package

    handler, address, collection = anki_connect
    cards = write_cards(tmp_path / "notes", {"norm.md": NORM, "lora.md": LORA})
    record = tmp_path / "synced"

    def sync():
        report = build_deck(cards)
        result = sync_package(
            report.package,
            None,
            url=address,
            newest=report.newest,
            deck="Test",
            sent_in=record,
            packaged=report.packaged(),
        )
        assert result.route == "AnkiConnect"
        return result.sent

    assert sync() == 2 and handler.imported == [2]
    col = Collection(str(collection))
    assert answer_everything(col) == 4
    col.close()
    assert sync() == 0 and handler.imported == [2]  # nothing went to Anki's importer

    (cards / "norm.md").write_text(NORM.replace("更稳定", "更加稳定"), "utf-8")
    assert sync() == 1 and handler.imported == [2, 1]
    col = Collection(str(collection))
    assert sorted(_reviews(col).values()) == [1, 1, 1, 1]
    assert any("更加稳定" in col.get_note(n)["Text"] for n in col.find_notes(""))
    col.remove_notes(col.find_notes("lora"))
    col.close()

    assert sync() == 1 and handler.imported == [2, 1, 1]  # deleted in Anki: it comes back
    col = Collection(str(collection))
    assert col.note_count() == 2 and col.card_count() == 4
    col.close()

    # A note type that does not look as the one sync last sent (a release changed its CSS).
    [kept] = list(record.iterdir())
    assert sent_record(record, f"{address} ") == kept
    with contextlib.closing(sqlite3.connect(kept)) as db, db:
        db.execute("UPDATE notetypes SET look = 'as an earlier release''s'")
    assert sync() == 2 and handler.imported[-1] == 2
    assert sync() == 0

    # A note edited in Anki whose id sync does not know (as after an upgrade): Anki keeps the
    # edit, and the note is known by its file's one note from then on.
    col = Collection(str(collection))
    lora = _lora_edited_in_anki(col)
    col.close()
    with contextlib.closing(sqlite3.connect(kept)) as db, db:
        [(guid,)] = db.execute("SELECT guid FROM notes WHERE nid = ?", (lora,)).fetchall()
        db.execute("UPDATE notes SET nid = 0 WHERE guid = ?", (guid,))
    assert sync() == 1
    with contextlib.closing(sqlite3.connect(kept)) as db:
        assert db.execute("SELECT nid FROM notes WHERE guid = ?", (guid,)).fetchone() == (lora,)
    assert sync() == 0
    col = Collection(str(collection))
    assert col.get_note(lora)["Extra"] == IN_ANKI
    col.close()


@pytest.mark.parametrize(
    "damage", ['{"x": ["a", "b", "no time"], " note types": {"q": "r"}}', '{"x": [', "[1, 2]"]
)
def test_a_damaged_sync_record_only_means_every_note_is_sent(tmp_path, damage):
    """What sync remembers lives in the user's cache; damaged, it is as good as none: every
    note goes to Anki's importer, which updates nothing that did not change."""
    from helpers import build_deck
    from mkdeck.sync import sync_package

    collection = _profile(tmp_path / "Anki2")
    cards = write_cards(tmp_path / "notes", {"norm.md": NORM, "lora.md": LORA})
    record = tmp_path / "synced"
    report = build_deck(cards)
    first = sync_package(report.package, collection, deck="Test", sent_in=record)
    [written] = list(record.iterdir())
    written.write_text(damage, "utf-8")
    again = sync_package(report.package, collection, deck="Test", sent_in=record)
    assert (first.added, again.sent, again.updated, again.unchanged) == (2, 2, 0, 2)
    assert sync_package(report.package, collection, deck="Test", sent_in=record).sent == 0


def test_a_record_of_a_release_before_tells_no_false_anki_edits(tmp_path):
    """Releases before kept sync's record as one JSON file, and before that held another hash
    of each note in it: read when there is no record of this release's, its decks, times and
    ids serve and its contents count as unknown, so a note whose Markdown changed is not taken
    for one edited in Anki; every note is sent once, and the record is written anew."""
    from helpers import build_deck
    from mkdeck.sync import sync_package

    collection = _profile(tmp_path / "Anki2")
    cards = write_cards(tmp_path / "notes", {"norm.md": NORM, "lora.md": LORA})
    record = tmp_path / "synced"

    def sync():
        report = build_deck(cards)
        return sync_package(
            report.package, collection, deck="Test", sent_in=record, changed=report.changed
        )

    sync()
    [kept] = list(record.iterdir())
    with contextlib.closing(sqlite3.connect(kept)) as db:
        rows = db.execute("SELECT guid, deck, mod, nid FROM notes").fetchall()
        looks = dict(db.execute("SELECT mid, look FROM notetypes"))
    kept.unlink()
    # A hash of the fields as that release took it, and no format.
    old = {guid: [deck, "0123456789abcdef", mod, nid] for guid, deck, mod, nid in rows}
    old[" note types"] = {str(mid): look for mid, look in looks.items()}
    kept.with_suffix(".json").write_text(json.dumps(old), "utf-8")
    time.sleep(1)
    (cards / "norm.md").write_text(NORM.replace("更稳定", "更加稳定"), "utf-8")
    changed = sync()
    assert (changed.sent, changed.updated, changed.replaced) == (2, 1, ())
    with contextlib.closing(sqlite3.connect(kept)) as db:
        assert "0123456789abcdef" not in {c for (c,) in db.execute("SELECT content FROM notes")}
    assert list(record.iterdir()) == [kept]  # the old record is gone, its notes in the new
    assert sync().sent == 0


def _as_anki_has_it(path: Path) -> tuple[dict, set]:
    """Each note's fields and tags by guid, and each card by (guid, ordinal): what a person
    reviews, wherever sync or an import put it."""
    col = Collection(str(path))
    try:
        notes = {
            guid: (flds, " ".join(sorted(tags.split())))
            for guid, flds, tags in col.db.all("select guid, flds, tags from notes")
        }
        cards = {
            (guid, ordinal)
            for guid, ordinal in col.db.all(
                "select n.guid, c.ord from cards c join notes n on n.id = c.nid"
            )
        }
    finally:
        col.close()
    return notes, cards


@pytest.mark.parametrize(("seed", "route"), [(1, "collection"), (2, "AnkiConnect")])
def test_sending_only_what_could_change_ends_as_importing_everything(
    tmp_path, anki_connect, seed, route
):
    """Random rounds of edits to the Markdown (changed, added, removed files) and in Anki
    (edited, deleted notes), each synced into one collection (closed, or through AnkiConnect)
    and imported whole, with File → Import's rules, into another: after every round the two
    hold the same notes and cards."""
    import random

    from helpers import build_deck
    from mkdeck.sync import import_as_file_import, sync_package

    rng = random.Random(seed)
    _handler, address, running = anki_connect
    sent_to = _profile(tmp_path / "A") if route == "collection" else running
    whole = _profile(tmp_path / "B")
    files = {f"q{i}.md": f"# 问题 {i}？\n\n1. 甲：{i}\n2. 乙：{i}\n" for i in range(8)}
    cards = write_cards(tmp_path / "notes", files)
    record = tmp_path / "synced"
    sent_counts = []
    for round_ in range(12):
        action = rng.choice(["markdown", "add", "remove", "anki edit", "anki delete", "none"])
        names = sorted(p.name for p in cards.glob("*.md"))
        if action == "markdown":
            path = cards / rng.choice(names)
            path.write_text(path.read_text("utf-8") + f"3. 丙：第 {round_} 轮\n", "utf-8")
        elif action == "add":
            (cards / f"new{round_}.md").write_text(f"# 新题 {round_}？\n\n1. 一\n", "utf-8")
        elif action == "remove" and len(names) > 2:
            (cards / rng.choice(names)).unlink()
        elif action in ("anki edit", "anki delete"):
            time.sleep(1)  # an edit in a second of its own, as a person's
            pick = rng.random()
            for path in (sent_to, whole):  # the same edit in both
                col = Collection(str(path))
                nids = sorted(col.find_notes(""))
                nid = nids[int(pick * len(nids))]
                if action == "anki delete":
                    col.remove_notes([nid])
                else:
                    note = col.get_note(nid)
                    note["Extra"] = f"在 Anki 里改的 {round_}"
                    col.update_note(note)
                col.close()
        report = build_deck(cards)
        result = sync_package(
            report.package,
            sent_to if route == "collection" else None,
            url=address,
            newest=report.newest,
            deck="Test",
            sent_in=record,
            # The notes as the build says it wrote them, or as read back from the package.
            packaged=report.packaged() if round_ % 2 else None,
        )
        assert result.route == route
        sent_counts.append(result.sent)
        col = Collection(str(whole))
        import_as_file_import(col, report.package)
        col.close()
        assert _as_anki_has_it(sent_to) == _as_anki_has_it(whole), (round_, action)
    assert min(sent_counts[1:]) < len(files)  # it did leave notes out
