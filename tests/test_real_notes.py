"""Notes people already keep, through real Anki: Typora exports, GitHub question lists, one
question per file. The fixtures are our own, written in the shapes found in public
interview-note repositories; the assertions are on what Anki shows the reader."""

from __future__ import annotations

import os
import re
from pathlib import Path

from helpers import PNG, build_deck, import_package, run, shown, write_cards

# A second image with other bytes, so that two posts' `img/1.png` can be told apart.
PNG_2 = PNG.replace(b"\x00\x00\x00\x00IEND", b"\x00\x00\x00\x00IEND") + b"\x00"

TYPORA = """\
# 为什么大模型多用 Decoder-only 结构？

<img src="images/decoder.png" style="zoom:50%;" />

1. **训练效率**：只用因果掩码，一次前向就给每个位置一个训练信号
2. `torch.compile`: 把计算图编译成融合内核
3. *Memory*: 推理时 KV cache 可以复用
4. 损失函数为：
$$
L = -\\sum_t \\log p(x_t \\mid x_{<t})
$$
其中 $ x_{<t} $ 是前缀，$\\pi $ 是策略
5）全角括号编号的点：$$\\frac{a}{b}$$ 写在句中
"""


def _card_hiding(cards, text: str):
    [card] = [c for c in cards if text not in shown(c.question()) and text in shown(c.answer())]
    return card


def test_a_typora_export_gives_one_card_per_point_with_its_cue(deck, collection):
    cards = deck({"decoder.md": TYPORA, "images/decoder.png": PNG})
    assert len(cards) == 5
    fronts = [shown(c.question()) for c in cards]
    assert "训练效率：[...]" in fronts[0]
    assert "torch.compile: [...]" in fronts[1]
    assert "Memory: [...]" in fronts[2]
    assert "损失函数为： [...]" in fronts[3]
    assert "全角括号编号的点：[...]" in fronts[4]
    for card in cards:
        answer = card.answer()
        assert "$" not in shown(re.sub(r"<style>.*?</style>", "", answer, flags=re.S))
    formula = cards[3].answer()
    assert "\\[\nL = -\\sum_t \\log p(x_t \\mid x_{&lt;t})\n\\]" in formula
    assert "\\( x_{&lt;t} \\)" in formula and "\\(\\pi \\)" in formula
    assert "\\[\\frac{a}{b}\\]" in cards[4].answer()
    [media] = os.listdir(collection.media.dir())
    assert f'src="{media}" style="zoom:50%"' in cards[0].question()


GITHUB_LIST = """\
### What is a closure?

#### Answer

1. A function bundled with the variables of the scope it was created in
2. Those variables live on after the outer function returns

#### Good to hear

- Counters and memoised functions are built with closures
"""


def test_a_github_question_list_entry(deck):
    # Each named sub-heading gives the points of what it holds: numbers, then bullets.
    cards = deck({"closure.md": GITHUB_LIST})
    assert len(cards) == 3
    front = shown(cards[0].question())
    assert front.startswith("What is a closure? Answer")
    assert "Good to hear" in front and "memoised" in front  # the other points, as context
    last = [c for c in cards if "memoised" not in shown(c.question())]
    assert len(last) == 1 and "Good to hear" in shown(last[0].question())
    assert "<ul" in last[0].answer()


def test_one_question_per_file_named_by_the_file_or_asked_on_the_first_line(deck):
    cards = deck(
        {
            "Word2vec为什么需要二次采样？.md": "高频词信息少，拖慢训练。\n\n按频率丢弃。\n",
            "bn.md": "What does batch norm fix?\n\nIt keeps each layer's inputs steady.\n",
        }
    )
    by_source = {c.note()["Source"]: c for c in cards}
    w2v = by_source["Word2vec为什么需要二次采样？.md"]
    assert shown(w2v.question()).startswith("Word2vec为什么需要二次采样？ [...]")
    assert "高频词" not in shown(w2v.question())
    assert "按频率丢弃" in shown(w2v.answer())
    bn = by_source["bn.md"]
    assert shown(bn.question()).startswith("What does batch norm fix? [...]")
    assert "inputs steady" in shown(bn.answer())


def test_an_obsidian_note_with_embeds_and_wiki_links(deck, collection):
    note = (
        "Softmax turns scores into a distribution, see [[Logits#Scale|logits]].\n\n"
        "![[Pasted image 1.png|300]]\n\n1. Shift: subtract the max first\n"
    )
    cards = deck({"ML/Softmax.md": note, "media/Pasted image 1.png": PNG})
    front = shown(cards[0].question())
    assert front.startswith("Softmax Softmax turns scores into a distribution, see logits.")
    [media] = os.listdir(collection.media.dir())
    assert f'src="{media}" alt="" width="300"' in cards[0].question()


def test_nesting_numbering_and_start_survive(deck):
    source = """\
# 嵌套

3. 显存由四部分组成：
  - 参数
    - 其中权重最大
  - 梯度
4. 第二点
   - 三个空格的子项
① 圆圈数字也是一点
"""
    cards = deck({"n.md": source})
    assert len(cards) == 3
    answer = cards[0].answer()
    assert '<ol class="points" start="3">' in answer
    first = answer.split("<li>", 1)[1].split("第二点")[0]
    assert re.search(r"<ul>\s*<li>参数\s*<ul>\s*<li>其中权重最大</li>", first)
    assert "三个空格的子项" in answer.split("第二点")[1].split("</li>")[0] + "</li>"
    assert "<ul>" in answer.split("第二点")[1]


def test_content_after_the_list_is_extra_not_the_last_point(deck):
    source = "# Q\n\n1. 一\n2. 二\n\n| 列 | 值 |\n| - | - |\n| a | 1 |\n\n- 补充\n"
    cards = deck({"q.md": source})
    last = cards[1]
    assert "<table>" not in last.question()
    assert "<table>" in last.answer()
    hidden = shown(last.question()).split("二")[0]
    assert "补充" not in hidden


def test_html_images_obey_the_same_rules_at_their_own_lines(tmp_path):
    (tmp_path / "outside.png").write_bytes(PNG)
    source = '# 图\n\n1. 缺：<img src="images/none.png" />\n2. 外：<img src="../../outside.png">\n'
    write_cards(tmp_path / "p", {"img.md": source})
    result = run(["check", "cards"], tmp_path / "p")
    assert result.exit_code == 0
    said = [line for line in result.stderr.splitlines() if ": warning: " in line]
    assert said == [
        "cards/img.md:3: warning: image not found: `images/none.png` (the card shows a "
        "placeholder)",
        "cards/img.md:4: warning: image `../../outside.png` is outside the cards folder; mkdeck "
        "only packs files from inside it (the card shows a placeholder)",
    ]


def test_upper_case_names_are_cards_and_a_readme_is_skipped(tmp_path):
    write_cards(tmp_path, {"NOTES.MD": "# 大写？\n\n1. 一\n", "README.md": "# 说明\n\n1. 不是\n"})
    result = run(["check", "cards"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "cards/README.md: note: a README describes its folder: not a card" in result.stderr
    assert "OK: 1 note, 1 card" in result.stdout


# --- mkdeck import on posts of several shapes --------------------------------------------------

NESTED_POST = """\
# 1.attention

这篇笔记整理注意力相关的问题。

### 1. 理论篇

#### 1.1 为什么要除以根号 d？

1. 点积的方差随维度增长
2. softmax 会饱和，梯度变小

#### 1.2 优缺点

- 优点：并行
- 缺点：平方复杂度

![](img/1.png)

### 2. 实践篇

#### 2.1 **KV cache 省了什么？**

省掉历史 token 的重复计算。
"""

OTHER_POST = """\
## 1、优缺点

![](img/1.png)

1. 优点：简单
2. 缺点：慢
"""


def _post(folder: Path, name: str, text: str, image: bytes) -> Path:
    (folder / "img").mkdir(parents=True)
    (folder / "img" / "1.png").write_bytes(image)
    post = folder / name
    post.write_text(text, "utf-8")
    return post


def test_import_finds_questions_below_a_title_and_sections(tmp_path):
    post = _post(tmp_path / "a", "attention.md", NESTED_POST, PNG)
    result = run(["import", str(post), "-o", "cards"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert (
        "left out a/attention.md:1-3: the post's title `attention`, and text under it"
        in result.stdout
    )
    names = sorted(p.name for p in (tmp_path / "cards").glob("*.md"))
    # A short title says little alone: its section is shown with it.
    assert names == ["kv-cache-省了什么.md", "为什么要除以根号-d.md", "理论篇-优缺点.md"]
    assert "\n# 理论篇 › 优缺点\n" in (tmp_path / "cards" / "理论篇-优缺点.md").read_text("utf-8")
    root = (tmp_path / "cards" / "为什么要除以根号-d.md").read_text("utf-8")
    assert "tags: [理论篇]" in root and "\n# 为什么要除以根号 d？\n" in root
    kv = (tmp_path / "cards" / "kv-cache-省了什么.md").read_text("utf-8")
    assert "\n# KV cache 省了什么？\n" in kv and "tags: [实践篇]" in kv
    assert (
        "Imported into cards: 3 questions, 3 new, 0 updated, 0 unchanged, 0 edited by you, "
        "1 left out." in result.stdout
    )
    assert "write cards/kv-cache-省了什么.md (one card for the whole answer)" in result.stdout


def test_two_posts_with_the_same_title_and_image_name_stay_apart(tmp_path, collection):
    first = _post(tmp_path / "a", "attention.md", NESTED_POST, PNG)
    second = _post(tmp_path / "b", "misc.md", OTHER_POST, PNG_2)
    assert run(["import", str(first), "-o", "cards"], tmp_path).exit_code == 0
    result = run(["import", str(second), "-o", "cards"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "write cards/优缺点.md (2 points)" in result.stdout
    again = run(["import", str(second), "-o", "cards"], tmp_path)
    assert "unchanged cards/优缺点.md (2 points)" in again.stdout

    report = build_deck(tmp_path / "cards")
    assert not report.errors, [str(d) for d in report.errors]
    import_package(collection, report.package)
    media = {
        name: Path(collection.media.dir(), name).read_bytes()
        for name in os.listdir(collection.media.dir())
    }
    assert sorted(media.values()) == sorted([PNG, PNG_2])
    shows = {}
    for cid in collection.find_cards(""):
        card = collection.get_card(cid)
        for name in media:
            if name in card.answer():
                shows.setdefault(card.note()["Source"], set()).add(media[name])
    assert shows == {"理论篇-优缺点.md": {PNG}, "优缺点.md": {PNG_2}}


def test_import_reads_questions_written_as_bold_lines(tmp_path):
    post = tmp_path / "list.md"
    post.write_text(
        "# Interview questions\n\n## Transformers\n\n**Q1: Why scale by sqrt(d_k)?**\n\n"
        "**Answer**:\n1. Dot products grow with d_k\n2. Softmax saturates\n\n"
        "**Q2: What is LoRA?**\n\n**Answer**: A low-rank update.\n",
        "utf-8",
    )
    result = run(["import", str(post), "-o", "cards"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "write cards/why-scale-by-sqrt-d-k.md (2 points)" in result.stdout
    assert "write cards/what-is-lora.md (one card for the whole answer)" in result.stdout
    text = (tmp_path / "cards" / "why-scale-by-sqrt-d-k.md").read_text("utf-8")
    assert "tags: [Transformers]" in text and "\n# Why scale by sqrt(d_k)?\n" in text


def test_a_post_with_nothing_to_import_says_why(tmp_path):
    """An essay is one question, as the build reads it; a file said to be a post with no
    heading that has an answer is an error that says what a question looks like."""
    essay = tmp_path / "essay.md"
    essay.write_text("# 随笔\n\n## 背景\n\n一些想法。\n", "utf-8")
    assert run(["import", str(essay)], tmp_path).exit_code == 0
    assert "\n# 随笔\n\n## 背景\n" in (tmp_path / "cards" / "随笔.md").read_text("utf-8")
    post = tmp_path / "post.md"
    post.write_text("---\nkind: post\n---\n# 随笔\n\n## 背景\n\n## 想法\n", "utf-8")
    result = run(["import", str(post)], tmp_path)
    assert result.exit_code == 1
    assert "post.md:4: error: no questions found: expected headings that ask" in result.stderr
