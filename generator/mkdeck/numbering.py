"""How people number things, written once: the forms a numbered point or a numbered question
takes in real notes, and the number each stands for.

A point or question is numbered `1.` `1)` `1）` `1、` `1．` (also glued to its text: `1.QKV`),
`（1）` `(1)`, or `①`…`⑳`. A heading may also be numbered `1.1`, `Q1:`, `1 ` or `1️⃣`. Card files
(`parse.py`) and import (`postimport.py`) read the same forms from here.
"""

from __future__ import annotations

import re

_NUMBER = r"\d{1,3}"
_AFTER = r"[.)、．）]"  # what follows a number that numbers a point
_PARENTHESISED = rf"[（(]({_NUMBER})[）)]"
_CIRCLED = r"([\u2460-\u2473])"  # ① … ⑳

# A point starts at the left margin. `(?![\d.])` keeps `3.14 is pi`, `1.5B` and `1.2.3` from
# being points; some text must follow on the line.
_POINT = rf"(?:({_NUMBER}){_AFTER}(?![\d.])|{_PARENTHESISED}|{_CIRCLED})[ \t]*(?=\S)"
POINT_START = re.compile(rf"^{_POINT}")
# A numbered item indented by up to 3 spaces (` 1. a`, as some editors write a list): the
# outermost ones of a file, at the indent of the least indented, are its points.
ANY_POINT = re.compile(rf"^( {{0,3}}){_POINT}")


def points_at(indent: int) -> re.Pattern[str]:
    """Numbered items indented by exactly `indent` spaces (0 to 3)."""
    return POINT_START if indent == 0 else re.compile(rf"^ {{{indent}}}{_POINT}")


# A number with nothing after it (`mkdeck new` writes `1. ` to be filled in).
EMPTY_ITEM = re.compile(rf"^ {{0,3}}(?:{_NUMBER}{_AFTER}|{_PARENTHESISED}|{_CIRCLED})(?=\s|$)")
# A numbered heading: the point forms, and `1.1 `, `Q1.1:`, `1 ` and the keycap `1️⃣`. The number
# needs a separator after it, so `2024年总结` and `3D 重建` are not numbered.
NUMBERED_HEADING = re.compile(
    rf"^(?:[Qq]?({_NUMBER}(?:[.．]{_NUMBER})*)(?:[、.．)）:：]|[ \t]+)|{_PARENTHESISED}"
    rf"|{_CIRCLED}|\d\ufe0f?\u20e3)[ \t]*(?P<rest>.*)$"
)


# Where a card file numbers nothing, its outermost bullets are its points (`-`, `*`, `+`,
# indented as the first of them is: Obsidian notes often write ` - a`). A thematic break
# (`---`, `* * *`) is no bullet; a task item (`- [x]`) belongs to a quiz.
_BULLET = r"[-*+][ \t]+(?=\S)(?![-*+_ \t]*$)(?!\[[ xX]\])"
BULLET_START = re.compile(rf"^{_BULLET}")
ANY_BULLET = re.compile(rf"^( {{0,3}}){_BULLET}")


def bullets_at(indent: int) -> re.Pattern[str]:
    """Bullets indented by exactly `indent` spaces (0 to 3)."""
    return BULLET_START if indent == 0 else re.compile(rf"^ {{{indent}}}{_BULLET}")


def point_number(m: re.Match[str]) -> int:
    """The number a `POINT_START` match stands for (`③` is 3); a bullet's is 0."""
    if m.lastindex is None:  # a bullet: nothing numbers it
        return 0
    if m.group(3) is not None:
        return ord(m.group(3)) - 0x245F
    return int(m.group(1) or m.group(2))
