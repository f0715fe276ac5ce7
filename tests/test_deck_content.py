"""The deck that ships in cards/: it builds, imports, and every formula reaches MathJax."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import zipfile
from pathlib import Path

from helpers import build_deck, import_package

CARDS = Path(__file__).resolve().parent.parent / "cards"
INLINE = re.compile(r"(?<![\\$])\$(?!\s)([^$\n]+?)(?<!\s)\$(?!\d)")


def test_shipped_deck_imports_with_every_point_a_card_and_every_formula_as_mathjax(
    tmp_path, collection
):
    cards = tmp_path / "cards"
    shutil.copytree(CARDS, cards)
    report = build_deck(cards, deck="LLM 算法面试")
    assert not report.errors and not report.warnings, [str(d) for d in report.diagnostics]
    import_package(collection, report.package)

    assert collection.note_count() == 5
    assert collection.card_count() == 18  # 4 + 3 + 3 + 3 + 5 numbered points
    for nid in collection.find_notes(""):
        note = collection.get_note(nid)
        source = (CARDS / note["Source"]).read_text("utf-8")
        shown = note["Text"] + note["Extra"]
        formulas = INLINE.findall(source)
        assert formulas, f"{note['Source']} has no formula"
        for tex in formulas:
            assert f"\\({tex}\\)" in shown.replace("} }", "}}"), (note["Source"], tex)
        assert "$" not in shown, f"a formula in {note['Source']} did not become MathJax"


def test_attention_flops_card_carries_the_counts_of_each_part(tmp_path, collection):
    cards = tmp_path / "cards"
    shutil.copytree(CARDS, cards)
    import_package(collection, build_deck(cards).package)
    nid = collection.find_notes("Source:mha-flops.md")[0]
    note = collection.get_note(nid)
    for count in ("6sD^2", "2hds^2", "hs^2", "3hs^2", "8sD^2 + 4Ds^2"):
        assert f"{count}" in note["Text"] + note["Extra"]


def test_anki_works_out_the_sort_field_checksum_and_indexes_a_package_leaves_out(
    tmp_path, collection
):
    # The package carries no sort field (it would be a second copy of every Text to zip):
    # Anki's importer computes it, so the browser sorts by question, and duplicate checks work.
    cards = tmp_path / "cards"
    shutil.copytree(CARDS, cards)
    import_package(collection, build_deck(cards).package)
    rows = collection.db.all("select flds, sfld, csum from notes")
    assert len(rows) == 5
    for flds, sfld, csum in rows:
        question = flds.split("\x1f")[0]
        assert sfld and "<" not in str(sfld) and str(sfld)[:8] in question
        assert csum != 0

    # Nor does it carry the schema's indexes for scheduling and sync: the collection imported
    # into has its own, and the first card Anki shows is the first point of the first file.
    with zipfile.ZipFile(build_deck(cards).package) as zf:
        db = tmp_path / "packaged.anki2"
        db.write_bytes(zf.read("collection.anki2"))
    with sqlite3.connect(db) as conn:
        packaged = {name for (name,) in conn.execute("select name from sqlite_master")}
    imported = {name for (name,) in collection.db.all("select name from sqlite_master")}
    assert "ix_cards_sched" not in packaged and "ix_cards_nid" in packaged
    assert {"ix_cards_sched", "ix_cards_usn", "ix_notes_csum"} <= imported
    collection.decks.select(collection.decks.id_for_name("Test"))
    first = collection.sched.get_queued_cards(fetch_limit=1).cards[0].card
    card = collection.get_card(first.id)
    assert card.ord == 0 and card.note()["Source"] == sorted(p.name for p in CARDS.glob("*.md"))[0]


GOLDEN = Path(__file__).resolve().parent / "golden" / "cards.txt"
STYLE = re.compile(r"<style>.*?</style>", re.DOTALL)


def _as_anki_renders(collection) -> str:
    """Every card of the collection, front and back as Anki's renderer gives them."""
    out = []
    cards = [collection.get_card(cid) for cid in collection.find_cards("")]
    for card in sorted(cards, key=lambda c: (c.note()["Source"], c.ord)):
        note = card.note()
        out += [
            f"=== {note['Source']} c{card.ord + 1} (deck {collection.decks.name(card.did)})",
            "--- front",
            STYLE.sub("", card.question()).strip(),
            "--- back",
            STYLE.sub("", card.answer()).strip(),
        ]
    return "\n".join(out) + "\n"


def test_the_shipped_deck_renders_as_its_golden_copy(tmp_path, collection):
    """What Anki shows of each shipped card, byte for byte. A change to the dialect, the
    hiding rules or the templates shows here as a diff to read; to accept it, run the tests
    with MKDECK_GOLDEN=update and commit tests/golden/cards.txt."""
    cards = tmp_path / "cards"
    shutil.copytree(CARDS, cards)
    report = build_deck(cards, deck="LLM 算法面试")
    import_package(collection, report.package)
    rendered = _as_anki_renders(collection)
    if os.environ.get("MKDECK_GOLDEN") == "update":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(rendered, "utf-8")
    assert rendered == GOLDEN.read_text("utf-8")
