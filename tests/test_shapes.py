"""Small cards from the shapes real notes are written in: an answer of bullets is one cloze
per bullet, as numbered points are, checked in a real Anki collection."""

from __future__ import annotations

import json

from helpers import (
    answer_everything,
    build_deck,
    card_hiding,
    import_package,
    reviews,
    shown,
    write_cards,
)
from mkdeck.build import build
from mkdeck.config import load_config

BULLETS = """\
# LoRA 为什么省显存？

训练显存由四部分组成：

- 优化器状态：只需覆盖旁路参数
  - Adam 每个参数两份状态
- 梯度：主干不更新，没有梯度
* 激活值：旁路让它略有增加

参考：LoRA 论文。
"""


def test_an_answer_of_bullets_is_one_card_per_bullet(tmp_path, collection):
    cards = write_cards(tmp_path, {"lora.md": BULLETS})
    report = build_deck(cards)
    assert not report.errors and not report.warnings, [str(d) for d in report.diagnostics]
    assert (report.notes, report.cards) == (1, 3)
    import_package(collection, report.package)
    card = card_hiding(collection, "只需覆盖旁路参数")
    front, back = shown(card.question()), shown(card.answer())
    # The others and the context are shown; the child belongs to its bullet.
    assert "训练显存由四部分组成" in front and "主干不更新，没有梯度" in front
    assert "Adam 每个参数两份状态" not in front and "Adam 每个参数两份状态" in back
    assert "参考：LoRA 论文" in back
    assert "<ul" in card.answer() and "<ol" not in card.answer()
    assert "- " not in front and "* " not in front


def test_a_thematic_break_or_a_task_list_is_not_a_bullet_answer(tmp_path):
    files = {
        "rule.md": "# 问题？\n\n一段回答。\n\n---\n\n另一段。\n",
        "quiz.md": "# 哪个对？\n\n- [ ] 甲\n- [x] 乙\n",
    }
    report = build_deck(write_cards(tmp_path, files))
    assert not report.errors and (report.notes, report.cards) == (2, 2)


def test_bullets_turned_into_numbers_keep_their_cards(tmp_path, collection):
    cards = write_cards(tmp_path, {"lora.md": BULLETS})
    first = build_deck(cards, now=1_800_000_000)
    import_package(collection, first.package)
    assert answer_everything(collection) == 3
    before = card_hiding(collection, "没有梯度").id
    numbered = BULLETS.replace("- 优化器", "1. 优化器").replace("- 梯度", "2. 梯度")
    numbered = numbered.replace("* 激活值", "3. 激活值").replace("  - Adam", "   - Adam")
    (cards / "lora.md").write_text(numbered, "utf-8")
    second = build_deck(cards, now=1_800_000_100)
    assert not second.errors and second.cards == 3
    import_package(collection, second.package)
    after = card_hiding(collection, "没有梯度")
    assert after.id == before and reviews(collection, after.id) == 1
    assert "<ol" in after.answer()


ARTICLE = """\
# 大模型基础

## 1. 分词

分词的粒度有两种：

1. 词：粒度粗，词表大
2. 字：粒度细，序列长

## 2. 位置编码

3. 绝对：加在输入上
4. 相对：加在注意力分数上

参考资料见文末。
"""


def test_a_sub_heading_ends_a_point_and_is_shown_before_the_next(tmp_path, collection):
    """Docs-site articles number points under sub-headings: a point ends at the next heading
    instead of swallowing the next section, which is shown on both sides."""
    report = build_deck(write_cards(tmp_path, {"basics.md": ARTICLE}))
    assert not report.errors and not report.warnings
    assert report.cards == 4
    [card] = report.built
    assert [p.markdown for p in card.question.points] == [
        "词：粒度粗，词表大",
        "字：粒度细，序列长",
        "绝对：加在输入上",
        "相对：加在注意力分数上",
    ]
    assert card.question.points[2].lead.markdown == "## 2. 位置编码"
    import_package(collection, report.package)
    card = card_hiding(collection, "粒度细，序列长")
    front = shown(card.question())
    assert "2. 位置编码" in front and "加在注意力分数上" in front
    assert "参考资料见文末" not in front and "参考资料见文末" in shown(card.answer())
    assert '<ol class="points" start="3">' in card.question()


def test_a_point_that_swallowed_a_section_keeps_its_card_when_it_no_longer_does(
    tmp_path, collection
):
    """Before sub-headings ended points, a point ran on into the next section; its first line
    is unchanged, so its card and its history stay."""
    cards = write_cards(tmp_path, {"basics.md": ARTICLE})
    build_deck(cards)
    lock = (cards / "mkdeck.lock").read_text("utf-8")
    assert '"字：粒度细，序列长"' in lock
    tail = "\\n\\n## 2. 位置编码\\n\\n" + "位置编码让模型知道每个词元在序列中的先后次序，" * 4
    swallowed = lock.replace('"字：粒度细，序列长"', f'"字：粒度细，序列长{tail}"')
    (cards / "mkdeck.lock").write_text(swallowed, "utf-8")
    report = build_deck(cards)
    assert not report.errors and report.cards == 4
    assert not [d for d in report.diagnostics if "was removed" in d.message]
    assert (cards / "mkdeck.lock").read_text("utf-8") == lock  # the same ordinals


LABELLED_LISTS = """\
# 模型部署方式各有什么优缺点？

**特点**:
- 模型直接部署在应用服务器上
- 无需网络通信

**优点**:
- 延迟最低
- 部署简单

**缺点**：
- 扩展性差
"""


def test_a_label_between_lists_names_the_list_after_it_and_is_hidden_on_no_card(
    tmp_path, collection
):
    """Notes label each list of an answer (`**优点**:`, `Cons:`): the label is shown before
    the points it names, on every card; it once was hidden with the point above it. A lock
    from that reading keeps every card, and its review history."""
    cards = write_cards(tmp_path, {"deploy.md": LABELLED_LISTS})
    report = build_deck(cards)
    assert not report.errors and report.cards == 5
    [card] = report.built
    assert [p.markdown for p in card.question.points][1:3] == ["无需网络通信", "延迟最低"]
    assert [p.lead.markdown for p in card.question.points][2:5] == [
        "**优点**:",
        "",
        "**缺点**：",
    ]
    import_package(collection, report.package)
    assert answer_everything(collection) == 5
    before = card_hiding(collection, "无需网络通信")
    front = shown(before.question())
    assert "优点" in front and "缺点" in front and "无需网络通信" not in front
    for cid in collection.find_cards(""):
        assert "优点" in shown(collection.get_card(cid).question())

    # The lock as the reading before wrote it: each label was the end of the point above
    # (a short point, too short to be told by its first line or its likeness alone).
    short = card_hiding(collection, "部署简单")
    lock = (cards / "mkdeck.lock").read_text("utf-8")
    old = lock.replace('"部署简单"', '"部署简单\\n\\n**缺点**："')
    assert old != lock
    (cards / "mkdeck.lock").write_text(old, "utf-8")
    (cards / "deploy.md").write_text(LABELLED_LISTS.replace("扩展性差", "扩展性较差"), "utf-8")
    again = build_deck(cards)
    assert not again.errors and again.cards == 5
    assert not [d for d in again.diagnostics if "was removed" in d.message]
    assert '"部署简单"' in (cards / "mkdeck.lock").read_text("utf-8")
    import_package(collection, again.package)
    kept = card_hiding(collection, "部署简单")
    assert kept.id == short.id and reviews(collection, kept.id) == 1


LABELLED_PARTS = """\
# 实现二分查找

**题目：** 写一个函数，在有序数组里找到目标值的下标。

**答案：**

```python
def search(a, t):
    lo, hi = 0, len(a) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if a[mid] == t:
            return mid
        lo, hi = (mid + 1, hi) if a[mid] < t else (lo, mid - 1)
    return -1
```

**解析：** 每一步把区间缩小一半，所以是 O(log n)。
"""


def test_an_answer_in_labelled_parts_asks_the_answer_and_explains_on_the_back(tmp_path, collection):
    """Posts of interview questions label the parts of an answer: the task (`**题目：**`),
    the answer (`**答案：**`), why (`**解析：**`). The task is shown, the answer is hidden
    under its label, and the explanation is on the back only; before, all three were one
    hidden block. An answer with sections is read by its sections, whatever they hold."""
    sectioned = "# 二分查找？\n\n## 思路\n\n每次减半。\n\n**答案：** 见上。\n"
    cards = write_cards(tmp_path, {"search.md": LABELLED_PARTS, "sectioned.md": sectioned})
    report = build_deck(cards)
    assert not report.errors and report.cards == 2
    by_file = {card.source.rel: card for card in report.built}
    question = by_file["search.md"].question
    assert question.context.markdown.startswith("**题目：**")
    assert question.extra.markdown.startswith("**解析：**")
    assert by_file["sectioned.md"].question.layout == "sections"
    import_package(collection, report.package)
    assert answer_everything(collection) == 2
    card = card_hiding(collection, "return -1")
    front, back = shown(card.question()), shown(card.answer())
    assert "在有序数组里找到目标值的下标" in front and "答案：" in front
    assert "O(log n)" not in front and "O(log n)" in back

    # A lock of the reading before, when the whole text was the one point: the card stays.
    lock = (cards / "mkdeck.lock").read_text("utf-8")
    entry = lock.index('["search.md"]')
    point = lock.index("  [1, ", entry)
    whole = json.dumps(LABELLED_PARTS.split("\n\n", 1)[1].strip(), ensure_ascii=False)
    old = lock[:point] + f"  [1, {whole}],\n" + lock[lock.index("\n", point) + 1 :]
    (cards / "mkdeck.lock").write_text(old, "utf-8")
    (cards / "search.md").write_text(LABELLED_PARTS.replace("O(log n)", "O(log n)。"), "utf-8")
    again = build_deck(cards)
    assert not again.errors and again.cards == 2
    assert not [d for d in again.diagnostics if "was removed" in d.message]
    import_package(collection, again.package)
    kept = card_hiding(collection, "return -1")
    assert kept.id == card.id and reviews(collection, kept.id) == 1


SECTIONS = """\
# What is feature scaling?

Scaling puts features on comparable ranges.

## Methods

### Min-max

Maps each feature to $[0, 1]$ by its minimum and maximum.

### Standardisation

Subtracts the mean and divides by the standard deviation.

## Good to hear

Tree models do not need it.
"""

PROSE = """\
# 为什么 LSTM 能缓解梯度消失？

""" + "\n\n".join(
    [
        "细胞状态像一条传送带，信息沿着它几乎不变地流过时间步，" * 6,
        "遗忘门决定丢掉多少旧记忆，输入门决定写入多少新信息，" * 6,
        "$$\nc_t = f_t \\odot c_{t-1}\n\n+ i_t \\odot \\tilde c_t\n$$",
        "因此梯度可以沿细胞状态传很远，而不必反复乘以权重矩阵。" * 3,
    ]
)


def test_named_sub_headings_give_a_card_per_section_with_its_heading_as_cue(tmp_path, collection):
    report = build_deck(write_cards(tmp_path, {"scaling.md": SECTIONS}))
    assert not report.errors and not report.warnings, [str(d) for d in report.diagnostics]
    [card] = report.built
    assert card.question.layout == "sections" and report.cards == 3
    assert card.question.points[0].lead.markdown == "## Methods\n\n### Min-max"
    import_package(collection, report.package)
    card = card_hiding(collection, "Subtracts the mean")
    front = shown(card.question())
    assert "Standardisation" in front and "Min-max" in front and "Tree models" in front
    assert "Scaling puts features on comparable ranges" in front


def test_a_long_answer_of_paragraphs_is_a_card_per_paragraph_and_formulas_stay_whole(
    tmp_path, collection
):
    report = build_deck(write_cards(tmp_path, {"lstm.md": PROSE}))
    assert not report.errors and not report.warnings, [str(d) for d in report.diagnostics]
    [card] = report.built
    assert card.question.layout == "paragraphs" and report.cards == 4
    assert card.question.points[2].markdown.startswith("$$") and "+ i_t" in (
        card.question.points[2].markdown
    )
    import_package(collection, report.package)
    card = card_hiding(collection, "遗忘门决定丢掉多少旧记忆")
    assert "细胞状态像一条传送带" in shown(card.question())


def test_bullets_indented_by_a_space_are_points_and_their_children_stay_inside(tmp_path):
    text = "# Gates?\n\nThree gates:\n\n - input: writes\n   - sigmoid\n - forget: erases\n"
    report = build_deck(write_cards(tmp_path, {"g.md": text}))
    [card] = report.built
    assert card.question.layout == "bullets"
    assert [p.markdown for p in card.question.points] == [
        "input: writes\n- sigmoid",
        "forget: erases",
    ]


TEMPLATE = """\
---
id: q-tool-failure
---
# 题目

为什么工具调用失败不能简单重试？

# 一句话结论

没拿到成功响应，不代表外部副作用没有发生。

# 必答点

1. 先区分本地失败和外部副作用
2. 有副作用的步骤要幂等

# 参考资料

- [文档](https://example.com/durable)
"""


def test_a_question_template_asks_its_question_and_each_section_gives_its_points(
    tmp_path, collection
):
    """Question banks label the question with `# 题目` and answer in named sections."""
    report = build_deck(write_cards(tmp_path, {"q.md": TEMPLATE}))
    assert not report.errors and not report.warnings, [str(d) for d in report.diagnostics]
    [card] = report.built
    assert card.question.title == "为什么工具调用失败不能简单重试？"
    assert [p.style for p in card.question.points] == ["block", "numbered", "numbered"]
    import_package(collection, report.package)
    summary = card_hiding(collection, "不代表外部副作用没有发生")
    front = shown(summary.question())
    assert front.startswith("为什么工具调用失败不能简单重试？ 一句话结论 [...]")
    assert "必答点" in front and "有副作用的步骤要幂等" in front
    assert "文档" not in front and "文档" in shown(summary.answer())  # references: the back
    assert card_hiding(collection, "步骤要幂等") is not None


def test_a_point_that_opens_a_formula_block_on_its_own_line_is_a_point(tmp_path):
    text = "# 公式？\n\n1. $$\n   x^2 + 1\n   $$\n2. 二：乙\n"
    report = build_deck(write_cards(tmp_path, {"f.md": text}))
    assert not report.errors and report.cards == 2
    assert report.built[0].question.points[0].markdown == "$$\nx^2 + 1\n$$"


def test_a_task_list_quiz_shows_its_options_and_hides_which_are_right(tmp_path, collection):
    text = "# 哪个是对的？\n\n选出正确的说法：\n\n- [ ] 甲：梯度消失\n- [x] 乙：梯度直通\n"
    report = build_deck(write_cards(tmp_path, {"quiz.md": text}))
    assert not report.errors and report.cards == 1
    import_package(collection, report.package)
    [cid] = collection.find_cards("")
    card = collection.get_card(cid)
    front, back = shown(card.question()), shown(card.answer())
    assert "甲：梯度消失" in front and "乙：梯度直通" in front and "选出正确的说法" in front
    assert "✓" not in front and "✗" not in front
    assert "✗ 甲" in back and "✓ 乙" in back


def test_a_folded_answer_is_shown_open_on_the_back(tmp_path, collection):
    text = "# 问题？\n\n1. 要点：<details><summary>答案</summary>展开的内容</details>\n"
    report = build_deck(write_cards(tmp_path, {"d.md": text}))
    import_package(collection, report.package)
    [cid] = collection.find_cards("")
    assert "<details open" in collection.get_card(cid).answer()


def test_the_points_rule_limits_where_points_come_from(tmp_path):
    files = {
        "a.md": "---\npoints: numbered\n---\n# 甲？\n\n- 一\n- 二\n",
        "b.md": "---\npoints: lists\n---\n# 乙？\n\n## 小节\n\n一段话。\n",
        "c.md": "# 丙？\n\n- 一\n- 二\n",
    }
    report = build_deck(write_cards(tmp_path, files))
    layouts = {c.source.rel: c.question.layout for c in report.built}
    assert layouts == {"a.md": "whole", "b.md": "whole", "c.md": "bullets"}
    bad = build_deck(
        write_cards(tmp_path / "x", {"d.md": "---\npoints: some\n---\n# 丁？\n\n1. 一\n"})
    )
    assert [str(d) for d in bad.errors] == [
        "d.md:2: error: `points` must be one of numbered, lists, auto"
    ]


def test_an_obsidian_callout_shows_as_a_titled_box_not_its_syntax(tmp_path, collection):
    text = "# 学习率？\n\n1. 预热：先小后大\n\n> [!tip] 经验\n> 预热步数约为总步数的 1%\n"
    report = build_deck(write_cards(tmp_path, {"lr.md": text}))
    assert not report.errors and not report.warnings
    import_package(collection, report.package)
    back = collection.get_card(collection.find_cards("")[0]).answer()
    assert '<div class="callout callout-tip">' in back and "[!tip]" not in back
    assert "经验" in shown(back) and "预热步数约为总步数的 1%" in shown(back)


def test_a_question_callout_and_its_answer_read_as_question_and_answer(tmp_path, collection):
    files = {
        "inside.md": (
            "> [!question]- 为什么要归一化？\n> 1. 量纲：防止大数值主导\n> 2. 分布：更稳定\n"
        ),
        "pair.md": "> [!question] LoRA 省什么？\n\n> [!answer]\n> - 优化器状态\n> - 梯度\n",
    }
    report = build_deck(write_cards(tmp_path, files))
    assert not report.errors and not report.warnings, [str(d) for d in report.diagnostics]
    titles = {c.source.rel: c.question.title for c in report.built}
    assert titles == {"inside.md": "为什么要归一化？", "pair.md": "LoRA 省什么？"}
    assert report.cards == 4
    import_package(collection, report.package)
    card = card_hiding(collection, "防止大数值主导")
    assert shown(card.question()).startswith("为什么要归一化？ 量纲：[...] 分布：更稳定")
    assert "[!question]" not in card.question()


def test_text_before_the_first_heading_is_the_answer_not_dropped(tmp_path, collection):
    """An Obsidian note named by its file opens with its answer and has sections below: the
    first section's heading is not the question, and the opening text is a card too."""
    text = (
        "ROUGE compares a generated summary with reference summaries.\n\n"
        "## ROUGE-N\n\nThe overlap of N-grams between the two.\n"
    )
    report = build_deck(write_cards(tmp_path, {"ROUGE Score.md": text}))
    [card] = report.built
    assert card.question.title == "ROUGE Score"
    import_package(collection, report.package)
    [cid] = [c for c in collection.find_cards("")][:1]
    shown_all = shown(collection.get_card(cid).answer())
    assert "compares a generated summary" in shown_all and "overlap of N-grams" in shown_all


def test_numbered_items_indented_alike_are_points(tmp_path):
    text = "# PCA？\n\nSteps:\n\n 1. Compute the covariance\n 2. Take eigenvectors\n    - sorted\n"
    report = build_deck(write_cards(tmp_path, {"pca.md": text}))
    [card] = report.built
    assert card.question.layout == "numbered"
    assert [p.markdown for p in card.question.points] == [
        "Compute the covariance",
        "Take eigenvectors\n- sorted",
    ]


def test_a_folded_answer_asks_what_it_holds_with_its_summary_as_the_cue(tmp_path, collection):
    text = (
        "# 为什么要 warmup？\n\n<details>\n<summary>两个原因</summary>\n\n"
        "1. 初期梯度大：参数还是随机的\n2. 方差估计：Adam 起步时不准\n\n</details>\n"
    )
    report = build_deck(write_cards(tmp_path, {"warmup.md": text}))
    assert not report.errors and not report.warnings, [str(d) for d in report.diagnostics]
    assert report.cards == 2
    import_package(collection, report.package)
    card = card_hiding(collection, "参数还是随机的")
    front = shown(card.question())
    assert front.startswith("为什么要 warmup？ 两个原因 初期梯度大：[...] 方差估计")
    assert "<details" not in card.question()


LABELLED = "\n".join(
    [
        "# 什么是监督学习？",
        "",
        "\u200b 特点：监督学习用已知正确答案的样本训练模型，每个输入都有对应的标签，模型学习"
        "从输入到标签的映射，训练时不断比较预测与标签之间的差距并据此调整参数，直到误差足够"
        "小为止，这个过程需要大量人工标注的数据，标注的质量直接决定了模型能学到什么。",
        "\u200b 常见应用场景：分类问题和回归问题，例如垃圾邮件识别、房价预测、图像类别判断、"
        "用户流失预测等，凡是能够事先收集到输入与正确输出配对的任务，几乎都可以用监督学习来"
        "解决，工业界的大多数模型都属于这一类。",
        "\u200b 算法举例：支持向量机、朴素贝叶斯、逻辑回归、决策树、随机森林和各种神经网络，"
        "它们的差别在于模型假设、训练方法以及对数据规模和特征质量的要求各不相同，选择时要看"
        "数据量和可解释性的需要。",
        "",
    ]
)


def test_an_answer_of_labelled_lines_is_a_card_per_line_and_keeps_its_review(tmp_path, collection):
    """Prose whose lines open with labels (`特点：`), over 300 characters, is read as the
    author's points: one card each, the label shown as its cue. The card the whole answer
    was before keeps its review: it is the first point's, whose first line is the same."""
    short = "# 监督学习？\n\n特点：有标签\n场景：分类和回归\n"
    cards = write_cards(
        tmp_path, {"sl.md": LABELLED.split("\n\u200b 常见")[0] + "\n", "s.md": short}
    )
    first = build_deck(cards)
    assert {c.question.layout for c in first.built} == {"whole"}  # one paragraph, one line
    import_package(collection, first.package)
    assert answer_everything(collection) == 2
    (cards / "sl.md").write_text(LABELLED, "utf-8")
    report = build_deck(cards)
    by_file = {c.source.rel: c for c in report.built}
    assert by_file["sl.md"].question.layout == "paragraphs" and report.cards == 4
    assert "s.md" not in by_file  # unchanged: still one card (short, one card is fine)
    import_package(collection, report.package)
    card = card_hiding(collection, "用已知正确答案的样本训练模型")
    assert "特点：" in shown(card.question()) and "常见应用场景：分类问题" in shown(card.question())
    assert reviews(collection, card.id) == 1


def test_an_answer_of_two_paragraphs_over_300_characters_is_two_cards(tmp_path):
    """300 characters is what a card should not hide at once: an answer of paragraphs over
    that is a card per paragraph, one under it stays one card."""
    first = "门控：" + "遗忘门决定丢掉多少旧记忆，输入门决定写入多少新信息。" * 6
    second = "梯度：" + "细胞状态的加法更新让梯度可以沿时间稳定地传回去。" * 6
    long = f"# LSTM 为什么能记住长期依赖？\n\n{first}\n\n{second}\n"
    short = f"# LSTM 的门？\n\n{first[:100]}\n\n{second[:100]}\n"
    report = build_deck(write_cards(tmp_path, {"long.md": long, "short.md": short}))
    layouts = {c.source.rel: (c.question.layout, len(c.question.points)) for c in report.built}
    assert layouts["long.md"] == ("paragraphs", 2)
    assert layouts["short.md"][0] == "whole"


BILINGUAL = """\
---
id: kt-val
---
# Вопрос (RU)
> Чем отличается val от var?

# Question (EN)
> How does val differ from var?

---

## Ответ (RU)

- **val**: ссылку нельзя переназначить
- **var**: ссылку можно переназначить

## Answer (EN)

- **val**: the reference cannot be reassigned
- **var**: the reference can be reassigned
"""


def test_a_question_asked_in_two_languages_is_asked_in_both_and_hides_neither(tmp_path, collection):
    """Obsidian vaults kept in two languages label each question (`# Вопрос (RU)`, `# Question
    (EN)`) and quote it: the first is asked, the second shown under it, and the answers give
    the points."""
    report = build_deck(write_cards(tmp_path, {"val.md": BILINGUAL}))
    assert not report.errors and not report.warnings, [str(d) for d in report.diagnostics]
    [card] = report.built
    assert card.question.title == "Чем отличается val от var?"
    assert card.question.context.markdown.startswith("> How does val differ from var?")
    assert card.question.context.line == 8  # where it is written, for what is said of it
    assert report.cards == 4
    import_package(collection, report.package)
    english = card_hiding(collection, "the reference cannot be reassigned")
    front = shown(english.question())
    assert front.startswith("Чем отличается val от var? How does val differ from var?")
    assert "ссылку нельзя переназначить" in front  # the other points are shown
    for cid in collection.find_cards(""):  # neither question is ever hidden
        asked = shown(collection.get_card(cid).question())
        assert "How does val differ from var?" in asked and "Чем отличается" in asked


def test_a_quoted_question_under_a_label_is_asked_without_its_quote_marker(tmp_path):
    text = "# 题目\n\n> 为什么要做梯度裁剪？\n\n1. 防止梯度爆炸\n2. 稳定训练\n"
    report = build_deck(write_cards(tmp_path, {"clip.md": text}))
    assert not report.errors and report.cards == 2
    assert report.built[0].question.title == "为什么要做梯度裁剪？"


def test_a_card_keeps_the_sections_in_the_languages_the_project_names(tmp_path, collection):
    """`languages = ["en"]`: of notes kept in two languages, the English question and answer
    make the cards, and nothing in Russian is shown on them to give a point away."""
    russian = "# Вопрос (RU)\n> Что такое корутина?\n\n## Ответ (RU)\n\n- лёгкий поток\n"
    cards = write_cards(tmp_path, {"val.md": BILINGUAL, "ru.md": russian})
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mkdeck]\ndeck = "Kotlin"\nlanguages = ["EN"]\n', "utf-8"
    )
    config = load_config(cards)
    report = build(cards, config.package_path(cards), config)
    assert not report.errors and not report.warnings, [str(d) for d in report.diagnostics]
    assert report.notes == 1 and any(  # a file only in Russian: no card, and a note says why
        d.path == "ru.md" and d.severity == "note" and "`languages`" in d.message
        for d in report.diagnostics
    )
    assert report.built[0].question.title == "How does val differ from var?"
    assert report.cards == 2
    import_package(collection, report.package)
    card = card_hiding(collection, "the reference cannot be reassigned")
    front, back = shown(card.question()), shown(card.answer())
    assert front.startswith("How does val differ from var?")
    assert "the reference can be reassigned" in front
    assert "ссылку" not in front and "ссылку" not in back and "Чем" not in back
