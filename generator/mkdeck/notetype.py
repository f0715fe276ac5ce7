"""The one note type every mkdeck card uses: fields, templates, CSS, and the HTML they style.

Its id, and the ids of its fields and template, never change: Anki matches an imported note
type by id and its fields by id (Anki ≥ 2.1.67), so a re-import updates the CSS and templates
in place instead of forking a second note type and flagging every note as conflicting.
"""

from __future__ import annotations

from functools import lru_cache

import genanki
from pygments.formatters import HtmlFormatter

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
.card {
  font-family: -apple-system, "PingFang SC", "Hiragino Sans GB", "Noto Sans CJK SC",
    "Source Han Sans SC", "Microsoft YaHei", "Segoe UI", Roboto, sans-serif;
  font-size: 18px;
  line-height: 1.6;
  text-align: left;
  color: #1f2328;
  background: #ffffff;
  margin: 0;
  padding: 0;
}
.mkdeck { max-width: 42em; margin: 0 auto; padding: 12px 14px; word-wrap: break-word;
  overflow-wrap: anywhere; }
.mkdeck .question { font-weight: 600; font-size: 1.1em; margin-bottom: 0.6em; }
.mkdeck .context { color: #57606a; margin-bottom: 0.6em; }
.mkdeck ol.points { padding-left: 1.6em; margin: 0.4em 0; }
.mkdeck ol.points > li { margin: 0.35em 0; }
.mkdeck .answer { margin: 0.4em 0; }
.mkdeck ul, .mkdeck ol { text-align: left; }
.mkdeck p { margin: 0.3em 0; }
.mkdeck img { max-width: 100%; height: auto; }
.mkdeck table { border-collapse: collapse; display: block; overflow-x: auto; max-width: 100%; }
.mkdeck th, .mkdeck td { border: 1px solid #d0d7de; padding: 4px 8px; }
.mkdeck code { font-family: ui-monospace, "SF Mono", Menlo, Consolas, "Noto Sans Mono CJK SC",
  monospace; font-size: 0.9em; }
.mkdeck .highlight { border-radius: 6px; }
.mkdeck .highlight pre { padding: 8px 10px; overflow-x: auto; margin: 0.4em 0;
  line-height: 1.4; }
.mkdeck div.math { overflow-x: auto; }
.cloze { font-weight: 600; color: #0969da; }
.cloze-inactive { color: inherit; }
mark { background: #fff3b0; color: inherit; }
.mkdeck .extra { margin-top: 1em; padding-top: 0.6em; border-top: 1px solid #d0d7de;
  font-size: 0.95em; }
.mkdeck .source { margin-top: 1em; font-size: 0.7em; color: #8c959f; }
.nightMode.card, .night_mode.card, .nightMode .card, .night_mode .card {
  color: #e6edf3; background: #0d1117; }
.nightMode .mkdeck .context, .night_mode .mkdeck .context { color: #9da7b3; }
.nightMode .cloze, .night_mode .cloze { color: #79c0ff; }
.nightMode .mkdeck th, .nightMode .mkdeck td,
.night_mode .mkdeck th, .night_mode .mkdeck td { border-color: #30363d; }
.nightMode .mkdeck .extra, .night_mode .mkdeck .extra { border-top-color: #30363d; }
.nightMode mark, .night_mode mark { background: #5a4a00; }
@media (max-width: 480px) { .card { font-size: 17px; } .mkdeck { padding: 8px 10px; } }
"""


def note_text(title: str, context: str, points: list[str], start: int, whole: bool) -> str:
    """The `Text` field: question, context, then the points (or the one whole answer).

    `start` is the first point's number as written (`3.` stays 3).
    """
    parts = [f'<div class="question">{title}</div>']
    if context:
        parts.append(f'<div class="context">{context}</div>')
    if whole:
        parts.append(f'<div class="answer">{points[0]}</div>')
    else:
        parts.append(
            f'<ol class="points" start="{start}">' if start != 1 else '<ol class="points">'
        )
        parts.extend(f"<li>{html}</li>" for html in points)
        parts.append("</ol>")
    return "\n".join(parts)


@lru_cache(maxsize=1)
def css() -> str:
    """Base CSS plus Pygments palettes: light by default, dark under Anki's night mode classes."""
    light = HtmlFormatter(style="default").get_style_defs(".highlight")
    dark = HtmlFormatter(style="monokai").get_style_defs(
        [".nightMode .highlight", ".night_mode .highlight"]
    )
    return f"{BASE_CSS}\n/* code, light */\n{light}\n/* code, dark */\n{dark}\n"


def notetype() -> genanki.Model:
    # genanki passes extra keys of fields and templates through to Anki: that is how the ids
    # reach the collection.
    return genanki.Model(
        model_id=NOTETYPE_ID,
        name=NOTETYPE_NAME,
        fields=[{"name": name, "id": field_id} for name, field_id in FIELD_IDS.items()],
        templates=[{"name": "Cloze", "qfmt": QUESTION, "afmt": ANSWER, "id": TEMPLATE_ID}],
        css=css(),
        model_type=genanki.Model.CLOZE,
    )
