"""Formulas: `$…$`, `$$…$$` (a block on its own lines, or inside a sentence), `\\(…\\)` and
`\\[…\\]`, as Typora, Obsidian and GitHub read them; the TeX reaches MathJax untouched, between
markers (`cloze.MATH_OPEN`) so that a hidden span can make it cloze-safe.

Built in the style of mdit-py-plugins' `dollarmath` (escapes counted by parity, a block rule
that needs no blank line around it), but not on it: real notes need a padded `$ x $` that is
math only when it reads as TeX (so `$5 and $10` stays money), `$$` blocks that interrupt a
paragraph and hold blank lines, `$$$$` between two formulas, and each formula's TeX checked
where it stands (`tex.py`), none of which `dollarmath` offers.
"""

from __future__ import annotations

import re
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

from ..cloze import MATH_CLOSE, MATH_OPEN
from ..tex import tex_problem
from .document import Document, document, inline_line


def _pipes_in_table_math(state: StateCore) -> None:
    """`|` inside `$…$` in a table row (`| $|y-y'|$ |`) is the formula's, not a cell border:
    escaped as `\\|` before the table rule splits the row (which unescapes it again)."""
    if "|" not in state.src or "$" not in state.src:
        return
    state.src = "\n".join(
        _escape_pipes(line) if TABLE_ROW.match(line) and "$" in line else line
        for line in state.src.split("\n")
    )


TABLE_ROW = re.compile(r"^ {0,3}\|")


def _escape_pipes(line: str) -> str:
    out, inside = [], False
    for i, ch in enumerate(line):
        if ch == "$" and not is_escaped(line, i):
            inside = not inside
        elif ch == "|" and inside and not is_escaped(line, i):
            out.append("\\")
        out.append(ch)
    return "".join(out)


def math_plugin(md: MarkdownIt) -> None:
    md.core.ruler.after("normalize", "table_math_pipes", _pipes_in_table_math)
    """Register the formula rules, before the rules that would read `$` or `\\` otherwise."""
    md.block.ruler.before(
        "fence",
        "math_block",
        _math_block,
        {"alt": ["paragraph", "reference", "blockquote", "list"]},
    )
    md.inline.ruler.before("escape", "math_inline", _math_inline)
    md.add_render_rule("math_inline", _render_math)
    md.add_render_rule("math_block", _render_math)


# A padded formula (`$ x $`, `$10^{-2} $`) is math when its content reads as TeX: it holds a
# command, one of these characters, a Greek letter or a math symbol, or it is one word with no
# space inside (`$P(ed) $`). `$ 5 and $ 10` and `$ HOME and $ PATH` stay text.
TEX_SIGNS = re.compile(r"\\[A-Za-z]+|[\^_{}=+<>|]|[\u0370-\u03ff\u2190-\u21ff\u2200-\u22ff]")


def check_tex(tex: str, doc: Document, line: int) -> None:
    """What makes MathJax show a formula as raw TeX, reported at the formula's line: unbalanced
    braces, `\\left` without `\\right`, `\\begin{…}` without its `\\end{…}`."""
    problem = tex_problem(tex)
    if problem:
        shown = " ".join(tex.split())
        shown = shown if len(shown) <= 40 else shown[:39] + "…"
        doc.report(line, f"{problem} in formula `{shown}`")


def is_escaped(src: str, pos: int) -> bool:
    """Whether the character at `pos` is escaped: an odd number of backslashes before it
    (`\\$` is a backslash, then a dollar that opens a formula)."""
    backslashes = 0
    while pos - backslashes > 0 and src[pos - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def _math_inline(state: StateInline, silent: bool) -> bool:
    """`$…$`, `$$…$$` and `\\[…\\]` inside a sentence, and `\\(…\\)`.

    A `$…$` formula opens at a `$` followed by a non-space and closes at the next `$` that
    follows a non-space and is not followed by a digit (Pandoc's rule, so `$5 and $10` is
    money). A padded one (`$ x $`, `$\\pi $`, as Typora and Notion write them) is math when
    its content reads as TeX (`TEX_SIGNS`, or a single word) and the closing `$` is not
    followed by a digit.
    """
    src, pos = state.src, state.pos
    for opening, closing, display in (("\\(", "\\)", False), ("\\[", "\\]", True)):
        if src.startswith(opening, pos):
            end = src.find(closing, pos + 2)
            if end < 0 or not src[pos + 2 : end].strip():
                return False
            return _push_math(state, silent, src[pos + 2 : end], end + 2, display=display)
    if src[pos] != "$" or is_escaped(src, pos):
        return False
    if src.startswith("$$", pos):
        end = src.find("$$", pos + 2)
        if end < 0 or not src[pos + 2 : end].strip():
            if not silent:
                document(state.env).report(  # shown as written, as GitHub shows it
                    inline_line(state, pos),
                    "unclosed `$$` formula, shown as a literal `$$` (close it with `$$`)",
                    "warning",
                )
                state.pending += "$$"
            state.pos = pos + 2
            return True
        return _push_math(state, silent, src[pos + 2 : end], end + 2, display=True)
    end = pos + 1
    while True:
        end = src.find("$", end)
        if end < 0 or not is_escaped(src, end):
            break
        end += 1
    if end > pos + 1:
        tex = src[pos + 1 : end]
        if _is_formula(tex, src[end + 1 : end + 2]):
            return _push_math(state, silent, tex, end + 1, display=False)
    following = src[pos + 1 : pos + 2]
    if following and not following.isspace() and not following.isdigit() and not silent:
        document(state.env).report(  # shown as written, as GitHub shows it
            inline_line(state, pos),
            "unclosed `$` formula, shown as a literal `$` (write `\\$` for a dollar sign)",
            "warning",
        )
    return False


def _is_formula(tex: str, after: str) -> bool:
    """Whether `$tex$`, followed by `after`, is a formula as its author meant it.

    Tight (`$x^2$`), it is, unless a digit follows (`$5 and $10` is money), which TeX may have
    (`64$\\times$64`). Padded on both sides (`$ x $`), its content must read as TeX, be one
    word, or be only numbers and their punctuation (`$ [0.05, 0.85] $`). Padded on one side,
    as a formula broken over a line is (`使用$` then `L(Y, f(x))$`), it needs TeX, or one word, or
    brackets or a digit, without starting with a digit (`$5 and $`).
    """
    inner = tex.strip()
    if not inner:
        return False
    tex_signs = bool(TEX_SIGNS.search(inner))
    if after.isdigit() and not tex_signs:
        return False
    left, right = tex[0].isspace(), tex[-1].isspace()
    if not left and not right:
        return True
    one_word = not any(c.isspace() for c in inner)
    if left and right:
        return tex_signs or one_word or bool(NUMBERS.fullmatch(inner))
    if tex_signs or (one_word and not inner[0].isdigit()):  # `$P $ is a PMF of $X $`
        return True
    return bool(re.search(r"[()\[\]\d]", inner)) and not inner[0].isdigit()


# Only numbers and the punctuation between them: `[0.05 , 0.10 , 0.85]`, `(- 1,1)`.
NUMBERS = re.compile(r"[\s\d.,;:()\[\]+\-*/]*\d[\s\d.,;:()\[\]+\-*/]*")


def _push_math(state: StateInline, silent: bool, tex: str, end: int, display: bool) -> bool:
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.content = tex
        token.meta["display"] = display
        check_tex(tex, document(state.env), inline_line(state, state.pos))
    state.pos = end
    return True


def _math_block(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """A `$$` or `\\[` block: it needs no blank line around it, and may sit in a list item.

    A line of `$$$$` ends one formula and begins the next, as Obsidian and MathJax read it.
    """
    if state.sCount[start] - state.blkIndent >= 4:
        return False
    begin = state.bMarks[start] + state.tShift[start]
    first = state.src[begin : state.eMarks[start]].rstrip()
    if first.startswith("$$"):
        close = "$$"
    elif first.startswith("\\["):
        close = "\\]"
    else:
        return False
    rest = first[2:]
    formulas: list[tuple[int, int, str]] = []  # first line, last line, TeX
    if close in rest:
        if not rest.endswith(close) or not rest[: -len(close)].strip():
            return False  # `$$a$$ and text`: a formula inside a sentence
        formulas.append((start, start, rest[: -len(close)]))
    else:
        opened = start
        while True:
            last = opened + 1
            while last < end:  # blank lines inside are allowed: MathJax ignores them
                if state.sCount[last] < state.blkIndent and not state.isEmpty(last):
                    return False  # the list item or quote ended first
                text = state.src[state.bMarks[last] + state.tShift[last] : state.eMarks[last]]
                if text.rstrip().endswith(close):
                    break
                last += 1
            else:
                return False
            body = state.getLines(opened + 1, last, state.blkIndent, False)
            again = close == "$$" and text.strip() == "$$$$"
            closing = "" if again else text.rstrip()[: -len(close)]
            tex = "\n".join(part for part in (rest, body, closing) if part.strip())
            formulas.append((opened, last, tex))
            if not again:
                break
            opened, rest = last, ""
    if silent:
        return True
    doc = document(state.env)
    for opened, last, tex in formulas:
        token = state.push("math_block", "math", 0)
        token.block = True
        token.content = tex
        token.map = [opened, last + 1]
        check_tex(tex, doc, doc.base + opened)
    state.line = formulas[-1][1] + 1
    return True


def _render_math(_self: Any, tokens: list[Token], idx: int, _options: Any, _env: Any) -> str:
    token = tokens[idx]
    tex = escapeHtml(token.content)
    if token.type == "math_block":
        return f'<div class="math">{MATH_OPEN}\\[\n{tex.strip()}\n\\]{MATH_CLOSE}</div>\n'
    if token.meta.get("display"):
        return f'<span class="math display">{MATH_OPEN}\\[{tex}\\]{MATH_CLOSE}</span>'
    # No piece of TeX is set wider than it is written (`\qquad`: six characters, four
    # symbols), so a formula as short as a phone's line is never measured.
    tex_wide = len(token.content) > PHONE_LINE and inline_width(token.content) > PHONE_LINE
    wide = " wide" if tex_wide else ""
    return f'<span class="math{wide}">{MATH_OPEN}\\({tex}\\){MATH_CLOSE}</span>'


# An inline formula flows in its line like a word: no box of its own, so it sits on the
# text's baseline and MathJax's glyphs may stick out of it a little (a box that scrolled
# showed a scrollbar under most formulas in Anki desktop for those few pixels). Only one too
# long for a phone's line gets a box that scrolls (`wide`). Width is counted in symbols, as
# MathJax sets them: about 22 fill a 390 px phone's line beside a list number.
PHONE_LINE = 22
_NO_WIDTH = {
    "left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "frac",
    "dfrac", "tfrac", "sqrt", "text", "textrm", "textbf", "mathrm", "mathbf", "mathit",
    "mathcal", "mathbb", "mathsf", "mathtt", "boldsymbol", "bm", "operatorname", "hat",
    "bar", "tilde", "vec", "dot", "ddot", "overline", "underline", "displaystyle",
    "limits", "nolimits", "color", "mathop", "begin", "end", "top",
}  # fmt: skip
_WORDS = {"quad": 2.0, "qquad": 4.0}
_NAMING = {"begin", "end", "color", "textcolor", "colorbox"}  # their first group is a name
_TEX_PIECE = re.compile(r"\\([A-Za-z]+)|\\(.)|([\^_])|(\s)|([{}])|(.)")


def inline_width(tex: str) -> float:
    """About how many symbols wide `tex` is set: a command that draws one (`\\alpha`,
    `\\sum`) counts one, one that only shapes others (`\\frac`, `\\mathrm`) none, a
    script's symbols two thirds, spacing and braces nothing. A fraction counts both its
    parts, so a tall formula may be taken for wider than it is: it then only scrolls."""
    width, script, depth = 0.0, 0, 0
    scripted: list[int] = []  # the brace depths at which a script's group ends
    named = False  # the next group names something (`\\begin{bmatrix}`): it draws nothing
    unseen = 0  # the brace depth of such a group, while inside it
    for m in _TEX_PIECE.finditer(tex):
        name, escaped, mark, space, brace, char = m.groups()
        small = 2 / 3 if script or scripted else 1.0
        if mark:
            script = 1
            continue
        if brace == "{":
            depth += 1
            if named and not unseen:
                unseen, named = depth, False
            if script:
                scripted.append(depth)
                script = 0
            continue
        if brace == "}":
            if scripted and scripted[-1] == depth:
                scripted.pop()
            if unseen == depth:
                unseen = 0
            depth -= 1
            continue
        if space or unseen:
            continue
        if name in _NAMING:
            named = True
            continue
        if name:
            width += small * _WORDS.get(name, 0.0 if name in _NO_WIDTH else 1.0)
        elif escaped:
            width += 0.0 if escaped in ",;:! \\" else small
        elif char:
            width += small
        script = 0
    return width
