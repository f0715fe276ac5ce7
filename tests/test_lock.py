"""The lock file: written after the package, stable, and never silently reset."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import build_deck, run, write_cards
from mkdeck.errors import MkdeckError
from mkdeck.lockfile import (
    Lock,
    LockedNote,
    _read_own_format,
    format_lock,
    parse_lock,
    place_lock,
    prepare_lock,
    read_lock,
)

CARD = "---\nid: lock-demo\n---\n# 问题\n\n1. 一：甲\n2. 二：乙\n"


def test_lock_round_trips_and_is_sorted_plain_text(tmp_path):
    cards = write_cards(tmp_path, {"b.md": CARD, "a.md": "# A\n\n1. x\n"})
    assert not build_deck(cards).errors
    text = (cards / "mkdeck.lock").read_text("utf-8")
    assert text.index('["a.md"]') < text.index('["b.md"]')
    assert '[1, "一：甲"],' in text
    assert format_lock(parse_lock(text, "mkdeck.lock")) == text


def test_unchanged_sources_leave_the_lock_byte_for_byte(tmp_path):
    cards = write_cards(tmp_path, {"b.md": CARD})
    build_deck(cards)
    lock = cards / "mkdeck.lock"
    before = lock.read_bytes()
    stamp = lock.stat().st_mtime_ns
    build_deck(cards)
    assert lock.read_bytes() == before
    assert lock.stat().st_mtime_ns == stamp  # not even rewritten: no churn for git


def test_a_lock_prepared_as_the_one_there_leaves_it_untouched(tmp_path):
    # The lock is hashed as it is written beside its place: the same text is dropped there,
    # the lock itself is not touched, and a changed one waits beside it for `place_lock`.
    cards = write_cards(tmp_path, {"b.md": CARD})
    build_deck(cards)
    path = cards / "mkdeck.lock"
    lock, digest = read_lock(cards)
    stamp = path.stat().st_mtime_ns
    same = prepare_lock(path, lock, current=digest)
    assert same == (digest, None)
    assert path.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in cards.iterdir()) == ["b.md", "mkdeck.lock"]
    other = Lock((lock.notes[0]._replace(mtime=lock.notes[0].mtime + 1),))
    changed = prepare_lock(path, other, current=digest)
    assert changed.temporary is not None and changed.hash != digest
    assert changed.temporary.read_text("utf-8") == format_lock(other)
    place_lock(path, changed)
    assert read_lock(cards) == (other, changed.hash)


def test_conflict_markers_are_a_clear_error_and_nothing_is_written(tmp_path):
    cards = write_cards(tmp_path, {"b.md": CARD})
    first = build_deck(cards)
    lock = cards / "mkdeck.lock"
    good = lock.read_text("utf-8")
    lines = good.splitlines()
    lines.insert(6, "<<<<<<< HEAD")
    lines.insert(9, "=======")
    lines.insert(10, ">>>>>>> other")
    lock.write_text("\n".join(lines), "utf-8")
    package = first.package.read_bytes()

    result = run(["build", "cards", "-o", str(first.package)], tmp_path)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "cards/mkdeck.lock:7: error: the lock file has merge-conflict markers"
    )
    assert "git checkout --theirs" in result.stderr
    assert first.package.read_bytes() == package
    assert lock.read_text("utf-8") == "\n".join(lines)  # not reset


def test_conflict_markers_in_a_lock_with_windows_line_ends_are_found_on_their_line():
    text = format_lock(Lock((LockedNote("a.md", "g", None, 1, "d", 2, ((1, "x = ======= y"),)),)))
    lines = text.split("\n")
    lines.insert(5, ">>>>>>> theirs")
    with pytest.raises(MkdeckError) as found:
        parse_lock("\r\n".join(lines), "mkdeck.lock")
    assert found.value.diagnostic.line == 6
    assert "merge-conflict markers" in found.value.diagnostic.message
    # Seven signs inside a point's text, or not alone at a line's start, are no marker.
    assert parse_lock(text.replace('"x = ', '"=======x = '), "mkdeck.lock").notes


def test_a_lock_with_an_escape_json_lacks_is_read_as_toml_or_named_by_its_line(tmp_path):
    cards = write_cards(tmp_path, {"b.md": CARD})
    build_deck(cards)
    lock = cards / "mkdeck.lock"
    good = lock.read_text("utf-8")
    assert '  [1, "一：甲"],' in good.splitlines()[12]  # the lock's 13th line
    # TOML's eight-digit escape, which JSON has not: read as TOML reads it.
    lock.write_text(good.replace('"一：甲"', '"一：甲\\U0001F600"'), "utf-8")
    (entry,) = read_lock(cards)[0].notes
    assert entry.points[0] == (1, "一：甲\U0001f600")
    # An escape neither knows: the lock's line and how to recover, never a traceback.
    lock.write_text(good.replace('"一：甲"', '"一：甲\\q"'), "utf-8")
    result = run(["check", "cards"], tmp_path)
    assert result.exit_code == 1
    assert result.stderr.startswith("cards/mkdeck.lock:13: error: the lock file is damaged")
    assert "git checkout --" in result.stderr


def test_damaged_lock_says_how_to_recover(tmp_path):
    cards = write_cards(tmp_path, {"b.md": CARD})
    build_deck(cards)
    lock = cards / "mkdeck.lock"
    lock.write_text(lock.read_text("utf-8").replace("next = 3", "next = 1"), "utf-8")
    result = run(["check", "cards"], tmp_path)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "cards/mkdeck.lock:6: error: the lock file is damaged: entry `b.md`"
    )
    assert "git checkout --" in result.stderr

    lock.write_text("version = 1\n[broken\n", "utf-8")
    result = run(["check", "cards"], tmp_path)
    assert result.exit_code == 1
    assert result.stderr.startswith("cards/mkdeck.lock:2: error: the lock file is damaged")


def test_an_emptied_lock_is_damage_not_a_fresh_start(tmp_path):
    """A lock cut to nothing (a tool that failed half-way) is not taken for no lock: built
    afresh without a package or memo to recover from, every card would get a new identity."""
    cards = write_cards(tmp_path, {"b.md": CARD})
    (cards / "mkdeck.lock").write_bytes(b"")
    result = run(["build", "cards", "--no-cache"], tmp_path)
    assert result.exit_code == 1
    assert "cards/mkdeck.lock: error: the lock file is damaged: expected `version = 1`" in (
        result.stderr
    )
    assert (cards / "mkdeck.lock").read_bytes() == b""


def test_a_file_left_out_for_an_error_keeps_its_lock_entry_as_it_was(tmp_path):
    cards = write_cards(tmp_path, {"b.md": CARD, "a.md": "# 甲？\n\n1. 一\n"})
    build_deck(cards)
    lock = (cards / "mkdeck.lock").read_bytes()
    broken = CARD.replace("2. 二：乙", "2. 二：乙\n3. 新 $x^{2$")
    write_cards(tmp_path, {"b.md": broken, "c.md": ""})
    report = build_deck(cards)
    assert report.left_out == ["b.md"]
    assert (cards / "mkdeck.lock").read_bytes() == lock


def test_new_writes_a_card_with_a_fresh_id_and_check_names_files_without_one(tmp_path):
    (tmp_path / "cards").mkdir()
    result = run(["new", "LoRA 为什么能省显存？"], tmp_path)
    assert result.exit_code == 0, result.stderr
    path = tmp_path / result.stdout.strip()
    text = path.read_text("utf-8")
    assert path.parent.name == "cards" and path.suffix == ".md"
    assert text.startswith("---\nid: lora-") and "# LoRA 为什么能省显存？" in text
    again = run(["new", "LoRA 为什么能省显存？"], tmp_path)
    assert again.stdout.strip() != result.stdout.strip()
    assert path.read_text("utf-8") == text  # never overwrites

    write_cards(tmp_path, {"old.md": "# 旧\n\n1. 一\n"})
    check = run(["check", "cards"], tmp_path)
    assert "cards/old.md:1: note: no `id`" in check.stderr
    assert f"{result.stdout.strip()}:1: note: no `id`" not in check.stderr


def test_changing_a_files_id_keeps_the_lock_readable(tmp_path):
    # The old entry and the new note both live at `b.md`: the lock must not hold both.
    cards = write_cards(tmp_path, {"b.md": CARD})
    assert not build_deck(cards).errors
    (cards / "b.md").write_text(CARD.replace("id: lock-demo", "id: renamed-id"), "utf-8")
    second = build_deck(cards)
    assert not second.errors
    lock = parse_lock((cards / "mkdeck.lock").read_text("utf-8"), "mkdeck.lock")
    assert [(n.path, n.id) for n in lock.notes] == [("b.md", "renamed-id")]
    assert any("the `id` changed from `lock-demo`" in d.message for d in second.diagnostics)
    assert not build_deck(cards).errors  # and the next build reads it


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=200, deadline=None)
@given(
    entries=st.lists(
        st.tuples(
            _text.map(lambda name: f"{name}.md"),  # a card file's path always has its suffix
            st.one_of(st.none(), _text.filter(bool)),
            st.lists(_text, max_size=5),
        ),
        max_size=5,
        unique_by=lambda e: e[0],
    )
)
def test_the_fast_reading_of_our_own_lock_equals_toml(entries):
    notes = tuple(
        LockedNote(
            path,
            f"g{i}",
            note_id,
            1_700_000_000 + i,
            "d",
            len(texts) + 1,
            tuple((k + 1, t) for k, t in enumerate(texts)),
        )
        for i, (path, note_id, texts) in enumerate(entries)
    )
    text = format_lock(Lock(notes))
    fast = _read_own_format(text.split("\n"))
    assert fast is not None
    assert fast == tomllib.loads(text)
    assert parse_lock(text, "mkdeck.lock") == Lock(tuple(sorted(notes, key=lambda n: n.path)))


def test_a_lock_edited_by_hand_is_read_as_toml():
    text = (
        'version = 1\n\n["a.md"]\nguid = "g"\nmtime = 1\n'
        "digest = 'd'\nnext = 2\npoints = [[1, \"x\"]]\n"
    )
    assert _read_own_format(text.split("\n")) is None
    [note] = parse_lock(text, "mkdeck.lock").notes
    assert (note.path, note.digest, note.points) == ("a.md", "d", ((1, "x"),))


def test_a_point_with_a_control_character_keeps_a_readable_lock(tmp_path):
    cards = write_cards(tmp_path, {"del.md": "# Q\n\n1. 删除符\x7f在这里\n"})
    assert not build_deck(cards).errors
    lock, _ = read_lock(cards)  # as any TOML reader would read it, not from the cache
    assert lock.notes[0].points == ((1, "删除符\x7f在这里"),)
    tomllib.loads((cards / "mkdeck.lock").read_text("utf-8"))
