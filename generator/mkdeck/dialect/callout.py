"""Obsidian callouts: `> [!note] Title` over `> body` → a titled box, not a quote that shows
the literal `[!note]`.

A blockquote whose first line is `[!type]`, folded or not (`[!question]-`, `[!tip]+`), with
an optional title, becomes `<div class="callout callout-type">` holding a title
(`<div class="callout-title">`, the type's name when none is given) and the rest of the
quote. Written as a core rule that runs before inline parsing, in mdit-py-plugins' style: it
only rewrites block tokens, so what the body holds is parsed as any Markdown is.
"""

from __future__ import annotations

import html
import re
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

CALLOUT = re.compile(r"^\[!([A-Za-z][\w-]*)\][+-]?[ \t]*(.*)$")


def callout_plugin(md: MarkdownIt) -> None:
    md.core.ruler.before("inline", "callout", _callouts)
    md.add_render_rule("callout_title", _render_title)


def _render_title(_self: Any, tokens: list[Token], idx: int, _options: Any, _env: Any) -> str:
    return f'<div class="callout-title">{html.escape(tokens[idx].content)}</div>\n'


def _callouts(state: StateCore) -> None:
    tokens = state.tokens
    i = 0
    while i < len(tokens):
        if _is_callout(tokens, i):
            _rewrite(tokens, i)
        i += 1


def _is_callout(tokens: list[Token], i: int) -> bool:
    return (
        tokens[i].type == "blockquote_open"
        and i + 2 < len(tokens)
        and tokens[i + 1].type == "paragraph_open"
        and tokens[i + 2].type == "inline"
        and CALLOUT.match(tokens[i + 2].content.partition("\n")[0]) is not None
    )


def _rewrite(tokens: list[Token], i: int) -> None:
    opening, inline = tokens[i], tokens[i + 2]
    first, _, rest = inline.content.partition("\n")
    m = CALLOUT.match(first)
    assert m is not None
    kind, title = m.group(1).lower(), m.group(2).strip() or m.group(1).capitalize()
    opening.tag = "div"
    opening.attrSet("class", f"callout callout-{kind}")
    depth = 0
    for closing in tokens[i:]:  # the quote's own end: quotes nest
        depth += closing.nesting if closing.type.startswith("blockquote") else 0
        if closing.type == "blockquote_close" and depth == 0:
            closing.tag = "div"
            break
    heading = Token("callout_title", "div", 0)  # text, rendered escaped: never HTML
    heading.content = title
    heading.block = True
    tokens.insert(i + 1, heading)
    inline.content = rest
    if not rest.strip():  # the title was all of the first paragraph
        tokens[i + 2].hidden = tokens[i + 4].hidden = True
