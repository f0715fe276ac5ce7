"""`mkdeck watch`: a save rebuilds, a broken save keeps the last good package, Ctrl-C stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from helpers import run, write_cards
from mkdeck.watch import matters


def _wait_for(lines: list[str], text: str, seconds: float = 30.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for line in list(lines):
            if text in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"no line with {text!r} in {lines}")


def _follow(stream, into: list[str]) -> None:
    for line in stream:
        into.append(line.rstrip("\n"))


def test_watch_rebuilds_on_save_and_keeps_the_last_good_package(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.mkdeck]\ndeck = "Test"\n', "utf-8")
    cards = write_cards(tmp_path, {"a.md": "# A？\n\n1. 一\n"})
    package = tmp_path / "build" / "Test.apkg"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mkdeck", "watch"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: list[str] = []
    err: list[str] = []
    for stream, lines in ((proc.stdout, out), (proc.stderr, err)):
        threading.Thread(target=_follow, args=(stream, lines), daemon=True).start()
    try:
        assert "start: 1 note, 1 card" in _wait_for(out, "start:")
        time.sleep(0.5)  # let the watcher settle before the first save
        (cards / "b.md").write_text("# B？\n\n1. 二\n2. 三\n", "utf-8")
        assert "b.md: 2 notes, 3 cards" in _wait_for(out, "b.md:")
        good = package.read_bytes()

        (cards / "c.md").write_text("# C？\n\n1. 四\n\n```python\nx = 1\n", "utf-8")
        assert "c.md:5: error: code fence ``` opened here is never closed" in _wait_for(
            err, "never closed"
        )
        # Left out, and the rest is built: here that is the package as it was.
        line = _wait_for(out, "left out")
        assert "c.md: 2 notes, 3 cards" in line and "1 file left out" in line
        assert package.read_bytes() == good

        (cards / "a.md").write_text("# A？\n\n1. 一\n2. 另一点\n", "utf-8")
        assert "a.md: 2 notes, 4 cards" in _wait_for(out, "a.md: 2 notes")
        # The error of c.md, unchanged, is not printed on every save.
        assert sum("never closed" in line for line in err) == 1

        (cards / "c.md").write_text("# C？\n\n1. 四\n", "utf-8")
        assert "c.md: 3 notes, 5 cards" in _wait_for(out, "c.md: 3 notes")
        assert "resolved: cards/c.md:5" in _wait_for(err, "resolved")
        (cards / ".c.md.swp").write_text("vim swap", "utf-8")  # an editor's file: no build
        time.sleep(1.0)
        assert not any(".swp" in line for line in out + err)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, err
    assert "Stopped watching." in _wait_for(out, "Stopped")
    assert not any("Traceback" in line for line in err)


def test_what_starts_a_build(tmp_path):
    cards, out, settings = tmp_path / "cards", tmp_path / "build", tmp_path / "pyproject.toml"
    starts = [cards / "a.md", cards / "sub" / "NOTES.MD", cards / "img" / "a.png", settings]
    never = [
        cards / "mkdeck.lock",
        cards / ".a.md.swp",
        cards / "a.md~",
        cards / "#a.md#",
        cards / "4913",
        cards / ".hidden.md",
        out / "Test.apkg",
        tmp_path / "elsewhere.md",
    ]
    assert all(matters(p, cards, settings, out) for p in starts)
    assert not any(matters(p, cards, settings, out) for p in never)
    assert not matters(Path("/x/pyproject.toml"), cards, None, out)


def test_watch_with_sync_imports_each_good_build(tmp_path):
    from anki.collection import Collection

    (tmp_path / "pyproject.toml").write_text('[tool.mkdeck]\ndeck = "Test"\n', "utf-8")
    cards = write_cards(tmp_path, {"a.md": "# A？\n\n1. 一\n"})
    collection = tmp_path / "anki" / "collection.anki2"
    collection.parent.mkdir()
    Collection(str(collection)).close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "mkdeck", "watch", "--sync", "--collection", str(collection)]
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    out: list[str] = []
    threading.Thread(target=_follow, args=(proc.stdout, out), daemon=True).start()
    try:
        assert _wait_for(out, "start:").endswith(", synced 1 note")
        time.sleep(0.5)
        (cards / "b.md").write_text("# B？\n\n1. 二\n", "utf-8")
        assert _wait_for(out, "b.md:").endswith(", synced 1 note")  # b.md's, not a.md's
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    col = Collection(str(collection))
    try:
        assert col.note_count() == 2
    finally:
        col.close()


def test_watching_a_folder_that_is_not_there_is_an_error(tmp_path):
    result = run(["watch", "nowhere"], tmp_path)
    assert result.exit_code == 1
    assert "nowhere: error: cards folder not found (looked for " in result.stderr
    assert "name your notes' folder: `mkdeck build NOTES_DIR`" in result.stderr
