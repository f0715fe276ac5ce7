"""Which part of a point is hidden (DESIGN §3), and cloze-safe escaping (DESIGN §4).

The renderer marks hidden parts with private markers instead of writing `{{c1::…}}` itself,
so a rendered point does not depend on its ordinal (ordinals come from the lock, later) and
the escaping below sees exactly the hidden HTML, already balanced by the Markdown tree.

Anki's cloze parser ends a deletion at the first `}}`, opens one at `{{c<n>::` and splits a
hint at `::`. Text and code therefore get `{`, `}` and doubled `:` as numeric entities, which
the browser shows literally but the parser never sees. TeX cannot take entities through
MathJax reliably, so inside formulas `}}` becomes `} }` (TeX ignores the space).
"""

from __future__ import annotations

import re

# Markers the renderer leaves in its HTML (Unicode noncharacters: never in real text).
HIDE_OPEN, HIDE_CLOSE = "\ufdd0", "\ufdd1"
MATH_OPEN, MATH_CLOSE = "\ufdd2", "\ufdd3"

# The label may end its line (`代码写法：` followed by a code block).
LABEL = re.compile(r"^(?P<label>[^：:\n]+?)(?P<colon>：[ \t]*|:(?:[ \t]+|$))(?=\S|$)")
LABEL_MAX_CHARS = 20
# A label is a cue, not a sentence, and must render as the very text it is in the source.
NOT_IN_LABEL = re.compile(r"[。，,.;；！？!?`$\\<>\[\]*=_~|]")

_HIDDEN = re.compile(f"{HIDE_OPEN}(.*?){HIDE_CLOSE}", re.DOTALL)
_MATH = re.compile(f"{MATH_OPEN}(.*?){MATH_CLOSE}", re.DOTALL)
_DOUBLE_COLON = re.compile(r":(?=:)|(?<=:):")


def find_label(first_line: str) -> str | None:
    """The visible cue of a point (`QKV 线性变换：`), colon and spaces included, or None."""
    m = LABEL.match(first_line)
    if not m:
        return None
    label = m.group("label")
    if not label.strip() or NOT_IN_LABEL.search(label):
        return None
    if len(re.sub(r"\s", "", label)) > LABEL_MAX_CHARS:
        return None
    return m.group(0)


def escape_text(html: str) -> str:
    """Make text and code inert for the cloze parser; the browser still shows them as written."""
    html = html.replace("{", "&#123;").replace("}", "&#125;")
    return _DOUBLE_COLON.sub("&#58;", html)


def escape_tex(tex: str) -> str:
    """Break `}}`, `{{` and `::` in TeX with spaces, which TeX ignores in math mode."""
    while "}}" in tex:
        tex = tex.replace("}}", "} }")
    while "{{" in tex:
        tex = tex.replace("{{", "{ {")
    while "::" in tex:
        tex = tex.replace("::", ": :")
    return tex


def _escape_segment(html: str, hidden: bool) -> str:
    """Escape text outside formulas; inside them only where a cloze could be cut short."""
    out = []
    pos = 0
    for m in _MATH.finditer(html):
        out.append(escape_text(html[pos : m.start()]))
        out.append(escape_tex(m.group(1)) if hidden else m.group(1))
        pos = m.end()
    out.append(escape_text(html[pos:]))
    return "".join(out)


def seal(html: str, ordinal: int) -> str:
    """Marked point HTML → Anki field HTML with every hidden part as `{{c<ordinal>::…}}`."""
    out = []
    pos = 0
    for m in _HIDDEN.finditer(html):
        out.append(_escape_segment(html[pos : m.start()], hidden=False))
        out.append(f"{{{{c{ordinal}::{_escape_segment(m.group(1), hidden=True)}}}}}")
        pos = m.end()
    out.append(_escape_segment(html[pos:], hidden=False))
    return "".join(out)


def unmark(html: str) -> str:
    """Marked HTML → plain field HTML (context, Extra: nothing is hidden there)."""
    return _escape_segment(html.replace(HIDE_OPEN, "").replace(HIDE_CLOSE, ""), hidden=False)


def plain(html: str) -> str:
    """Marked HTML with the markers dropped and nothing escaped (for fields with no clozes)."""
    for marker in (HIDE_OPEN, HIDE_CLOSE, MATH_OPEN, MATH_CLOSE):
        html = html.replace(marker, "")
    return html
