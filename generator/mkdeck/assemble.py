"""Assemble each card's Anki note: the question, context and points with their clozes sealed
by ordinal, the Extra, images named as packed; and the note's row, which says whether Anki's
copy of it must change.
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from .cloze import plain, seal, unmark
from .discover import SourceFile
from .identify import NoteIdentity
from .lockfile import file_of
from .media import ImageRef, MediaFile, media_token, written_path
from .notetype import note_text
from .package import AnkiNote, NoteRow, content_digest
from .parse import Question
from .render import RenderedNote

if TYPE_CHECKING:
    from .readcards import CardRead  # which reads cards with `note_fields` below

MediaMap = dict[tuple[str, int], MediaFile]  # (card file, image index) → packed file


@dataclass(frozen=True, slots=True)
class Card:
    """One card file carried through the pipeline: its bytes' hash, what reading it gave, and
    who it is to Anki."""

    source: SourceFile
    data_hash: str
    read: CardRead
    identity: NoteIdentity

    @property
    def question(self) -> Question:
        assert self.read.question is not None  # only a file that holds a card is a Card
        return self.read.question

    @property
    def ordinals(self) -> tuple[int, ...]:
        return self.identity.ordinals.ordinals

    @property
    def guid(self) -> str:
        return self.identity.guid

    @property
    def note_id(self) -> str | None:
        return self.question.id

    def fresh_ordinals(self) -> bool:
        """Whether its points are numbered 1, 2, 3… (as `CardRead.fresh` was sealed)."""
        return self.ordinals == tuple(range(1, len(self.ordinals) + 1))


class LastNote(NamedTuple):
    """What the last build made of a card file with no problems and no images, as the memo
    and the lock recorded it: only what the cross-file rules and the note's row need."""

    data_hash: str
    id: str | None
    id_line: int
    deck: str | None  # the front matter's `deck`, if any
    guid: str
    mtime: int
    digest: str
    ordinals: tuple[int, ...]  # in source order
    point_lines: str  # each point's line, in source order: "3,5,9" (read only by a preview)

    @property
    def lines(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self.point_lines.split(",")) if self.point_lines else ()


class CarriedNote(NamedTuple):
    """A card file whose bytes and lock entry are those the last build saw: its note is the
    one that build made, carried over without reading the file or its memo record again."""

    source: SourceFile
    last: LastNote

    @property
    def ordinals(self) -> tuple[int, ...]:
        return self.last.ordinals

    @property
    def guid(self) -> str:
        return self.last.guid

    @property
    def note_id(self) -> str | None:
        return self.last.id


def media_names(card: Card, media: MediaMap) -> tuple[str, ...]:
    """Each image's packed name; `MISSING` and a hash of what it says, for one not packed."""
    rel, refs = card.source.rel, card.read.media
    return tuple(
        media[rel, i].name if (rel, i) in media else MISSING + content_digest(refs[i].src)
        for i in range(len(refs))
    )


# Stands before the name of an image that could not be packed (missing, outside the cards
# folder, no image): the card shows a placeholder with the name as written instead.
MISSING = "!"


def deck_of(deck: str | None, source: SourceFile, root: str) -> str:
    """The front matter's deck, else the root deck and the folders the file is in."""
    return deck or _folder_deck(root, source.subdecks)


@functools.lru_cache(maxsize=4096)
def _folder_deck(root: str, folders: tuple[str, ...]) -> str:
    """A folder's deck: one string for all the notes in it (a rebuild names tens of thousands)."""
    return "::".join([root, *folders])


def note_fields(q: Question, r: RenderedNote, ordinals: tuple[int, ...]) -> tuple[str, str]:
    """The note's Text (each point sealed as its cloze ordinal) and Extra, images as tokens."""
    points = [seal(html, ordinal) for html, ordinal in zip(r.points_html, ordinals, strict=True)]
    start = q.points[0].number if q.points else 1
    title, context = unmark(r.title_html), unmark(r.context_html)
    leads = [unmark(lead) for lead in r.leads_html] or [""] * len(points)
    shown = [(p.style, p.number, lead) for p, lead in zip(q.points, leads, strict=True)]
    text = note_text(title, context, points, start, q.layout, shown)
    return text, plain(r.extra_html)


def with_names(
    fields: tuple[str, str], names: tuple[str, ...], refs: tuple[ImageRef, ...]
) -> tuple[str, str]:
    """The fields with each image token replaced by the packed file's name, and each image
    not packed by a placeholder that says which one it is."""
    text, extra = fields
    for index, name in enumerate(names):
        token = media_token(index)
        if name.startswith(MISSING):
            tag = re.compile(rf"<img\b[^>]*{re.escape(token)}[^>]*>")
            # As a template, its backslashes escaped: a Windows path's `\U` is text.
            placeholder = missing_image(written_path(refs[index].src)).replace("\\", "\\\\")
            text, extra = tag.sub(placeholder, text), tag.sub(placeholder, extra)
        else:
            text, extra = text.replace(token, name), extra.replace(token, name)
    return text, extra


def missing_image(src: str) -> str:
    """What a card shows where an image could not be packed: its name as written."""
    return f'<span class="missing-image">[image not packed: {html.escape(src)}]</span>'


def fields_digest(card: Card, fields: tuple[str, str]) -> str:
    """What Anki would receive of the note, hashed: equal digests, equal notes."""
    return content_digest(*fields, file_of(card.source.rel), sorted(card.question.tags))


def note_row(card: Card, root: str, digest: str, mtime: int, position: int) -> NoteRow:
    deck = deck_of(card.question.deck, card.source, root)
    return NoteRow(card.identity.guid, deck, digest, mtime, position, card.ordinals)


def carried_row(note: CarriedNote, root: str, position: int) -> NoteRow:
    last = note.last
    deck = deck_of(last.deck, note.source, root)
    return NoteRow(last.guid, deck, last.digest, last.mtime, position, last.ordinals)


def anki_note(
    source: SourceFile, tags: tuple[str, ...], row: NoteRow, fields: tuple[str, str]
) -> AnkiNote:
    # The Source field is HTML: a file named `<img src=x onerror=…>.md` is shown as its name.
    # A question of a post shows its post: the file to edit.
    shown = html.escape(file_of(source.rel), quote=False)
    return AnkiNote(row, fields[0], fields[1], shown, tags)
