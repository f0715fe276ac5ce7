"""The Markdown dialect of a card file: CommonMark as GitHub and Typora read it, plus math.

People write their notes in Typora, Obsidian or on GitHub, so a card file is read the way those
read it (markdown-it-py, CommonMark with tables): a child indented to its item's content is
nested, a list may follow a paragraph line directly. On top of CommonMark:

- formulas: `$…$`, `$$…$$`, `\\(…\\)` and `\\[…\\]` (`dialect/math.py`); TeX reaches MathJax
  untouched;
- `==marked==` text, what a point hides (`dialect/mark.py`);
- underscores are never emphasis (`snake_case`, `__init__`, `d_k`);
- `<tag>` is HTML only for real HTML tag names, so `std::vector<int>` shows as written;
- fenced code is highlighted by Pygments, and only when its language is named.

Everything that a parse finds out about a document (images, problems) goes into a `Document`
made fresh for each parse (`dialect/document.py`): the parser object itself holds no state
between documents, so one file can never see another's results. A new construct is a plugin
module in `dialect/`, registered in `parser()` below.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable
from functools import lru_cache
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

from .dialect.callout import callout_plugin
from .dialect.document import CodeHighlights, Document, document, inline_line
from .dialect.mark import mark_plugin
from .dialect.math import math_plugin
from .media import HTML_IMAGE, ImageRef, is_remote, media_token
from .sanitize import URL_SCHEMES, is_script_url, removed

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
# A URL's scheme; one letter is a Windows drive (`C:\\notes\\a.png`), not a scheme.
SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]+):")
WIKI = re.compile(r"(?P<embed>!?)\[\[(?P<target>[^\[\]|\n]+)(?:\|(?P<alias>[^\[\]\n]*))?\]\]")
IMAGE_SUFFIX = re.compile(r"\.(?:png|jpe?g|gif|svg|webp|bmp|avif)$", re.IGNORECASE)
SIZE = re.compile(r"^\d+(?:x\d+)?$")
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
            token.meta = {"line": inline_line(state, state.pos), "vault": True}
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
            state.tokens[-1].meta["line"] = inline_line(state, start)
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
            elif t.type == "link_open" and (scheme := _refused(t, "href", doc)):
                del t.attrs["href"]
                _removed(doc, t.meta.get("line", block_line), f"`{scheme}`")


def _refused(token: Token, name: str, doc: Document) -> str | None:
    """The scheme of a Markdown link or image that a card may not carry (`javascript:`,
    `data:`, `file:`…), or None. Relative links stay: the sanitizer shows them as text."""
    if doc.allow_scripts:
        return None
    value = str(token.attrGet(name) or "")
    if is_script_url(value):
        return "javascript:"
    m = SCHEME.match(html.unescape(value).strip())
    return f"{m.group(1).lower()}:" if m and m.group(1).lower() not in URL_SCHEMES else None


def _image_token(token: Token, doc: Document) -> None:
    src = str(token.attrGet("src") or "")
    line = token.meta.get("line", doc.line)
    if scheme := _refused(token, "src", doc):
        token.attrSet("src", "")
        _removed(doc, line, f"`{scheme}`")
    elif src and not is_remote(src):
        token.attrSet("src", _media(doc, src, line, bool(token.meta.get("vault"))))


def _media(doc: Document, src: str, line: int, vault: bool = False) -> str:
    doc.images.append(ImageRef(src, line, vault))
    return media_token(doc.first_image + len(doc.images) - 1)


def _html(fragment: str, doc: Document, line: int) -> str:
    """Raw HTML: each local `<img src>` points at its packed file, and what the sanitizer will
    take out of it is named at its line. (The sanitizer itself runs on the whole rendered
    part, `sanitize.clean`: an `<img>` this does not see is simply not shown.)"""

    def packed(m: re.Match[str]) -> str:
        src = m.group(2)
        if not src or is_remote(src):
            return m.group(0)
        offset = fragment.count("\n", 0, m.start())
        return m.group(1) + _media(doc, html.unescape(src), line + offset)

    names = removed(fragment)  # the whole fragment: a tag may run over several lines
    if names:
        at = line + _first_line_naming(fragment, names)
        what = ", ".join(f"`{n}`" for n in names)
        if doc.allow_scripts:
            doc.report(at, f"{KEPT_SCRIPT}: {what} (`allow_scripts = true`)", "note")
        else:
            _removed(doc, at, what)
    return HTML_IMAGE.sub(packed, fragment)


def _first_line_naming(fragment: str, names: list[str]) -> int:
    """The line (from 0) of the fragment where the first of these removed things stands."""
    words = [n.strip("<>=: ").removeprefix("style ").lower() for n in names]
    for offset, text in enumerate(fragment.lower().split("\n")):
        if any(word and word in text for word in words):
            return offset
    return 0


KEPT_SCRIPT = "kept HTML a card may otherwise not carry"


def _removed(doc: Document, line: int, what: str) -> None:
    doc.report(
        line,
        f"removed {what} from the card: Anki runs card HTML, and a card may not run script, "
        "navigate or fetch. To keep scripts you wrote yourself, set `allow_scripts = true` "
        "under [tool.mkdeck]",
        "warning",
    )


# --- code -------------------------------------------------------------------------------------


def _render_code(_self: Any, tokens: list[Token], idx: int, _options: Any, env: Any) -> str:
    """Pygments for a named language; an unnamed or unknown one stays plain (no guessing)."""
    token = tokens[idx]
    language = token.info.split()[0] if token.info.strip() else ""
    highlighted = _highlighted(language, token.content, document(env).code) if language else ""
    if highlighted:
        return highlighted
    return f'<div class="highlight"><pre><code>{escapeHtml(token.content)}</code></pre></div>\n'


def code_key(language: str, code: str) -> str:
    """What a code block's HTML is remembered by: its language and its code."""
    return hashlib.sha256(f"{language}\0{code}".encode()).hexdigest()[:32]


def _highlighted(language: str, code: str, seen: CodeHighlights) -> str:
    """The block's HTML by Pygments, as remembered when it is (Pygments' output is a function
    of the language and the code, and the memo is salted with its version): a file edited
    outside its code neither loads Pygments nor compiles a lexer again, 56 ms for Python's.
    "": Pygments knows no such language."""
    key = code_key(language, code)
    found = seen.known.get(key)
    if found is None:
        highlight = _highlighter(language)
        found = highlight(code) if highlight is not None else ""
    seen.used[key] = found
    return found


@lru_cache(maxsize=256)
def _highlighter(language: str) -> Callable[[str], str] | None:
    """Code of a language → its HTML by Pygments, with the language's lexer and the HTML
    formatter made once a process: finding a lexer by name searches all of Pygments' lexers,
    and a formatter works out its whole style sheet when it is made, together twice the
    highlighting of a short block. Both keep no state between blocks. None: Pygments knows no
    such language.
    Pygments loads with the first code block: a rebuild of files without any never does."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(language)
    except ClassNotFound:
        return None
    formatter = HtmlFormatter(cssclass="highlight", nowrap=False)
    return lambda code: str(highlight(code, lexer, formatter))


# --- the parser -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    """The card dialect. It keeps nothing between documents: all per-document state is `env`."""
    md = MarkdownIt("commonmark", {"html": True, "breaks": False}).enable(
        ["table", "strikethrough"]
    )
    # Script URLs are not dropped silently: `_images_and_scripts` removes them with a warning.
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    md.use(math_plugin)
    md.block.ruler.at("html_block", _html_block, {"alt": ["paragraph", "reference", "blockquote"]})
    md.inline.ruler.before("emphasis", "underscores", _underscores)
    md.use(mark_plugin)
    md.use(callout_plugin)
    md.inline.ruler.before("link", "wiki", _wiki)
    md.inline.ruler.at("html_inline", _with_line(_known_html_inline))
    md.inline.ruler.at("image", _with_line(image))
    md.core.ruler.at("inline", _inline_with_lines)
    md.core.ruler.push("mkdeck_media", _images_and_scripts)
    md.add_render_rule("fence", _render_code)
    md.add_render_rule("code_block", _render_code)
    return md


def parse(markdown: str, doc: Document) -> list[Token]:
    if _one_paragraph(markdown):  # most points: their tokens without the block rules' work
        return _paragraph(parser().parseInline(markdown, {"mkdeck": doc}))
    return parser().parse(markdown, {"mkdeck": doc})


def _one_paragraph(markdown: str) -> bool:
    """Whether CommonMark and this dialect read `markdown` as one paragraph whatever it holds:
    one line, nothing around it to strip, and a letter first (no block starts with one)."""
    return (
        markdown[:1].isalpha()
        and "\n" not in markdown
        and "\r" not in markdown
        and markdown[-1:] not in (" ", "\t")
    )


def _paragraph(tokens: list[Token]) -> list[Token]:
    """The tokens of an inline parse, as the block parse gives them for one paragraph."""
    (inline,) = tokens
    opening = Token("paragraph_open", "p", 1, map=[0, 1], block=True)
    closing = Token("paragraph_close", "p", -1, block=True)
    inline.level, inline.block = 1, True
    return [opening, inline, closing]


def parse_inline(markdown: str, doc: Document) -> list[Token]:
    return parser().parseInline(markdown, {"mkdeck": doc})


def to_html(tokens: list[Token], doc: Document) -> str:
    md = parser()
    return md.renderer.render(tokens, md.options, {"mkdeck": doc})
