"""Editing never loses review history: the promise, checked in a real Anki collection."""

from __future__ import annotations

from helpers import (
    answer_everything,
    build_deck,
    card_hiding,
    import_package,
    reviews,
    shown,
    write_cards,
)

P1 = "计算量：旁路让前向和反向的计算都略有增加"
P2 = "显存：优化器只保存旁路参数的状态"
P3 = "通信：多卡之间同步的梯度变少"
P4 = "量化：主干不更新，可以压到 int8"
P5 = "batch：省下的显存可以换成更大的 batch"
P6 = "收敛：学习率通常要比全参数训练大一些"
P4_REWORDED = "量化：主干参数不更新，所以可以压到 int8 或 int4"
NEW_TOP = "定义：LoRA 在全连接层旁加一条低秩分解的旁路"
UNRELATED = "历史：这个方法最早是微软在 2021 年提出的"

NORM = """\
---
id: why-norm
---
# 为什么需要 normalization？

1. 量纲：防止大数值特征主导
2. 分布：让每层输入分布更稳定
"""
PREPOST = """\
# pre-norm 和 post-norm？

1. post-norm：效果好但深了难训
2. pre-norm：梯度通路更直接，能训更深
"""


def lora(points: list[str]) -> str:
    body = "\n".join(f"{i}. {p}" for i, p in enumerate(points, 1))
    return f"---\nid: lora\ntags: [LLM]\n---\n# LoRA 为什么省显存？\n\n{body}\n"


def test_edits_moves_and_renames_keep_review_history(tmp_path, collection, same_second):
    cards = write_cards(
        tmp_path,
        {"lora.md": lora([P1, P2, P3, P4, P5, P6]), "norm.md": NORM, "prepost.md": PREPOST},
    )
    first = build_deck(cards, now=same_second)
    assert not first.errors
    import_package(collection, first.package)
    assert answer_everything(collection) == 10
    before = {text: card_hiding(collection, text).id for text in (P1, P2, P3, P4, P5, P6)}
    norm_cards = set(collection.find_cards("Source:norm.md"))
    prepost_cards = set(collection.find_cards("Source:prepost.md"))
    assert all(reviews(collection, cid) == 1 for cid in before.values())

    # Insert at the top, swap two, reword one, delete one, replace one; rename a file with an
    # id, move one without. Rebuild at once: the same second as the first build.
    (cards / "lora.md").write_text(lora([NEW_TOP, P1, P3, P2, P4_REWORDED, UNRELATED]), "utf-8")
    (cards / "norm.md").rename(cards / "normalization.md")
    (cards / "sub").mkdir()
    (cards / "prepost.md").rename(cards / "sub" / "prepost.md")
    second = build_deck(cards, now=same_second)
    assert not second.errors
    removed = [d for d in second.diagnostics if d.severity == "note"]
    assert len(removed) == 2  # P5 deleted, P6 replaced
    assert all("Tools → Empty Cards" in d.message for d in removed)
    import_package(collection, second.package)

    assert collection.note_count() == 3
    assert [nt.name for nt in collection.models.all_names_and_ids()].count("mkdeck cloze") == 1
    for text in (P1, P2, P3):
        card = card_hiding(collection, text)
        assert card.id == before[text]
        assert reviews(collection, card.id) == 1
    reworded = card_hiding(collection, P4_REWORDED)
    assert reworded.id == before[P4] and reviews(collection, reworded.id) == 1
    assert "int8 或 int4" in shown(reworded.answer())
    for text in (NEW_TOP, UNRELATED):
        card = card_hiding(collection, text)
        assert card.id not in before.values()
        assert reviews(collection, card.id) == 0
    assert set(collection.find_cards("Source:normalization.md")) == norm_cards
    assert set(collection.find_cards('"Source:sub/prepost.md"')) == prepost_cards
    assert all(reviews(collection, cid) == 1 for cid in norm_cards | prepost_cards)
    # Display order is source order.
    text = shown(card_hiding(collection, P1).answer())
    order = [text.index(t) for t in (NEW_TOP, P1, P3, P2, P4_REWORDED, UNRELATED)]
    assert order == sorted(order)


def test_an_edit_made_in_anki_survives_until_the_markdown_changes(
    tmp_path, collection, same_second
):
    cards = write_cards(tmp_path, {"norm.md": NORM})
    import_package(collection, build_deck(cards, now=same_second).package)
    note = collection.get_note(collection.find_notes("")[0])
    note["Extra"] = "my fix inside Anki"
    collection.update_note(note)
    # The hardest case: the edit in Anki lands in the very second of the builds.
    collection.db.execute("update notes set mod = ? where id = ?", same_second, note.id)

    # Markdown unchanged, rebuilt in the same second: the in-Anki edit stays.
    import_package(collection, build_deck(cards, now=same_second).package)
    assert collection.get_note(note.id)["Extra"] == "my fix inside Anki"

    # Markdown changed: the Markdown wins, even within the same second.
    (cards / "norm.md").write_text(NORM + "\n补充：BatchNorm 论文提出了 ICS 的说法\n", "utf-8")
    import_package(collection, build_deck(cards, now=same_second).package)
    updated = collection.get_note(note.id)
    assert "ICS" in updated["Extra"]
    assert "my fix" not in updated["Extra"]


def test_a_broken_file_is_left_out_and_its_note_keeps_its_history(tmp_path, collection):
    """One file breaks while being edited: the others build and reach Anki; the broken one's
    note stays as it was, and once mended it is the same note with the same reviews."""
    cards = write_cards(tmp_path, {"norm.md": NORM, "prepost.md": PREPOST})
    first = build_deck(cards, now=1_800_000_000)
    import_package(collection, first.package)
    assert answer_everything(collection) == 4
    before = card_hiding(collection, "梯度通路更直接")

    broken = PREPOST + "\n3. 公式 $x^{2$\n"
    (cards / "prepost.md").write_text(broken, "utf-8")
    (cards / "norm.md").write_text(NORM + "3. 尺度：让学习率更好调\n", "utf-8")
    (cards / "new.md").write_text("# 新题？\n\n1. 一点\n", "utf-8")
    second = build_deck(cards, now=1_800_000_100)
    assert second.left_out == ["prepost.md"] and second.package is not None
    assert [str(d) for d in second.errors] == [
        "prepost.md:6: error: unbalanced braces `{` `}` in formula `x^{2`"
    ]
    assert '["prepost.md"]' in (cards / "mkdeck.lock").read_text("utf-8")  # kept, not retired
    import_package(collection, second.package)
    assert collection.note_count() == 3
    assert card_hiding(collection, "让学习率更好调") is not None
    assert card_hiding(collection, "梯度通路更直接").id == before.id  # untouched in Anki

    (cards / "prepost.md").write_text(PREPOST + "\n3. 公式 $x^{2}$\n", "utf-8")
    third = build_deck(cards, now=1_800_000_200)
    assert not third.errors and not third.left_out
    import_package(collection, third.package)
    mended = card_hiding(collection, "梯度通路更直接")
    assert mended.id == before.id and reviews(collection, mended.id) == 1
