"""Each stage on its own, table-driven: `source → expected`, so a failure names the stage.

The shapes come from notes people keep: Typora exports, GitHub question lists, one question per
file with the question only in the file name. The real-Anki tests (`test_real_notes.py`) check
the same shapes as the reader sees them.
"""

from __future__ import annotations

import pytest

from mkdeck.cloze import HIDE_CLOSE, HIDE_OPEN, MATH_CLOSE, MATH_OPEN
from mkdeck.media import MEDIA_CLOSE, MEDIA_OPEN
from mkdeck.parse import parse_question
from mkdeck.render import render_question

# --- parse: which part is the question, which the points --------------------------------------

PARSE = [
    pytest.param(
        "# 什么是闭包？\n\n1. 一\n2. 二\n",
        "什么是闭包？",
        [(3, 1, "一"), (4, 2, "二")],
        id="h1 question",
    ),
    pytest.param(
        "### What is a closure?\n\n#### Answer\n\n1. A function\n2. Its scope\n\n"
        "#### Good to hear\n\n- x\n",
        "What is a closure?",
        [(5, 1, "A function"), (6, 2, "Its scope"), (10, 0, "x")],
        id="h3 question, h4 structure",
    ),
    pytest.param(
        "## 背景\n\n# 真正的问题？\n\n1. 点\n",
        "真正的问题？",
        [(5, 1, "点")],
        id="a # heading wins over an earlier ##",
    ),
    pytest.param(
        "Word2vec 为什么要二次采样？\n\n1. 高频词信息少\n2. 加快训练\n",
        "Word2vec 为什么要二次采样？",
        [(3, 1, "高频词信息少"), (4, 2, "加快训练")],
        id="first line asks",
    ),
    pytest.param(
        "What is a closure?\n\n#### Answer\n\n1. A function\n",
        "What is a closure?",
        [(5, 1, "A function")],
        id="first line asks above an answer heading",
    ),
    pytest.param(
        "**什么是 LoRA?**\n\n1) 低秩旁路\n",
        "什么是 LoRA?",
        [(3, 1, "低秩旁路")],
        id="bold first line asks",
    ),
    pytest.param(
        "高频词出现得多，信息少。\n\n1. 丢弃概率\n",
        "二次采样",
        [(3, 1, "丢弃概率")],
        id="file name is the question",
    ),
    pytest.param(
        "# Q\n\n1）全角括号\n2）第二\n",
        "Q",
        [(3, 1, "全角括号"), (4, 2, "第二")],
        id="1） full-width",
    ),
    pytest.param(
        "# Q\n\n①第一\n② 第二\n",
        "Q",
        [(3, 1, "第一"), (4, 2, "第二")],
        id="circled numbers",
    ),
    pytest.param(
        "# Q\n\n3. 三\n4. 四\n",
        "Q",
        [(3, 3, "三"), (4, 4, "四")],
        id="list starting at 3",
    ),
    pytest.param(
        "# Q\n\n1. x\n  - two-space child\n    - grandchild\n2. y\n",
        "Q",
        [(3, 1, "x\n- two-space child\n  - grandchild"), (6, 2, "y")],
        id="two-space children keep their nesting",
    ),
    pytest.param(
        "# Q\n\n1. 公式：\n\n$$\nL = x\n$$\n\n2. 下一点\n\n补充\n",
        "Q",
        [(3, 1, "公式：\n\n$$\nL = x\n$$"), (9, 2, "下一点")],
        id="margin formula between points belongs to the point above",
    ),
]


@pytest.mark.parametrize(("source", "title", "points"), PARSE)
def test_parse(source, title, points):
    question, _ = parse_question(source, "二次采样.md")
    assert question.title == title
    assert [(p.line, p.number, p.markdown) for p in question.points] == points


def test_a_list_less_answer_is_one_whole_point():
    question, problems = parse_question(
        "# 什么是 BN？\n\n按 batch 归一化。\n\n再平移缩放。\n", "bn.md"
    )
    assert question.whole_answer
    assert [(p.line, p.markdown) for p in question.points] == [
        (3, "按 batch 归一化。\n\n再平移缩放。")
    ]
    assert problems == []


def test_a_long_list_less_answer_is_warned_about():
    _, problems = parse_question("# Q？\n\n" + "很长的回答。" * 80 + "\n", "long.md")
    assert [str(p) for p in problems] == [
        "long.md:3: warning: the answer is one card of 480 characters (over 400): number its "
        "points (`1.`, `2.`) to make one card of each"
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("", "x.md:1: warning: the file is empty: skipped"),
        ("\u3000\n\u200b\n", "x.md:1: warning: the file is empty: skipped"),
        ("# 只有问题？\n", "x.md:1: warning: the question has no answer below it: skipped"),
        ("# 新卡片？\n\n1. \n2. \n", "x.md:1: warning: the question has no answer below it"),
        (
            "---\nid: a\n---\n#\u00a0\n",
            "x.md:4: warning: the question has no answer below it: skipped",
        ),
        ("---\nid: [a\n---\n# Q\n\n1. a\n", "x.md:2: error: invalid YAML front matter: "),
        (
            "# Q\n\n1. a\n\n```python\nx\n",
            "x.md:5: error: code fence ``` opened here is never closed",
        ),
    ],
)
def test_files_that_hold_no_card(source, expected):
    question, [problem] = parse_question(source, "x.md")
    assert question is None and str(problem).startswith(expected)


# --- render: what each point hides ------------------------------------------------------------


def _readable(html: str) -> str:
    for marker, shown in (
        (HIDE_OPEN, "[["),
        (HIDE_CLOSE, "]]"),
        (MATH_OPEN, ""),
        (MATH_CLOSE, ""),
        (MEDIA_OPEN, "<m"),
        (MEDIA_CLOSE, ">"),
    ):
        html = html.replace(marker, shown)
    return html


RENDER = [
    pytest.param(
        "QKV 线性变换：$6sD^2$",
        'QKV 线性变换：[[<span class="math">\\(6sD^2\\)</span>]]',
        id="label",
    ),
    pytest.param("Memory: 优化器状态", "Memory: [[优化器状态]]", id="ascii label"),
    pytest.param(
        "**参数规模**：8B 和 70B", "<strong>参数规模</strong>：[[8B 和 70B]]", id="bold label"
    ),
    pytest.param("**参数规模：** 8B", "<strong>参数规模：</strong>[[ 8B]]", id="colon inside bold"),
    pytest.param(
        "`torch.compile`: 编译图", "<code>torch.compile</code>: [[编译图]]", id="code label"
    ),
    pytest.param("*Memory*: 显存", "<em>Memory</em>: [[显存]]", id="italic label"),
    pytest.param(
        "**预测时序列更长，导致注意力更分散** ：注意力被摊薄",
        "<strong>预测时序列更长，导致注意力更分散</strong> ：[[注意力被摊薄]]",
        id="bold label with a comma and a space before its colon",
    ),
    pytest.param(
        "**位置嵌入（Position Embedding）** ：给每个位置一个向量",
        "<strong>位置嵌入（Position Embedding）</strong> ：[[给每个位置一个向量]]",
        id="bold label with brackets",
    ),
    pytest.param(
        "为什么不除以 $d_k$：方差会变大",
        '为什么不除以 <span class="math">\\(d_k\\)</span>：[[方差会变大]]',
        id="label with math",
    ),
    pytest.param(
        "这是一句话，不是标签：内容",
        "[[这是一句话，不是标签：内容]]",
        id="plain prose with a comma",
    ),
    pytest.param("see http://x.org now", "[[see http://x.org now]]", id="url is no label"),
    pytest.param("std::vector 存放", "[[std::vector 存放]]", id="double colon is no label"),
    pytest.param(
        "这一句话很长很长很长很长很长很长很长很长很长很长：后面",
        "[[这一句话很长很长很长很长很长很长很长很长很长很长：后面]]",
        id="too long for a label",
    ),
    pytest.param(
        "softmax：==$3hs^2$==（各 $s$ 次）",
        'softmax：[[<span class="math">\\(3hs^2\\)</span>]]'
        '（各 <span class="math">\\(s\\)</span> 次）',
        id="marked span wins",
    ),
    pytest.param("价格 $5 and $10", "[[价格 $5 and $10]]", id="money is text"),
    pytest.param(
        "$ x $ 与 $\\pi $",
        '[[<span class="math">\\( x \\)</span> 与 <span class="math">\\(\\pi \\)</span>]]',
        id="padded math",
    ),
    pytest.param(
        "a $$x^2$$ b", '[[a <span class="math display">\\[x^2\\]</span> b]]', id="$$ in a sentence"
    ),
    pytest.param(
        "\\(a_i\\) 和 \\[b\\]",
        '[[<span class="math">\\(a_i\\)</span> 和 <span class="math display">\\[b\\]</span>]]',
        id="backslash delimiters",
    ),
    pytest.param("snake_case 和 __init__", "[[snake_case 和 __init__]]", id="underscores stay"),
    pytest.param("std::vector<int>", "[[std::vector&lt;int&gt;]]", id="unknown tag is text"),
    pytest.param(
        "见 [[Logits|logits]] 和 [[src]](https://x.org/a)",
        '[[见 logits 和 <a href="https://x.org/a">[src]</a>]]',
        id="wiki link, and a link whose text is in brackets",
    ),
    pytest.param(
        '图：<img src="a.png" style="zoom:50%;" />',
        '图：[[<img src="<m0>" style="zoom:50%">]]',
        id="html image",
    ),
    pytest.param(
        "损失函数为：\n$$\nL = -\\log p\n$$\n其中 $p$ 是概率",
        '<p>损失函数为：</p>\n[[<div class="math">\\[\nL = -\\log p\n\\]</div>\n'
        '<p>其中 <span class="math">\\(p\\)</span> 是概率</p>\n]]',
        id="$$ block without blank lines",
    ),
    pytest.param(
        "密度：\n$$\nf = 1\n$$$$\nf = 0\n$$",
        '<p>密度：</p>\n[[<div class="math">\\[\nf = 1\n\\]</div>\n'
        '<div class="math">\\[\nf = 0\n\\]</div>\n]]',
        id="$$$$ ends one formula and begins the next",
    ),
    pytest.param(
        "组成：\n- 参数\n  - 权重",
        "<p>组成：</p>\n[[<ul>\n<li>参数\n<ul>\n<li>权重</li>\n</ul>\n</li>\n</ul>\n]]",
        id="nested bullets",
    ),
]


@pytest.mark.parametrize(("point", "html"), RENDER)
def test_render_point(point, html):
    question, _ = parse_question(f"# Q\n\n1. {point}\n", "r.md")
    rendered = render_question(question)
    assert rendered.problems == ()
    assert _readable(rendered.points_html[0]) == html


# --- diagnostics: each at its own line ---------------------------------------------------------

UNCLOSED = "unclosed `$` formula, shown as a literal `$` (write `\\$` for a dollar sign)"
DIAGNOSTICS = [
    pytest.param(
        "# Q\n\n1. a\n2. 公式 $\\frac{a}{b} 没有闭合\n",
        [f"d.md:4: warning: {UNCLOSED}"],
        id="unclosed $ at its line",
    ),
    pytest.param(
        "# Q\n\n1. 第一行\n   第二行 $x^{2$\n   第三行 $y^{3$ 和 $z^{$\n",
        [
            "d.md:4: error: unbalanced braces `{` `}` in formula `x^{2`",
            "d.md:5: error: unbalanced braces `{` `}` in formula `y^{3`",
            "d.md:5: error: unbalanced braces `{` `}` in formula `z^{`",
        ],
        id="three bad formulas, three errors",
    ),
    pytest.param(
        "# Q\n\n\n\n上下文\n\n更多上下文 ![x](a.png) 和 $ok$ $bad\n\n1. a\n",
        [f"d.md:7: warning: {UNCLOSED}"],
        id="context after blank lines",
    ),
    pytest.param(
        "# Q\n\n1. $\\left( x$\n2. $x \\right)$\n3. $$\\begin{aligned} a &= b \\end{array}$$\n"
        "4. $\\begin{cases} x\\end{cases} \\{ \\left\\{ y \\right. \\}$\n",
        [
            "d.md:3: error: `\\left` without `\\right` in formula `\\left( x`",
            "d.md:4: error: `\\right` without `\\left` in formula `x \\right)`",
            "d.md:5: error: `\\begin{aligned}` closed by `\\end{array}` in formula "
            "`\\begin{aligned} a &= b \\end{array}`",
        ],
        id="left without right, begin without its end",
    ),
    pytest.param(
        "# Q\n\n1. $W \\ele R^{d}$ 和 $\\begin{foo} x \\end{foo}$\n"
        "2. $\\langle q, k \\rangle \\ce{H2O} \\text{\\weird words}$\n"
        "3. $\\newcommand{\\KL}{D_{KL}} \\KL(p \\| q) \\coloneqq \\lceil x \\rceil$\n",
        [
            "d.md:3: error: unknown command `\\ele` (MathJax shows the formula as raw TeX) in "
            "formula `W \\ele R^{d}`",
            "d.md:3: error: unknown environment `foo` in formula `\\begin{foo} x \\end{foo}`",
        ],
        id="commands and environments MathJax does not know",
    ),
    pytest.param(
        "# Q\n\n1. a\n2. 块\n\n   $$\n   x^2\n",
        ["d.md:6: warning: unclosed `$$` formula, shown as a literal `$$` (close it with `$$`)"],
        id="unclosed $$",
    ),
    pytest.param(
        "# Q\n\n1. a\n\n| h |\n| - |\n| $x^{$ |\n",
        ["d.md:7: error: unbalanced braces `{` `}` in formula `x^{`"],
        id="in a table cell",
    ),
]


@pytest.mark.parametrize(("source", "expected"), DIAGNOSTICS)
def test_diagnostics(source, expected):
    question, problems = parse_question(source, "d.md")
    rendered = render_question(question)
    assert [str(d) for d in [*problems, *rendered.problems]] == expected


def test_images_are_found_at_their_own_lines():
    source = "# Q\n\n\n上下文\n![a](a.png)\n\n1. 点\n   <img src='b.png'>\n\n补充\n\n![c](c.png)\n"
    question, _ = parse_question(source, "i.md")
    assert [(i.src, i.line) for i in render_question(question).media] == [
        ("a.png", 5),
        ("b.png", 8),
        ("c.png", 12),
    ]


# One line that starts with a letter is a paragraph whatever else it holds; the parser reads
# it without its block rules (`markup._one_paragraph`). Each case must give what the block
# parse gives, and the block starts beside them must not be read as paragraphs.
ONE_LINE = [
    "要点：注意力 $x_1^2 + \\frac{a}{b}$ 的计算",
    "See `code` and **bold** and ==mark== and <br> and [a](b) and ![p](p.png)",
    "Formula $$x^2$$ inside a sentence, and \\[y\\] too",
    "a | b | c",
    "Note: <script>alert(1)</script> kept out",
    "trailing hard break\\",
    "x_1 and *y* and ~~z~~",
]
BLOCK_STARTS = ["1. a", "# a", "> a", "- a", "* a", "```py", "    a", "<div>a</div>", "[a]: b",
                "$$x$$", "\\[x\\]", "---", "| a |", "**a**", " a", "a  ", "a\nb"]  # fmt: skip


@pytest.mark.parametrize("markdown", ONE_LINE + BLOCK_STARTS)
def test_a_one_line_paragraph_reads_as_the_block_parse_reads_it(markdown, monkeypatch):
    import mkdeck.markup
    from mkdeck.dialect.document import Document

    def tokens_and_html(fast: bool) -> tuple[list[tuple], str]:
        with monkeypatch.context() as mp:
            if not fast:
                mp.setattr(mkdeck.markup, "_one_paragraph", lambda markdown: False)
            doc = Document("a.md", 3, False)
            tokens = mkdeck.markup.parse(markdown, doc)
            shape = [(t.type, t.tag, t.nesting, t.level, t.block, t.map, t.content) for t in tokens]
            return shape, mkdeck.markup.to_html(tokens, doc)

    assert tokens_and_html(fast=True) == tokens_and_html(fast=False)
    assert mkdeck.markup._one_paragraph(markdown) == (markdown in ONE_LINE)


# Formulas whose width shows a rule of `inline_width`: spacing, scripts, names, fractions.
FORMULAS = [
    "x", "\\qquad", "\\quad\\quad", "a_{ij}^{2}", "\\frac{a}{b}", "\\begin{bmatrix}1\\end{bmatrix}",
    "\\alpha\\beta\\gamma", "\\,\\;\\!", "\\\\", "\\text{词}", "x^{y^{z}}", "{}{}{}",
]  # fmt: skip


@pytest.mark.parametrize("tex", FORMULAS)
def test_no_formula_is_set_wider_than_it_is_written(tex):
    """What lets a formula as short as a phone's line go unmeasured."""
    from mkdeck.dialect.math import inline_width

    assert inline_width(tex) <= len(tex)
    assert inline_width(tex * 8) <= len(tex * 8)


# --- front matter: plain `key: value` lines read without the YAML parser, as it reads them ---

PLAIN_FRONT = [
    "id: q1\ntags: [bench]",
    "id: lora-memory\ntags: [LLM, 显存, C++]\ndeck: LLM::算法题",
    "title: 第 3 题：注意力\ncategories: [面试]\n\ntags: []",
    "title: LoRA:省显存 a&b *c* 'd' \"e\" 100%",
    "tags: [machine learning, deep-learning]",
    "id: yes-no\nname: nullable",
]
YAML_FRONT = [  # each needs the parser: a number, a date, a boolean, a comment, a nest…
    "id: 123", "date: 2024-01-02 10:00:00", "draft: false", "draft: yes", "x: null", "x: ~",
    "x: .inf", "x: -1", "title: a # comment", "title: 'quoted'", "title: \"quoted\"",
    "tags:\n  - a\n  - b", "x: a: b", "x: [a, 2]", "x: [a, [b]]", "x: [a, b:c]", "x: {a: b}",
    "on: push", "id: a\nid: b", "# comment\nid: a", "x:", "x: a\n  continued", "x:\ta",
    "x: [a,, b]", "x: [a, b,]", "x: |\n  block", "x: !!str 1", "x: &a b", "x: *a",
    "x: a\u3000b", "x: [unclosed", "- a\n- b", "just text", "x : a", "x: a:",
]  # fmt: skip


@pytest.mark.parametrize("yaml_text", PLAIN_FRONT + YAML_FRONT)
def test_plain_front_matter_reads_as_yaml_reads_it(yaml_text):
    from mkdeck.frontmatter import plain_front_matter, yaml_front_matter

    lines = ["---", *yaml_text.split("\n"), "---", "# 问？"]
    end = len(lines) - 2
    plain = plain_front_matter(lines, end)
    assert (plain is not None) == (yaml_text in PLAIN_FRONT)
    if plain is not None:
        assert plain == yaml_front_matter(lines, end, "a.md")
        assert all(isinstance(v, str | list) for v in plain[0].values())
