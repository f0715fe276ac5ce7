"""`Question` → `RenderedNote`: Markdown to HTML, with the hidden parts of each point marked.

`render_question` is a pure function of the parsed file and the render settings, so that a
large deck can render files in parallel and from a cache (DESIGN §7). It does no I/O: images
are left as tokens and listed in `RenderedNote.media`; packaging resolves them.

The work is done inside Python-Markdown, by one tree processor that runs after the inline
patterns: it sees `<mark>` elements (from `==x==`), formulas (from arithmatex) and images as
elements, so hiding and checking never need a regex over finished HTML.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as etree
from dataclasses import dataclass
from functools import lru_cache

import markdown
from markdown.extensions import Extension
from markdown.inlinepatterns import HTML_RE, HtmlInlineProcessor
from markdown.treeprocessors import Treeprocessor
from markdown.util import AtomicString

from .cloze import HIDE_CLOSE, HIDE_OPEN, MATH_CLOSE, MATH_OPEN, find_label
from .errors import Diagnostic, Severity
from .parse import Question, Section
from .sanitize import SUSPICIOUS, URL_ATTRIBUTES, is_script_url, strip_scripts

MEDIA_OPEN, MEDIA_CLOSE = "\ufdd4", "\ufdd5"
# A `$` that arithmatex left behind and that starts something other than an amount of money.
STRAY_DOLLAR = re.compile(r"\$(?![\d\s]|$)")
# Inline HTML that Markdown passes through. Anything else in angle brackets is text, so that
# `std::vector<int>` and `Map<K, V>` show as written instead of vanishing as unknown tags.
HTML_TAGS = frozenset(
    "a abbr b bdi bdo br cite code data del dfn em font i img ins kbd mark q rp rt ruby s samp "
    "small span strong sub sup time u var wbr audio video source iframe script style object "
    "embed svg math div p details summary".split()
)
TAG_NAME = re.compile(r"</?([a-zA-Z][a-zA-Z0-9-]*)")
REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)


@dataclass(frozen=True)
class RenderSettings:
    """The settings a render depends on: with the file's text, the whole cache key."""

    allow_scripts: bool = False


@dataclass(frozen=True)
class MediaRef:
    """An image as the Markdown names it; `token` stands for it in the HTML until packaging."""

    src: str
    line: int
    token: str


@dataclass(frozen=True)
class RenderedNote:
    """HTML of each part; in a point's HTML, hidden parts and formulas sit between markers."""

    title_html: str
    context_html: str
    points_html: tuple[str, ...]
    extra_html: str
    media: tuple[MediaRef, ...]
    problems: tuple[Diagnostic, ...]


def render_question(
    question: Question, settings: RenderSettings = RenderSettings()
) -> RenderedNote:
    """Render every part of one card file."""
    renderer = _Renderer(question.rel, settings)
    title = renderer.inline(question.title, question.title_line)
    context = renderer.section(question.context)
    points = tuple(renderer.point(p.markdown, p.line) for p in question.points)
    extra = renderer.section(question.extra)
    return RenderedNote(
        title_html=title,
        context_html=context,
        points_html=points,
        extra_html=extra,
        media=tuple(renderer.media),
        problems=tuple(renderer.problems),
    )


class _Renderer:
    """Collects media and problems across the parts of one file."""

    def __init__(self, rel: str, settings: RenderSettings) -> None:
        self.rel = rel
        self.settings = settings
        self.media: list[MediaRef] = []
        self.problems: list[Diagnostic] = []

    def section(self, section: Section) -> str:
        if not section.markdown:
            return ""
        return self._convert(section.markdown, section.line, mode="plain")

    def inline(self, text: str, line: int) -> str:
        html = self._convert(text, line, mode="plain")
        return html.removeprefix("<p>").removesuffix("</p>")

    def point(self, text: str, line: int) -> str:
        return self._convert(text, line, mode="point")

    def _convert(self, text: str, line: int, mode: str) -> str:
        md = _engine()
        md.reset()
        tree = md.treeprocessors["mkdeck"]
        assert isinstance(tree, _CardTreeprocessor)
        tree.mode = mode
        tree.label = find_label(text.split("\n", 1)[0]) if mode == "point" else None
        tree.media_start = len(self.media)
        tree.allow_scripts = self.settings.allow_scripts
        html = md.convert(text)
        lines = text.split("\n")
        if tree.scripts_removed:
            self._problem(
                line,
                lines,
                SUSPICIOUS,
                "removed script (<script>, on…= or javascript:) from the card: Anki runs "
                "card HTML. To keep scripts you wrote yourself, set `allow_scripts = true` "
                "under [tool.mkdeck]",
                "warning",
            )
        for src in tree.images:
            token = media_token(len(self.media))
            self.media.append(MediaRef(src, line + _line_of(lines, src), token))
        if tree.stray_dollar:
            self._problem(
                line,
                lines,
                STRAY_DOLLAR,
                "unclosed `$` or `$$` formula (write `\\$` for a literal dollar sign)",
            )
        return html

    def _problem(
        self,
        line: int,
        lines: list[str],
        pattern: re.Pattern[str],
        message: str,
        severity: Severity = "error",
    ) -> None:
        """Report at the first line of the part that `pattern` finds (else the part's line)."""
        offset = next((i for i, t in enumerate(lines) if pattern.search(t)), 0)
        self.problems.append(Diagnostic(self.rel, line + offset, message, severity))


def media_token(index: int) -> str:
    """What stands in the HTML for a file's `index`-th image until packaging names it."""
    return f"{MEDIA_OPEN}{index}{MEDIA_CLOSE}"


def _line_of(lines: list[str], needle: str) -> int:
    return next((i for i, t in enumerate(lines) if needle in t), 0)


class _CardTreeprocessor(Treeprocessor):
    """Marks formulas and hidden parts, swaps images for tokens, spots unclosed `$`."""

    mode = "plain"
    label: str | None = None
    media_start = 0
    allow_scripts = False

    def run(self, root: etree.Element) -> None:
        self.images: list[str] = []
        self.stray_dollar = False
        self.scripts_removed = False
        if not self.allow_scripts:
            self._strip_scripts(root)
        marks = []
        for el in root.iter():
            cls = el.get("class", "")
            if "arithmatex" in cls.split() and el.text:
                el.text = AtomicString(MATH_OPEN + el.text + MATH_CLOSE)
            elif el.tag == "img":
                src = el.get("src", "")
                if src and not REMOTE.match(src):
                    el.set("src", media_token(self.media_start + len(self.images)))
                    self.images.append(src)
            elif el.tag == "mark":
                marks.append(el)
        self._check_dollars(root)
        if self.mode != "point":
            return
        if len(root) == 1 and root[0].tag == "p" and not (root.text or "").strip():
            _unwrap(root, root[0], "", "")
        if marks:
            parents = {child: parent for parent in root.iter() for child in parent}
            for el in marks:
                _unwrap(parents.get(el, root), el, HIDE_OPEN, HIDE_CLOSE)
        elif not self._hide_after_label(root):
            _wrap_all(root)

    def _strip_scripts(self, root: etree.Element) -> None:
        """Raw HTML waits in Markdown's stash until the end: clean it there, and the tree."""
        stash = self.md.htmlStash.rawHtmlBlocks
        for i, block in enumerate(stash):
            if isinstance(block, str):
                stash[i], removed = strip_scripts(block)
                self.scripts_removed |= removed
        for el in root.iter():
            for name, value in list(el.attrib.items()):
                if name.startswith("on") or (name in URL_ATTRIBUTES and is_script_url(value)):
                    del el.attrib[name]
                    self.scripts_removed = True

    def _hide_after_label(self, root: etree.Element) -> bool:
        """Keep the label visible and hide the rest; False when the label rule does not apply."""
        if not self.label:
            return False
        if (root.text or "").strip():
            holder = root
        elif len(root) and root[0].tag == "p":
            holder = root[0]
        else:
            return False
        text = holder.text or ""
        label = self.label if text.startswith(self.label) else self.label.rstrip()
        if not text.startswith(label):
            return False  # Markdown changed the label's text: hide the whole point instead
        rest = text[len(label) :]
        following = holder is not root and len(root) > 1
        if not rest.strip() and not len(holder) and not following:
            return False  # nothing after the label to hide
        if rest.strip() or len(holder):
            holder.text = label + HIDE_OPEN + rest
            _append_text(holder, HIDE_CLOSE)
        if following:
            holder.tail = HIDE_OPEN + (holder.tail or "")
            _append_text(root, HIDE_CLOSE)
        return True

    def _check_dollars(self, root: etree.Element) -> None:
        def visit(el: etree.Element) -> None:
            if el.tag in ("code", "pre") or "arithmatex" in el.get("class", "").split():
                return
            if STRAY_DOLLAR.search(el.text or ""):
                self.stray_dollar = True
            for child in el:
                visit(child)
                if STRAY_DOLLAR.search(child.tail or ""):
                    self.stray_dollar = True

        visit(root)


def _append_text(el: etree.Element, text: str) -> None:
    if len(el):
        el[-1].tail = (el[-1].tail or "") + text
    else:
        el.text = (el.text or "") + text


def _wrap_all(root: etree.Element) -> None:
    root.text = HIDE_OPEN + (root.text or "")
    _append_text(root, HIDE_CLOSE)


def _unwrap(parent: etree.Element, el: etree.Element, before: str, after: str) -> None:
    """Replace `el` by its content in `parent`, with `before`/`after` around that content."""
    index = list(parent).index(el)
    children = list(el)
    head = before + (el.text or "")
    tail = after + (el.tail or "")
    parent.remove(el)
    for offset, child in enumerate(children):
        parent.insert(index + offset, child)
    # `head` goes where el's text was: after the previous sibling, or at the parent's start.
    if index == 0:
        parent.text = (parent.text or "") + head
    else:
        parent[index - 1].tail = (parent[index - 1].tail or "") + head
    if children:
        children[-1].tail = (children[-1].tail or "") + tail
    elif index == 0:
        parent.text = (parent.text or "") + tail
    else:
        parent[index - 1].tail = (parent[index - 1].tail or "") + tail


class _KnownHtmlInlineProcessor(HtmlInlineProcessor):
    """Inline HTML only for real HTML tag names (and comments)."""

    def handleMatch(self, m: re.Match[str], data: str):
        name = TAG_NAME.match(m.group(1))
        if name and name.group(1).lower() not in HTML_TAGS:
            return None, None, None
        return super().handleMatch(m, data)


class _CardExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        # Underscores are never emphasis: `d_k`, `snake_case`, `__init__` stay as written.
        if getattr(md, "delimiters", None) is not None:
            md.delimiters.remove("_")
        for name in ("em_strong2",):
            if name in md.inlinePatterns:
                md.inlinePatterns.deregister(name)
        md.inlinePatterns.register(_KnownHtmlInlineProcessor(HTML_RE, md), "html", 90)
        # After the inline patterns (20), before prettify (10) and unescape (0).
        md.treeprocessors.register(_CardTreeprocessor(md), "mkdeck", 15)


# The Markdown dialect of a card file (DESIGN §1), without mkdeck's own tree processor.
MARKDOWN_EXTENSIONS = [
    "pymdownx.arithmatex",
    "pymdownx.mark",
    "pymdownx.superfences",
    "pymdownx.highlight",
    "tables",
    "sane_lists",
]
MARKDOWN_CONFIG = {
    "pymdownx.arithmatex": {"generic": True, "smart_dollar": True},
    "pymdownx.highlight": {
        "use_pygments": True,
        "guess_lang": False,
        "css_class": "highlight",
        "noclasses": False,
    },
}


@lru_cache(maxsize=1)
def _engine() -> markdown.Markdown:
    """One Markdown instance, reset per conversion: building one costs more than a render."""
    return markdown.Markdown(
        extensions=[*MARKDOWN_EXTENSIONS, _CardExtension()],
        extension_configs=MARKDOWN_CONFIG,
        output_format="html",
    )
