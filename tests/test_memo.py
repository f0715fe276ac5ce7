"""The memo: used when nothing changed, dropped for exactly what changed, survived when damaged,
never in the project's folders, never code; parallel rendering gives the same notes as serial."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest

import mkdeck.memo
from helpers import PNG, import_package, run, write_cards
from mkdeck.build import build, check
from mkdeck.config import Config
from mkdeck.memo import MEMO_FILE, memo_folder

FILES = {
    "a.md": "# A？\n\n1. 一：$x_1$\n2. 图：![p](p.png)\n",
    "b.md": "# B？\n\n1. 二\n",
    "c.md": "# C？\n\n只是一段回答。\n",
    "p.png": PNG,
}


def _build(root: Path, **options) -> object:
    cards = root / "cards"
    config = Config(root, cards, root / "build", deck="T", **options.pop("settings", {}))
    return build(cards, root / "build" / "T.apkg", config, now=1_800_000_000, **options)


def test_an_unchanged_deck_renders_nothing_and_writes_nothing(tmp_path):
    write_cards(tmp_path, FILES)
    first = _build(tmp_path)
    assert first.rendered == 3 and not first.up_to_date
    package = tmp_path / "build" / "T.apkg"
    stamp = package.stat().st_mtime_ns
    second = _build(tmp_path)
    assert second.rendered == 0 and second.up_to_date
    assert package.stat().st_mtime_ns == stamp
    assert (second.notes, second.cards, second.media) == (first.notes, first.cards, first.media)


def test_a_changed_file_is_the_only_one_rendered_again(tmp_path):
    cards = write_cards(tmp_path, FILES)
    _build(tmp_path)
    (cards / "b.md").write_text("# B？\n\n1. 二\n2. 三\n", "utf-8")
    report = _build(tmp_path)
    assert report.rendered == 1 and not report.up_to_date
    assert report.cards == 5


def _reads(monkeypatch) -> list[str]:
    """The card files a build reads from disk from now on, by their paths in the folder."""
    import mkdeck.discover

    read: list[str] = []
    real = mkdeck.discover.read_source

    def counted(source):
        read.append(source.rel)
        return real(source)

    monkeypatch.setattr(mkdeck.discover, "read_source", counted)
    return read


def _settled(monkeypatch) -> None:
    """As if the cards were written long ago: writing them (and dating them back) changed
    their change time just now, and a stamp that recent is not trusted (`media.racy`)."""
    import mkdeck.media

    monkeypatch.setattr(mkdeck.media, "RACY_NS", 0)


def test_a_rebuild_reads_only_the_files_whose_stamp_changed(tmp_path, monkeypatch):
    cards = write_cards(tmp_path, FILES)
    _settled(monkeypatch)
    _build(tmp_path)
    (cards / "b.md").write_text("# B？\n\n1. 二\n2. 三\n", "utf-8")
    read = _reads(monkeypatch)
    report = _build(tmp_path)
    assert read == ["b.md"] and report.rendered == 1 and report.cards == 5


def test_same_size_and_time_but_other_bytes_are_seen(tmp_path, monkeypatch):
    """Rewritten in place with its size and modification time put back (as some sync tools
    and `cp -p` do): the change time still tells, and the file is read again."""
    cards = write_cards(tmp_path, FILES)
    _settled(monkeypatch)
    _build(tmp_path)
    b = cards / "b.md"
    before = b.stat()
    b.write_text("# X？\n\n1. 二\n", "utf-8")  # as long as before
    os.utime(b, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (b.stat().st_size, b.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    report = _build(tmp_path)
    assert report.rendered == 1 and not report.up_to_date
    assert "X？" in str(_notes(tmp_path))


@pytest.mark.parametrize("when", ["just now", "long ago"])
def test_a_file_changed_just_before_a_build_is_read_again_by_the_next(tmp_path, monkeypatch, when):
    # Git's "racy" rule: a stamp taken within a timestamp tick of the change cannot tell a
    # second change in the same tick, so the next build reads the file rather than trust it.
    write_cards(tmp_path, FILES)
    if when == "long ago":
        _settled(monkeypatch)
    _build(tmp_path)
    read = _reads(monkeypatch)
    assert _build(tmp_path).up_to_date
    assert read == (["a.md", "b.md", "c.md"] if when == "just now" else [])


def test_files_read_again_by_an_up_to_date_build_are_trusted_once_settled(tmp_path, monkeypatch):
    """A deck built right after its files were written (a clone, a pull) cannot trust their
    stamps yet; the first build that finds it up to date once they have settled remembers
    them, so the builds after it read nothing (they read every file before)."""
    write_cards(tmp_path, FILES)
    _build(tmp_path)
    _settled(monkeypatch)
    read = _reads(monkeypatch)
    assert _build(tmp_path).up_to_date
    assert read == ["a.md", "b.md", "c.md"]
    read.clear()
    assert _build(tmp_path).up_to_date
    assert read == []


def _post(n: int, edit: str = "") -> str:
    """A post of two questions, with prose before them and a footer after."""
    return (
        f"# 帖子 {n}\n\n前言一句。\n\n## 第一问 {n}？\n\n1. 甲：一\n2. 乙：二{edit}\n\n"
        f"## 第二问 {n}？\n\n1. 丙\n\n## 参考\n\n- 某处\n"
    )


def _posts_built_twice(root: Path, monkeypatch) -> Path:
    """Three posts and a card file, built, then built again after an edit: the lock knows
    the posts now, and each is remembered as cut under it."""
    files = {f"p{n}.md": _post(n) for n in range(3)} | {"one.md": FILES["b.md"]}
    cards = write_cards(root, files)
    _settled(monkeypatch)
    _build(root)
    (cards / "p0.md").write_text(_post(0, "，改过"), "utf-8")
    _build(root)
    return cards


def _same_as_a_build_without_memo(root: Path, report, tmp_path: Path) -> None:
    shutil.copytree(root / "cards", tmp_path / "full" / "cards")
    full = _build(tmp_path / "full", use_cache=False)
    assert _rows(root) == _rows(tmp_path / "full")
    assert [str(d) for d in report.diagnostics] == [str(d) for d in full.diagnostics]
    config = Config(root, root / "cards", root / "build", deck="T")
    full_config = Config(tmp_path / "full", tmp_path / "full" / "cards", root / "x", deck="T")
    said = [str(d) for d in check(root / "cards", config).diagnostics]
    assert said == [str(d) for d in check(tmp_path / "full" / "cards", full_config).diagnostics]
    assert "p1.md: note: a post of 2 questions: mkdeck.lock knows it as a post" in said
    assert any(line.startswith("p2.md:14: note: left out (lines 14–16)") for line in said)


def test_a_rebuild_cuts_again_only_the_posts_that_changed(tmp_path, monkeypatch):
    """A post is cut into its questions as a function of its bytes (and of how the lock knows
    it): a rebuild takes the others' questions as the memo keeps them, unread, and says all
    that a build without the memo says."""
    root = tmp_path / "memo"
    cards = _posts_built_twice(root, monkeypatch)
    (cards / "p1.md").write_text(_post(1, "，又改过"), "utf-8")
    read = _reads(monkeypatch)
    report = _build(root)
    assert read == ["p1.md"]
    assert report.notes == 7 and "又改过" in str(_notes(root))
    _same_as_a_build_without_memo(root, report, tmp_path)


def test_a_post_the_memo_cannot_give_back_is_cut_again(tmp_path, monkeypatch):
    root = tmp_path / "memo"
    cards = _posts_built_twice(root, monkeypatch)
    with contextlib.closing(sqlite3.connect(_memo(root))) as db, db:
        assert db.execute("SELECT count(*) FROM posts").fetchone() == (3,)
        db.execute("UPDATE posts SET cut = 'not JSON' WHERE rel = 'p2.md'")
    (cards / "p1.md").write_text(_post(1, "，又改过"), "utf-8")
    read = _reads(monkeypatch)
    report = _build(root)
    assert sorted(read) == ["p1.md", "p2.md"]
    _same_as_a_build_without_memo(root, report, tmp_path)


def test_a_changed_image_is_packed_again(tmp_path):
    cards = write_cards(tmp_path, FILES)
    _build(tmp_path)
    before = _media_bytes(tmp_path / "build" / "T.apkg")
    (cards / "p.png").write_bytes(PNG + b"\x00")
    report = _build(tmp_path)
    assert not report.up_to_date
    assert _media_bytes(tmp_path / "build" / "T.apkg") == [PNG + b"\x00"] != before
    # a.md did not change, but its note must name the new file: it is assembled again.
    with zipfile.ZipFile(tmp_path / "build" / "T.apkg") as zf:
        [name] = json.loads(zf.read("media")).values()
    [fields] = [flds for _, _, _, flds in _notes(tmp_path) if "图：" in flds]
    assert f'src="{name}"' in fields


@pytest.mark.parametrize("copy", ["by the kernel", "read and written"])
def test_images_the_last_package_holds_are_copied_from_it_as_zipped(
    tmp_path, monkeypatch, collection, copy
):
    """A rebuild takes each image the last package holds from that package, as zipped (a
    PNG stored, an SVG deflated), not from its file: the package is byte for byte the one
    made by reading every image again, and Anki takes the images from it."""
    import mkdeck.package

    if copy == "read and written":  # (as on systems without `copy_file_range`)
        monkeypatch.delattr(os, "copy_file_range", raising=False)

    svg = '<svg xmlns="http://www.w3.org/2000/svg">' + "<g/>" * 200 + "</svg>"
    files = FILES | {"b.md": "# B？\n\n1. 二：![s](s.svg)\n", "s.svg": svg}
    cards = write_cards(tmp_path, files)
    _build(tmp_path)
    (cards / "c.md").write_text("# C？\n\n改过的回答。\n", "utf-8")
    package, saved = tmp_path / "build" / "T.apkg", tmp_path / "saved"
    shutil.copytree(tmp_path, saved, symlinks=True)  # (the memo is elsewhere: copied below)
    shutil.copytree(_memo(tmp_path).parent, tmp_path / "memo-saved")
    real, copied = mkdeck.package._copy_member, []

    def counted(*args):
        copied.append(real(*args))
        return copied[-1]

    monkeypatch.setattr(mkdeck.package, "_copy_member", counted)
    _build(tmp_path)
    assert copied == [True, True]
    taken = package.read_bytes()
    assert len(_media_members(taken)) == 3  # the list of media, and the two images

    # The same build again, from the same state, each image read from its file.
    shutil.rmtree(_memo(tmp_path).parent)
    shutil.copytree(tmp_path / "memo-saved", _memo(tmp_path).parent)
    shutil.copytree(
        saved / "build", tmp_path / "build", dirs_exist_ok=True, copy_function=shutil.copy2
    )
    (cards / "c.md").write_text("# C？\n\n改过的回答。\n", "utf-8")
    monkeypatch.setattr(mkdeck.package, "_copy_member", lambda *args: False)
    _build(tmp_path)
    assert _media_members(package.read_bytes()) == _media_members(taken)
    with zipfile.ZipFile(package) as zf:
        assert zf.testzip() is None  # every member's CRC holds
    import_package(collection, package)
    media = Path(collection.media.dir())
    assert sorted(f.read_bytes() for f in media.iterdir()) == sorted([PNG, svg.encode()])


def _media_members(package: bytes) -> list[tuple[bytes, bytes]]:
    """Each member but the collection (whose times are the clock's): its local header and
    its data, as zipped."""
    found = []
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        for info in zf.infolist():
            if info.filename == "collection.anki2":
                continue
            start = info.header_offset + 30 + len(info.filename)  # (no extra fields)
            data = package[start : start + info.compress_size]
            found.append((package[info.header_offset : start], data))
    return found


def test_a_last_package_changed_by_other_hands_gives_no_image(tmp_path, monkeypatch):
    import mkdeck.package

    cards = write_cards(tmp_path, FILES)
    _build(tmp_path)
    package = tmp_path / "build" / "T.apkg"
    with zipfile.ZipFile(package, "a") as zf:
        zf.writestr("x", b"written by someone else")
    (cards / "c.md").write_text("# C？\n\n改过的回答。\n", "utf-8")
    offered = []
    monkeypatch.setattr(mkdeck.package, "_copy_member", lambda *args: offered.append(args[-1]))
    _build(tmp_path)
    assert offered == [None]  # no package to take an image from
    assert _media_bytes(package) == [PNG]


def test_a_file_edited_outside_its_code_is_not_highlighted_again(tmp_path, monkeypatch):
    """A rebuild hands a file its code blocks' HTML as the last build made it: a file edited
    outside its code asks Pygments for nothing (not even to load), and its note is the one a
    build without the memo makes; an edited block alone is highlighted again."""
    import mkdeck.markup

    code = "```python\nfor i in range(3):\n    print(i)\n```\n\n```mermaid\ngraph TD\n```\n"
    files = {"code.md": f"# 代码？\n\n1. 循环：打印三次\n\n{code}", "b.md": FILES["b.md"]}
    cards = write_cards(tmp_path / "memo", files)
    _build(tmp_path / "memo")
    asked: list[str] = []
    real = mkdeck.markup._highlighter
    monkeypatch.setattr(
        mkdeck.markup, "_highlighter", lambda language: asked.append(language) or real(language)
    )
    (cards / "code.md").write_text(f"# 代码？\n\n1. 循环：打印三次，改过\n\n{code}", "utf-8")
    assert _build(tmp_path / "memo").rendered == 1
    assert asked == []
    shutil.copytree(cards, tmp_path / "full" / "cards")
    _build(tmp_path / "full", use_cache=False)
    assert asked == ["python", "mermaid"]
    assert _notes(tmp_path / "memo") == _notes(tmp_path / "full")
    assert 'class="highlight"' in str(_notes(tmp_path / "memo"))

    asked.clear()
    edited = code.replace("print(i)", "print(i * i)")
    (cards / "code.md").write_text(f"# 代码？\n\n1. 循环：打印三次，改过\n\n{edited}", "utf-8")
    _build(tmp_path / "memo")
    assert asked == ["python"]


def test_a_changed_setting_version_or_source_renders_everything(tmp_path, monkeypatch):
    write_cards(tmp_path, FILES)
    _build(tmp_path)
    # A memo of another salt is started anew as a file, in the schema's larger pages (one
    # that an older mkdeck made had SQLite's 4 KB pages).
    with contextlib.closing(sqlite3.connect(_memo(tmp_path))) as conn:
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("VACUUM")
        assert conn.execute("PRAGMA page_size").fetchone() == (4096,)
    assert _build(tmp_path, settings={"allow_scripts": True}).rendered == 3
    with contextlib.closing(sqlite3.connect(_memo(tmp_path))) as conn:
        assert conn.execute("PRAGMA page_size").fetchone() == (16384,)
    assert _build(tmp_path, settings={"allow_scripts": True}).rendered == 0
    monkeypatch.setattr(mkdeck.memo, "__version__", "99.0")
    assert _build(tmp_path, settings={"allow_scripts": True}).rendered == 3
    # A contributor who changes mkdeck's own code (the dialect, say) sees it at once.
    monkeypatch.setattr(mkdeck.memo, "_source_hash", lambda: "edited")
    assert _build(tmp_path, settings={"allow_scripts": True}).rendered == 3
    # An upgraded parser or highlighter, too.
    monkeypatch.setattr(mkdeck.memo, "_declared_version", lambda package: f"{package} 99")
    assert _build(tmp_path, settings={"allow_scripts": True}).rendered == 3


def test_the_salt_sees_an_edit_to_any_of_mkdecks_modules(tmp_path):
    """Every module counts, the dialect's plugins in their own folder too: an edit to one
    (a new size or time, as any save gives) is a new salt; a copy left as it is, the same."""
    import os
    import shutil

    source = Path(mkdeck.memo.__file__).parent
    copy = tmp_path / "mkdeck"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
    salt = mkdeck.memo._source_hash.__wrapped__
    before = salt(str(copy))
    assert salt(str(copy)) == before
    plugin = copy / "dialect" / "math.py"
    plugin.write_text(plugin.read_text("utf-8").replace('"math', '"maths'), "utf-8")
    edited = salt(str(copy))
    assert edited != before
    later = plugin.stat().st_mtime_ns + 1_000_000_000
    os.utime(copy / "markup.py", ns=(later, later))
    assert salt(str(copy)) not in (before, edited)


def test_the_salt_reads_the_versions_the_installed_packages_have():
    from importlib.metadata import version

    assert mkdeck.memo._declared_version("markdown_it") == version("markdown-it-py")
    assert mkdeck.memo._declared_version("pygments") == version("pygments")


def _salt() -> str:
    return mkdeck.memo.salt_of(Config(Path(), Path(), Path()).render_settings)


def _memo(root: Path) -> Path:
    return memo_folder(root / "build" / "T.apkg") / MEMO_FILE


def test_a_damaged_memo_is_survived_with_one_note(tmp_path):
    cards = write_cards(tmp_path, FILES)
    _build(tmp_path)
    _memo(tmp_path).write_bytes(b"not a database at all" * 100)
    (cards / "b.md").write_text("# B？\n\n1. 二，改过\n", "utf-8")
    report = _build(tmp_path)
    assert not report.errors and report.rendered == 3
    notes = [d for d in report.diagnostics if "memo" in d.message]
    assert len(notes) == 1 and notes[0].severity == "note"
    assert _build(tmp_path).rendered == 0  # and it is made again for next time


def test_the_memo_is_data_outside_the_project(tmp_path):
    """No file in the project's folders is read as a memo, and the memo holds no code."""
    cards = write_cards(tmp_path, FILES)
    _build(tmp_path)
    assert sorted(p.name for p in (tmp_path / "build").iterdir()) == ["T.apkg"]
    memo = _memo(tmp_path)
    assert not memo.is_relative_to(tmp_path)
    with sqlite3.connect(memo) as conn:
        tables = {name for (name,) in conn.execute("select name from sqlite_master")}
        for (value,) in conn.execute("select card from files"):
            json.loads(value)  # plain data
    assert {"meta", "files", "images"} <= tables
    # A collection named in a memo is taken only from the memo's own folder.
    with sqlite3.connect(memo) as conn:
        [(kept,)] = conn.execute("select value from meta where key = 'kept'")
        outside = json.loads(kept)
        outside["name"] = "../../../outside.anki2"
        conn.execute("update meta set value = ? where key = 'kept'", (json.dumps(outside),))
        conn.execute("delete from meta where key = 'outcome'")
    (cards / "b.md").write_text("# B？\n\n1. 二，又改过\n", "utf-8")
    report = _build(tmp_path)
    assert not report.errors and report.notes == 3


def test_nothing_changed_is_known_from_the_last_outcome(tmp_path):
    write_cards(tmp_path, {**FILES, "empty.md": ""})
    first = _build(tmp_path)
    assert [str(d) for d in first.warnings] == ["empty.md:1: warning: the file is empty: skipped"]
    again = _build(tmp_path)
    assert again.up_to_date and again.rendered == 0
    assert (again.notes, again.cards, again.media) == (first.notes, first.cards, first.media)
    assert [str(d) for d in again.diagnostics] == [str(d) for d in first.diagnostics]
    # What the preview of an unchanged deck takes the points' lines from.
    memo = mkdeck.memo.Memo(_memo(tmp_path).parent, _salt(), writable=False)
    assert memo.lines() == first.lines() and first.lines()[("a.md", 2)] == 4
    memo.close()
    strict = _build(tmp_path, strict=True)  # what the last build said still counts
    assert [str(d) for d in strict.errors] == ["empty.md:1: error: the file is empty: skipped"]


def test_the_build_after_the_first_is_up_to_date(tmp_path):
    """The lock the first build writes is one of its outputs, not a change to the folder."""
    write_cards(tmp_path, FILES)
    assert not _build(tmp_path).up_to_date
    assert _build(tmp_path).up_to_date


def test_no_cache_renders_everything_and_check_writes_no_memo(tmp_path):
    write_cards(tmp_path, FILES)
    assert _build(tmp_path, use_cache=False).rendered == 3
    assert not _memo(tmp_path).exists()
    config = Config(tmp_path, tmp_path / "cards", tmp_path / "build", deck="T")
    check(tmp_path / "cards", config, out=tmp_path / "build" / "T.apkg")
    assert not _memo(tmp_path).exists()
    result = run(["build", "cards", "-o", "build/T.apkg", "--no-cache"], tmp_path)
    assert result.exit_code == 0 and not _memo(tmp_path).exists()


def test_the_command_says_when_the_deck_is_up_to_date(tmp_path):
    write_cards(tmp_path, FILES)
    run(["build", "cards", "-o", "build/T.apkg"], tmp_path)
    again = run(["build", "cards", "-o", "build/T.apkg"], tmp_path)
    assert again.stdout.startswith("build/T.apkg is up to date: 3 notes, 4 cards, 1 media")


@pytest.mark.parametrize("count", [30])
def test_parallel_and_serial_builds_give_the_same_notes(tmp_path, count):
    body = "1. 标签：$x_{{{i}}}$\n2. **粗体**：`code`\n\n```python\nprint({i})\n```\n"
    files = {f"q{i:03d}.md": f"# 问题 {i}？\n\n" + body.format(i=i) for i in range(count)}
    files["bad.md"] = "# 坏\n\n1. 公式 $x^{2$\n"
    # A post, a README that is one, and files held to one question: looked at in workers too.
    asks = "## 为什么要缩放？\n\n防止点积过大\n\n## 为什么用多头？\n\n```python\nx = 1\n```\n"
    files["post.md"] = "# 注意力\n\n" + asks
    files["README.md"] = "# 目录\n\n" + asks.replace("缩放", "归一化")
    files["held.md"] = "---\nid: held\n---\n# 注意力\n\n" + asks
    write_cards(tmp_path / "s", files)
    write_cards(tmp_path / "p", files)
    serial = _build(tmp_path / "s", use_cache=False, parallel=False)
    parallel = _build(tmp_path / "p", use_cache=False, parallel=True)
    assert [str(d) for d in parallel.diagnostics] == [str(d) for d in serial.diagnostics]
    assert any(str(d).startswith("bad.md:3: error: unbalanced braces") for d in parallel.errors)
    (tmp_path / "s" / "cards" / "bad.md").unlink()
    (tmp_path / "p" / "cards" / "bad.md").unlink()
    _build(tmp_path / "s", use_cache=False, parallel=False)
    _build(tmp_path / "p", use_cache=False, parallel=True)
    assert _notes(tmp_path / "s") == _notes(tmp_path / "p")
    assert len(_notes(tmp_path / "p")) == count + 5  # the post's 2, the README's 2, held.md
    assert (serial.posts, parallel.posts) == (2, 2)


def _notes(root: Path) -> list[tuple]:
    with zipfile.ZipFile(root / "build" / "T.apkg") as zf:
        db = root / "collection.anki2"
        db.write_bytes(zf.read("collection.anki2"))
    with sqlite3.connect(db) as conn:
        return conn.execute("select guid, mod, tags, flds from notes order by guid").fetchall()


def _media_bytes(package: Path) -> list[bytes]:
    with zipfile.ZipFile(package) as zf:
        return [zf.read(name) for name in zf.namelist() if name.isdigit()]


def test_a_rebuild_that_updates_the_kept_collection_equals_a_full_write(tmp_path):
    cards = write_cards(tmp_path / "inc", FILES)
    _build(tmp_path / "inc")
    (cards / "a.md").write_text(
        "# A？\n\n1. 新的第一点\n2. 图：![p](p.png)\n3. 一：$x_1$\n", "utf-8"
    )
    (cards / "b.md").unlink()  # c.md moves up in the new-card order
    (cards / "d.md").write_text("# D？\n\n1. 四\n", "utf-8")
    report = _build(tmp_path / "inc")
    assert report.rendered == 2
    shutil.copytree(cards, tmp_path / "full" / "cards")
    _build(tmp_path / "full", use_cache=False)
    incremental, full = _rows(tmp_path / "inc"), _rows(tmp_path / "full")
    assert incremental == full
    assert len(full[0]) == 3 and len(full[1]) == 5  # a (3 points), c, d


def _rows(root: Path) -> tuple[list[tuple], list[tuple]]:
    _notes(root)  # unpacks the collection
    with sqlite3.connect(root / "collection.anki2") as conn:
        notes = conn.execute("select guid, mid, mod, tags, flds, sfld from notes order by guid")
        cards = conn.execute(
            "select n.guid, c.did, c.ord, c.mod, c.type, c.queue, c.due"
            " from cards c join notes n on n.id = c.nid order by n.guid, c.ord"
        )
        return notes.fetchall(), cards.fetchall()


@pytest.mark.parametrize("also", ["nothing else", "an id"])
def test_an_image_changed_in_the_tick_it_was_read_is_seen(tmp_path, also):
    """Same size, same modification time, other bytes: git's "racy" case. An image that
    recent when a build read it is looked at again by the next build."""
    cards = write_cards(tmp_path, FILES)
    image = cards / "p.png"
    image.write_bytes(PNG)  # just now
    before = image.stat()
    _build(tmp_path)
    image.write_bytes(PNG[:-1] + b"\x00")
    os.utime(image, ns=(before.st_atime_ns, before.st_mtime_ns))
    if also == "an id":
        (cards / "b.md").write_text("---\nid: b\n---\n# B？\n\n1. 二\n", "utf-8")
    report = _build(tmp_path)
    assert not report.errors and not report.up_to_date
    assert _media_bytes(tmp_path / "build" / "T.apkg") == [PNG[:-1] + b"\x00"]


def test_images_read_in_workers_are_packed_again_by_the_next_build(tmp_path):
    # Workers send back no HTML; what the memo keeps of their reads must still name the images,
    # or a rebuild after one edit would pack a deck without them.
    files = {f"q{i:02d}.md": f"# 问题 {i}？\n\n1. 图：![p](p{i}.png)\n" for i in range(12)}
    files.update({f"p{i}.png": PNG + bytes([i]) for i in range(12)})
    cards = write_cards(tmp_path, files)
    first = _build(tmp_path, parallel=True)
    assert first.rendered == 12 and first.media == 12
    (cards / "q00.md").write_text("# 问题 0？\n\n1. 图：![p](p0.png)\n2. 新\n", "utf-8")
    again = _build(tmp_path, parallel=True)
    assert again.rendered == 1
    assert again.media == 12
    assert sorted(_media_bytes(tmp_path / "build" / "T.apkg")) == sorted(
        PNG + bytes([i]) for i in range(12)
    )


def test_a_rebuild_deflates_again_only_the_pieces_of_the_collection_that_changed(
    tmp_path, monkeypatch, collection
):
    import zlib

    import mkdeck.package

    monkeypatch.setattr(mkdeck.package, "PIECE", 4096)  # many pieces, from a small deck
    deflated = []
    real = zlib.compressobj

    def counted(*args, **kwargs):
        deflated.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(zlib, "compressobj", counted)
    files = {
        f"q{i:02d}.md": f"# 问题 {i}？\n\n1. 第一点 {i}\n2. 第二点 {'长' * 200}\n"
        for i in range(60)
    }
    cards = write_cards(tmp_path, files)
    _build(tmp_path, parallel=False)
    pieces = len(deflated) - 1  # zipfile deflates the media list itself
    (cards / "q07.md").write_text("# 问题 7？\n\n1. 改过的第一点\n2. 第二点\n", "utf-8")
    deflated.clear()
    _build(tmp_path, parallel=False)
    # A page changed is a piece deflated again: the note's, its cards', the indexes' and the
    # header's, out of every page of the collection.
    assert pieces > 20 and 1 <= len(deflated) - 1 < pieces / 2
    with zipfile.ZipFile(tmp_path / "build" / "T.apkg") as zf:
        assert zf.testzip() is None  # every member's CRC holds
    shutil.copytree(cards, tmp_path / "full" / "cards")
    _build(tmp_path / "full", use_cache=False)
    assert _notes(tmp_path) == _notes(tmp_path / "full")
    from helpers import import_package

    import_package(collection, tmp_path / "build" / "T.apkg")
    assert collection.note_count() == 60
    cid = collection.find_cards("改过的第一点")[0]
    assert "改过的第一点" in collection.get_card(cid).answer()
