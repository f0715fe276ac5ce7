"""`mkdeck import`: a post of numbered questions becomes card files, once."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import (
    PNG,
    answer_everything,
    build_deck,
    card_hiding,
    import_package,
    reviews,
    run,
    shown,
)
from mkdeck.errors import MkdeckError
from mkdeck.parse import parse_question
from mkdeck.postimport import plan_import

POST = """\
---
title: 面试题合集（三）
tags: [LLM, 面试 题]
categories: [CS]
---

![](/images/banner.png)

这是开头的闲聊，不属于任何问题。

# 1、为什么要用 KV cache？

1.省计算：生成时历史 token 的 K、V 不变，缓存后每步只算新 token
2、代价是显存：缓存大小约为 2 × 层数 × s × D，
随序列长度线性增长

# 2. 代码题：softmax 怎么写才数值稳定？

1. 先减最大值：

```python
def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()
```

2. 示意图：![diagram](img/softmax.png)
3. 缺图：![gone](img/missing.png)

***

觉得有用就点个赞吧～
博客：[example](https://example.com/)
"""


def write_post(tmp_path):
    post = tmp_path / "posts" / "post.md"
    post.parent.mkdir()
    post.write_text(POST, "utf-8")
    (post.parent / "img").mkdir()
    (post.parent / "img" / "softmax.png").write_bytes(PNG)
    return post


def test_import_splits_questions_and_leaves_out_prose_and_footer(tmp_path):
    post = write_post(tmp_path)
    result = run(["import", str(post), "-o", "cards"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "left out posts/post.md:7-9: prose before the first question" in result.stdout
    assert "left out posts/post.md:30-33: footer after the last question" in result.stdout
    assert "posts/post.md:28: warning: image not found, left out: `img/missing.png`" in (
        result.stderr
    )
    files = sorted((tmp_path / "cards").glob("*.md"))
    assert len(files) == 2
    kv = next(f for f in files if "kv" in f.name).read_text("utf-8")
    assert "tags: [LLM, 面试_题, CS]" in kv  # categories are tags, as when the post is built
    # The answer is copied as written: its numbering is one the card format reads, a point
    # that goes on over two lines stays one point, and plain-text formulas stay plain.
    assert "\n1.省计算：生成时历史" in kv
    assert "2、代价是显存：缓存大小约为 2 × 层数 × s × D，\n随序列长度线性增长" in kv
    assert "$" not in kv
    assert "闲聊" not in kv and "点个赞" not in kv
    code = next(f for f in files if "softmax" in f.name).read_text("utf-8")
    assert "1. 先减最大值：\n\n```python\ndef softmax(x):" in code
    [image] = (tmp_path / "cards" / "images").iterdir()
    assert image.name.startswith("softmax-") and image.read_bytes() == PNG
    assert f"![diagram](images/{image.name})" in code


def test_imported_cards_build_into_real_anki(tmp_path, collection):
    post = write_post(tmp_path)
    run(["import", str(post), "-o", "cards"], tmp_path)
    report = build_deck(tmp_path / "cards")
    assert not report.errors, [str(d) for d in report.errors]
    import_package(collection, report.package)
    assert collection.note_count() == 2
    assert collection.card_count() == 5
    code_card = next(
        collection.get_card(cid)
        for cid in collection.find_cards("")
        if "先减最大值" in shown(collection.get_card(cid).question())
        and "np.exp" not in shown(collection.get_card(cid).question())
    )
    assert "e = np.exp(x - x.max())" in shown(code_card.answer())


def test_import_again_changes_nothing_and_dry_run_writes_nothing(tmp_path):
    post = write_post(tmp_path)
    dry = run(["import", str(post), "-o", "cards", "--dry-run"], tmp_path)
    assert dry.exit_code == 0
    assert "would write cards/" in dry.stdout
    assert not (tmp_path / "cards").exists()

    run(["import", str(post), "-o", "cards"], tmp_path)
    before = {p: p.read_bytes() for p in (tmp_path / "cards").rglob("*") if p.is_file()}
    again = run(["import", str(post), "-o", "cards"], tmp_path)
    assert again.exit_code == 0
    assert "2 questions, 0 new, 0 updated, 2 unchanged, 0 edited by you" in again.stdout
    after = {p: p.read_bytes() for p in (tmp_path / "cards").rglob("*") if p.is_file()}
    assert after == before


def test_a_question_whose_answer_was_only_a_missing_image_is_skipped(tmp_path):
    post = tmp_path / "post.md"
    post.write_text("## 1、有图的问题？\n\n![](gone.png)\n\n## 2、正常问题？\n\n1. 一\n", "utf-8")
    result = run(["import", str(post), "-o", "cards"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "post.md:3: warning: image not found, left out: `gone.png`" in result.stderr
    assert "post.md:1: warning: `有图的问题？`: its answer is empty once the footer" in (
        result.stderr
    )
    assert [p.name for p in (tmp_path / "cards").glob("*.md")] == ["正常问题.md"]
    only = tmp_path / "only.md"
    only.write_text("## 1、只有图？\n\n![](gone.png)\n", "utf-8")
    nothing = run(["import", str(only), "-o", "cards"], tmp_path)
    assert nothing.exit_code == 1
    assert "mkdeck: nothing to import: every question was skipped" in nothing.stderr


def test_a_file_of_one_question_becomes_one_card_file(tmp_path):
    post = tmp_path / "plain.md"
    post.write_text("# 只是一篇文章\n\n没有编号的问题。\n", "utf-8")
    result = run(["import", str(post)], tmp_path)
    assert result.exit_code == 0, result.stderr
    [card] = (tmp_path / "cards").glob("*.md")
    text = card.read_text("utf-8")
    assert text.endswith("---\n# 只是一篇文章\n\n没有编号的问题。\n")  # the heading once
    empty = tmp_path / "empty.md"
    empty.write_text("# 只有标题\n", "utf-8")
    nothing = run(["import", str(empty)], tmp_path)
    assert nothing.exit_code == 1
    assert "empty.md:1: warning: the question has no answer below it: skipped" in nothing.stderr


POST_PIECES = [
    "# 标题\n",
    "## 1、问题？\n",
    "### 1.1 小问题？\n",
    "#### 2) 另一个\n",
    "**Q1: 加粗的问题？**\n",
    "1. 点\n",
    "- 项\n",
    "***\n",
    "---\n",
    "```\n",
    "$$\n",
    "![](img/a.png)\n",
    '<img src="b.png">\n',
    "\n",
    "正文\n",
    "# \u3000\n",
    "###\n",
    "\ufeff",
    "tags: [a\n",
]


@settings(max_examples=80, deadline=None)
@given(pieces=st.lists(st.sampled_from(POST_PIECES), max_size=25), tail=st.text(max_size=20))
def test_any_post_gives_a_plan_or_mkdecks_own_error(tmp_path_factory, pieces, tail):
    folder = tmp_path_factory.mktemp("post")
    post = folder / "post.md"
    post.write_text("".join(pieces) + tail, encoding="utf-8")
    try:
        plan = plan_import(post, folder / "cards")
    except MkdeckError as exc:
        assert exc.severity == "error"  # a question it cannot use is skipped, not fatal
        return
    assert plan.cards or plan.skipped  # nothing planned: each question says why
    for card in plan.cards:
        question, _ = parse_question(card.text, card.filename)  # every planned file is a card
        assert question.title and question.points  # with a question and an answer
        assert len(question.points) == max(card.points, 1)  # as many cards as the plan said


UPSTREAM = """\
---
tags: [LLM]
---
## 1. 为什么要做 warmup？

1. 稳定：训练初期梯度大，小学习率避免发散
2. 适应：让 Adam 的二阶矩估计先积累起来

## 2. 梯度裁剪裁的是什么？

1. 范数：把梯度的整体范数压到阈值以内
2. 方向：只缩放大小，不改方向

## 3. 混合精度为什么要 loss scaling？

1. 下溢：fp16 表示不了太小的梯度
"""


def test_import_takes_a_folder_and_keeps_its_folders_as_subdecks(tmp_path, collection):
    posts = tmp_path / "notes"
    (posts / "训练").mkdir(parents=True)
    (posts / "训练" / "tricks.md").write_text(UPSTREAM, "utf-8")
    (posts / "one.md").write_text("# 单独的题？\n\n1. 一点\n2. 两点\n", "utf-8")
    (posts / ".obsidian").mkdir()
    (posts / ".obsidian" / "x.md").write_text("## 不是笔记？\n\n1. a\n", "utf-8")
    result = run(["import", "notes", "-o", "cards"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "训练/tricks.md: 3 questions, 3 new" in result.stdout
    assert "Imported into cards: 4 questions, 4 new, 0 updated" in result.stdout
    written = sorted(
        p.relative_to(tmp_path / "cards").as_posix() for p in (tmp_path / "cards").rglob("*.md")
    )
    assert written == [
        "单独的题.md",
        "训练/为什么要做-warmup.md",
        "训练/梯度裁剪裁的是什么.md",
        "训练/混合精度为什么要-loss-scaling.md",
    ]
    report = build_deck(tmp_path / "cards")
    assert not report.errors
    import_package(collection, report.package)
    card = card_hiding(collection, "把梯度的整体范数压到阈值以内")
    assert collection.decks.name(card.did) == "Test::训练"
    assert set(card.note().tags) == {"LLM"}


def test_import_again_updates_what_you_did_not_edit_and_keeps_what_you_did(tmp_path, collection):
    post = tmp_path / "tricks.md"
    post.write_text(UPSTREAM, "utf-8")
    assert run(["import", str(post), "-o", "cards"], tmp_path).exit_code == 0
    cards = tmp_path / "cards"
    first = build_deck(cards, now=1_800_000_000)
    import_package(collection, first.package)
    answer_everything(collection)
    warmup = card_hiding(collection, "训练初期梯度大，小学习率避免发散")

    # The user fixes one card file; upstream edits another, drops one, adds one.
    clip = next(p for p in cards.glob("*.md") if "梯度裁剪" in p.read_text("utf-8"))
    mine = clip.read_text("utf-8").replace("压到阈值以内", "压到阈值以内（我的补充：按全局范数）")
    clip.write_text(mine, "utf-8")
    upstream = (
        UPSTREAM.replace("小学习率避免发散", "小学习率避免发散，也避免早期过拟合")
        .replace("只缩放大小，不改方向", "只缩放大小")
        .split("## 3.")[0]
        + "## 3. 为什么要用 AdamW？\n\n1. 解耦：权重衰减不再和自适应学习率纠缠\n"
    )
    post.write_text(upstream, "utf-8")
    again = run(["import", str(post), "-o", "cards"], tmp_path)
    assert again.exit_code == 0, again.stderr
    out = again.stdout
    assert f"kept as you edited it: cards/{clip.name}" in out
    assert "update cards/为什么要做-warmup.md (2 points)" in out
    assert "gone from the post: cards/混合精度为什么要-loss-scaling.md (left as it is)" in out
    assert "tricks.md: 3 questions, 1 new, 1 updated, 0 unchanged, 1 edited by you" in out
    assert clip.read_text("utf-8") == mine  # the user's edit is theirs

    second = build_deck(cards, now=1_800_000_100)
    assert not second.errors
    import_package(collection, second.package)
    updated = card_hiding(collection, "也避免早期过拟合")
    assert updated.id == warmup.id and reviews(collection, updated.id) == 1
    assert "我的补充" in shown(card_hiding(collection, "我的补充：按全局范数").answer())
    assert card_hiding(collection, "权重衰减不再和自适应学习率纠缠") is not None
    # Once more, nothing changed upstream: nothing changes here.
    third = run(["import", str(post), "-o", "cards"], tmp_path)
    assert "0 new, 0 updated, 2 unchanged, 1 edited by you" in third.stdout


def test_import_moves_a_list_item_questions_answer_to_the_margin(tmp_path):
    post = tmp_path / "scenes.md"
    post.write_text(
        "# 场景题\n\n1. 数据没有标注，怎么开始？\n   1. 主动学习：先标最不确定的\n"
        "   2. 自训练：伪标签\n\n2. 线上比离线差，先查什么？\n   - 分布是否一致\n",
        "utf-8",
    )
    assert run(["import", str(post), "-o", "cards"], tmp_path).exit_code == 0
    text = (tmp_path / "cards" / "数据没有标注-怎么开始.md").read_text("utf-8")
    assert (
        "\n# 数据没有标注，怎么开始？\n\n1. 主动学习：先标最不确定的\n2. 自训练：伪标签\n" in text
    )


def test_import_copies_obsidian_embeds_found_by_name_in_the_folder_imported(tmp_path):
    vault = tmp_path / "vault"
    (vault / "attachments").mkdir(parents=True)
    (vault / "attachments" / "curve.png").write_bytes(PNG)
    (vault / "notes").mkdir()
    (vault / "notes" / "lr.md").write_text(
        "## 学习率太大会怎样？\n\n1. 发散：![[curve.png|300]]\n\n"
        "## 学习率太小会怎样？\n\n1. 收敛慢\n",
        "utf-8",
    )
    result = run(["import", "vault", "-o", "cards"], tmp_path)
    assert result.exit_code == 0, result.stderr
    [image] = (tmp_path / "cards" / "notes" / "images").iterdir()
    assert image.read_bytes() == PNG
    text = (tmp_path / "cards" / "notes" / "学习率太大会怎样.md").read_text("utf-8")
    assert f"1. 发散：![](<images/{image.name}>)" in text
    report = build_deck(tmp_path / "cards")
    assert not report.warnings and report.media == 1
