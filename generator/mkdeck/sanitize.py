"""Keep script, navigation and requests out of cards built from someone else's Markdown.

Anki runs a card's HTML and JavaScript on every device that reviews it, and people build decks
from repositories they cloned. So every part of every card passes an allowlist sanitizer,
nh3 (the binding to Rust's ammonia), which parses HTML as a browser does (html5ever) and keeps
only what is allowed: the tags Markdown makes and the presentational HTML real notes use, a
few attributes, a few CSS properties (never `url()`), links to `http`, `https` and `mailto`,
images that are packed files of the deck or `http(s)`. Comments go, and so does everything
inside `<script>` and `<style>`. URL schemes are checked after entities are decoded, so
`&#106;avascript:` is `javascript:`.

What the sanitizer removes from raw HTML is also named, as a warning at the line of that HTML:
the naming compares the sanitizer's output with what the same sanitizer keeps when every tag,
attribute and scheme the fragment names is allowed, so a removal is never silent, and it never
decides what is kept.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

import nh3

from .media import MEDIA_OPEN

# What Markdown makes, and the presentational HTML of Typora, Obsidian and GitHub notes.
TAGS = frozenset(
    "p br hr h1 h2 h3 h4 h5 h6 blockquote pre code em strong del s a img ul ol li table thead "
    "tbody tfoot tr th td caption col colgroup div span mark sup sub kbd u b i small abbr ins "
    "font center details summary dl dt dd figure figcaption ruby rt rp q cite var samp wbr bdi "
    "bdo time data section article aside header footer address".split()
)
_EVERYWHERE = {"class", "title", "align", "style", "dir", "lang"}
ATTRIBUTES: dict[str, set[str]] = {
    "*": _EVERYWHERE,
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "font": {"color", "size", "face"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "ol": {"start", "type"},
    "li": {"value"},
    "col": {"span"},
    "colgroup": {"span"},
    "details": {"open"},
}
STYLE_PROPERTIES = frozenset(
    "color background-color font-weight font-style text-decoration text-align vertical-align "
    "width height max-width zoom".split()
)
URL_SCHEMES = frozenset({"http", "https", "mailto"})
_REMOTE = re.compile(r"^\s*https?://", re.IGNORECASE)
_LINK = re.compile(r"^\s*(?:https?:|mailto:)", re.IGNORECASE)
# Only for naming what was removed (never for deciding it): the names a fragment mentions.
_OPENING_TAG = re.compile(r"<\s*[A-Za-z!?]")
_TAG_NAME = re.compile(r"<\s*/?\s*([a-zA-Z][\w:-]*)")
_ATTRIBUTE_NAME = re.compile(r"([a-zA-Z_:@][-\w:.@]*)\s*=")
_SCHEME = re.compile(r"=\s*[\"']?\s*([a-zA-Z][a-zA-Z0-9+.-]*)\s*:")
_PROPERTY = re.compile(r"([a-zA-Z-]+)\s*:")


# The sanitizer calls `_attribute` from its native code, which prints an exception raised
# there and goes on: Ctrl-C that lands while `clean` runs (`calling_back`) is held
# (`interrupted`, by `__main__._on_interrupt`) and raised when the sanitizer returns.
calling_back = 0
interrupted = False


def clean(fragment: str) -> str:
    """The fragment as the allowlist keeps it."""
    global calling_back, interrupted
    calling_back += 1
    try:
        cleaned = _cleaner(filtered=True).clean(fragment)
    finally:
        calling_back -= 1
    if interrupted:
        interrupted = False
        raise KeyboardInterrupt
    return cleaned


def _attribute(tag: str, name: str, value: str) -> str | None:
    if tag == "img" and name == "src":  # a packed file of the deck, or the web
        return value if value.startswith(MEDIA_OPEN) or _REMOTE.match(value) else None
    if tag == "a" and name == "href":
        return value if _LINK.match(value) else None  # no relative links: nowhere to go
    return value


@lru_cache(maxsize=2)
def _cleaner(filtered: bool) -> nh3.Cleaner:
    """Made once: building the sanitizer's tables costs more than cleaning a card part.
    `filtered`: also drop image sources that are no packed file and relative links (a card
    part as it is shown); without, raw HTML is kept as it was written, for `removed`."""
    return nh3.Cleaner(
        tags=set(TAGS),
        attributes=ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        filter_style_properties=set(STYLE_PROPERTIES),
        attribute_filter=_attribute if filtered else None,
        strip_comments=True,
        link_rel=None,  # no link opens a window: `target` is not kept
    )


def removed(fragment: str) -> list[str]:
    """What `clean` takes out of a fragment of raw HTML, named (`<iframe>`, `onerror=`,
    `javascript:`), or [] when it only tidies it."""
    if "<" not in fragment:
        return []
    plain = re.sub(r"[\t\n\r]", "", html.unescape(fragment))  # as a browser reads a URL
    if not _OPENING_TAG.search(plain):  # only end tags (`</script>`): their start was named
        return []
    tags = {t.lower() for t in _TAG_NAME.findall(plain)}
    attributes = {a.lower() for a in _ATTRIBUTE_NAME.findall(plain)}
    schemes = {s.lower() for s in _SCHEME.findall(plain)}
    properties = {p.lower() for p in _PROPERTY.findall(plain)} if "style" in attributes else set()
    emptied = tags & {"script", "style"}  # always taken out with what they hold
    everything = nh3.clean(
        fragment,
        tags=(tags | TAGS) - emptied,
        attributes={"*": attributes | _EVERYWHERE | {"href", "src"}},
        url_schemes=schemes | URL_SCHEMES,
        filter_style_properties=properties | STYLE_PROPERTIES,
        strip_comments=True,
        link_rel=None,
    )
    kept = _cleaner(filtered=False).clean(fragment)
    handlers = {a for a in attributes if a.startswith("on")}
    if everything == kept and not emptied and not handlers:
        return []
    allowed = set().union(*ATTRIBUTES.values())
    names = [f"<{t}>" for t in sorted(tags - TAGS)]
    names += [f"{a}=" for a in sorted(attributes - allowed)]
    names += [f"{s}:" for s in sorted(schemes - URL_SCHEMES)]
    names += [f"style {p}" for p in sorted(properties - STYLE_PROPERTIES - schemes)]
    return names or ["HTML outside what a card may carry (a style or a link)"]


def is_script_url(value: str) -> bool:
    """`javascript:` however it is disguised with case, spaces, control characters or entities
    (for Markdown's own links and images, which are named as removed here)."""
    return re.sub(r"[\s\x00-\x1f]", "", html.unescape(value)).lower().startswith("javascript:")
