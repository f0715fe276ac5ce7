"""`Question` → `RenderedNote`: each part's Markdown to HTML, with each point's hidden parts marked.

`render_question` is a pure function of the parsed file and the render settings: everything
it learns (images, problems) is collected in values made fresh for this call, so files render
the same alone or among others, in any order, and could render in parallel. It
does no I/O: images are left as tokens and listed in `RenderedNote.media`; `media.py`
resolves them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .cloze import hide
from .config import RenderSettings
from .dialect.document import CodeHighlights, Document
from .errors import Diagnostic
from .markup import parse, parse_inline, to_html
from .media import ImageRef
from .parse import ANSWER_LABEL, Question, Section
from .sanitize import clean


@dataclass(frozen=True, slots=True)
class RenderedNote:
    """HTML of each part; in a point's HTML, hidden parts and formulas sit between markers."""

    title_html: str
    context_html: str
    points_html: tuple[str, ...]
    extra_html: str
    media: tuple[ImageRef, ...] = ()  # the file's images in order: media token k is media[k]
    problems: tuple[Diagnostic, ...] = ()
    leads_html: tuple[str, ...] = ()  # what is shown before each point ("": nothing)
    code: tuple[tuple[str, str], ...] = ()  # each code block's HTML, by `markup.code_key`


DEFAULT_SETTINGS = RenderSettings()
CLOSED_DETAILS = re.compile(r"<details\b(?![^>]*\bopen\b)")


def render_question(
    question: Question,
    settings: RenderSettings = DEFAULT_SETTINGS,
    known_code: Mapping[str, str] | None = None,
) -> RenderedNote:
    """Render every part of one card file. `known_code`: its code blocks' HTML as an earlier
    render made it (`RenderedNote.code`), which it is again."""
    images: list[ImageRef] = []
    problems: list[Diagnostic] = []
    code = CodeHighlights(known_code or {})

    def document(line: int) -> Document:
        return Document(
            question.rel, line, settings.allow_scripts, first_image=len(images), code=code
        )

    def done(doc: Document, html: str) -> str:
        images.extend(doc.images)
        problems.extend(doc.problems)
        html = html if settings.allow_scripts else clean(html)
        # A folded answer (`<details><summary>答案</summary>…`) is what the back is for: open.
        return CLOSED_DETAILS.sub("<details open", html) if "<details" in html else html

    def section(part: Section) -> str:
        doc = document(part.line)
        return done(doc, to_html(parse(part.markdown, doc), doc)) if part.markdown else ""

    def point(markdown: str, line: int) -> str:
        doc = document(line)
        tokens = parse(markdown, doc)
        if len(tokens) == 3 and tokens[0].type == "paragraph_open":
            tokens[0].hidden = tokens[2].hidden = True  # one paragraph: no <p> inside the <li>
        # A whole answer hides all of it, but for the label it opens with (`**答案：**`).
        hide(tokens, labels=not question.whole_answer or bool(ANSWER_LABEL.match(markdown)))
        return done(doc, to_html(tokens, doc))

    title_doc = document(question.title_line)
    title = done(title_doc, to_html(parse_inline(question.title, title_doc), title_doc))
    context = section(question.context)
    leads, points = [], []
    for p in question.points:  # in order: images are numbered as they appear
        leads.append(section(p.lead))
        points.append(point(p.markdown, p.line))
    extra = section(question.extra)
    return RenderedNote(
        title_html=title,
        context_html=context,
        points_html=tuple(points),
        extra_html=extra,
        media=tuple(images),
        problems=tuple(problems),
        leads_html=tuple(leads),
        code=tuple(code.used.items()),
    )
