"""The matcher on its own: which ordinal each point keeps across an edit."""

from __future__ import annotations

import genanki
from hypothesis import given
from hypothesis import strategies as st

from mkdeck.identify import guid_for, match_points

OLD = [
    (1, "计算量上：LoRA 在主干旁路增加了少量计算，前向后向都略有增加"),
    (2, "显存上：优化器只需保存旁路参数的状态，省下大量显存"),
    (3, "效率上：batch 可以开得更大，多卡通信量也更少"),
]


def test_unchanged_points_keep_their_ordinals():
    result = match_points(OLD, [t for _, t in OLD], 4)
    assert result.ordinals == (1, 2, 3)
    assert result.next == 4 and result.retired == ()


def test_reorder_keeps_ordinals_with_their_text():
    result = match_points(OLD, [OLD[2][1], OLD[0][1], OLD[1][1]], 4)
    assert result.ordinals == (3, 1, 2)


def test_insert_at_top_gets_a_fresh_ordinal():
    result = match_points(OLD, ["新插入：主干模型可以量化到 int8", *(t for _, t in OLD)], 4)
    assert result.ordinals == (4, 1, 2, 3)
    assert result.next == 5


def test_delete_retires_the_ordinal():
    result = match_points(OLD, [OLD[0][1], OLD[2][1]], 4)
    assert result.ordinals == (1, 3)
    assert result.retired == (2,)
    assert result.next == 4  # never handed out again


def test_reworded_point_keeps_its_ordinal():
    reworded = "显存上：优化器只需保存 LoRA 旁路参数的状态，因此省下大量显存"
    result = match_points(OLD, [OLD[0][1], reworded, OLD[2][1]], 4)
    assert result.ordinals == (1, 2, 3)


def test_replaced_point_gets_a_fresh_ordinal_and_the_old_one_retires():
    unrelated = "通信：数据并行时每步都要做一次梯度 all-reduce"
    result = match_points(OLD, [OLD[0][1], unrelated, OLD[2][1]], 4)
    assert result.ordinals == (1, 4, 3)
    assert result.retired == (2,)


def test_a_short_point_keeps_its_ordinal_when_paragraphs_below_it_come_or_go():
    """`压缩` was `压缩` with a label under it (`DeepSpeed 具备以下优势：`), now the next
    point's: too short to be told by its likeness, it is the same point all the same. A short
    point with no such tie is not."""
    old = [(1, "推理"), (2, "压缩\n\nDeepSpeed 具备以下优势："), (3, "易用")]
    assert match_points(old, ["推理", "压缩", "易用"], 4).ordinals == (1, 2, 3)
    grown = [(1, "推理"), (2, "压缩"), (3, "易用")]
    assert match_points(grown, ["推理", "压缩\n\n下面是代价：", "易用"], 4).ordinals == (1, 2, 3)
    assert match_points(old, ["推理", "压", "易用"], 4).ordinals == (1, 4, 3)


def test_a_note_of_one_card_keeps_it_however_its_answer_is_rewritten():
    """Its one card asks the note's question: a new reading of the answer's parts, or a new
    answer altogether, does not make it a new card."""
    whole = "**题目：** 写一个函数\n\n**答案：** 见代码\n\n**解析：** 每次减半"
    for answer in ("**答案：** 见代码", "完全换了一种说法"):
        result = match_points([(1, whole)], [answer], 2)
        assert (result.ordinals, result.next, result.retired) == ((1,), 2, ())


def test_retired_ordinals_are_not_reused():
    # Ordinal 2 was retired in an earlier build: `next` is already past it.
    old = [(1, "一：甲"), (3, "三：丙")]
    result = match_points(old, ["一：甲", "三：丙", "四：丁"], 4)
    assert result.ordinals == (1, 3, 4)


def test_near_identical_short_chinese_points_pair_up_correctly():
    old = [(1, "前向：略有增加"), (2, "反向：略有增加")]
    edited = ["反向：略微增加", "前向：略微增加"]  # swapped and both reworded
    result = match_points(old, edited, 3)
    assert result.ordinals == (2, 1)


def test_duplicate_texts_pair_in_order():
    old = [(1, "同上"), (2, "同上")]
    result = match_points(old, ["同上", "同上", "同上"], 3)
    assert result.ordinals == (1, 2, 3)


def test_a_point_that_grew_below_its_first_line_keeps_its_ordinal():
    # A point added after the Extra makes the Extra part of the point above it: that point
    # keeps its card, and gets it back when the Extra is separated again.
    last = "为什么不相乘：相加在数值上更稳定，训练更顺利"
    extra = (
        "规模感：两万个词乘五百个位置，约一千万种组合。\n\n"
        "拼接的写法：先拼接再投影等于分别投影再相加。"
    )
    old = [(1, "与拼接等价：相加是拼接后投影的特例"), (4, last)]
    grown = match_points(old, [old[0][1], f"{last}\n\n{extra}", "新增：最后补的一点"], 5)
    assert grown.ordinals == (1, 4, 5) and grown.retired == ()
    back = match_points([(1, old[0][1]), (4, f"{last}\n\n{extra}")], [old[0][1], last], 5)
    assert back.ordinals == (1, 4)


def test_a_short_shared_first_line_does_not_make_points_the_same():
    old = [(1, "如下：\n$$a = b$$"), (2, "第二点")]
    result = match_points(old, ["如下：\n$$c^2 = d^2 + e^2 + f^2 + g^2$$", "第二点"], 3)
    assert result.ordinals == (3, 2) and result.retired == (1,)


@given(st.lists(st.one_of(st.text(), st.integers()), min_size=1, max_size=4))
def test_guids_are_made_as_genanki_makes_them(values):
    """Every guid in a lock was made by genanki's `guid_for`: mkdeck's own stays equal to it."""
    assert guid_for(*values) == genanki.guid_for(*values)
    assert guid_for("mkdeck", "面试", "path:a.md") == genanki.guid_for(
        "mkdeck", "面试", "path:a.md"
    )
