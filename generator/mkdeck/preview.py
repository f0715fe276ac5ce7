"""`mkdeck preview`: every card as Anki renders it, on one page that works offline.

The deck is built as for an import, imported into a temporary collection with Anki's own
backend, and each card's front and back is taken from Anki's renderer (`card.question()`,
`card.answer()`), so the preview shows exactly the clozes Anki shows. The page groups cards by
question, names each card's `path:line`, switches between day and night, and shows a phone's
width. Formulas are typeset by MathJax 3, copied beside the page and configured as Anki
configures it (`ts/mathjax` in Anki's source: `\\[…\\]` display math, no `$`, the `noerrors`,
`mathtools` and `mhchem` packages); the MathJax build comes from the `django-static-mathjax`
package, installed with the `preview` extra (`pip install 'mkdeck-anki[preview]'`).
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import install_hint
from .notetype import css
from .sync import anki_collection, import_as_file_import

# MathJax itself, and every TeX extension it ships: Anki loads them on demand (`\\boldsymbol`,
# `\\cancel`, `\\color`…), and one the page cannot load stops typesetting for the whole page.
MATHJAX_FILES = ["tex-svg.js"]
EXTENSIONS = "input/tex/extensions"
# Anki's own MathJax settings (its ts/mathjax/index.ts), with SVG output so no font files are
# needed offline.
MATHJAX_CONFIG = {
    "tex": {
        "displayMath": [["\\[", "\\]"]],
        "processEscapes": False,
        "processEnvironments": False,
        "processRefs": False,
        "packages": {"[+]": ["noerrors", "mathtools", "mhchem"], "[-]": ["textmacros"]},
    },
    "svg": {"fontCache": "global"},
}
LOADER = {"load": ["[tex]/noerrors", "[tex]/mathtools", "[tex]/mhchem"]}
STYLE = re.compile(r"<style>.*?</style>", re.DOTALL)


@dataclass(frozen=True)
class PreviewCard:
    """One card: where its point is written, and what Anki shows on each side."""

    where: str  # `path:line`
    ordinal: int
    front: str
    back: str


@dataclass(frozen=True)
class Preview:
    page: Path
    cards: int
    mathjax: bool  # False: formulas show as TeX (MathJax was not found)


def mathjax_folder() -> Path | None:
    """The MathJax 3 build that `django-static-mathjax` installs, if it is there."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    return folder if (folder / "tex-svg.js").is_file() else None


def write_preview(
    package: Path,
    lines: dict[tuple[str, int], int],
    out: Path,
    title: str,
    sources: Mapping[str, str] | None = None,
) -> Preview:
    """Render every card of `package` with Anki and write `out/index.html` beside its media
    and MathJax. `lines` maps (card file, cloze ordinal) to the line its point starts on;
    `sources` a note's GUID to the source it was built from (a question of a post is
    `post.md#question`, and all of a post's notes show the post as their Source)."""
    out.mkdir(parents=True, exist_ok=True)
    cards = _render(package, lines, out, sources or {})
    source = mathjax_folder()
    if source is not None:
        extensions = sorted(p.relative_to(source) for p in (source / EXTENSIONS).glob("*.js"))
        for name in [*map(Path, MATHJAX_FILES), *extensions]:
            target = out / "mathjax" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, target)
    page = out / "index.html"
    page.write_text(_page(cards, title, source is not None), encoding="utf-8")
    return Preview(page, len(cards), source is not None)


def _render(
    package: Path,
    lines: dict[tuple[str, int], int],
    media_to: Path,
    sources: Mapping[str, str],
) -> list[PreviewCard]:
    """Import into a scratch collection; each card as Anki renders it, in source order."""
    collection_class = anki_collection(install_hint("preview"))
    with tempfile.TemporaryDirectory(prefix="mkdeck-preview-") as scratch:
        col = collection_class(str(Path(scratch) / "collection.anki2"))
        try:
            import_as_file_import(col, package)
            cards = []
            for cid in col.find_cards(""):
                card = col.get_card(cid)
                note = card.note()
                rel, ordinal = html.unescape(note["Source"]), card.ord + 1
                line = lines.get((sources.get(note.guid, rel), ordinal), 0)
                front, back = STYLE.sub("", card.question()), STYLE.sub("", card.answer())
                cards.append(PreviewCard(f"{rel}:{line}" if line else rel, ordinal, front, back))
            for file in Path(col.media.dir()).iterdir():
                if file.is_file():
                    shutil.copyfile(file, media_to / file.name)
        finally:
            col.close()
    return sorted(cards, key=lambda c: (c.where.rsplit(":", 1)[0], _line(c.where)))


def _line(where: str) -> int:
    tail = where.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _page(cards: list[PreviewCard], title: str, mathjax: bool) -> str:
    config = {
        **MATHJAX_CONFIG,
        "loader": {**LOADER, "paths": {"mathjax": "mathjax"}},
    }
    script = (
        f"<script>window.MathJax = {json.dumps(config)};</script>\n"
        '<script src="mathjax/tex-svg.js" defer></script>'
        if mathjax
        else ""
    )
    sections, current = [], None
    for card in cards:
        rel = card.where.rsplit(":", 1)[0]
        if rel != current:
            if current is not None:
                sections.append("</section>")
            sections.append(f'<section class="note"><h2>{html.escape(rel)}</h2>')
            current = rel
        sections.append(
            f'<div class="pv-card"><div class="pv-where">{html.escape(card.where)} · '
            f"card c{card.ordinal}</div>"
            '<div class="pv-pair">'
            f'<div class="pv-side"><div class="pv-label">Front</div><div class="card">'
            f"{card.front}</div></div>"
            f'<div class="pv-side"><div class="pv-label">Back</div><div class="card">'
            f"{card.back}</div></div></div></div>"
        )
    if current is not None:
        sections.append("</section>")
    return PAGE.format(
        title=html.escape(title),
        css=css(),
        mathjax=script,
        count=len(cards),
        cards="\n".join(sections),
    )


PAGE = """<!doctype html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}: preview</title>
<style>
{css}
</style>
<style>
body.pv {{ margin: 0; background: #d8dee4; font: 14px system-ui, sans-serif; color: #1f2328; }}
.pv-bar {{ position: sticky; top: 0; z-index: 1; background: #1f2328; color: #fff;
  padding: 8px 12px; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }}
.pv-bar button {{ font: inherit; }}
.note {{ margin: 12px; }}
.note h2 {{ font-size: 15px; margin: 16px 0 6px; }}
.pv-card {{ margin: 0 0 16px; }}
.pv-where {{ font: 12px ui-monospace, monospace; color: #424a53; margin-bottom: 4px; }}
.pv-pair {{ display: flex; gap: 12px; flex-wrap: wrap; align-items: flex-start; }}
.pv-side {{ background: #fff; border: 1px solid #afb8c1; border-radius: 8px; overflow: hidden;
  flex: 1 1 360px; box-sizing: border-box; min-width: 0; max-width: 100%; }}
/* At most a phone's width, and never wider than the window it is opened in (on the phone). */
.pv-phone .pv-side {{ flex: 0 1 390px; width: 390px; }}
@media (max-width: 440px) {{
  .note {{ margin: 8px 0; }} .pv-where, .note h2 {{ margin-left: 8px; }}
}}
.pv-label {{ font-size: 11px; text-transform: uppercase; letter-spacing: 0.05em; color: #57606a;
  background: #f6f8fa; padding: 2px 8px; border-bottom: 1px solid #d0d7de; }}
</style>
{mathjax}
</head>
<body class="pv pv-phone">
<div class="pv-bar"><strong>{title}</strong> <span>{count} cards</span>
<button id="pv-theme" type="button">Night</button>
<label><input id="pv-phone" type="checkbox" checked> Phone width (390 px)</label></div>
{cards}
<script>
document.getElementById("pv-theme").addEventListener("click", function (event) {{
  var night = event.target.textContent === "Night";
  document.querySelectorAll(".card").forEach(function (card) {{
    card.classList.toggle("nightMode", night);
    card.classList.toggle("night_mode", night);
  }});
  event.target.textContent = night ? "Day" : "Night";
}});
document.getElementById("pv-phone").addEventListener("change", function (event) {{
  document.body.classList.toggle("pv-phone", event.target.checked);
}});
</script>
</body>
</html>
"""
