"""`mkdeck new`: a card file with a fresh `id`, so its note keeps its identity from the start."""

from __future__ import annotations

import contextlib
import glob
import re
import secrets
from pathlib import Path

from .errors import MkdeckError
from .files import unique_name

TEMPLATE = """\
---
id: {id}
tags: []
---
# {question}

1.{space}
2.{space}
"""


# Links in a title: `[[src](https://…)]` is a citation and is dropped from a file name;
# `[receptive field](https://…)` keeps its text.
CITATION = re.compile(r"\[\[[^\]]*\]\([^)]*\)\]|\[\[[^\]]*\]\]\([^)]*\)")
LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def slug(text: str, limit: int = 40) -> str:
    """A readable file name: words kept (Chinese included), everything else a hyphen."""
    text = LINK.sub(r"\1", CITATION.sub("", text))
    words = re.sub(r"[\W_]+", "-", text.lower()).strip("-")
    if len(words) > limit:
        cut = words[:limit]
        # End on a whole word when that keeps most of the name.
        words = cut[: cut.rindex("-")] if "-" in cut[limit // 2 :] else cut
    return words.strip("-") or "card"


def fresh_id(question: str) -> str:
    """Readable, in the question's own words (Chinese too: `为什么要除以根号d-42b6bc`), and
    unique by its random tail."""
    stem = slug(question, 24)
    return f"{stem if stem != 'card' else 'q'}-{secrets.token_hex(3)}"


def new_card(cards_dir: Path, question: str) -> Path:
    question = " ".join(question.split())
    if not question:
        raise MkdeckError("the question is empty")
    cards_dir.mkdir(parents=True, exist_ok=True)
    asked = _asking(cards_dir, question)
    if asked is not None:
        raise MkdeckError(
            "a card file asks this question already: edit it, or ask in other words",
            str(asked),
            _title_line(asked),
        )
    taken = (p.name for p in cards_dir.iterdir())
    path = cards_dir / unique_name(slug(question), ".md", taken)
    text = TEMPLATE.format(id=fresh_id(question), question=question, space=" ")
    path.write_text(text, encoding="utf-8")
    return path


def _asking(cards_dir: Path, question: str) -> Path | None:
    """The card file, of those named like this question, that asks it already."""
    stem = slug(question)
    named = sorted(cards_dir.glob(f"{glob.escape(stem)}*.md"), key=lambda p: (p.stem != stem, p))
    for path in named:
        if path.stem == stem or re.fullmatch(rf"{re.escape(stem)}-\d+", path.stem):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                if f"\n# {question}\n" in "\n" + path.read_text("utf-8"):
                    return path
    return None


def _title_line(path: Path) -> int:
    lines = path.read_text("utf-8").split("\n")
    return next((i for i, line in enumerate(lines, 1) if line.startswith("# ")), 0)
