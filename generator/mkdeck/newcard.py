"""`mkdeck new`: a card file with a fresh `id`, so its note keeps its identity from the start."""

from __future__ import annotations

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
    """Readable where the question has Latin words, unique by its random tail."""
    words = dict.fromkeys(re.findall(r"[a-z0-9]+", question.lower()))
    stem = "-".join(words)[:24].strip("-")
    return f"{stem or 'q'}-{secrets.token_hex(3)}"


def new_card(cards_dir: Path, question: str) -> Path:
    question = " ".join(question.split())
    if not question:
        raise MkdeckError("the question is empty")
    cards_dir.mkdir(parents=True, exist_ok=True)
    taken = (p.name for p in cards_dir.iterdir())
    path = cards_dir / unique_name(slug(question), ".md", taken)
    text = TEMPLATE.format(id=fresh_id(question), question=question, space=" ")
    path.write_text(text, encoding="utf-8")
    return path
