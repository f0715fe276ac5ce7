"""The Markdown dialect of a card file: CommonMark as GitHub and Typora read it, plus math.

People write their notes in Typora, Obsidian or on GitHub, so a card file is read the way those
read it (markdown-it-py, CommonMark with tables): a child indented to its item's content is
nested, a list may follow a paragraph line directly. On top of CommonMark:

- formulas: `$…$`, `$$…$$` (a block on its own lines, or inside a sentence), `\\(…\\)` and
  `\\[…\\]`, rules below; TeX reaches MathJax untouched;
- `==marked==` text (what a point hides, `cloze.py`);
- underscores are never emphasis (`snake_case`, `__init__`, `d_k`);
- `<tag>` is HTML only for real HTML tag names, so `std::vector<int>` shows as written;
- fenced code is highlighted by Pygments, and only when its language is named.

Everything that a parse finds out about a document (images, problems) goes into a `Document`
made fresh for each parse and passed as markdown-it's `env`: the parser object itself holds
no state between documents, so one file can never see another's results.

Every diagnostic takes its line from the parser's own positions: block tokens carry their
line range, and inline rules count the line breaks before the position they match at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_block import StateBlock
from markdown_it.rules_block.html_block import html_block
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.rules_inline.html_inline import html_inline
from markdown_it.rules_inline.image import image
from markdown_it.token import Token
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from .cloze import MATH_CLOSE, MATH_OPEN
from .dialect.mark import mark_plugin
from .errors import Diagnostic, Severity
from .media import ImageRef, is_remote, media_token
from .sanitize import is_script_url, rewrite_html

# Inline HTML that passes through. Anything else in angle brackets is text, so that
# `std::vector<int>` and `Map<K, V>` show as written instead of vanishing as unknown tags.
HTML_TAGS = frozenset(
    "a abbr b bdi bdo br cite code data del dfn em font i img ins kbd mark q rp rt ruby s samp "
    "small span strong sub sup time u var wbr audio video source iframe script style object "
    "embed svg math div p details summary table thead tbody tr td th center hr blockquote "
    "pre ul ol li dl dt dd h1 h2 h3 h4 h5 h6 figure figcaption section article aside header "
    "footer nav main caption col colgroup tfoot address".split()
)
TAG_NAME = re.compile(r"<\s*/?\s*([a-zA-Z][a-zA-Z0-9-]*)")
WIKI = re.compile(r"(?P<embed>!?)\[\[(?P<target>[^\[\]|\n]+)(?:\|(?P<alias>[^\[\]\n]*))?\]\]")
IMAGE_SUFFIX = re.compile(r"\.(?:png|jpe?g|gif|svg|webp|bmp|avif)$", re.IGNORECASE)
SIZE = re.compile(r"^\d+(?:x\d+)?$")
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

# A padded formula (`$ x $`, `$10^{-2} $`) is math when its content reads as TeX: it holds a
# command, one of these characters, a Greek letter or a math symbol, or it is one word with no
# space inside (`$P(ed) $`). `$ 5 and $ 10` and `$ HOME and $ PATH` stay text.
TEX_SIGNS = re.compile(r"\\[A-Za-z]+|[\^_{}=+<>|]|[\u0370-\u03ff\u2190-\u21ff\u2200-\u22ff]")


@dataclass
class Document:
    """What one parse found out about one piece of Markdown (a part of a card file).

    `base` is the file line of the Markdown's first line; `line` the file line of the inline
    text being parsed (set per inline block, read by the inline rules).
    """

    rel: str
    base: int
    allow_scripts: bool
    first_image: int = 0  # number of the file's images before this part (for media tokens)
    images: list[ImageRef] = field(default_factory=list)
    problems: list[Diagnostic] = field(default_factory=list)
    line: int = 0

    def report(self, line: int, message: str, severity: Severity = "error") -> None:
        self.problems.append(Diagnostic(self.rel, line, message, severity))


def document(env: Any) -> Document:
    doc = env["mkdeck"]
    assert isinstance(doc, Document)
    return doc


def _inline_line(state: StateInline, pos: int) -> int:
    return document(state.env).line + state.src.count("\n", 0, pos)


# --- formulas ---------------------------------------------------------------------------------


def check_tex(tex: str, doc: Document, line: int) -> None:
    """What makes MathJax show a formula as raw TeX, reported at the formula's line: unbalanced
    braces, `\\left` without `\\right`, `\\begin{…}` without its `\\end{…}`."""
    problem = tex_problem(tex)
    if problem:
        shown = " ".join(tex.split())
        shown = shown if len(shown) <= 40 else shown[:39] + "…"
        doc.report(line, f"{problem} in formula `{shown}`")


@lru_cache(maxsize=1)
def tex_names() -> tuple[frozenset[str], frozenset[str]]:
    """The commands and environments MathJax 3 knows (`scripts/tex_names.js` lists them)."""
    names = json.loads(resources.files(__package__).joinpath("tex_names.json").read_text("utf-8"))
    return frozenset(names["commands"]), frozenset(names["environments"])


def tex_problem(tex: str) -> str | None:
    """The first problem of a formula that makes MathJax show it as raw TeX, or None:
    unbalanced braces, `\\left` without `\\right`, `\\begin` without its `\\end`, or a
    command or environment MathJax does not know (one the formula defines is known)."""
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
                document(state.env).report(
                    _inline_line(state, pos), "unclosed `$$` formula (close it with `$$`)"
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
        inner = tex.strip()
        tight = not tex[0].isspace() and not tex[-1].isspace()
        reads_as_tex = bool(TEX_SIGNS.search(inner)) or (
            inner and not any(c.isspace() for c in inner)
        )
        if not src[end + 1 : end + 2].isdigit() and (tight or reads_as_tex):
            return _push_math(state, silent, tex, end + 1, display=False)
    following = src[pos + 1 : pos + 2]
    if following and not following.isspace() and not following.isdigit() and not silent:
        document(state.env).report(
            _inline_line(state, pos),
            "unclosed `$` formula (write `\\$` for a literal dollar sign)",
        )
    return False


def _push_math(state: StateInline, silent: bool, tex: str, end: int, display: bool) -> bool:
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.content = tex
        token.meta["display"] = display
        check_tex(tex, document(state.env), _inline_line(state, state.pos))
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
    return f'<span class="math">{MATH_OPEN}\\({tex}\\){MATH_CLOSE}</span>'


# --- marked text, underscores, HTML -----------------------------------------------------------


def _underscores(state: StateInline, silent: bool) -> bool:
    """A run of `_` is text: underscores are never emphasis."""
    pos = state.pos
    if state.src[pos] != "_":
        return False
    end = pos
    while end < state.posMax and state.src[end] == "_":
        end += 1
    if not silent:
        state.pending += state.src[pos:end]
    state.pos = end
    return True


def _wiki(state: StateInline, silent: bool) -> bool:
    """Obsidian's `![[image.png|300]]` embeds an image (found by name, as Obsidian finds it);
    a `[[Note#Heading|alias]]` link shows as its text: a card has no vault to link into."""
    m = WIKI.match(state.src, state.pos)
    if m is None or state.src.startswith("(", m.end()):
        return False  # `[[src]](https://…)` is a CommonMark link whose text is `[src]`
    target, alias = m.group("target").strip(), (m.group("alias") or "").strip()
    if not silent:
        if m.group("embed") and IMAGE_SUFFIX.search(target):
            token = state.push("image", "img", 0)
            token.attrs = {"src": target, "alt": ""}
            token.children = []
            token.meta = {"line": _inline_line(state, state.pos), "vault": True}
            if SIZE.match(alias):
                token.attrs["width"] = alias.split("x")[0]
        else:
            state.pending += alias or target.split("#")[0] or target
    state.pos = m.end()
    return True


def _known_tag(text: str) -> bool:
    """A comment, or a tag with a real HTML name: `<?`, `<!x` and `<int>` are text."""
    if text.startswith("<!--"):
        return True
    m = TAG_NAME.match(text)
    return m is not None and m.group(1).lower() in HTML_TAGS


def _with_line(rule: Callable[[StateInline, bool], bool]) -> Callable[[StateInline, bool], bool]:
    """markdown-it's own inline rule, with the line of what it matched kept on its token."""

    def located(state: StateInline, silent: bool) -> bool:
        start = state.pos
        if not rule(state, silent):
            return False
        if not silent:
            state.tokens[-1].meta["line"] = _inline_line(state, start)
        return True

    return located


def _known_html_inline(state: StateInline, silent: bool) -> bool:
    return _known_tag(state.src[state.pos : state.pos + 40]) and html_inline(state, silent)


def _html_block(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    begin = state.bMarks[start] + state.tShift[start]
    if not _known_tag(state.src[begin : begin + 40]):
        return False
    return html_block(state, start, end, silent)


# --- lines, images and scripts ----------------------------------------------------------------


def _inline_with_lines(state: StateCore) -> None:
    """markdown-it's own inline step, telling the inline rules which line each block is on."""
    doc = document(state.env)
    for token in state.tokens:
        if token.type == "inline":
            doc.line = doc.base + (token.map[0] if token.map else 0)
            token.children = token.children or []
            state.md.inline.parse(token.content, state.md, state.env, token.children)


def _images_and_scripts(state: StateCore) -> None:
    """Swap local images for media tokens, and take script out unless it is allowed."""
    doc = document(state.env)
    for token in state.tokens:
        block_line = doc.base + (token.map[0] if token.map else 0)
        for t in [token, *(token.children or [])]:
            if t.type == "image":
                _image_token(t, doc)
            elif t.type in ("html_inline", "html_block"):
                line = t.meta.get("line", block_line)
                t.content = _html(t.content, doc, line)
            elif t.type == "link_open" and _script_link(t, doc):
                del t.attrs["href"]
                _script_removed(doc, t.meta.get("line", block_line))


def _script_link(token: Token, doc: Document) -> bool:
    return not doc.allow_scripts and is_script_url(str(token.attrGet("href") or ""))


def _image_token(token: Token, doc: Document) -> None:
    src = str(token.attrGet("src") or "")
    line = token.meta.get("line", doc.line)
    if is_script_url(src) and not doc.allow_scripts:
        token.attrSet("src", "")
        _script_removed(doc, line)
    elif src and not is_remote(src):
        token.attrSet("src", _media(doc, src, line, bool(token.meta.get("vault"))))


def _media(doc: Document, src: str, line: int, vault: bool = False) -> str:
    doc.images.append(ImageRef(src, line, vault))
    return media_token(doc.first_image + len(doc.images) - 1)


def _html(fragment: str, doc: Document, line: int) -> str:
    def image_src(src: str, offset: int) -> str:
        return src if not src or is_remote(src) else _media(doc, src, line + offset)

    html, removed_at = rewrite_html(fragment, strip_scripts=not doc.allow_scripts, image=image_src)
    for offset in removed_at:
        _script_removed(doc, line + offset)
    return html


def _script_removed(doc: Document, line: int) -> None:
    if any(p.line == line and p.message.startswith("removed script") for p in doc.problems):
        return
    doc.report(
        line,
        "removed script (<script>, on…= or javascript:) from the card: Anki runs card HTML. "
        "To keep scripts you wrote yourself, set `allow_scripts = true` under [tool.mkdeck]",
        "warning",
    )


# --- code -------------------------------------------------------------------------------------

_FORMATTER = HtmlFormatter(cssclass="highlight", nowrap=False)


def _render_code(_self: Any, tokens: list[Token], idx: int, _options: Any, _env: Any) -> str:
    """Pygments for a named language; an unnamed or unknown one stays plain (no guessing)."""
    token = tokens[idx]
    language = token.info.split()[0] if token.info.strip() else ""
    if language:
        try:
            return highlight(token.content, get_lexer_by_name(language), _FORMATTER)
        except ClassNotFound:
            pass
    return f'<div class="highlight"><pre><code>{escapeHtml(token.content)}</code></pre></div>\n'


# --- the parser -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    """The card dialect. It keeps nothing between documents: all per-document state is `env`."""
    md = MarkdownIt("commonmark", {"html": True, "breaks": False}).enable(
        ["table", "strikethrough"]
    )
    # Script URLs are not dropped silently: `_images_and_scripts` removes them with a warning.
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    md.block.ruler.before(
        "fence",
        "math_block",
        _math_block,
        {"alt": ["paragraph", "reference", "blockquote", "list"]},
    )
    md.block.ruler.at("html_block", _html_block, {"alt": ["paragraph", "reference", "blockquote"]})
    md.inline.ruler.before("escape", "math_inline", _math_inline)
    md.inline.ruler.before("emphasis", "underscores", _underscores)
    md.use(mark_plugin)
    md.inline.ruler.before("link", "wiki", _wiki)
    md.inline.ruler.at("html_inline", _with_line(_known_html_inline))
    md.inline.ruler.at("image", _with_line(image))
    md.core.ruler.at("inline", _inline_with_lines)
    md.core.ruler.push("mkdeck_media", _images_and_scripts)
    md.add_render_rule("math_inline", _render_math)
    md.add_render_rule("math_block", _render_math)
    md.add_render_rule("fence", _render_code)
    md.add_render_rule("code_block", _render_code)
    return md


def parse(markdown: str, doc: Document) -> list[Token]:
    return parser().parse(markdown, {"mkdeck": doc})


def parse_inline(markdown: str, doc: Document) -> list[Token]:
    return parser().parseInline(markdown, {"mkdeck": doc})


def to_html(tokens: list[Token], doc: Document) -> str:
    md = parser()
    return md.renderer.render(tokens, md.options, {"mkdeck": doc})
