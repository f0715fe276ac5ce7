"""Assemble each card's Anki note: the question, context and points with their clozes
sealed by ordinal, the Extra, images named as packed.

A note whose file, ordinals, GUID, deck root and images are as in the last build is taken
from the cache as it was (only its place in the new-card order can change): sealing a large
deck again costs more than anything else in a rebuild.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from .cache import BuildCache, BuiltNote
from .cloze import plain, seal, unmark
from .discover import SourceFile
from .identify import NoteIdentity, content_digest
from .media import MediaFile, found_by_name, media_token
from .notetype import note_text
from .package import AnkiNote
from .parse import Question
from .render import RenderedNote

MediaMap = dict[tuple[str, int], MediaFile]  # (card file, image index) → packed file


@dataclass(frozen=True)
class Card:
    """One card file carried through the pipeline."""

    source: SourceFile
    question: Question
    rendered: RenderedNote
    identity: NoteIdentity


def assemble(
    card: Card,
    root: str,
    media: MediaMap,
    position: int,
    cache: BuildCache,
    assembled: dict[str, tuple[tuple, AnkiNote]],
    rerender: Callable[[str], RenderedNote],
) -> AnkiNote:
    """The card's Anki note, from the cache when nothing it is made of changed."""
    rel = card.source.rel
    names = tuple(media[rel, i].name for i in range(len(card.rendered.media)))
    key = (cache.renders[rel][0], card.identity.ordinals.ordinals, card.identity.guid, root, names)
    hit = cache.notes.get(rel)
    if hit is not None and hit[0] == key:
        note = replace(hit[1], position=position)
    else:
        r = card.rendered
        if not r.html and r.fields_for(card.identity.ordinals.ordinals) is None:
            card = replace(card, rendered=rerender(rel))  # kept without the HTML it needs
        note = anki_note(card, root, media, position)
    assembled[rel] = (key, note)
    return note


def anki_note(card: Card, root: str, media: MediaMap, position: int) -> AnkiNote:
    q, r = card.question, card.rendered
    ordinals = card.identity.ordinals.ordinals
    text, extra = r.fields_for(ordinals) or note_fields(q, r, ordinals)
    for index in range(len(r.media)):
        token, name = media_token(index), media[card.source.rel, index].name
        text, extra = text.replace(token, name), extra.replace(token, name)
    deck = q.deck or "::".join([root, *card.source.subdecks])
    return AnkiNote(
        guid=card.identity.guid,
        deck=deck,
        text=text,
        extra=extra,
        source=card.source.rel,
        tags=q.tags,
        digest=content_digest(text, extra, card.source.rel, sorted(q.tags)),
        mtime=0,
        position=position,
        ordinals=ordinals,
    )


def note_fields(q: Question, r: RenderedNote, ordinals: tuple[int, ...]) -> tuple[str, str]:
    """The note's Text (each point sealed as its cloze ordinal) and Extra, images as tokens."""
    points = [seal(html, ordinal) for html, ordinal in zip(r.points_html, ordinals, strict=True)]
    start = q.points[0].number if q.points else 1
    text = note_text(unmark(r.title_html), unmark(r.context_html), points, start, q.whole_answer)
    return text, plain(r.extra_html)


def built_note(card: Card, note: AnkiNote, media: MediaMap) -> BuiltNote:
    """What the build state keeps of a card file's note (`cache.BuiltNote`)."""
    rel, refs = card.source.rel, card.rendered.media
    images = tuple((media[rel, i].name, str(media[rel, i].path)) for i in range(len(refs)))
    by_name = found_by_name(card.source.path, refs)
    return BuiltNote(
        note.guid, card.question.id, note.deck, note.position, len(note.ordinals), images, by_name
    )
