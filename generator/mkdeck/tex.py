"""Which TeX MathJax shows as raw TeX instead of typesetting it, found before Anki shows it.

A formula is checked for unbalanced braces, `\\left` without `\\right`, `\\begin{…}` without
its `\\end{…}`, and commands or environments MathJax 3 does not know (`tex_names.json`, made
from MathJax with all its TeX packages by `scripts/tex_names.js`); a command the formula
defines for itself (`\\newcommand`, `\\def`) is known.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources

# TeX, as far as its structure goes: environments, control words, escaped symbols, braces.
TEX_TOKEN = re.compile(
    r"\\(?P<env>begin|end)\s*\{(?P<name>[^{}]*)\}|(?P<word>\\[A-Za-z]+)|\\.|[{}]",
    re.DOTALL,
)
# Commands a formula defines for itself: `\newcommand{\foo}`, `\def\foo`, `\let\foo`, ….
DEFINED = re.compile(
    r"\\(?:(?:re)?newcommand|DeclareMathOperator|def|let|newenvironment)\*?\s*\{?\\?([A-Za-z]+)"
)
# Their argument is text, where MathJax reads no commands: what is in it is never unknown.
TEXT_COMMANDS = frozenset("text textrm textit textbf textsf texttt textnormal mbox hbox".split())


@lru_cache(maxsize=1)
def tex_names() -> tuple[frozenset[str], frozenset[str]]:
    """The commands and environments MathJax 3 knows (`scripts/tex_names.js` lists them)."""
    names = json.loads(resources.files(__package__).joinpath("tex_names.json").read_text("utf-8"))
    return frozenset(names["commands"]), frozenset(names["environments"])


def tex_problem(tex: str) -> str | None:
    """The first problem of a formula that makes MathJax show it as raw TeX, or None:
    unbalanced braces, `\\left` without `\\right`, `\\begin` without its `\\end`, or a
    command or environment MathJax does not know (one the formula defines is known). Also TeX
    that would make a link, a style, a class, an id or an attribute (`unsafe_tex`)."""
    unsafe = unsafe_tex(tex)
    if unsafe:
        return unsafe
    commands, known_environments = tex_names()
    defined = set(DEFINED.findall(tex))
    depth, lefts = 0, 0
    environments: list[str] = []
    skip_to = -1  # the end of a `\\text{…}` group: text, not commands
    for m in TEX_TOKEN.finditer(tex):
        if m.start() < skip_to:
            continue
        token = m.group(0)
        if token[1:] in TEXT_COMMANDS:
            skip_to = _group_end(tex, m.end())
            continue
        if m.group("word") and token[1:] not in commands and token[1:] not in defined:
            return f"unknown command `{token}` (MathJax shows the formula as raw TeX)"
        if m.group("env") == "begin" and m.group("name").strip() not in known_environments:
            return f"unknown environment `{m.group('name').strip()}`"
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
            if depth < 0:
                return "unbalanced braces `{` `}`"
        elif token == "\\left":
            lefts += 1
        elif token == "\\right":
            lefts -= 1
            if lefts < 0:
                return "`\\right` without `\\left`"
        elif m.group("env"):
            name = m.group("name")
            if m.group("env") == "begin":
                environments.append(name)
            elif not environments:
                return f"`\\end{{{name}}}` without `\\begin{{{name}}}`"
            elif (opened := environments.pop()) != name:
                return f"`\\begin{{{opened}}}` closed by `\\end{{{name}}}`"
    if depth:
        return "unbalanced braces `{` `}`"
    if lefts:
        return "`\\left` without `\\right`"
    if environments:
        return f"`\\begin{{{environments[-1]}}}` without `\\end{{{environments[-1]}}}`"
    return None


# MathJax commands that put attributes, styles, classes or ids on what they typeset, or load code.
ATTRIBUTE_COMMANDS = frozenset("style class cssId mmlToken data require".split())
# Commands whose bracketed or braced argument is CSS or attributes: fine without a URL in it.
STYLED = re.compile(r"\\(?:bbox|enclose)\s*(?:\{[^{}]*\}\s*)?\[([^\]]*)\]")
HREF = re.compile(r"\\(href|url)\s*\{([^{}]*)\}")
WEB = re.compile(r"^\s*https?://", re.IGNORECASE)
# Where one of the commands above could be: a formula without any is safe without a closer look.
RISKY = re.compile(r"\\(?:href|url|bbox|enclose|" + "|".join(sorted(ATTRIBUTE_COMMANDS)) + ")")


def unsafe_tex(tex: str) -> str | None:
    """TeX that would let a card navigate, fetch or carry attributes: `\\href` and `\\url` only
    to `http(s)`; no `\\style`, `\\class`, `\\cssId`, `\\mmlToken`, `\\data`, `\\require`; no
    `url(` in `\\bbox` or `\\enclose`. An error, not a silent repair: the author sees the
    formula to rewrite (`\\color{red}{x}` colours without a style)."""
    if not RISKY.search(tex):
        return None  # most formulas: none of the commands that could
    for m in HREF.finditer(tex):
        if not WEB.match(m.group(2)):
            return f"`\\{m.group(1)}` to `{m.group(2).strip()}`: a card links only to http(s)"
    for m in TEX_TOKEN.finditer(tex):
        word = m.group("word")
        if word and word[1:] in ATTRIBUTE_COMMANDS:
            return (
                f"`{word}` sets attributes or styles a card may not carry "
                "(for colour, write `\\color{red}{…}`)"
            )
    for m in STYLED.finditer(tex):
        if re.search(r"url\s*\(|href|javascript", m.group(1), re.IGNORECASE):
            return "a style with a URL in a formula: a card may not fetch anything"
    return None


def _group_end(tex: str, start: int) -> int:
    """Where the brace group that opens at or after `start` ends (its `}` included)."""
    i = start
    while i < len(tex) and tex[i].isspace():
        i += 1
    if i >= len(tex) or tex[i] != "{":
        return start
    depth = 0
    while i < len(tex):
        if tex[i] == "\\":
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(tex[i], 0)
        i += 1
        if depth == 0:
            return i
    return i
