"""What the reader sees: build decks, import them into real Anki, read the rendered cards."""

from __future__ import annotations

import os
from pathlib import Path

from helpers import PNG, shown

MHA = """\
---
id: mha-flops
tags: [LLM, attention]
---
# 多头注意力里 self-attention 各部分的计算量是多少？

设 hidden size 为 $D$，序列长度为 $s$。

1、QKV 线性变换：$6sD^2$
2、QK 内积：$2hds^2$，即 $\\frac{QK^T}{\\sqrt{d_k}}$ 里的 $QK^T$
3、softmax：==$3hs^2$==（exp、求和、除法各 $s$ 次）
4、Memory: 显存大头是优化器状态

合计约 $6sD^2 + 4hds^2$。
"""


def test_one_card_per_chinese_numbered_point(deck):
    cards = deck({"mha.md": MHA})
    assert [c.ord for c in cards] == [0, 1, 2, 3]
    assert len({c.nid for c in cards}) == 1, "all points of a question are one note"


def test_tex_with_double_braces_survives_a_hidden_span(deck):
    card = deck({"mha.md": MHA})[1]
    question, answer = card.question(), card.answer()
    assert "[...]" in question
    assert "2hds^2" not in shown(question).split("QK 内积：")[1].split("softmax")[0]
    # The formula reaches MathJax whole; `} }` is TeX-equal to `}}`.
    assert "\\(\\frac{QK^T}{\\sqrt{d_k} }\\)" in answer
    assert "\\(2hds^2\\)" in answer


def test_colon_label_stays_visible_as_the_cue(deck):
    cards = deck({"mha.md": MHA})
    front = shown(cards[0].question())
    assert "QKV 线性变换：[...]" in front
    assert "6sD^2" not in front.split("QKV 线性变换：")[1].split("QK 内积")[0]
    assert "QKV 线性变换：" in shown(cards[0].answer())
    # An ASCII colon followed by a space is a label too.
    assert "Memory: [...]" in shown(cards[3].question())


def test_other_points_stay_visible_on_the_front(deck):
    front = shown(deck({"mha.md": MHA})[0].question())
    assert "\\(2hds^2\\)" in front and "\\(3hs^2\\)" in front


def test_marked_spans_hide_only_those_spans(deck):
    card = deck({"mha.md": MHA})[2]
    front = shown(card.question())
    assert "softmax：[...]（exp、求和、除法各 \\(s\\) 次）" in front
    assert 'class="cloze" data-ordinal="3"><span class="math">\\(3hs^2\\)</span></span>' in (
        card.answer()
    )
    assert "<mark>" not in card.answer()


def test_context_is_on_the_front(deck):
    front = shown(deck({"mha.md": MHA})[0].question())
    assert "设 hidden size 为 \\(D\\)" in front


def test_extra_is_on_the_back_only(deck):
    card = deck({"mha.md": MHA})[0]
    assert "合计约" in shown(card.answer())
    assert "合计约" not in shown(card.question())


def test_cloze_syntax_in_text_and_code_shows_literally(deck):
    source = """\
# C++ 和模板

1. std::vector<int> 与 LLM::算法题
2. 模板写法：

   ```jinja
   Hello {{ name }}::{{c1::x}}
   ```
3. 集合 {1, {2}}
"""
    cards = deck({"cpp.md": source})
    assert len(cards) == 3
    first = shown(cards[0].answer())
    assert "std::vector<int> 与 LLM::算法题" in first
    code = cards[1]
    assert "Hello {{ name }}::{{c1::x}}" in shown(code.answer())
    assert 'class="highlight"' in code.answer()
    # The label ends its line; the code block below it is what is hidden.
    assert "模板写法： [...]" in shown(code.question())
    assert "name" not in shown(code.question())
    # A hidden span that ends in `}` does not close its cloze early.
    assert "集合 {1, {2}}" in shown(cards[2].answer())
    assert "[...]" in cards[2].question()
    # The reader sees no stray cloze of the code's `{{c1::x}}`: still three cards, one note.
    assert len({c.nid for c in cards}) == 1


def test_plain_text_is_not_markdown_emphasis_or_html(deck):
    source = """\
# 文本

1. a < b && c > d, snake_case 和 __dunder__ 还有 d_k
2. 价格 $5 and $10 不是公式
"""
    cards = deck({"t.md": source})
    answer = cards[0].answer()
    assert "a < b && c > d, snake_case 和 __dunder__ 还有 d_k" in shown(answer)
    assert "<strong>" not in answer and "<em>" not in answer
    money = cards[1].answer()
    assert "价格 $5 and $10 不是公式" in shown(money)
    assert "\\(" not in money.split('data-ordinal="2"')[1]


def test_display_math_keeps_tex_untouched(deck):
    source = """\
# 公式

1. 内积：

   $$
   \\sum_i a_i * b_j \\\\ \\{x\\}
   $$
2. 第二点
"""
    answer = deck({"m.md": source})[0].answer()
    assert "\\[\n\\sum_i a_i * b_j \\\\ \\{x\\}\n\\]" in answer
    assert "<em>" not in answer


def test_nested_bullets_stay_inside_their_point(deck):
    source = """\
# 显存

1. 显存由四部分组成：
   - 模型参数
   - 梯度
2. 第二点
"""
    card = deck({"n.md": source})[0]
    answer = card.answer()
    first_item = answer.split("<li>", 1)[1]
    assert first_item.index("模型参数") < first_item.index("第二点")
    assert "<ul>" in first_item.split("第二点")[0]
    assert "模型参数" not in shown(card.question())


def test_image_is_shipped_and_shown(deck, collection):
    source = """\
# 图

1. 结构图：![arch](img/arch.png)
2. 第二点

![extra](img/arch.png)
"""
    cards = deck({"pic.md": source, "img/arch.png": PNG})
    media = os.listdir(collection.media.dir())
    assert len(media) == 1 and media[0].startswith("mkdeck-") and media[0].endswith(".png")
    assert Path(collection.media.dir(), media[0]).read_bytes() == PNG
    assert f'src="{media[0]}"' in cards[0].answer()
    assert cards[0].answer().count(media[0]) == 2


def test_table_in_extra(deck):
    source = """\
# 表

1. 第一点

| 部分 | FLOPs |
| --- | --- |
| QKV | $6sD^2$ |
"""
    answer = deck({"t.md": source})[0].answer()
    assert "<table>" in answer and "<td>QKV</td>" in answer
    assert "\\(6sD^2\\)" in answer


def test_decks_and_tags(deck, collection):
    files = {
        "root.md": "# 根\n\n1. 一\n",
        "attention/sub.md": "# 子\n\n1. 一\n",
        "elsewhere.md": (
            "---\ndeck: LLM::算法题\ntags: [machine learning, LLM]\n---\n# 别处\n\n1. 一\n"
        ),
    }
    cards = deck(files, deck_name="面试")
    by_source = {c.note()["Source"]: c for c in cards}
    assert collection.decks.name(by_source["root.md"].did) == "面试"
    assert collection.decks.name(by_source["attention/sub.md"].did) == "面试::attention"
    assert collection.decks.name(by_source["elsewhere.md"].did) == "LLM::算法题"
    assert sorted(by_source["elsewhere.md"].note().tags) == ["LLM", "machine_learning"]
    assert "elsewhere.md" in shown(by_source["elsewhere.md"].answer())


def test_numbering_forms(deck):
    source = """\
# 编号

1.QKV线性变换
2) 第二
3．第三
（4）第四
(5) 第五
6、第六
"""
    cards = deck({"n.md": source})
    assert len(cards) == 6
    assert "QKV线性变换" in shown(cards[0].answer())


def test_new_cards_are_due_in_source_order(deck):
    cards = deck({"a.md": "# A\n\n1. a\n", "b.md": "# B\n\n1. b\n", "c.md": "# C\n\n1. c\n"})
    dues = [c.due for c in sorted(cards, key=lambda c: c.note()["Source"])]
    assert dues == sorted(dues) and len(set(dues)) == 3


def test_one_notetype_with_stable_field_ids(deck, collection):
    deck({"a.md": "# A\n\n1. a\n"})
    names = [nt.name for nt in collection.models.all_names_and_ids()]
    assert names.count("mkdeck cloze") == 1
    notetype = collection.models.by_name("mkdeck cloze")
    assert [f["name"] for f in notetype["flds"]] == ["Text", "Extra", "Source"]
    assert all(f.get("id") for f in notetype["flds"])
