"""Who a note and its cards are to Anki: the note's GUID and each point's cloze ordinal.

Anki ties review history to (note GUID, cloze ordinal), so these must not change when a file
is edited. This module gives each note its GUID from its `id` (or its path when it has none).
"""

from __future__ import annotations

from dataclasses import dataclass

import genanki

from .parse import Question


@dataclass(frozen=True)
class ClozeOrdinals:
    """The cloze number of each point, in source order."""

    ordinals: tuple[int, ...]


@dataclass(frozen=True)
class Identity:
    guid: str
    ordinals: ClozeOrdinals


def guid_for_key(key: str) -> str:
    return genanki.guid_for("mkdeck", key)


def note_key(question: Question) -> str:
    """What names a note for good: its `id`, else its path."""
    return f"id:{question.id}" if question.id else f"path:{question.rel}"


def identify(question: Question) -> Identity:
    ordinals = tuple(range(1, len(question.points) + 1))
    return Identity(guid_for_key(note_key(question)), ClozeOrdinals(ordinals))
