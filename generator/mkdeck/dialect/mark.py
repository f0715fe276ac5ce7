"""`==marked==` text → `mark_open` … `mark_close` tokens (what a point hides, `cloze.py`).

Marks pair up by CommonMark's delimiter algorithm, as `~~strikethrough~~` does: a run of `=`
is a delimiter that may open or close by the flanking rules, and pairs are matched after the
whole line is read. So a mark never closes inside a code span or a link (`==x `a==b` y==`
marks all of `x `a==b` y`), and `==` with spaces on the inside stays text.
"""

from __future__ import annotations

from typing import Literal

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.rules_inline.state_inline import Delimiter
from markdown_it.token import Token

EQUALS = 0x3D


def mark_plugin(md: MarkdownIt) -> None:
    md.inline.ruler.before("emphasis", "mark", _tokenize)
    md.inline.ruler2.before("emphasis", "mark", _post_process)


def _tokenize(state: StateInline, silent: bool) -> bool:
    """Each pair of `=` becomes a text token on the delimiter list; an odd one stays text."""
    if silent or state.src[state.pos] != "=":
        return False
    scanned = state.scanDelims(state.pos, True)
    length = scanned.length
    if length < 2:
        return False
    if length % 2:
        state.push("text", "", 0).content = "="
        length -= 1
    for _ in range(length // 2):
        state.push("text", "", 0).content = "=="
        state.delimiters.append(
            Delimiter(
                marker=EQUALS,
                length=0,  # no "rule of 3": marks do not nest by length as emphasis does
                token=len(state.tokens) - 1,
                end=-1,
                open=scanned.can_open,
                close=scanned.can_close,
            )
        )
    state.pos += scanned.length
    return True


def _post_process(state: StateInline) -> None:
    """Turn the delimiters that `balance_pairs` matched into `mark_open` / `mark_close`, in the
    top-level list and in every nested one (inside links and emphasis)."""
    _pair(state, state.delimiters)
    for meta in state.tokens_meta:
        if meta and "delimiters" in meta:
            _pair(state, meta["delimiters"])


def _become(token: Token, kind: str, nesting: Literal[-1, 1]) -> None:
    token.type, token.tag, token.nesting, token.markup, token.content = (
        kind,
        "mark",
        nesting,
        "==",
        "",
    )


def _pair(state: StateInline, delimiters: list[Delimiter]) -> None:
    lone: list[int] = []  # a single `=` left before a closing pair
    for opener in delimiters:
        if opener.marker != EQUALS or opener.end == -1:
            continue
        closer = delimiters[opener.end]
        _become(state.tokens[opener.token], "mark_open", 1)
        _become(state.tokens[closer.token], "mark_close", -1)
        before = state.tokens[closer.token - 1]
        if before.type == "text" and before.content == "=":
            lone.append(closer.token - 1)
    # `=====` reads as `=` `==` `==`: the single one belongs after the closing marks.
    while lone:
        i = lone.pop()
        j = i + 1
        while j < len(state.tokens) and state.tokens[j].type == "mark_close":
            j += 1
        j -= 1
        if i != j:
            state.tokens[i], state.tokens[j] = state.tokens[j], state.tokens[i]
