"""History and files at the edges: a killed build leaves no process behind, the package goes
only where it may, a lock saved with a BOM is read."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import build_deck, run, write_cards


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found |= {int(c) for c in text}
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has ended; only its entry waits to be collected


def test_a_killed_build_leaves_no_worker_behind(tmp_path):
    files = {f"q{i:04d}.md": f"# 问题 {i}？\n\n" + "1. 甲：$x^2$\n" * 30 for i in range(1500)}
    cards = write_cards(tmp_path, files)
    script = (
        "import sys\nfrom pathlib import Path\nfrom mkdeck.build import build\n"
        "from mkdeck.config import Config\nc = Path(sys.argv[1])\n"
        "build(c, c.parent / 'o.apkg', Config(c.parent, c, c.parent, deck='T'), parallel=True)\n"
    )
    build = subprocess.Popen([sys.executable, "-c", script, str(cards)])
    workers: set[int] = set()
    deadline = time.time() + 60
    while len(workers) < 2 and time.time() < deadline and build.poll() is None:
        workers = _children(build.pid)
        time.sleep(0.05)
    assert len(workers) >= 2, "the build did not start its workers"
    os.kill(build.pid, signal.SIGKILL)
    build.wait()
    deadline = time.time() + 10
    while any(_alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)]


def test_workers_read_while_the_lock_is_parsed_and_stop_when_it_cannot_be_read(
    tmp_path, monkeypatch
):
    import multiprocessing

    import mkdeck.build
    import mkdeck.readcards
    from mkdeck.build import build
    from mkdeck.config import Config

    files = {f"q{i:03d}.md": f"# 问题 {i}？\n\n1. 甲：$x^{{{i}}}$\n2. 乙\n" for i in range(40)}
    cards = write_cards(tmp_path, files)
    config = Config(tmp_path, cards, tmp_path / "build", deck="T")
    out = tmp_path / "build" / "T.apkg"
    assert not build_deck(cards, out).errors  # a lock to parse
    happened: list[str] = []

    def read_cards(jobs, parallel, progress=None):
        reads = real_read_cards(jobs, parallel, progress)
        happened.append(f"{len(jobs)} handed out")
        return reads

    def parse_lock(text, where):
        happened.append("lock parsed")
        return real_parse(text, where)

    real_parse, real_read_cards = mkdeck.build.parse_lock, mkdeck.readcards.read_cards
    monkeypatch.setattr(mkdeck.readcards, "read_cards", read_cards)
    monkeypatch.setattr(mkdeck.build, "parse_lock", parse_lock)
    # Nothing remembered: every file is read, in workers, and the lock is parsed meanwhile.
    report = build(cards, out, config, use_cache=False, parallel=True)
    assert not report.errors and report.notes == 40
    assert happened == ["40 handed out", "lock parsed"]

    lock = cards / "mkdeck.lock"
    lock.write_text(lock.read_text("utf-8") + "<<<<<<< HEAD\n", "utf-8")
    package = out.read_bytes()
    stopped = build(cards, out, config, use_cache=False, parallel=True)
    assert [d.message.split(".")[0] for d in stopped.errors] == [
        "the lock file has merge-conflict markers"
    ]
    assert not multiprocessing.active_children()  # the workers were stopped, not left reading
    assert out.read_bytes() == package


def test_the_package_never_goes_inside_the_cards_folder_or_over_another_file(tmp_path):
    cards = write_cards(tmp_path, {"a.md": "# A？\n\n1. 一\n"})
    inside = run(["build", "cards", "-o", "cards/a.md"], tmp_path)
    assert inside.exit_code == 1 and "inside the cards folder" in inside.stderr
    assert (cards / "a.md").read_text("utf-8") == "# A？\n\n1. 一\n"
    lock = run(["build", "cards", "-o", "cards/mkdeck.lock"], tmp_path)
    assert lock.exit_code == 1 and not (cards / "mkdeck.lock").exists()
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    other = run(["build", "cards", "-o", "notes.txt"], tmp_path)
    assert other.exit_code == 1 and "is no .apkg" in other.stderr
    assert (tmp_path / "notes.txt").read_text("utf-8") == "mine"
    assert run(["build", "cards", "-o", "deck.apkg"], tmp_path).exit_code == 0
    assert run(["build", "cards", "-o", "deck.apkg"], tmp_path).exit_code == 0  # its own


def test_a_lock_saved_with_a_bom_is_read(tmp_path):
    cards = write_cards(tmp_path, {"a.md": "# A？\n\n1. 一\n2. 二\n"})
    build_deck(cards)
    lock = cards / "mkdeck.lock"
    before = lock.read_bytes()
    lock.write_bytes(b"\xef\xbb\xbf" + before)
    report = build_deck(cards)
    assert not report.errors, [str(d) for d in report.errors]
    assert lock.read_bytes() in (before, b"\xef\xbb\xbf" + before)


def test_a_build_that_waits_too_long_for_another_says_so_and_writes_nothing(tmp_path, monkeypatch):
    """While another process holds the folder's build lock, a build waits; past its patience
    it says why and writes nothing (no package, no lock)."""
    from mkdeck import build as building
    from mkdeck.files import held_alone, place_in_cache

    cards = write_cards(tmp_path, {"a.md": "# A？\n\n1. 一\n"})
    place = place_in_cache("locks", cards)
    place.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from mkdeck.files import held_alone\n"
            "with held_alone(Path(sys.argv[1]), 5):\n print('held', flush=True); time.sleep(30)",
            str(place.with_suffix(".lock")),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        monkeypatch.setattr(building, "BUSY_SECONDS", 0.3)
        report = build_deck(cards)
        assert [d.message for d in report.errors] == [
            "another mkdeck build of this folder has run for over 0.3 s: let it finish, or "
            "stop it, and build again"
        ]
        assert report.package is None and not (cards / "mkdeck.lock").exists()
    finally:
        holder.kill()
        holder.wait()
    with held_alone(place.with_suffix(".lock"), 1):  # the system let go when it ended
        pass
    assert not build_deck(cards).errors


def test_two_builds_at_once_take_turns(tmp_path, collection):
    """Ten rounds of two builds started together on one folder (a `watch` and a `build`,
    say): both finish without a traceback, and what they leave imports into Anki whole."""
    from helpers import import_package
    from mkdeck.lockfile import parse_lock

    cards = write_cards(
        tmp_path, {f"q{i}.md": f"# 问题 {i}？\n\n1. 甲\n2. 乙\n" for i in range(300)}
    )
    command = [sys.executable, "-m", "mkdeck", "build", "cards", "-o", "build/T.apkg"]
    env = {**os.environ, "NO_COLOR": "1"}
    for round_ in range(10):
        for i in range(0, 300, 7):  # enough that both builds write the package and the lock
            (cards / f"q{i}.md").write_text(f"# 问题 {i}？\n\n1. 甲 {round_}\n2. 乙\n", "utf-8")
        runs = [
            subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        for build in runs:
            _, stderr = build.communicate(timeout=120)
            assert build.returncode == 0 and "Traceback" not in stderr, stderr
    assert len(parse_lock((cards / "mkdeck.lock").read_text("utf-8"), "mkdeck.lock").notes) == 300
    import_package(collection, tmp_path / "build" / "T.apkg")
    assert collection.note_count() == 300 and collection.card_count() == 600


def test_an_edit_in_anki_after_a_burst_of_saves_survives_the_next_sync(tmp_path):
    """A burst of saves dates a note ahead of the clock (each change is one second past the
    last). The sync waits until the clock has reached it, so an edit made in Anki afterwards,
    even in that same second, is not older than the note, and a sync of the unchanged deck
    leaves it alone."""
    from anki.collection import Collection

    from mkdeck.sync import sync_package

    cards = write_cards(tmp_path, {"a.md": "# A？\n\n1. 一\n"})
    path = tmp_path / "anki" / "collection.anki2"
    path.parent.mkdir()
    Collection(str(path)).close()
    ahead = int(time.time()) + 3  # as 3 saves within one second leave it
    burst = build_deck(cards, now=ahead)
    assert burst.newest == ahead
    sync_package(burst.package, path, newest=burst.newest)
    col = Collection(str(path))
    [nid] = col.find_notes("")
    note = col.get_note(nid)
    note["Extra"] = "在 Anki 里补充的"
    col.update_note(note)
    col.close()
    again = build_deck(cards)
    assert again.up_to_date and again.newest == ahead
    sync_package(again.package, path, newest=again.newest)
    col = Collection(str(path))
    assert col.get_note(nid)["Extra"] == "在 Anki 里补充的"
    col.close()


def test_a_sync_of_a_note_dated_now_does_not_wait(tmp_path, monkeypatch):
    """One save dates its note this second: the clock has reached it, so the sync starts at
    once (it used to wait for the next second, half a second on average, on every save)."""
    from anki.collection import Collection

    from mkdeck import sync

    cards = write_cards(tmp_path, {"a.md": "# A？\n\n1. 一\n"})
    path = tmp_path / "anki" / "collection.anki2"
    path.parent.mkdir()
    Collection(str(path)).close()
    slept: list[float] = []
    monkeypatch.setattr(sync.time, "sleep", slept.append)
    report = build_deck(cards, now=int(time.time()))
    sync.sync_package(report.package, path, newest=report.newest)
    assert slept == []
    ahead = build_deck(write_cards(tmp_path, {"a.md": "# A？\n\n1. 二\n"}), now=report.newest + 2)
    sync.sync_package(ahead.package, path, newest=ahead.newest)
    assert len(slept) == 1 and 0 < slept[0] <= 2


TWO_POINTS = (
    "---\nid: norm\n---\n# 为什么要归一化？\n\n1. 量纲：防止大数值主导\n2. 分布：让输入更稳定\n"
)


def _reordered() -> str:
    return TWO_POINTS.replace(
        "1. 量纲：防止大数值主导\n2. 分布：让输入更稳定",
        "1. 分布：让输入更稳定\n2. 量纲：防止大数值主导",
    )


def test_a_deleted_lock_is_taken_back_and_no_card_trades_its_history(tmp_path, collection):
    from helpers import answer_everything, card_hiding, import_package, reviews

    cards = write_cards(tmp_path, {"norm.md": TWO_POINTS, "b.md": "# B？\n\n1. 乙：二\n"})
    import_package(collection, build_deck(cards).package)
    assert answer_everything(collection) == 3
    before = {text: card_hiding(collection, text).id for text in ("防止大数值主导", "让输入更稳定")}
    (cards / "norm.md").write_text(_reordered(), "utf-8")
    (cards / "mkdeck.lock").unlink()
    report = build_deck(cards)
    assert any(
        "the lock is missing that the last build wrote" in str(d) for d in report.diagnostics
    )
    import_package(collection, report.package)
    assert collection.note_count() == 2
    for text, cid in before.items():
        card = card_hiding(collection, text)
        assert card.id == cid and reviews(collection, cid) == 1


def test_a_lock_cut_at_an_entry_is_taken_back(tmp_path, collection):
    from helpers import answer_everything, card_hiding, import_package, reviews

    cards = write_cards(tmp_path, {"a.md": "# A？\n\n1. 甲：一\n", "norm.md": TWO_POINTS})
    import_package(collection, build_deck(cards).package)
    answer_everything(collection)
    held = card_hiding(collection, "防止大数值主导").id
    lock = (cards / "mkdeck.lock").read_text("utf-8")
    (cards / "mkdeck.lock").write_text(lock[: lock.index('\n\n["norm.md"]') + 1], "utf-8")
    (cards / "norm.md").write_text(_reordered(), "utf-8")
    report = build_deck(cards)
    assert any("lacks 1 of the entries" in str(d) for d in report.diagnostics)
    import_package(collection, report.package)
    assert card_hiding(collection, "防止大数值主导").id == held and reviews(collection, held) == 1


def test_a_lost_lock_that_cannot_be_taken_back_stops_the_build(tmp_path):
    cards = write_cards(tmp_path, {"norm.md": TWO_POINTS})
    first = build_deck(cards)
    (cards / "mkdeck.lock").unlink()
    from mkdeck.build import build
    from mkdeck.config import Config

    config = Config(tmp_path, cards, tmp_path / "build", deck="Test")
    stopped = build(cards, first.package, config, use_cache=False)  # nothing remembered
    assert [d.message.split(":")[0] for d in stopped.errors] == [
        f"the lock is missing, but {first.package.name} was built from these cards before"
    ]
    assert not (cards / "mkdeck.lock").exists()


def test_two_projects_in_one_anki_stay_two_notes(tmp_path, collection):
    """Two vaults, each with a `Softmax.md` without an id, and each with the same `id`."""
    from helpers import import_package

    files = {
        "Softmax.md": "# Softmax？\n\n1. 归一：指数后相除\n",
        "x.md": "---\nid: same\n---\n# X？\n\n1. 一\n",
    }
    for project in ("one", "two"):
        cards = write_cards(tmp_path / project, files)
        import_package(collection, build_deck(cards, deck=project).package)
    assert collection.note_count() == 4
    decks = {collection.decks.name(collection.get_card(c).did) for c in collection.find_cards("")}
    assert decks == {"one", "two"}


def test_a_lock_that_cannot_be_written_leaves_the_previous_package(tmp_path, monkeypatch):
    """Disk full when the lock is written (simulated at the write call): an error at its path,
    and the package and the lock are both as they were."""
    import errno

    import mkdeck.lockfile

    cards = write_cards(tmp_path, {"a.md": "# A？\n\n1. 一\n"})
    build_deck(cards)
    package = tmp_path / "build" / "Test.apkg"
    before = (package.read_bytes(), (cards / "mkdeck.lock").read_bytes())
    (cards / "a.md").write_text("# A？\n\n1. 一\n2. 二\n", "utf-8")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(cards / "mkdeck.lock"))

    monkeypatch.setattr(mkdeck.lockfile, "written_beside", full)
    report = build_deck(cards)
    assert [str(d) for d in report.errors] == [
        f"{cards / 'mkdeck.lock'}: error: cannot write: No space left on device"
    ]
    assert (package.read_bytes(), (cards / "mkdeck.lock").read_bytes()) == before
    assert not [p for p in package.parent.iterdir() if p.name.endswith(".tmp")]


@contextlib.contextmanager
def _tmpfs(folder: Path, options: str):
    """A tmpfs at `folder`, where the tests run as root (as in CI); else the test says why it
    cannot run (the simulated disk-full test above covers the same paths)."""
    folder.mkdir(exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)]).returncode:
        pytest.skip("a tmpfs needs root: the disk errors are simulated in another test")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)])


@pytest.fixture
def small_disk(tmp_path):
    with _tmpfs(tmp_path / "disk", "size=96k") as disk:
        yield disk


def test_a_full_disk_is_an_error_and_nothing_half_written(tmp_path, small_disk):
    big = os.urandom(150_000)  # no room for it in the package
    png = b"\x89PNG\r\n\x1a\n" + big
    cards = write_cards(tmp_path / "p", {"a.md": "# A？\n\n1. 图：![](a.png)\n", "a.png": png})
    result = run(["build", str(cards), "-o", str(small_disk / "T.apkg")], tmp_path)
    assert result.exit_code == 1
    assert "error: cannot write: No space left on device" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(small_disk.iterdir()) == []  # no package, no temporary file
    assert not (cards / "mkdeck.lock").exists()
    imported = run(["import", str(cards / "a.md"), "-o", str(small_disk / "cards")], tmp_path)
    assert "Traceback" not in imported.stderr


def test_a_killed_import_leaves_no_empty_card_and_a_second_run_finishes(tmp_path):
    """Import killed with SIGKILL while it writes its files: no card file is empty or cut,
    and running it again gives each question once."""
    post = tmp_path / "post.md"
    count = 1500
    post.write_text(
        "".join(f"## {i}. 问题 {i}？\n\n1. 甲：{'长' * 2000}\n2. 乙\n\n" for i in range(count)),
        encoding="utf-8",
    )
    out = tmp_path / "c"
    command = [sys.executable, "-m", "mkdeck", "import", str(post), "-o", str(out)]
    started = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not (out.exists() and any(out.glob("*.md"))):
        time.sleep(0.001)
    started.kill()  # as soon as it has begun to write
    started.wait()
    written = list(out.glob("*.md"))
    assert 0 < len(written) < count, "the kill did not land while the import wrote"
    for card in written:
        assert card.read_text("utf-8").endswith("2. 乙\n"), card.name  # whole, never cut
    finished = subprocess.run(command, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert len(list(out.glob("*.md"))) == count  # each question once: no `…-2.md` duplicates
    assert not list(out.glob(".*.tmp"))


@pytest.fixture
def read_only_disk(tmp_path):
    with _tmpfs(tmp_path / "ro", "ro,size=64k") as disk:
        yield disk


def test_a_read_only_output_folder_is_an_error(tmp_path, read_only_disk):
    cards = write_cards(tmp_path / "p", {"a.md": "# A？\n\n1. 一\n"})
    result = run(["build", str(cards), "-o", str(read_only_disk / "T.apkg")], tmp_path)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "error: cannot write: Read-only file system" in result.stderr
    assert not (cards / "mkdeck.lock").exists()


def test_a_cache_folder_that_is_a_file_only_costs_time(tmp_path, monkeypatch):
    (tmp_path / "not-a-folder").write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))
    cards = write_cards(tmp_path, {"a.md": "# A？\n\n1. 一\n"})
    report = build_deck(cards)
    assert not report.errors and report.notes == 1
    assert build_deck(cards).notes == 1  # and again, with nothing remembered


def test_a_read_only_cards_folder_is_an_error_and_no_package_lands_without_its_lock(tmp_path):
    with _tmpfs(tmp_path / "cards", "size=64k") as disk:
        (disk / "a.md").write_text("# A？\n\n1. 一\n", encoding="utf-8")
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        result = run(["build", "cards", "-o", "out/T.apkg"], tmp_path)
        assert result.exit_code == 1 and "Traceback" not in result.stderr
        assert "mkdeck.lock: error: cannot write: Read-only file system" in result.stderr
        assert not (tmp_path / "out" / "T.apkg").exists()  # the package waits for its lock
