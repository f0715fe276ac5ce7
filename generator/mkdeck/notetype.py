"""The one note type every mkdeck card uses: fields, templates, CSS, and the HTML they style.

Its id, and the ids of its fields and template, never change: Anki matches an imported note
type by id and its fields by id (Anki ≥ 2.1.67), so a re-import updates the CSS and templates
in place instead of forking a second note type and flagging every note as conflicting.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import genanki

NOTETYPE_ID = 1_718_236_511
NOTETYPE_NAME = "mkdeck cloze"
FIELD_IDS = {
    "Text": 7_265_119_431_208_001,
    "Extra": 7_265_119_431_208_002,
    "Source": 7_265_119_431_208_003,
}
TEMPLATE_ID = 7_265_119_431_208_101

QUESTION = """<div class="mkdeck">
{{cloze:Text}}
</div>"""

ANSWER = """<div class="mkdeck">
{{cloze:Text}}
{{#Extra}}<div class="extra">{{Extra}}</div>{{/Extra}}
<div class="source">{{Source}}</div>
</div>"""

BASE_CSS = """\
/* Colours in one place, per theme; every text colour here is 4.5:1 or more on its ground. */
.card {
  --mk-text: #1f2328; --mk-ground: #ffffff; --mk-muted: #57606a; --mk-link: #0969da;
  --mk-cloze: #0969da; --mk-line: #d0d7de; --mk-code-ground: #eff1f3; --mk-block: #f8f8f8;
  --mk-shadow: rgba(31, 35, 40, 0.28); --mk-mark: #fff3b0;
  font-family: -apple-system, "PingFang SC", "Hiragino Sans GB", "Noto Sans CJK SC",
    "Source Han Sans SC", "Microsoft YaHei", "Segoe UI", Roboto, sans-serif;
  font-size: 18px;
  line-height: 1.6;
  text-align: left;
  color: var(--mk-text);
  background: var(--mk-ground);
  margin: 0;
  padding: 0;
}
.nightMode.card, .night_mode.card, .nightMode .card, .night_mode .card {
  --mk-text: #e6edf3; --mk-ground: #0d1117; --mk-muted: #9da7b3; --mk-link: #79c0ff;
  --mk-cloze: #79c0ff; --mk-line: #30363d; --mk-code-ground: #343942; --mk-block: #272822;
  --mk-shadow: rgba(0, 0, 0, 0.7); --mk-mark: #5a4a00;
  color: var(--mk-text); background: var(--mk-ground); }
/* Nothing may make the card wider than the phone: long words wrap, wide things scroll. */
.mkdeck { max-width: 42em; margin: 0 auto; padding: 12px 14px; overflow-wrap: break-word; }
.mkdeck .question { font-weight: 600; font-size: 1.1em; margin-bottom: 0.6em; }
.mkdeck .context { color: var(--mk-muted); margin-bottom: 0.6em; }
.mkdeck ol.points { padding-left: 1.6em; margin: 0.4em 0; }
.mkdeck ol.points > li { margin: 0.35em 0; }
.mkdeck .answer { margin: 0.4em 0; }
.mkdeck ul, .mkdeck ol { text-align: left; }
.mkdeck p { margin: 0.3em 0; }
.mkdeck a { color: var(--mk-link); }
.mkdeck img { max-width: 100%; height: auto; }
.mkdeck code { font-family: ui-monospace, "SF Mono", Menlo, Consolas, "Noto Sans Mono CJK SC",
  monospace; font-size: 0.9em; background: var(--mk-code-ground); border-radius: 4px;
  padding: 0.05em 0.3em; }
.mkdeck pre code { background: none; padding: 0; }
/* Wide formulas, code and tables scroll in their own box; a shadow at an edge says that more
   lies that way (scroll shadows: the covers move with the content, the shadows do not). */
.mkdeck span.math.wide, .mkdeck span.math.display, .mkdeck div.math, .mkdeck .highlight pre,
.mkdeck table {
  max-width: 100%; overflow-x: auto; overflow-y: hidden;
  background:
    linear-gradient(to right, var(--mk-cover, var(--mk-ground)) 30%, transparent)
      left center / 28px 100% no-repeat local,
    linear-gradient(to left, var(--mk-cover, var(--mk-ground)) 30%, transparent)
      right center / 28px 100% no-repeat local,
    radial-gradient(farthest-side at 0 50%, var(--mk-shadow), transparent)
      left center / 12px 100% no-repeat scroll,
    radial-gradient(farthest-side at 100% 50%, var(--mk-shadow), transparent)
      right center / 12px 100% no-repeat scroll,
    var(--mk-cover, var(--mk-ground)); }
/* A long inline formula scrolls in a box of its own, with no scrollbar (a phone shows none
   anyway; the shadows say that more lies that way): MathJax's glyphs stick out of their box
   by a few pixels, which made a 12 px bar under formulas that fit in Anki desktop. The
   padding holds most of that, the negative margin keeps the line as it was. A short formula
   flows in the line like a word, on the text's baseline. */
.mkdeck span.math.wide, .mkdeck span.math.display { display: inline-block;
  vertical-align: middle; padding: 0 0.3em 0 0.1em; margin: 0 -0.3em 0 -0.1em;
  background-clip: content-box; scrollbar-width: none; }
.mkdeck span.math.wide::-webkit-scrollbar, .mkdeck span.math.display::-webkit-scrollbar {
  display: none; }
.mkdeck .highlight { border-radius: 6px; background: none; }
.mkdeck .highlight pre { --mk-cover: var(--mk-block); padding: 8px 10px; margin: 0.4em 0;
  line-height: 1.4; border-radius: 6px; }
.mkdeck table { border-collapse: collapse; display: block; }
.mkdeck th, .mkdeck td { border: 1px solid var(--mk-line); padding: 4px 8px; min-width: 4.5em;
  overflow-wrap: normal; word-break: normal; }
.mkdeck th { white-space: nowrap; }
/* A revealed answer stands out, but code inside it keeps the highlighter's colours. */
.cloze { font-weight: 600; color: var(--mk-cloze); }
.cloze-inactive { color: inherit; }
.cloze .highlight pre, .cloze code { font-weight: normal; color: var(--mk-text); }
mark { background: var(--mk-mark); color: inherit; }
.mkdeck .extra { margin-top: 1em; padding-top: 0.6em; border-top: 1px solid var(--mk-line);
  font-size: 0.95em; }
.mkdeck .source { margin-top: 1em; font-size: 0.75em; color: var(--mk-muted); }
.mkdeck .callout {
  margin: 0.6em 0; padding: 0.4em 0.8em; border-left: 4px solid var(--mk-link);
  background: var(--mk-block);
}
.mkdeck .callout-title { font-weight: 600; }
.mkdeck .missing-image {
  display: inline-block; padding: 0.2em 0.5em; border: 1px dashed var(--mk-line);
  color: var(--mk-muted); font-size: 0.85em;
}
@media (max-width: 480px) { .card { font-size: 17px; } .mkdeck { padding: 8px 10px; } }
"""


# How each point style is laid out: numbered and bulleted items in lists, text as blocks.
STYLE_TAGS = {
    "numbered": ("ol", "li", ""),
    "bullets": ("ul", "li", ""),
    "block": ("div", "div", ' class="point"'),
}


def note_text(
    title: str,
    context: str,
    points: list[str],
    start: int,
    layout: str = "numbered",
    shown: list[tuple[str, int, str]] | None = None,
) -> str:
    """The `Text` field: question, context, then the points (or the one whole answer).

    `shown` is each point's style, number and lead. A list starts at its first number as
    written (`3.` stays 3). A point with a lead (a sub-heading and what follows it), or of
    another style than the one before, ends the list: the lead is shown, and a new list
    starts.
    """
    parts = [f'<div class="question">{title}</div>']
    if context:
        parts.append(f'<div class="context">{context}</div>')
    if layout == "whole":
        parts.append(f'<div class="answer">{points[0]}</div>')
        return "\n".join(parts)
    shown = shown or [("numbered", start + k, "") for k in range(len(points))]
    tag = ""
    for k, (html, (style, number, lead)) in enumerate(zip(points, shown, strict=True)):
        if not k or lead or style != shown[k - 1][0]:
            if tag:
                parts.append(f"</{tag}>")
            if lead:
                parts.append(f'<div class="lead">{lead}</div>')
            tag, item, attributes = STYLE_TAGS[style]
            first = start if not k else number
            numbered = tag == "ol" and first != 1
            parts.append(f'<{tag} class="points"' + (f' start="{first}">' if numbered else ">"))
        parts.append(f"<{item}{attributes}>{html}</{item}>")
    parts.append(f"</{tag}>")
    return "\n".join(parts)


@lru_cache(maxsize=1)
def css() -> str:
    """Base CSS plus Pygments palettes: light by default, dark under Anki's night mode classes."""
    from pygments.formatters import HtmlFormatter  # (only a full write of the package asks)

    light = HtmlFormatter(style="default").get_style_defs(".highlight")
    dark = HtmlFormatter(style="monokai").get_style_defs(
        [".nightMode .highlight", ".night_mode .highlight"]
    )
    return f"{BASE_CSS}\n/* code, light */\n{light}\n/* code, dark */\n{dark}\n"


def notetype() -> genanki.Model:
    # genanki passes extra keys of fields and templates through to Anki: that is how the ids
    # reach the collection. Only a full write of the collection needs genanki.
    import genanki

    return genanki.Model(
        model_id=NOTETYPE_ID,
        name=NOTETYPE_NAME,
        fields=[{"name": name, "id": field_id} for name, field_id in FIELD_IDS.items()],
        templates=[{"name": "Cloze", "qfmt": QUESTION, "afmt": ANSWER, "id": TEMPLATE_ID}],
        css=css(),
        model_type=genanki.Model.CLOZE,
    )
