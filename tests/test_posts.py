"""A post (one file of many questions) is a deck as it is: each question a note, each point a
card, each question's identity kept through the edits posts go through."""

from __future__ import annotations

import re

import pytest

from helpers import (
    answer_everything,
    build_deck,
    card_hiding,
    import_package,
    reviews,
    run,
    shown,
    write_cards,
)
from mkdeck.build import preview
from mkdeck.config import Config
from mkdeck.frontmatter import read_front_matter
from mkdeck.parse import scan_fences
from mkdeck.posts import held_as_card, read_post

KV = """\
# 1、推理时为什么要缓存 K 和 V？

1、省计算：历史 token 的 K、V 在生成时不再变化，缓存后每步只算新 token
2、代价是显存：缓存随序列长度线性增长
"""
GQA = """\
# 2、GQA 相比 MHA 省在哪里？

1、KV 头变少：几组查询头共享一组 K、V
2、缓存变小：显存占用按组数成比例下降
3、效果：接近 MHA，远好于只有一组的 MQA
"""
ROPE = """\
# 3、RoPE 怎样表示相对位置？

1、旋转：按位置把查询和键的每对维度旋转一个角度
2、内积：旋转后两者的内积只依赖位置之差
"""
FLASH = """\
# 4、FlashAttention 为什么快？

1、分块：在片上内存里算完一块再写回
2、少读写：不把完整的注意力矩阵写到显存
"""
HEAD = """\
---
title: 推理优化面试题（一）
tags: [LLM, 推理]
categories: [面经]
---

![](/img/cover.png)

开头的闲聊，不属于任何一题。

***

"""
FOOTER = """
***

觉得有用请点赞关注～
"""


def post(*questions: str, head: str = HEAD) -> str:
    return head + "\n".join(questions) + FOOTER


def test_a_post_builds_one_note_a_question_and_one_card_a_point(tmp_path, collection):
    cards = write_cards(tmp_path, {"infer/post.md": post(KV, GQA, ROPE)})
    report = build_deck(cards)
    assert not report.errors, report.diagnostics
    assert (report.notes, report.cards, report.posts, report.post_questions) == (3, 7, 1, 3)
    import_package(collection, report.package)
    assert collection.note_count() == 3
    card = card_hiding(collection, "几组查询头共享一组 K、V")
    front, back = shown(card.question()), shown(card.answer())
    assert front.startswith("GQA 相比 MHA 省在哪里？")  # the number is the post's, not the card's
    assert "缓存变小" in front and "KV 头变少" in front  # its label is the cue
    assert "闲聊" not in back and "点赞" not in back and "RoPE" not in back
    note = card.note()
    assert note["Source"] == "infer/post.md"  # the file to edit
    assert set(note.tags) == {"LLM", "推理", "面经"}  # the post's tags and categories
    assert collection.decks.name(card.did) == "Test::infer"  # its folder is its deck


def test_a_posts_problems_are_named_alike_when_nothing_changed(tmp_path):
    """A problem in a question of a post is shown at the post's path and line, by the build
    that read it and by the next, which finds nothing changed and says it again."""
    post = "# 帖子\n\n## 第一问？\n\n1. 甲：![图](missing.png)\n\n## 第二问？\n\n1. 乙\n"
    cards = write_cards(tmp_path, {"post.md": post})
    first = build_deck(cards)
    again = build_deck(cards)
    assert again.up_to_date
    assert [str(d) for d in first.diagnostics] == [str(d) for d in again.diagnostics]
    assert [d.path for d in again.warnings] == ["post.md"]


def test_check_says_how_each_file_was_read_and_what_was_left_out(tmp_path):
    cards = write_cards(
        tmp_path,
        {"post.md": post(KV, GQA), "one.md": "# 单独一题？\n\n1. 一点\n2. 两点\n"},
    )
    result = run(["check", "cards"], tmp_path)
    assert result.exit_code == 0, result.stderr
    said = result.stderr
    assert "cards/post.md: note: a post of 2 questions: 2 of its headings ask" in said
    # The cover image, the chat and the rule under them; the rule and sign-off at the end.
    assert "cards/post.md:7: note: left out (lines 7–11): prose before the first question" in said
    assert "cards/post.md:24: note: left out (lines 24–26): footer after the last question" in said
    assert "one.md: note: a post" not in said
    assert "OK: 3 notes" in result.stdout
    assert (cards / "post.md").read_text("utf-8") == post(KV, GQA)  # check writes nothing


def test_check_says_how_each_file_was_read_whatever_the_last_build_remembers(tmp_path):
    """A file held to one question though its headings ask (an `id`) is said so by `check`
    before a build and after one, which remembers it as a card file."""
    held = "---\nid: held\n---\n## 一问？\n\n1. 点\n\n## 另一问？\n\n1. 点\n"
    cards = write_cards(tmp_path, {"held.md": held, "post.md": post(KV, GQA)})
    before = run(["check", "cards"], tmp_path)
    assert run(["build", "cards"], tmp_path).exit_code == 0
    after = run(["check", "cards"], tmp_path)
    assert before.exit_code == after.exit_code == 0, after.stderr
    said = "cards/held.md: note: one question: it has an `id` as one question, though 2 of its"
    assert said in before.stderr and said in after.stderr
    assert (cards / "held.md").read_text("utf-8") == held


def _answered(tmp_path, collection, files):
    cards = write_cards(tmp_path, files)
    first = build_deck(cards, now=1_800_000_000)
    assert not first.errors, first.diagnostics
    import_package(collection, first.package)
    answer_everything(collection)
    return cards


def test_reordered_reworded_edited_and_moved_questions_keep_their_history(tmp_path, collection):
    other = GQA.replace("GQA 相比 MHA 省在哪里？", "MQA 是什么？").replace("几组", "所有")
    files = {"a.md": post(KV, GQA, ROPE), "b.md": post(other, FLASH)}
    cards = _answered(tmp_path, collection, files)
    before = set(collection.find_cards(""))
    kv_note = card_hiding(collection, "历史 token 的 K、V").nid
    rope_note = card_hiding(collection, "按位置把查询和键").nid

    # Reorder (RoPE first), reword KV's heading and edit one of its points, move RoPE to b.md.
    kv = KV.replace("推理时为什么要缓存 K 和 V？", "生成时缓存 K、V 有什么用？").replace(
        "线性增长", "线性增长，长上下文尤其明显"
    )
    (cards / "a.md").write_text(post(kv, GQA), "utf-8")
    (cards / "b.md").write_text(post(FLASH, ROPE, other), "utf-8")
    second = build_deck(cards, now=1_800_000_100)
    assert not second.errors, second.diagnostics
    import_package(collection, second.package)

    assert collection.note_count() == 5  # nothing duplicated
    kv_card = card_hiding(collection, "历史 token 的 K、V")
    assert kv_card.nid == kv_note and reviews(collection, kv_card.id) == 1
    assert "生成时缓存 K、V 有什么用？" in shown(kv_card.question())
    assert "长上下文尤其明显" in shown(card_hiding(collection, "长上下文尤其明显").answer())
    rope = card_hiding(collection, "按位置把查询和键")
    assert rope.nid == rope_note and reviews(collection, rope.id) == 1
    assert rope.note()["Source"] == "b.md"
    assert all(reviews(collection, cid) == 1 for cid in before)


def test_a_question_deleted_from_a_post_is_named_and_the_rest_keep_their_cards(
    tmp_path, collection
):
    cards = _answered(tmp_path, collection, {"a.md": post(KV, GQA, ROPE)})
    gqa = card_hiding(collection, "几组查询头共享一组 K、V").id
    (cards / "a.md").write_text(post(KV, ROPE), "utf-8")
    second = build_deck(cards, now=1_800_000_100)
    gone = [d for d in second.diagnostics if "is gone" in d.message]
    assert [str(d) for d in gone] == [
        "a.md: note: question `GQA 相比 MHA 省在哪里？` is gone from this post: its note "
        "stays in Anki until you delete it there"
    ]
    assert "GQA" not in (cards / "mkdeck.lock").read_text("utf-8")
    import_package(collection, second.package)
    assert reviews(collection, card_hiding(collection, "按位置把查询和键").id) == 1
    assert collection.get_card(gqa) is not None  # Anki keeps it until the user deletes it


def test_an_id_under_a_heading_keeps_the_note_through_any_rewrite(tmp_path, collection):
    named = KV.replace("\n\n1、", "\n<!-- id: kv-cache -->\n\n1、", 1)
    cards = _answered(tmp_path, collection, {"a.md": post(named, GQA)})
    note = card_hiding(collection, "历史 token 的 K、V").nid
    rewritten = (
        "# 1、KV cache 是什么？\n<!-- id: kv-cache -->\n\n"
        "1、定义：把注意力里算过的键和值存下来\n"
        "2、用途：自回归解码时避免重复计算\n"
    )
    (cards / "a.md").write_text(post(rewritten, GQA), "utf-8")
    second = build_deck(cards, now=1_800_000_100)
    assert not second.errors
    import_package(collection, second.package)
    assert collection.note_count() == 2
    assert card_hiding(collection, "把注意力里算过的键和值存下来").nid == note
    text = shown(card_hiding(collection, "把注意力里算过的键和值存下来").answer())
    assert "id:" not in text and "kv-cache" not in text


def test_a_broken_question_is_left_out_and_the_rest_of_its_post_builds(tmp_path, collection):
    cards = _answered(tmp_path, collection, {"a.md": post(KV, GQA)})
    gqa = card_hiding(collection, "几组查询头共享一组 K、V")
    broken = GQA.replace("3、效果", "3、公式 $x^{2$ 效果")
    (cards / "a.md").write_text(post(KV + "3、补充：预填充阶段一次算完整段\n", broken), "utf-8")
    second = build_deck(cards, now=1_800_000_100)
    assert second.package is not None and second.left_out == ["a.md"]
    assert second.left_out_sources == ["a.md#GQA 相比 MHA 省在哪里？"]
    assert [d.path for d in second.errors] == ["a.md"]
    said = run(["build", "cards"], tmp_path)
    assert said.exit_code == 1
    assert "1 question of a post left out for the errors above" in said.stdout
    assert "GQA" in (cards / "mkdeck.lock").read_text("utf-8")  # its entry is kept
    import_package(collection, second.package)
    assert card_hiding(collection, "预填充阶段一次算完整段") is not None
    assert collection.get_card(gqa.id).note()["Text"] == gqa.note()["Text"]


@pytest.mark.parametrize("front", ["", "---\nkind: card\n---\n", "---\nkind: poster\n---\n"])
def test_a_file_held_as_a_card_is_one_whatever_its_headings(front):
    """What a build takes without finding a file's headings is what reading them gives."""
    for text in (post(KV, GQA, ROPE, FLASH), post(KV, GQA), "# 注意力\n\n1. 定义\n"):
        lines = (front + text).split("\n")
        matter = read_front_matter(lines, "a.md")
        assert held_as_card(matter, "card")
        read = read_post(lines, scan_fences(lines, matter.body, "a.md"), matter, "card")
        assert read.kind == "card"
        assert not held_as_card(matter, None) and not held_as_card(matter, "post")
    lines = ("---\nkind: post\n---\n" + post(KV, GQA)).split("\n")
    assert not held_as_card(read_front_matter(lines, "a.md"), "card")
    # An `id` holds a file to one question however the lock knows it.
    with_id = front.replace("---\n", "---\nid: kv\n", 1) if front else "---\nid: kv\n---\n"
    lines = (with_id + post(KV, GQA)).split("\n")
    matter = read_front_matter(lines, "a.md")
    for known in (None, "card", "post"):
        assert held_as_card(matter, known)
        read = read_post(lines, scan_fences(lines, matter.body, "a.md"), matter, known)
        assert read.kind == "card"


def test_after_a_pull_that_changed_the_lock_only_changed_files_are_looked_at_again(
    tmp_path, monkeypatch
):
    import mkdeck.posts

    asks = "\n## 为什么要缩放？\n\n防止点积过大\n\n## 为什么用多头？\n\n看不同子空间\n"
    files = {
        "held.md": "# 注意力\n\n1. 定义：加权求和\n",  # grows headings that ask below
        "same.md": "---\nid: same\n---\n# 归一化\n" + asks,  # post-shaped, held by its id
        "p.md": post(KV, GQA),
    }
    cards = write_cards(tmp_path, files)
    build_deck(cards, now=1_800_000_000)
    (cards / "held.md").write_text(files["held.md"] + asks, "utf-8")
    build_deck(cards, now=1_800_000_100)  # known as a card file: stays one
    # Another machine's build, pulled: one entry's time moved, every other entry as it was.
    lock = cards / "mkdeck.lock"
    text = lock.read_text("utf-8")
    lock.write_text(re.sub(r"mtime = (\d+)", lambda m: f"mtime = {int(m[1]) + 5}", text, count=1))
    (cards / "held.md").write_text(files["held.md"] + asks + "\n补充。\n", "utf-8")
    looked: list[str] = []
    real = mkdeck.posts.look_at
    monkeypatch.setattr(mkdeck.posts, "look_at", lambda job: looked.append(job[0]) or real(job))
    pulled = build_deck(cards, now=1_800_000_200)
    assert looked == ["held.md"]  # the one edited since; `same.md` and the post are known
    assert (pulled.notes, pulled.posts) == (4, 1) and not pulled.errors
    written = lock.read_text("utf-8")
    # A build with no memo (another package's) finds the same notes and writes the same lock.
    fresh = build_deck(cards, tmp_path / "fresh.apkg", now=1_800_000_200)
    assert (fresh.notes, fresh.posts) == (4, 1)
    assert lock.read_text("utf-8") == written


def test_a_card_file_the_lock_knows_stays_one_until_kind_post_says_otherwise(tmp_path):
    one = "# 注意力\n\n1. 定义：加权求和\n2. 用途：对齐\n"
    cards = write_cards(tmp_path, {"att.md": one})
    assert build_deck(cards).notes == 1
    grown = one + "\n## 为什么要缩放？\n\n防止点积过大\n\n## 为什么用多头？\n\n看不同子空间\n"
    (cards / "att.md").write_text(grown, "utf-8")
    again = build_deck(cards)
    assert (again.notes, again.posts) == (1, 0)  # its cards keep their identity
    result = run(["check", "cards"], tmp_path)
    assert "att.md: note: one question: mkdeck.lock knows it as one question" in result.stderr
    (cards / "att.md").write_text("---\nkind: post\n---\n" + grown, "utf-8")
    forced = build_deck(cards)
    assert (forced.posts, forced.notes) == (1, 2)
    # What stood under the title is listed, not lost without a word.
    said = run(["check", "cards"], tmp_path).stderr
    assert (
        "att.md:4: note: left out (lines 4–7): the post's title `注意力`, and text under it" in said
    )


def test_a_question_with_answer_sub_headings_stays_one_question(tmp_path):
    closure = (
        "### What is a closure?\n\n#### Answer\n\nA function that keeps the variables of the "
        "scope it was made in.\n\n#### Good to hear\n\n- late binding in loops\n- `nonlocal`\n"
    )
    report = build_deck(write_cards(tmp_path, {"closure.md": closure}))
    assert (report.notes, report.posts) == (1, 0)


def test_a_file_whose_first_heading_labels_its_question_is_one_card(tmp_path, collection):
    """`# 题目` (or `# Question (EN)`) names the one question a file asks: its answer's
    sub-headings that ask (`## 什么时候用 A？`) are the answer's parts, not questions of a post."""
    text = (
        "# 题目\n\nChannel 和 Flow 有什么区别？\n\n## 什么时候用 Channel？\n\n"
        "- 多个生产者推送事件\n\n## 什么时候用 Flow？\n\n- 按需计算的冷数据流\n"
    )
    report = build_deck(write_cards(tmp_path, {"streams.md": text}))
    assert not report.errors and (report.notes, report.posts, report.cards) == (1, 0, 2)
    assert report.built[0].question.title == "Channel 和 Flow 有什么区别？"
    assert _read(text).kind == "card"
    import_package(collection, report.package)
    front = shown(card_hiding(collection, "多个生产者推送事件").question())
    assert front.startswith("Channel 和 Flow 有什么区别？") and "按需计算的冷数据流" in front


def _read(text: str):
    lines = text.split("\n")
    front = read_front_matter(lines, "x.md")
    return read_post(lines, scan_fences(lines, front.body, "x.md"), front)


@pytest.mark.parametrize(
    ("text", "titles"),
    [
        # Asking without a question mark, by the words a heading opens with.
        (
            "## 什么是支持向量\n\n离超平面最近的样本\n\n## 请简述一下时序差分方法。\n\n"
            "用下一步的估计更新当前估计\n",
            ["什么是支持向量", "请简述一下时序差分方法。"],
        ),
        # Marks after the question mark; a closed ATX heading; a link to a source after it.
        (
            "## 1. 过拟合怎么办？*\n\n正则化\n\n### Q2: Why ReLU? ###\n\nno saturation\n\n"
            "## 3) What is dropout? [[src](https://example.com)]\n\nrandom masking\n",
            ["过拟合怎么办？*", "Why ReLU?", "What is dropout?"],
        ),
        # A numbered sibling of questions that ask is a question too.
        (
            "## **2-3** QA：为什么要归一化？\n\n稳定训练\n\n## **2-4** QA：归一化的种类\n\n"
            "BN、LN\n\n## **2-5** QA：BN 为什么不适合小 batch？\n\n统计量不稳\n",
            ["为什么要归一化？", "归一化的种类", "BN 为什么不适合小 batch？"],
        ),
        # A topic heading at a question's level, with an answer below it.
        (
            "## 什么是虚函数？\n\n运行时多态\n\n## 纯虚函数\n\n没有实现的虚函数\n\n"
            "## 多态是怎么实现的？\n\n虚表\n",
            ["什么是虚函数？", "纯虚函数", "多态是怎么实现的？"],
        ),
        # Answered only in sub-headings: one question whose sub-headings are its points.
        (
            "## 1. What are LLMs?\n\n### Architecture\n\nTransformers.\n\n### Training\n\n"
            "Next-token prediction.\n\n## 2. What is RLHF?\n\nPreference tuning.\n",
            ["What are LLMs?", "What is RLHF?"],
        ),
        # Footers and references are left out; a short title keeps its section.
        (
            "## GELU\n\n### 数学定义\n\n高斯误差线性单元\n\n### 为什么用 GELU？\n\n"
            "平滑\n\n### 和 ReLU 有何不同？\n\n负半轴不为零\n\n## 参考\n\n- 论文\n\n"
            "## 欢迎关注\n\n公众号\n",
            ["GELU › 数学定义", "为什么用 GELU？", "和 ReLU 有何不同？"],
        ),
        # Numbered sub-headings of a question that asks are its answer, even when questions
        # elsewhere are numbered so: no sibling rule pulls an answer apart.
        (
            "### 1. 什么是 A？\n\nx\n\n### 2. A 和 B 区别是什么？\n\n#### 2.1 A\n\na\n\n"
            "#### 2.2 B\n\nb\n\n#### 2.3 总结\n\nab\n\n### 3. C\n\n#### 3.1 什么是 C？\n\nc\n",
            ["什么是 A？", "A 和 B 区别是什么？", "什么是 C？"],
        ),
        # A line that is bold as a whole and asks is a question.
        (
            "**Q1: Explain self-attention.**\n\nEach token attends to all others.\n\n"
            "**Q2: What is a KV cache?**\n\nStored keys and values.\n",
            ["Explain self-attention.", "What is a KV cache?"],
        ),
    ],
)
def test_question_shapes(text, titles):
    read = _read(text)
    assert read.kind == "post"
    assert [q.title for q in read.questions] == titles


def test_entities_and_numbering_never_reach_a_title():
    read = _read("## Q13 - 什么是&#x20;LoRA？\n\n低秩\n\n## Q14 - 什么是 QLoRA？\n\n量化\n")
    assert [q.title for q in read.questions] == ["什么是 LoRA？", "什么是 QLoRA？"]


def test_topics_count_apart_and_a_setting_turns_them_off(tmp_path):
    text = post(KV, "# 纯虚函数\n\n1. 定义：没有实现的虚函数\n2. 作用：让类成为抽象类\n", GQA)
    write_cards(tmp_path, {"a.md": text})
    built = run(["build", "cards"], tmp_path)
    assert "3 notes (3 from 1 post, 1 topic)" in built.stdout
    again = run(["build", "cards"], tmp_path)  # up to date: the same summary
    assert "is up to date: 3 notes (3 from 1 post, 1 topic)" in again.stdout
    (tmp_path / "pyproject.toml").write_text("[tool.mkdeck]\ntopics = false\n", "utf-8")
    off = run(["build", "cards"], tmp_path)
    assert "2 notes (2 from 1 post)" in off.stdout, off.stdout
    said = run(["check", "cards"], tmp_path).stderr
    title = "`推理优化面试题（一） › 纯虚函数`"  # short: with the post’s own title
    assert f"a.md:18: note: left out (lines 18–21): {title}, a topic (`topics = false`)" in said


def test_questions_written_as_list_items_with_answers_indented_under_them(tmp_path, collection):
    text = (
        "# 场景题\n\n"
        "1. 老板给了你一堆没标注的数据，怎么开始训练？\n"
        "   1. 先标一小批：主动学习挑最不确定的样本\n"
        "   2. 再自训练：用模型给剩下的打伪标签\n\n"
        "2. 线上效果比离线差，先查什么？\n"
        "   - 分布：线上和训练数据的分布是否一致\n"
        "   - 特征：线上特征是否和离线算法一致\n"
    )
    read = _read(text)
    assert read.kind == "post"
    assert [q.title for q in read.questions] == [
        "老板给了你一堆没标注的数据，怎么开始训练？",
        "线上效果比离线差，先查什么？",
    ]
    report = build_deck(write_cards(tmp_path, {"scenes.md": text}))
    assert (report.notes, report.cards) == (2, 4)
    import_package(collection, report.package)
    card = card_hiding(collection, "用模型给剩下的打伪标签")
    assert shown(card.question()).startswith("老板给了你一堆没标注的数据")


def test_numbered_points_that_ask_inside_an_answer_stay_its_points():
    text = (
        "## 1. 为什么要归一化？\n\n"
        "1. 为什么训练会不稳？\n   因为各层输入分布在变\n"
        "2. 为什么收敛慢？\n   因为尺度不一\n\n"
        "## 2. BN 和 LN 有什么区别？\n\n1. 维度：BN 跨样本，LN 跨特征\n"
    )
    assert [q.title for q in _read(text).questions] == ["为什么要归一化？", "BN 和 LN 有什么区别？"]


def test_the_preview_names_each_questions_post_and_line(tmp_path):
    """Every card of a post says `post.md:line` of its own point, though all the post's
    notes share one Source."""
    cards = write_cards(tmp_path, {"a.md": post(KV, GQA)})
    config = Config(root=tmp_path, cards=cards, output=tmp_path / "build", deck="Test")
    report, page = preview(cards, config, tmp_path / "preview")
    assert page is not None and not report.errors
    text = (tmp_path / "preview" / "index.html").read_text("utf-8")
    written = post(KV, GQA).split("\n")
    lines = [n for n, line in enumerate(written, 1) if line[:2] in ("1、", "2、", "3、")]
    assert re.findall(r'pv-where">a\.md:(\d+)', text) == [str(n) for n in lines]


def test_a_short_title_with_no_heading_above_takes_the_posts_own_title():
    text = (
        "---\ntitle: Delta Lake 概览\n---\n## 一句话结论\n\n表级事务\n\n"
        "## 为什么需要事务日志？\n\n目录不是真相\n\n## 它不保证什么？\n\n跨表事务\n"
    )
    assert [q.title for q in _read(text).questions] == [
        "Delta Lake 概览 › 一句话结论",
        "为什么需要事务日志？",
        "它不保证什么？",
    ]


def test_a_docs_sites_navigation_is_no_note(tmp_path):
    nav = "- [什么是 LoRA？](lora.md)\n- [什么是 QLoRA？](qlora.md)\n"
    files = {"_sidebar.md": nav, "_navbar.md": nav, "SUMMARY.md": nav, "summary.md": KV}
    result = run(["check", "cards"], write_cards(tmp_path, files).parent)
    assert "cards/_sidebar.md: note: a docs site's navigation (docsify, GitBook)" in result.stderr
    assert "OK: 1 note" in result.stdout  # a note named `summary.md` is a note
    imported = run(["import", "cards", "-o", "out"], tmp_path)
    assert "Imported into out: 1 question" in imported.stdout


def test_a_post_cut_down_to_one_question_stays_a_post_and_keeps_its_history(tmp_path, collection):
    cards = _answered(tmp_path, collection, {"a.md": post(KV, GQA, ROPE)})
    rope = card_hiding(collection, "按位置把查询和键")
    (cards / "a.md").write_text(post(ROPE), "utf-8")
    second = build_deck(cards, now=1_800_000_100)
    assert (second.posts, second.notes) == (1, 1)
    import_package(collection, second.package)
    assert card_hiding(collection, "按位置把查询和键").nid == rope.nid
    assert reviews(collection, rope.id) == 1
    said = run(["check", "cards"], tmp_path).stderr
    assert "a.md: note: a post of 1 question: mkdeck.lock knows it as a post" in said


def test_new_note_gives_every_question_of_a_post_a_note_of_its_own(tmp_path, collection):
    """`build --new-note post.md`: each question of the post becomes a new note (its old guid
    is not used again), and a file beside it keeps its note."""
    from mkdeck.lockfile import read_lock

    root = tmp_path
    (root / "pyproject.toml").write_text('[tool.mkdeck]\ndeck = "Test"\n', "utf-8")
    cards = write_cards(root, {"infer/post.md": post(KV, GQA), "other.md": ROPE})
    assert run(["build"], root).exit_code == 0
    before = {n.path: n.guid for n in read_lock(cards)[0].notes}
    renewed = run(["build", "--new-note", "infer/post.md"], root)
    assert renewed.exit_code == 0, renewed.stderr
    after = {n.path: n.guid for n in read_lock(cards)[0].notes}
    assert sorted(after) == sorted(before) and len(after) == 3
    assert after["other.md"] == before["other.md"]
    assert all(after[p] != before[p] for p in after if p.startswith("infer/post.md#"))
    assert not set(after.values()) & {before[p] for p in before if p != "other.md"}
    # Both notes and the file beside them reach Anki; the old notes are Anki's to delete.
    import_package(collection, root / "build" / "Test.apkg")
    assert collection.note_count() == 3


def test_a_books_table_of_contents_is_no_note(tmp_path):
    """A chapter list with page numbers (`目录预览.md`, `TOC.md`) beside the chapters: no note,
    and said why; a note about directories (`目录结构.md`) is one."""
    toc = "# 目录\t2\n## 第一章 数学基础\t1\n1.1 标量与向量？\t1\n1.2 张量与矩阵的区别？\t1\n"
    files = {"目录预览.md": toc, "TOC.md": toc, "目录结构.md": KV}
    result = run(["check", "cards"], write_cards(tmp_path, files).parent)
    assert "cards/目录预览.md: note: a table of contents: it lists questions" in result.stderr
    assert "cards/TOC.md: note: a table of contents" in result.stderr
    assert "OK: 1 note" in result.stdout
