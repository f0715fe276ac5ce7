"""Keep script out of cards built from someone else's Markdown.

Anki runs a card's HTML and JavaScript on every device that reviews it. Raw HTML in
Markdown passes through the parser untouched, so mkdeck removes the three ways script
gets in: `<script>` elements, `on…=` event attributes, and `javascript:` URLs. Everything
else, text included, is written back as it came (the standard library's HTML parser
tokenises; this module only drops tokens, and points `<img src>` at the packed file).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser

# Cheap screen: HTML that matches none of these is returned as it is, unparsed.
SUSPICIOUS = re.compile(r"<\s*script|\bon[a-z]+\s*=|javascript\s*:", re.IGNORECASE)
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster"}


def is_script_url(value: str) -> bool:
    """`javascript:` however it is disguised with case, spaces or control characters."""
    return re.sub(r"[\s\x00-\x1f]", "", html.unescape(value)).lower().startswith("javascript:")


IMAGE_TAG = re.compile(r"<\s*img\b", re.IGNORECASE)


def rewrite_html(
    fragment: str, strip_scripts: bool, image: Callable[[str, int], str]
) -> tuple[str, list[int]]:
    """The fragment with each `<img src>` replaced by `image(src, line offset)`, and without
    script when `strip_scripts`; also the line offsets (from the fragment's first line) at
    which script was removed. HTML with neither is returned as it is, unparsed.
    """
    suspicious = strip_scripts and SUSPICIOUS.search(fragment)
    if not suspicious and not IMAGE_TAG.search(fragment):
        return fragment, []
    parser = _Rewriter(strip_scripts, image)
    parser.feed(fragment)
    parser.close()
    return "".join(parser.out), parser.removed_at


class _Rewriter(HTMLParser):
    def __init__(self, strip_scripts: bool, image: Callable[[str, int], str]) -> None:
        super().__init__(convert_charrefs=False)
        self.strip = strip_scripts
        self.image = image
        self.out: list[str] = []
        self.removed_at: list[int] = []
        self.in_script = 0

    def _removed(self) -> None:
        offset = self.getpos()[0] - 1
        if offset not in self.removed_at:
            self.removed_at.append(offset)

    def _tag(self, tag: str, attrs: list[tuple[str, str | None]], close: str) -> str:
        kept = []
        for name, value in attrs:
            if self.strip and (
                name.startswith("on")
                or (name in URL_ATTRIBUTES and value is not None and is_script_url(value))
            ):
                self._removed()
                continue
            if tag == "img" and name == "src" and value is not None:
                value = self.image(value, self.getpos()[0] - 1)
            kept.append(name if value is None else f'{name}="{html.escape(value)}"')
        return "<" + " ".join([tag, *kept]) + close

    def _dropped(self, tag: str) -> bool:
        return self.strip and tag == "script"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._dropped(tag):
            self.in_script += 1
            self._removed()
        elif not self.in_script:
            self.out.append(self._tag(tag, attrs, ">"))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._dropped(tag):
            self._removed()
        elif not self.in_script:
            self.out.append(self._tag(tag, attrs, " />"))

    def handle_endtag(self, tag: str) -> None:
        if self._dropped(tag):
            self.in_script = max(0, self.in_script - 1)
        elif not self.in_script:
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if not self.in_script:
            self.out.append(data)

    def handle_entityref(self, name: str) -> None:
        if not self.in_script:
            self.out.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        if not self.in_script:
            self.out.append(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        if not self.in_script:
            self.out.append(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.out.append(f"<!{decl}>")

    def unknown_decl(self, data: str) -> None:
        self.out.append(f"<![{data}]>")
