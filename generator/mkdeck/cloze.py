"""Which part of a point is hidden, and cloze-safe sealing.

Hiding works on the parsed Markdown (markdown-it tokens), not on finished HTML, so every
hidden part is balanced by construction: a deletion never crosses a tag boundary. The hidden
parts are marked with private characters rather than written as `{{c1::…}}` here, so that a
rendered point does not depend on its ordinal (ordinals come from the lock, later):

1. `==marked==` spans, if the point has any, are exactly what is hidden;
2. else a short label that ends in a colon (`QKV 线性变换：`, `Memory: `, `**参数规模**：`,
   `` `torch.compile`: ``, `*Memory*:`) stays visible as the cue and the rest is hidden;
3. else the whole point is hidden.

Anki's cloze parser ends a deletion at the first `}}`, opens one at `{{c<n>::` and splits a
hint at `::`. `seal` therefore gives text and code `{`, `}` and doubled `:` as numeric
entities, which the browser shows literally but the parser never sees. TeX cannot take
entities through MathJax, so inside formulas `}}` becomes `} }` (TeX ignores the space).
"""

from __future__ import annotations

import re

from markdown_it.token import Token

# Markers in rendered HTML (Unicode noncharacters: never in real text).
HIDE_OPEN, HIDE_CLOSE = "\ufdd0", "\ufdd1"
MATH_OPEN, MATH_CLOSE = "\ufdd2", "\ufdd3"
MARKERS = re.compile("[\ufdd0-\ufddf]")  # every marker mkdeck uses; removed from sources

# A label ends at a full-width colon, or at an ASCII colon followed by a space or the end of
# its text (so `http://` and `std::` are not labels).
LABEL_COLON = re.compile(r"：[ \t]*|:(?:[ \t]+|$)")
LABEL_MAX_CHARS = 20
# A label set off in bold, italics or code says itself where it ends: it may be longer, and
# hold any punctuation (`**预测时序列更长，导致注意力更分散** ：…`).
EMPHASIZED_MAX_CHARS = 40
# A label is a cue, not a sentence: no sentence punctuation in its plain prose.
NOT_IN_LABEL = re.compile(r"[。，,.;；！？!?$\\<>\[\]=|]")
_STYLE = {"strong_open", "strong_close", "em_open", "em_close"}
_INVISIBLE_START = " \t\u200b\u200c\u200d\u2060\ufeff\u3000"


def opens_with_label(line: str) -> bool:
    """Whether a line of Markdown opens with a label as `find_label` reads one in a point:
    `**粗体**：`, or a few words of plain text with no sentence punctuation, then a colon.
    (For the parser, which has lines, not a point's tokens.)"""
    text = line.lstrip(_INVISIBLE_START)
    m = LABEL_COLON.search(text)
    label = text[: m.start()].rstrip() if m else ""
    if len(label) > 4 and label.startswith("**") and label.endswith("**"):
        return len(label) - 4 <= EMPHASIZED_MAX_CHARS
    return 0 < len(label) <= LABEL_MAX_CHARS and not NOT_IN_LABEL.search(label)


_HIDDEN = re.compile(f"{HIDE_OPEN}(.*?){HIDE_CLOSE}", re.DOTALL)
_MATH = re.compile(f"{MATH_OPEN}(.*?){MATH_CLOSE}", re.DOTALL)
_DOUBLE_COLON = re.compile(r":(?=:)|(?<=:):")


def hide(tokens: list[Token], labels: bool = True) -> None:
    """Mark what a point's card hides, in place. `labels=False` for a whole answer."""
    if _hide_marks(tokens):
        return
    if labels and _hide_after_label(tokens):
        return
    tokens.insert(0, _marker_block(HIDE_OPEN))
    tokens.append(_marker_block(HIDE_CLOSE))


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


def _marker_block(marker: str) -> Token:
    token = Token("html_block", "", 0)
    token.content = marker
    return token


def _hide_marks(tokens: list[Token]) -> bool:
    found = False
    for token in tokens:
        for i, child in enumerate(token.children or []):
            if child.type in ("mark_open", "mark_close"):
                token.children[i] = _text(HIDE_OPEN if child.nesting == 1 else HIDE_CLOSE)  # type: ignore[index]
                found = True
    return found


def _hide_after_label(tokens: list[Token]) -> bool:
    """Keep the label visible and hide the rest; False when the label rule does not apply."""
    if len(tokens) < 3 or tokens[0].type != "paragraph_open":
        return False
    children = tokens[1].children or []
    split = find_label(children)
    if split is None:
        return False
    rest = children[split:]
    following = tokens[3:]
    rest_shown = any(
        t.type != "softbreak" and (t.type != "text" or t.content.strip()) for t in rest
    )
    if not rest_shown and not following:
        return False  # nothing after the label to hide
    if rest_shown:
        children.insert(split, _text(HIDE_OPEN))
        children.append(_text(HIDE_CLOSE))
    if following:
        tokens.insert(3, _marker_block(HIDE_OPEN))
        tokens.append(_marker_block(HIDE_CLOSE))
    return True


def find_label(children: list[Token]) -> int | None:
    """Where the label of a point's first paragraph ends (a child index), or None.

    The label may be plain, bold, italic or code, may hold inline math (`为什么不除以 $d_k$：`),
    and its colon may sit inside the emphasis (`**参数规模：**`) or after a space; the cut then
    comes after the closing `**`, so what is hidden stays balanced HTML. A text token is split
    in two when the colon is inside it.
    """
    prose, length, depth, plain_chars = "", 0, 0, 0
    for i, child in enumerate(children):
        if child.type in _STYLE:
            depth += child.nesting
            continue
        if child.type in ("code_inline", "math_inline"):
            length += len(re.sub(r"\s", "", child.content))
            continue
        if child.type != "text":
            return None  # links, images, line breaks: not a cue
        m = LABEL_COLON.search(child.content)
        text = child.content if m is None else child.content[: m.start()]
        chars = len(re.sub(r"\s", "", text))
        length += chars
        if not depth:  # what emphasis sets off may hold any punctuation; plain prose may not
            prose += text
            plain_chars += chars
        if m is None:
            continue
        limit = LABEL_MAX_CHARS if plain_chars else EMPHASIZED_MAX_CHARS
        if length == 0 or length > limit or NOT_IN_LABEL.search(prose):
            return None
        after = child.content[m.end() :]
        if depth:
            # The colon is inside `**…**`: only closing markers may follow it there.
            closers = i + 1
            while closers < len(children) and children[closers].type in (
                "strong_close",
                "em_close",
            ):
                closers += 1
            if after.strip() or closers - (i + 1) != depth:
                return None
            child.content = child.content[: m.end()]
            if after:
                children.insert(closers, _text(after))
            return closers
        child.content = child.content[: m.end()]
        children.insert(i + 1, _text(after))
        return i + 1
    return None


def escape_text(html: str) -> str:
    """Make text and code inert for the cloze parser; the browser still shows them as written."""
    html = html.replace("{", "&#123;").replace("}", "&#125;")
    return _DOUBLE_COLON.sub("&#58;", html) if "::" in html else html


def escape_tex(tex: str) -> str:
    """Break `}}`, `{{` and `::` in TeX with spaces, which TeX ignores in math mode."""
    while "}}" in tex:
        tex = tex.replace("}}", "} }")
    while "{{" in tex:
        tex = tex.replace("{{", "{ {")
    while "::" in tex:
        tex = tex.replace("::", ": :")
    return tex


def _escape_segment(html: str, hidden: bool) -> str:
    """Escape text outside formulas; inside them only where a cloze could be cut short."""
    if MATH_OPEN not in html:
        return escape_text(html)
    out = []
    pos = 0
    for m in _MATH.finditer(html):
        out.append(escape_text(html[pos : m.start()]))
        out.append(escape_tex(m.group(1)) if hidden else m.group(1))
        pos = m.end()
    out.append(escape_text(html[pos:]))
    return "".join(out)


def seal(html: str, ordinal: int) -> str:
    """Marked point HTML → Anki field HTML with every hidden part as `{{c<ordinal>::…}}`."""
    out = []
    pos = 0
    for m in _HIDDEN.finditer(html):
        out.append(_escape_segment(html[pos : m.start()], hidden=False))
        out.append(f"{{{{c{ordinal}::{_escape_segment(m.group(1), hidden=True)}}}}}")
        pos = m.end()
    out.append(_escape_segment(html[pos:], hidden=False))
    return "".join(out)


def unmark(html: str) -> str:
    """Marked HTML → field HTML for parts with no cloze (question, context) on a cloze note."""
    return _escape_segment(html.replace(HIDE_OPEN, "").replace(HIDE_CLOSE, ""), hidden=False)


def plain(html: str) -> str:
    """Marked HTML with the markers dropped and nothing escaped (for fields with no clozes)."""
    for marker in (HIDE_OPEN, HIDE_CLOSE, MATH_OPEN, MATH_CLOSE):
        html = html.replace(marker, "")
    return html
