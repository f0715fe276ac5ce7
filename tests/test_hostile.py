"""Hostile and broken input: clear errors, nothing lost, nothing let in."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from anki.collection import Collection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import build_deck, import_package, run, shown, write_cards
from mkdeck.build import build, check
from mkdeck.cloze import plain
from mkdeck.config import Config
from mkdeck.errors import Diagnostic, MkdeckError
from mkdeck.lockfile import read_lock
from mkdeck.parse import parse_question
from mkdeck.render import render_question

# --- bad input, each with its message -------------------------------------------------------


def test_a_huge_file_is_refused_with_a_reason(tmp_path):
    write_cards(tmp_path, {"huge.md": "# Q\n\n1. a\n" + "x" * 10_000_000})
    result = run(["check", "cards"], tmp_path)
    assert result.exit_code == 1
    assert "cards/huge.md: error: file is 10.0 MB; a card file holds one question" in (
        result.stderr
    )


def test_a_question_with_500_points_builds_and_imports(tmp_path, collection):
    body = "\n".join(f"{i}. 第 {i} 点：公式 $x_{{{i}}}$" for i in range(1, 501))
    report = build_deck(write_cards(tmp_path, {"many.md": f"# 很多点\n\n{body}\n"}))
    assert not report.errors
    import_package(collection, report.package)
    assert collection.card_count() == 500
    last = max((collection.get_card(c) for c in collection.find_cards("")), key=lambda c: c.ord)
    assert last.ord == 499 and "[...]" in last.question()


def test_a_link_out_of_the_cards_folder_is_refused(tmp_path):
    (tmp_path / "secret.txt").write_text("private", "utf-8")
    cards = write_cards(tmp_path, {"x.md": "# Q\n\n1. a\n2. ![s](img/leak.png)\n"})
    (cards / "img").mkdir()
    os.symlink(tmp_path / "secret.txt", cards / "img" / "leak.png")
    result = run(["build", "cards", "-o", "deck.apkg"], tmp_path)
    assert result.exit_code == 0
    assert "cards/x.md:4: warning: image `img/leak.png` is outside the cards folder" in (
        result.stderr
    )
    with zipfile.ZipFile(tmp_path / "deck.apkg") as zf:  # the card is built, the file not packed
        assert not [n for n in zf.namelist() if n.isdigit()]
        assert not any(b"private" in zf.read(n) for n in zf.namelist())


# --- nothing let in ---------------------------------------------------------------------------

SCRIPTED = """\
# 脚本

1. 图：<img src="a.png" onerror="alert(1)">
2. 链接：[点我](javascript:alert(2)) 和 <a href=" JaVaScRiPt:alert(3)">这里</a>

<script>alert("extra")</script>

```js
button.onclick = () => alert("code about scripts stays");
```
"""


def test_scripts_are_removed_from_rendered_cards_with_a_warning(tmp_path, collection):
    cards = write_cards(tmp_path, {"s.md": SCRIPTED, "a.png": b"\x89PNG\r\n\x1a\n"})
    report = build_deck(cards)
    warnings = [str(d) for d in report.warnings]
    assert any(w.startswith("s.md:3: warning: removed `onerror=`") for w in warnings), warnings
    assert any(w.startswith("s.md:4: warning: removed `javascript:`") for w in warnings)
    assert any(w.startswith("s.md:6: warning: removed `<script>`") for w in warnings)
    import_package(collection, report.package)
    for cid in collection.find_cards(""):
        card = collection.get_card(cid)
        html = card.question() + card.answer()
        assert "<script" not in html.lower()
        assert "onerror" not in html and not re.search(r"javascript\s*:", html, re.I)
        assert "code about scripts stays" in shown(card.answer())
        assert "button.onclick" in shown(card.answer())


def test_allow_scripts_keeps_them(tmp_path):
    cards = write_cards(tmp_path, {"s.md": SCRIPTED, "a.png": b"\x89PNG\r\n\x1a\n"})
    config = Config(tmp_path, cards, tmp_path / "build", deck="T", allow_scripts=True)
    report = build(cards, tmp_path / "t.apkg", config)
    [loud] = [str(d) for d in report.warnings]  # said on every build, and nothing removed
    assert loud.startswith(".: warning: `allow_scripts = true`: 1 card file keeps script")
    with zipfile.ZipFile(tmp_path / "t.apkg") as zf:
        db = zf.read("collection.anki2")
    assert b'<script>alert("extra")</script>' in db and b"onerror" in db


# --- properties -------------------------------------------------------------------------------

FRAGMENTS = [
    "---",
    "id: x",
    "tags: [a",
    "# 问题",
    "## 小节",
    "1. ",
    "2、",
    "（3）",
    "1.",
    "- ",
    "   ",
    "```",
    "~~~",
    "$",
    "$$",
    "==",
    "{{c1::",
    "}}",
    "::",
    "<script>",
    "<b>",
    "![i](x.png)",
    "\t",
    "\r\n",
    "\ufeff",
    "| a | b |",
    "\\",
    "：",
    "\n",
    "\n\n",
    "\ufdd0",
    "*",
    "_",
    # Whitespace a person cannot see, alone and as whole headings and points.
    "\u3000",
    "\u00a0",
    "\u2028",
    "\u200b",
    "\ufeff",
    "# \u3000",
    "### \u00a0\n",
    "1. \u2028",
    "① \u200b",
    "$ x $",
    "\\(",
    "<img src=x.png>",
]
card_texts = st.one_of(
    st.text(),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=40).map("".join),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=card_texts, raw=st.binary(max_size=64))
def test_any_text_gives_a_result_or_mkdecks_own_errors(tmp_path_factory, text, raw):
    root = tmp_path_factory.mktemp("any")
    cards = write_cards(root, {"a.md": text, "b.md": raw})
    config = Config(root, cards, root / "build", deck="T")
    report = check(cards, config)
    # Every problem is located: a file of the folder, or the folder itself.
    assert all(d.path in ("a.md", "b.md", ".", "mkdeck.lock") for d in report.diagnostics)
    assert all(d.message and d.severity in ("error", "warning", "note") for d in report.diagnostics)
    built = build(cards, root / "out.apkg", config)
    assert [str(d) for d in built.errors] == [str(d) for d in report.errors]
    # A file with an error is left out; the package is written when anything is left to build.
    assert (root / "out.apkg").exists() == (built.package is not None)
    assert set(built.left_out) <= {"a.md", "b.md"}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(texts=st.lists(card_texts, min_size=2, max_size=4))
def test_a_files_diagnostics_are_the_same_alone_and_among_others(tmp_path_factory, texts):
    """Rendering keeps no state between files: what a file is told does not depend on the
    files checked before it. (Duplicate ids and "no cards" concern the folder, not a file.)"""
    root = tmp_path_factory.mktemp("folder")
    names = [f"{i}.md" for i in range(len(texts))]
    together = check(write_cards(root / "all", dict(zip(names, texts, strict=True))), _config(root))
    for name, text in zip(names, texts, strict=True):
        alone = check(write_cards(root / name, {name: text}), _config(root))
        assert _own(alone.diagnostics, name) == _own(together.diagnostics, name)


def _config(root: Path) -> Config:
    return Config(root, root / "cards", root / "build", deck="T")


def _own(diagnostics: list[Diagnostic], name: str) -> list[str]:
    return [str(d) for d in diagnostics if d.path == name and "already used by" not in d.message]


POINT_PIECES = st.sampled_from(
    [
        *"ab XY中文：:，。{}[]()$\\_*`~=<>&\"'#-+!|^%/;.,?019",
        *("::", "}}", "{{", "==", "$x$", "$a_i}}$", "&amp;", "c1::", "std::vector<int>", " $5 "),
    ]
)
point_text = st.lists(POINT_PIECES, min_size=1, max_size=14).map("".join).map(str.strip)


def _math_space(text: str) -> str:
    """Undo `} }`, `{ {`, `: :`: TeX typesets them exactly like `}}`, `{{`, `::`."""
    for spaced, joined in (("} }", "}}"), ("{ {", "{{"), (": :", "::")):
        while spaced in text:
            text = text.replace(spaced, joined)
    return text


def _points_region(answer: str) -> str:
    return answer.split('<ol class="points">', 1)[1].rsplit("</ol>", 1)[0]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(texts=st.lists(point_text.filter(bool), min_size=1, max_size=20))
def test_escaping_never_changes_what_the_reader_sees(tmp_path_factory, texts):
    root = tmp_path_factory.mktemp("esc")
    files, expected = {}, {}
    for i, text in enumerate(texts):
        source = f"# Q{i}\n\n1. {text}\n"
        try:
            question = parse_question(source, f"p{i}.md")[0]
            if question is None:  # e.g. `1. ```: an answer that is only an unclosed fence
                continue
            rendered = render_question(question)
        except MkdeckError:
            continue
        if rendered.problems or len(rendered.points_html) != 1:
            continue  # e.g. an unclosed `$`: reported, never built
        files[f"p{i}.md"] = source
        expected[f"p{i}.md"] = shown(plain(rendered.points_html[0]))
    if not files:
        return
    cards = write_cards(root, files)
    report = build_deck(cards)
    assert not report.errors, [str(d) for d in report.errors]
    (root / "anki").mkdir()
    col = Collection(str(root / "anki" / "c.anki2"))
    try:
        import_package(col, report.package)
        for cid in col.find_cards(""):
            card = col.get_card(cid)
            seen = shown(_points_region(card.answer()))
            assert _math_space(seen) == _math_space(expected[card.note()["Source"]])
            assert "[...]" in card.question()
    finally:
        col.close()


# --- nothing lost -----------------------------------------------------------------------------


def _deck(cards: Path, n: int) -> None:
    for i in range(n):
        points = "\n".join(
            f"{k}. 要点 {k}：第 {i} 题的 $x_{k}$ 和代码 `f({k})`" for k in range(1, 9)
        )
        (cards / f"q{i:03d}.md").write_text(f"# 第 {i} 题\n\n{points}\n", "utf-8")


# Ctrl-C five times while the sanitizer cleans a fragment of many attributes, each of which it
# hands to mkdeck's filter from its native code.
_INTERRUPTED_SANITIZER = """
import os, signal, threading
from mkdeck import __main__ as entry, sanitize
signal.signal(signal.SIGINT, entry._on_interrupt)
fragment = '<span class="math">x</span>' * 5000
for round in range(5):
    threading.Timer(0.02 * (round + 1), os.kill, (os.getpid(), signal.SIGINT)).start()
    try:
        for _ in range(400):
            sanitize.clean(fragment)
        print("not interrupted")
    except KeyboardInterrupt:
        print("interrupted")
"""


def test_ctrl_c_inside_the_sanitizer_interrupts_as_anywhere_else():
    """The sanitizer's native code prints an exception raised in a callback and goes on: an
    interruption that lands there is held and raised when it returns, never printed and lost
    (a build that went on after Ctrl-C, with a traceback on the screen)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_SANITIZER],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.split() == ["interrupted"] * 5
    assert done.stderr == ""


def _no_traceback_from_mkdeck(err: bytes) -> bool:
    """No traceback from mkdeck's code. Python prints one of its own when Ctrl-C lands while
    the interpreter starts, or inside its import machinery ("Exception ignored in …
    _get_module_lock"): no frame of mkdeck's in it, and nothing written by then."""
    if b"Traceback" not in err:
        return True
    text = err.decode(errors="replace")
    frames = re.findall(r'File "([^"]+)"', text)
    ours = [f for f in frames if "mkdeck" in f and not f.endswith(("__init__.py", "__main__.py"))]
    return "KeyboardInterrupt" in text.rstrip().splitlines()[-1] and not ours


def _build_cmd(root: Path) -> list[str]:
    return [sys.executable, "-m", "mkdeck", "build", "cards", "-o", "deck.apkg"]


def _consistent(root: Path) -> None:
    with zipfile.ZipFile(root / "deck.apkg") as zf:
        assert zf.testzip() is None
    read_lock(root / "cards")  # parses, or raises


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_an_interrupted_build_leaves_the_previous_package_and_lock_intact(tmp_path, sig):
    cards = tmp_path / "cards"
    cards.mkdir()
    _deck(cards, 150)
    # (A build that hangs is stopped with its threads' stacks: `_ended`.)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONFAULTHANDLER": "1"}
    first = subprocess.run(
        _build_cmd(tmp_path), cwd=tmp_path, env=env, capture_output=True, timeout=300
    )
    assert first.returncode == 0, first.stderr
    started = time.perf_counter()
    subprocess.run(_build_cmd(tmp_path), cwd=tmp_path, env=env, capture_output=True, timeout=300)
    duration = time.perf_counter() - started

    _deck(cards, 160)  # an edit, so that each build has something new to write
    for step in range(12):
        proc = subprocess.Popen(
            _build_cmd(tmp_path),
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(duration * step / 10)
        proc.send_signal(sig)
        err = _ended(proc)
        assert _no_traceback_from_mkdeck(err), err.decode(errors="replace")
        _consistent(tmp_path)
    final = subprocess.run(
        _build_cmd(tmp_path), cwd=tmp_path, env=env, capture_output=True, timeout=300
    )
    assert final.returncode == 0, final.stderr
    _consistent(tmp_path)
    assert b"160 notes" in final.stdout
    leftovers = [p.name for p in (*tmp_path.iterdir(), *cards.iterdir()) if p.name.endswith(".tmp")]
    assert leftovers == []


def _ended(proc: subprocess.Popen) -> bytes:
    """What a build wrote to stderr once it ended. One still running two minutes after it was
    signalled is ended by SIGABRT, which makes Python print every thread's stack (it runs with
    PYTHONFAULTHANDLER): the failure says where it hung."""
    try:
        return proc.communicate(timeout=120)[1]
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        _, err = proc.communicate()
        stacks = err.decode(errors="replace")
        pytest.fail(f"the build still ran 2 minutes after the signal:\n{stacks}")


def test_an_interrupt_that_surfaces_as_a_cleanup_error_is_still_an_interrupt(monkeypatch, capsys):
    """Ctrl-C while zipfile writes a member makes its cleanup raise a ValueError instead."""
    import mkdeck.cli
    from mkdeck.__main__ import run as entry

    def interrupted_mid_write() -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise ValueError("Can't close the ZIP file while there is an open writing handle")  # noqa: B904 (the context is the point)

    monkeypatch.setattr(mkdeck.cli, "main", interrupted_mid_write)
    with pytest.raises(SystemExit) as exited:
        entry()
    assert exited.value.code == 130
    assert capsys.readouterr().err == "mkdeck: interrupted; nothing was changed\n"
