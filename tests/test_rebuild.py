"""A rebuild after a few files changed (edited, added, removed, moved, or an image replaced)
reads only those files, and gives exactly what a build without a memo of the same cards and
lock gives: the same notes and cards, the same lock, the same report."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mkdeck.lockfile
import mkdeck.memo
import mkdeck.readcards
from helpers import PNG, answer_everything, card_hiding, import_package, reviews, write_cards
from mkdeck.build import Report, build
from mkdeck.config import Config
from mkdeck.lockfile import parse_lock

NOW = 1_800_000_000


def _front(note_id: str | None, tags: str = "", deck: str | None = None) -> str:
    lines = [f"id: {note_id}"] if note_id else []
    lines += [f"tags: [{tags}]"] if tags else []
    lines += [f"deck: {deck}"] if deck else []
    return "---\n" + "\n".join(lines) + "\n---\n" if lines else ""


def _card(title: str, points: list[str], note_id: str | None, extra: str = "", **front) -> str:
    body = "\n".join(f"{k}. {p}" for k, p in enumerate(points, 1))
    return f"{_front(note_id, **front)}# {title}\n\n{body}\n\n{extra}"


START = {
    "a.md": _card("注意力？", ["缩放：$QK^T/\\sqrt{d}$", "掩码：因果", "多头：拼接"], "a"),
    "b.md": _card("显存？", ["参数：$2P$ 字节", "优化器：$12P$"], None),
    "sub/c.md": _card("残差？", ["梯度：直通", "归一化：前置"], "c", "![图](p.png)"),
    "sub/p.png": PNG,
    "d.md": _card("分词？", ["BPE：合并", "词表：$V$"], None, "补充 `code`"),
}

EDITS = [
    "reword",
    "add",
    "remove",
    "swap",
    "title",
    "extra",
    "tags",
    "image",
    "same",
    "new file",
    "new file with id",
    "delete",
    "rename",
    "rename and edit",
    "rename and replace",
    "steal id",
    "readme",
    "image bytes",
    "id",
    "deck",
    "empty",
    "broken",
    # The lock as another machine's build wrote it, pulled: an entry's time moved, a point's
    # text changed by hand, the whole lock written again with the same values.
    "pulled time",
    "pulled point",
    "pulled format",
]


def _edit(cards: Path, rel: str, kind: str, step: int) -> None:
    path = cards / rel
    if kind == "new file":
        (cards / f"new{step}.md").write_text(_card(f"新题 {step}？", ["一", "二"], None), "utf-8")
        return
    if kind == "new file with id":
        text = _card(f"新题 {step}？", ["一", "二", "三"], f"n{step}", "![图](sub/p.png)")
        (cards / f"new-id{step}.md").write_text(text, "utf-8")
        return
    if kind == "image bytes":
        (cards / "sub" / "p.png").write_bytes(PNG + step.to_bytes(2, "big"))
        return
    if kind == "readme":
        (cards / "sub" / "README.md").write_text(f"# 说明 {step}\n", "utf-8")
        return
    if kind == "delete":
        path.unlink(missing_ok=True)
        return
    if kind.startswith("pulled"):
        _pull(cards / "mkdeck.lock", rel, kind, step)
        return
    if kind.startswith("rename"):
        if path.exists():
            moved = path.with_name(f"moved{step}-{path.name}")
            path.rename(moved)
            if kind == "rename and edit":
                moved.write_text(moved.read_text("utf-8") + f"\n9. 新增要点 {step}\n", "utf-8")
            if kind == "rename and replace":  # a new note at the path another note left
                path.write_text(_card(f"另一题 {step}？", ["甲", "乙"], None), "utf-8")
        return
    if not path.exists():
        return
    text = path.read_text("utf-8")
    lines = text.split("\n")
    points = [i for i, line in enumerate(lines) if line[:1].isdigit() and ". " in line]
    if kind == "reword" and points:
        lines[points[0]] += f" 改{step}"
    elif kind == "add":
        lines.insert(points[-1] + 1 if points else len(lines), f"9. 新增要点 {step}")
    elif kind == "remove" and len(points) > 1:
        del lines[points[-1]]
    elif kind == "swap" and len(points) > 1:
        first, second = points[0], points[1]
        lines[first], lines[second] = lines[second], lines[first]
    elif kind == "title":
        lines = [line + f" {step}" if line.startswith("# ") else line for line in lines]
    elif kind == "extra":
        lines.append(f"补充 {step}")
    elif kind == "tags":
        lines = _with_key(lines, "tags", f"[t{step}]")
    elif kind == "image" and rel.startswith("sub/"):
        lines.append("" if "![" in text else "![再一张](p.png)")
    elif kind == "id":
        lines = _with_key(lines, "id", f"x{step}")
    elif kind == "steal id":  # another file's id: both are errors until it is taken back
        lines = _with_key(lines, "id", "a")
    elif kind == "deck":
        lines = _with_key(lines, "deck", "别处")
    elif kind == "empty":
        lines = [""]
    elif kind == "broken":
        lines.append("公式 $x^{2$")
    path.write_text("\n".join(lines), "utf-8")


def _pull(lock: Path, rel: str, kind: str, step: int) -> None:
    """The lock as another machine's build left it: `rel`'s entry changed (its time, or its
    first point's text), or every entry written again with a space more."""
    text = lock.read_text("utf-8")
    if kind == "pulled format":
        lock.write_text(text.replace("\nnext = ", "\nnext =  "), "utf-8")
        return
    start = text.find(f'\n["{rel}"]\n')
    if start < 0:
        return
    end = text.find("\n[", start + 1)
    end = len(text) if end < 0 else end
    table = text[start:end]
    if kind == "pulled time":
        table = re.sub(r"mtime = (\d+)", lambda m: f"mtime = {int(m[1]) + step}", table)
    else:
        table = re.sub(r'(\n  \[\d+, ")', rf"\g<1>他处 {step} ", table, count=1)
    lock.write_text(text[:start] + table + text[end:], "utf-8")


def _with_key(lines: list[str], key: str, value: str) -> list[str]:
    """The file's lines with `key: value` in its front matter, replacing the key's old value."""
    if lines[0] != "---":
        return ["---", f"{key}: {value}", "---", *lines]
    end = lines.index("---", 1)
    kept = [line for line in lines[1:end] if not line.startswith(f"{key}:")]
    return ["---", *kept, f"{key}: {value}", *lines[end:]]


def _build(root: Path, now: int, use_cache: bool) -> Report:
    cards = root / "cards"
    config = Config(root, cards, root / "build", deck="T")
    return build(cards, root / "build" / "T.apkg", config, now=now, use_cache=use_cache)


def _package(root: Path) -> tuple:
    """What Anki would read: note and card rows (without row ids), and the media."""
    with zipfile.ZipFile(root / "build" / "T.apkg") as zf:
        db = root / "unpacked.anki2"
        db.write_bytes(zf.read("collection.anki2"))
        media = sorted((zf.read("media"), *(zf.read(n) for n in zf.namelist() if n.isdigit())))
    with sqlite3.connect(db) as conn:
        notes = conn.execute("select guid, mid, mod, tags, flds, sfld from notes order by guid")
        cards = conn.execute(
            "select n.guid, c.did, c.ord, c.mod, c.type, c.queue, c.due"
            " from cards c join notes n on n.id = c.nid order by n.guid, c.ord"
        )
        rows = notes.fetchall(), cards.fetchall()
    db.unlink()
    return rows, media


def _said(report: Report) -> tuple:
    return (
        [str(d) for d in report.diagnostics],
        (report.notes, report.cards, report.media),
    )


@settings(
    max_examples=int(os.environ.get("MKDECK_EXAMPLES", "20")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(sorted(k for k in START if k.endswith(".md"))),
                st.sampled_from(EDITS),
            ),
            min_size=1,
            max_size=2,
        ),
        min_size=1,
        max_size=5,
    )
)
def test_a_rebuild_equals_a_full_build_of_the_same_cards_and_lock(tmp_path_factory, steps):
    work = tmp_path_factory.mktemp("incremental")
    cards = write_cards(work, START)
    _build(work, NOW, use_cache=True)
    for step, edits in enumerate(steps, 1):
        for rel, kind in edits:
            _edit(cards, rel, kind, step)
        full = work.parent / f"{work.name}-full{step}"
        shutil.copytree(cards, full / "cards")  # the same cards and the same lock
        now = NOW + 100 * step
        rebuilt, expected = _build(work, now, True), _build(full, now, False)
        assert _said(rebuilt) == _said(expected)
        if expected.errors:
            assert (full / "cards" / "mkdeck.lock").read_bytes() == (
                cards / "mkdeck.lock"
            ).read_bytes()
            for rel, kind in edits:  # take the broken edit back for the next step
                if kind == "broken":
                    _edit(cards, rel, "reword", step)
                if kind == "steal id" and (cards / rel).exists():
                    _edit(cards, rel, "id", step)
            continue
        assert (cards / "mkdeck.lock").read_text("utf-8") == (
            full / "cards" / "mkdeck.lock"
        ).read_text("utf-8")
        assert _package(work) == _package(full)


def _count_reads(monkeypatch) -> list[str]:
    """The card files read (parsed and rendered) from now on, by their paths."""
    read, reads = mkdeck.readcards.read_card, []

    def counted(job):
        reads.append(job[0])
        return read(job)

    monkeypatch.setattr(mkdeck.readcards, "read_card", counted)
    return reads


def test_adding_and_removing_files_reads_only_those(tmp_path, monkeypatch):
    cards = write_cards(tmp_path, START)
    _build(tmp_path, NOW, use_cache=True)
    _edit(cards, "b.md", "new file", 1)  # new1.md, between d.md and sub/c.md
    _edit(cards, "b.md", "delete", 1)
    reads = _count_reads(monkeypatch)
    report = _build(tmp_path, NOW + 100, use_cache=True)
    assert reads == ["new1.md"] and report.rendered == 1 and not report.errors
    assert (report.notes, report.cards) == (4, 9)
    assert [str(d) for d in report.diagnostics] == [
        "b.md: note: card file is gone: its note stays in Anki until you delete it there"
    ]
    lock = (cards / "mkdeck.lock").read_text("utf-8")
    assert '["new1.md"]' in lock and '["b.md"]' not in lock


@pytest.mark.parametrize("rel", ["a.md", "d.md"])  # with an id, and without
def test_a_moved_file_keeps_its_note_without_a_full_build(tmp_path, monkeypatch, rel):
    cards = write_cards(tmp_path, START)
    _build(tmp_path, NOW, use_cache=True)
    guid = _guids(cards)[rel]
    _edit(cards, rel, "rename", 1)
    reads = _count_reads(monkeypatch)
    report = _build(tmp_path, NOW + 100, use_cache=True)
    assert reads == [f"moved1-{rel}"] and not report.diagnostics
    assert _guids(cards)[f"moved1-{rel}"] == guid and rel not in _guids(cards)


def _guids(cards: Path) -> dict[str, str]:
    lock = parse_lock((cards / "mkdeck.lock").read_text("utf-8"), "mkdeck.lock")
    return {note.path: note.guid for note in lock.notes}


def test_an_edit_in_place_reads_only_the_edited_file(tmp_path, monkeypatch):
    cards = write_cards(tmp_path, START)
    _build(tmp_path, NOW, use_cache=True)
    _edit(cards, "a.md", "add", 1)
    _edit(cards, "sub/c.md", "reword", 1)
    reads = _count_reads(monkeypatch)
    report = _build(tmp_path, NOW + 100, use_cache=True)
    assert sorted(reads) == ["a.md", "sub/c.md"] and report.rendered == 2
    assert not report.errors and not report.up_to_date
    assert (report.notes, report.cards) == (4, 10)
    assert "新增要点 1" in (cards / "mkdeck.lock").read_text("utf-8")


@pytest.mark.parametrize("kind", ["id", "deck", "empty"])
def test_an_id_deck_or_emptied_file_is_read_alone_too(tmp_path, monkeypatch, kind):
    """One pipeline: what changes who a note is, or where it goes, is still one file's read."""
    cards = write_cards(tmp_path, START)
    _build(tmp_path, NOW, use_cache=True)
    _edit(cards, "a.md", kind, 1)
    reads = _count_reads(monkeypatch)
    report = _build(tmp_path, NOW + 100, use_cache=True)
    assert reads == ["a.md"] and not report.errors
    full = tmp_path / "full"
    shutil.copytree(cards, full / "cards")
    expected = _build(full, NOW + 100, use_cache=False)
    assert _said(report)[1] == _said(expected)[1]
    assert _package(tmp_path) == _package(full)


def test_a_rebuild_leaves_no_reference_cycles_behind(tmp_path):
    """A build sets what outlives it aside from Python's cycle collector (`gc.freeze`), which is
    safe in a long `watch` only while a build leaves no cycles for that collector to free."""
    import gc

    cards = write_cards(tmp_path, START)
    _build(tmp_path, NOW, use_cache=True)
    _edit(cards, "a.md", "reword", 1)
    _build(tmp_path, NOW + 100, use_cache=True)  # every module a rebuild needs, loaded
    _edit(cards, "sub/c.md", "reword", 2)
    gc.unfreeze()
    gc.collect()
    report = _build(tmp_path, NOW + 200, use_cache=True)
    assert report.rendered == 1
    gc.unfreeze()
    assert gc.collect() == 0


def test_an_edit_in_place_keeps_review_history_in_anki(tmp_path, collection, monkeypatch):
    """The in-place rebuild, imported into a real collection: reviews stay with their points."""
    cards = write_cards(tmp_path, START)
    first = _build(tmp_path, NOW, use_cache=True)
    import_package(collection, first.package)
    assert answer_everything(collection, "T") == 9
    masked = card_hiding(collection, "因果")
    # A point inserted above the others, one reworded: only a.md is read again.
    text = (cards / "a.md").read_text("utf-8")
    text = text.replace("1. 缩放", "1. 定义：加权求和\n2. 缩放").replace("因果", "因果，看不到后文")
    (cards / "a.md").write_text(text, "utf-8")
    reads = _count_reads(monkeypatch)
    second = _build(tmp_path, NOW + 100, use_cache=True)
    assert reads == ["a.md"] and second.cards == 10
    import_package(collection, second.package)
    reworded = card_hiding(collection, "因果，看不到后文")
    assert reworded.id == masked.id
    assert reviews(collection, reworded.id) == 1
    new = card_hiding(collection, "加权求和")
    assert reviews(collection, new.id) == 0


def test_an_image_found_by_its_name_follows_a_file_added_nearer(tmp_path):
    """An Obsidian embed not where it says is found by its name: a file of that name added
    beside the card is the one shown next, as a full build would show it."""
    files = {**START, "a.md": START["a.md"] + "\n![[p.png]]\n"}
    cards = write_cards(tmp_path, files)
    _build(tmp_path, NOW, use_cache=True)
    (cards / "p.png").write_bytes(PNG + b"nearer")
    rebuilt = _build(tmp_path, NOW + 100, use_cache=True)
    full = tmp_path / "full"
    shutil.copytree(cards, full / "cards")
    expected = _build(full, NOW + 100, use_cache=False)
    assert _said(rebuilt) == _said(expected) and rebuilt.media == 2
    assert _package(tmp_path) == _package(full)


@pytest.mark.parametrize("kind", ["reword", "id"])
def test_a_damaged_kept_collection_is_written_whole(tmp_path, kind):
    cards = write_cards(tmp_path, START)
    _build(tmp_path, NOW, use_cache=True)
    folder = mkdeck.memo.memo_folder(tmp_path / "build" / "T.apkg")
    [kept] = folder.glob("collection-*.anki2")
    kept.write_bytes(kept.read_bytes()[:5000])  # a disk that filled up, say
    _edit(cards, "b.md", kind, 1)
    _edit(cards, "d.md", "reword", 1)  # a note to replace in the kept collection
    rebuilt = _build(tmp_path, NOW + 100, use_cache=True)
    full = tmp_path / "full"
    shutil.copytree(cards, full / "cards")
    expected = _build(full, NOW + 100, use_cache=False)
    assert not rebuilt.errors and _said(rebuilt) == _said(expected)
    assert _package(tmp_path) == _package(full)


@pytest.mark.parametrize("stop_at", ["place_lock", "save"])
def test_a_rebuild_stopped_halfway_is_finished_by_the_next_build(tmp_path, monkeypatch, stop_at):
    """Killed after the package (before the lock) or after the lock (before the memo): the
    next build sees that the memo no longer describes the package, and finishes the job."""
    cards = write_cards(tmp_path, START)
    _build(tmp_path, NOW, use_cache=True)
    _edit(cards, "a.md", "add", 1)
    lock_before = (cards / "mkdeck.lock").read_bytes()

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    target = mkdeck.lockfile if stop_at == "place_lock" else mkdeck.memo.Memo
    monkeypatch.setattr(target, stop_at, stop)
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path, NOW + 100, use_cache=True)
    monkeypatch.undo()
    assert ((cards / "mkdeck.lock").read_bytes() == lock_before) == (stop_at == "place_lock")
    assert not [p for p in cards.iterdir() if p.name.endswith(".tmp")]
    full = tmp_path / "full"
    shutil.copytree(cards, full / "cards")  # the cards, and the lock as the stop left it
    finished = _build(tmp_path, NOW + 200, use_cache=True)
    expected = _build(full, NOW + 200, use_cache=False)
    assert not finished.errors and _said(finished) == _said(expected)
    assert (cards / "mkdeck.lock").read_bytes() == (full / "cards" / "mkdeck.lock").read_bytes()
    assert _package(tmp_path) == _package(full)


def test_unchanged_files_are_carried_over_unread_under_their_lock_or_an_other_hands(
    tmp_path, monkeypatch
):
    cards = write_cards(tmp_path, START)
    _build(tmp_path, NOW, use_cache=True)
    _edit(cards, "a.md", "reword", 1)
    report = _build(tmp_path, NOW + 100, use_cache=True)
    # sub/c.md shows an image: it is read from the memo, to find its image again.
    assert sorted(n.source.rel for n in report.carried) == ["b.md", "d.md"]
    assert sorted(c.source.rel for c in report.built) == ["a.md", "sub/c.md"]
    assert report.lines()[("b.md", 2)] == 4
    # The lock written by other hands (pulled): d.md's table as another tool would write
    # it, the same values with a space more.
    lock = cards / "mkdeck.lock"
    text = lock.read_text("utf-8")
    d_at = text.index('["d.md"]')
    lock.write_text(text[:d_at] + text[d_at:].replace("mtime = ", "mtime =  ", 1), "utf-8")
    _edit(cards, "b.md", "extra", 2)
    full = tmp_path / "full"
    shutil.copytree(cards, full / "cards")
    reads = _count_memo_reads(monkeypatch)
    again = _build(tmp_path, NOW + 200, use_cache=True)
    # Only a.md's table is as the last build left it: its note is carried over, unread;
    # b.md was edited, c.md shows an image, d.md's table changed.
    assert [n.source.rel for n in again.carried] == ["a.md"] and again.notes == 4
    assert sorted(reads) == ["b.md", "d.md", "sub/c.md"]
    expected = _build(full, NOW + 200, use_cache=False)
    assert expected.carried == [] and _said(again) == _said(expected)
    assert _package(tmp_path) == _package(full)
    assert lock.read_bytes() == (full / "cards" / "mkdeck.lock").read_bytes()


def _count_memo_reads(monkeypatch) -> list[str]:
    """The card files read from the memo from now on, by their paths."""
    read, reads = mkdeck.memo.Memo.read, []

    def counted(memo, rel, data_hash):
        reads.append(rel)
        return read(memo, rel, data_hash)

    monkeypatch.setattr(mkdeck.memo.Memo, "read", counted)
    return reads


def test_after_a_pull_without_the_last_lock_kept_every_file_is_read_again(tmp_path, monkeypatch):
    cards = write_cards(tmp_path, START)
    _build(tmp_path, NOW, use_cache=True)
    folder = mkdeck.memo.memo_folder(tmp_path / "build" / "T.apkg")
    kept = [p for p in folder.iterdir() if p.name.startswith("lock-")]
    assert len(kept) == 1 and kept[0].read_bytes() == (cards / "mkdeck.lock").read_bytes()
    kept[0].unlink()  # (a memo from before it kept the lock)
    _pull(cards / "mkdeck.lock", "d.md", "pulled time", 1)
    full = tmp_path / "full"
    shutil.copytree(cards, full / "cards")
    again = _build(tmp_path, NOW + 100, use_cache=True)
    assert again.carried == []
    assert _said(again) == _said(_build(full, NOW + 100, use_cache=False))
    assert _package(tmp_path) == _package(full)
    assert (cards / "mkdeck.lock").read_bytes() == (full / "cards" / "mkdeck.lock").read_bytes()
    # The next pull finds the lock kept again.
    _pull(cards / "mkdeck.lock", "d.md", "pulled time", 2)
    assert [n.source.rel for n in _build(tmp_path, NOW + 200, True).carried] == ["a.md", "b.md"]


def test_a_new_file_with_the_id_of_a_carried_note_is_an_error_for_both(tmp_path):
    cards = write_cards(tmp_path, START)
    _build(tmp_path, NOW, use_cache=True)
    (cards / "z.md").write_text(_card("又一题？", ["一"], "a"), "utf-8")
    report = _build(tmp_path, NOW + 100, use_cache=True)
    assert [str(d) for d in report.errors] == [
        "z.md:2: error: id `a` is already used by a.md:2 (each card file needs its own id)"
    ]


def test_a_new_file_where_a_moved_note_was_gets_a_guid_of_its_own(tmp_path):
    cards = write_cards(tmp_path, START)
    _build(tmp_path, NOW, use_cache=True)
    guid = _guids(cards)["b.md"]
    (cards / "b.md").rename(cards / "e.md")  # no id: recognised by its points
    _build(tmp_path, NOW + 100, use_cache=True)
    assert _guids(cards)["e.md"] == guid
    (cards / "b.md").write_text(_card("新的 b？", ["甲", "乙"], None), "utf-8")
    report = _build(tmp_path, NOW + 200, use_cache=True)
    assert "e.md" in {n.source.rel for n in report.carried}
    guids = _guids(cards)
    assert guids["e.md"] == guid and guids["b.md"] != guid
    assert len(set(guids.values())) == len(guids)


def test_a_moved_note_keeps_its_entry_when_a_broken_file_takes_its_old_path(tmp_path):
    cards = write_cards(tmp_path, START)
    _build(tmp_path, NOW, use_cache=True)
    guid = _guids(cards)["a.md"]
    (cards / "a.md").rename(cards / "moved.md")  # it has an id: it is the same note
    (cards / "a.md").write_text(_card("新题？", ["公式 $x^{2$"], None), "utf-8")
    report = _build(tmp_path, NOW + 100, use_cache=True)
    assert report.left_out == ["a.md"]
    assert _guids(cards)["moved.md"] == guid


def test_a_file_saved_again_while_it_is_built_is_said_and_nothing_is_written(tmp_path, monkeypatch):
    """A build lets go of the bytes it read once every file is read; a note read in a worker
    and sealed for other ordinals than 1, 2, 3… reads its file again. Saved again in between
    (a burst of saves), the file no longer has the bytes it was read from: the build says so
    at the file, writes nothing, and the next build takes the new text."""
    import mkdeck.build

    points = ["一：甲", "二：乙", "三：丙"]
    cards = write_cards(tmp_path, {"a.md": _card("问题？", points, "a")})
    _build(tmp_path, NOW, use_cache=True)
    lock, package = (cards / "mkdeck.lock").read_bytes(), _package(tmp_path)
    (cards / "a.md").write_text(_card("问题？", points[1:], "a"), "utf-8")  # ordinals 2 and 3
    collect = mkdeck.build.collect

    def saved_meanwhile(*args, **kwargs):
        found = collect(*args, **kwargs)
        (cards / "a.md").write_text(_card("问题？", ["二：乙改", "三：丙"], "a"), "utf-8")
        return found

    monkeypatch.setattr(mkdeck.build, "collect", saved_meanwhile)
    config = Config(tmp_path, cards, tmp_path / "build", deck="T")
    # Read in a worker, which keeps no HTML: the note is sealed from its file read again.
    report = build(cards, tmp_path / "build" / "T.apkg", config, now=NOW + 100, parallel=True)
    [error] = report.errors
    assert (error.path, error.message) == (
        "a.md",
        "the file changed while mkdeck read the folder: build again",
    )
    assert (cards / "mkdeck.lock").read_bytes() == lock and _package(tmp_path) == package
    monkeypatch.setattr(mkdeck.build, "collect", collect)
    again = _build(tmp_path, NOW + 200, use_cache=True)
    assert not again.errors and again.cards == 2
    assert "二：乙改" in (cards / "mkdeck.lock").read_text("utf-8")


@pytest.mark.parametrize("damage", ["guid twice", "path twice", "conflict"])
def test_a_pulled_lock_is_checked_whole_though_most_of_it_is_carried_over(tmp_path, damage):
    """The tables a pull left as they were are not parsed again, but what is wrong with the
    lock as a whole is said as a build without a memo says it: where it is, nothing written."""
    cards = write_cards(tmp_path, START)
    _build(tmp_path, NOW, use_cache=True)
    lock = cards / "mkdeck.lock"
    text = lock.read_text("utf-8")
    guid = parse_lock(text, "mkdeck.lock").notes[0].guid  # a.md's, which is carried over
    if damage == "guid twice":  # a new table that takes a carried note's guid
        new = f'\n["e.md"]\nguid = "{guid}"\nmtime = 1\ndigest = "x"\nnext = 2\npoints = [\n'
        text += new + '  [1, "甲"],\n]\n'
    elif damage == "path twice":  # b.md's table again, written by other hands
        text += text[text.index('\n["b.md"]') : text.index('\n["d.md"]')]
    else:
        at = text.index('\n["d.md"]')
        text = text[:at] + "\n<<<<<<< HEAD" + text[at:]
    lock.write_text(text, "utf-8")
    full = tmp_path / "full"
    shutil.copytree(cards, full / "cards")
    package = (tmp_path / "build" / "T.apkg").read_bytes()
    pulled = _build(tmp_path, NOW + 100, use_cache=True)
    expected = _build(full, NOW + 100, use_cache=False)
    assert pulled.errors and _said(pulled) == _said(expected)
    assert [d.path for d in pulled.errors] == ["mkdeck.lock"] and pulled.errors[0].line > 0
    assert lock.read_text("utf-8") == text  # nothing written
    assert (tmp_path / "build" / "T.apkg").read_bytes() == package


def test_a_lock_the_memo_cannot_keep_costs_only_time(tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mkdeck.memo.shutil, "copyfile", full_disk)
    cards = write_cards(tmp_path, START)
    assert not _build(tmp_path, NOW, use_cache=True).errors
    folder = mkdeck.memo.memo_folder(tmp_path / "build" / "T.apkg")
    assert not [p for p in folder.iterdir() if p.name.startswith("lock-")]  # nor half of one
    _pull(cards / "mkdeck.lock", "d.md", "pulled time", 1)
    again = _build(tmp_path, NOW + 100, use_cache=True)
    assert again.carried == [] and not again.errors and again.notes == 4
