"""Keep script out of cards built from someone else's Markdown.

Anki runs a card's HTML and JavaScript on every device that reviews it. Raw HTML in
Markdown passes through Python-Markdown untouched, so mkdeck removes the three ways script
gets in: `<script>` elements, `on…=` event attributes, and `javascript:` URLs. Everything
else, text included, is written back exactly as it came (the standard library's HTML parser
tokenises; this module only drops tokens).
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

# Cheap screen: HTML that matches none of these is returned as it is, unparsed.
SUSPICIOUS = re.compile(r"<\s*script|\bon[a-z]+\s*=|javascript\s*:", re.IGNORECASE)
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster"}


def is_script_url(value: str) -> bool:
    """`javascript:` however it is disguised with case, spaces or control characters."""
    return re.sub(r"[\s\x00-\x1f]", "", html.unescape(value)).lower().startswith("javascript:")


def strip_scripts(fragment: str) -> tuple[str, bool]:
    """The fragment without script, and whether anything was removed."""
    if not SUSPICIOUS.search(fragment):
        return fragment, False
    parser = _Stripper()
    parser.feed(fragment)
    parser.close()
    return "".join(parser.out), parser.removed


class _Stripper(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self.removed = False
        self.in_script = 0

    def _tag(self, tag: str, attrs: list[tuple[str, str | None]], close: str) -> str:
        kept = []
        for name, value in attrs:
            if name.startswith("on") or (
                name in URL_ATTRIBUTES and value is not None and is_script_url(value)
            ):
                self.removed = True
                continue
            kept.append(name if value is None else f'{name}="{html.escape(value)}"')
        return "<" + " ".join([tag, *kept]) + close

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.in_script += 1
            self.removed = True
        elif not self.in_script:
            self.out.append(self._tag(tag, attrs, ">"))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.removed = True
        elif not self.in_script:
            self.out.append(self._tag(tag, attrs, " />"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
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
