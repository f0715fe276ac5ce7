"""`mkdeck import`: a post of numbered questions becomes card files, once."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import PNG, build_deck, import_package, run, shown
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
    assert "tags: [LLM, 面试_题]" in kv
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
    assert "0 new, 2 already there" in again.stdout
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


def test_a_post_without_numbered_questions_is_a_clear_error(tmp_path):
    post = tmp_path / "plain.md"
    post.write_text("# 只是一篇文章\n\n没有编号的问题。\n", "utf-8")
    result = run(["import", str(post)], tmp_path)
    assert result.exit_code == 1
    assert "plain.md:1: error: no questions found" in result.stderr


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
