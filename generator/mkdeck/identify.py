"""Who a note and its cards are to Anki: the note's GUID and each point's cloze ordinal.

Anki ties review history to (note GUID, cloze ordinal). A generator that numbers clozes by
position moves a user's history onto the wrong point the first time they insert a point
above it. So identity comes from the lock (`lockfile.py`), and this module decides, purely
from the previous lock and the new sources:

- which lock entry each card file is: by `id`, else by path, else (a file renamed or moved
  without an `id`) by recognising its points;
- which ordinal each point keeps: unchanged text first, then the most similar text above
  `SIMILAR`, one-to-one; everything else gets a fresh ordinal, and a vanished point's ordinal
  is retired for good;
- the note's modification time: unchanged content keeps its time, changed content gets a
  time strictly newer than before (Anki's importer updates a note only when it is newer).

Every step is per note or a dictionary lookup: the cost grows with the deck, not its square.
"""

from __future__ import annotations

import hashlib
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import Diagnostic
from .lockfile import Lock, LockedNote, file_of, question_of
from .parse import Question

# Two texts are "the same point, edited" at or above this similarity: the Dice coefficient of
# their sets of character bigrams, which needs no word boundaries (Chinese has none). On
# rewordings of short Chinese points, edits score 0.6–0.95 and unrelated statements that
# share a label 0.2–0.45. Sets make a pair cost a set intersection, so even a 500-point
# question rewritten throughout matches in well under a second.
SIMILAR = 0.5
# A point's first line recognises it when at least this long (in characters).
FIRST_LINE = 8
# A renamed file is recognised when at least this share of its points are unchanged.
SAME_FILE = 0.5


@dataclass(frozen=True, slots=True)
class ClozeOrdinals:
    """The cloze ordinal of each point in source order, and what became of the old ones."""

    ordinals: tuple[int, ...]
    next: int  # the next fresh ordinal
    retired: tuple[int, ...]  # ordinals whose point vanished in this edit


@dataclass(frozen=True, slots=True)
class NoteIdentity:
    guid: str
    ordinals: ClozeOrdinals
    previous: LockedNote | None  # the lock entry this file continues, if any


def identify(
    questions: Sequence[Question],
    lock: Lock,
    deck: str = "",
    taken: frozenset[str] = frozenset(),
) -> list[NoteIdentity]:
    """Identity for each question, in the same order. A new note's GUID belongs to its `deck`
    (the root deck's name): two projects in one Anki never share a note, even when both have
    a `softmax.md` or the same `id`. GUIDs the lock records never change; `taken` are those of
    the lock's other entries, which belong to notes carried over unread."""
    entries = _match_entries(questions, lock)
    used_guids = {note.guid for note in lock.notes} | taken
    identities = []
    for question, entry in zip(questions, entries, strict=True):
        texts = [p.markdown for p in question.points]
        if entry is None:
            guid = _fresh_guid(question, used_guids, deck)
            ordinals = match_points((), texts, 1)
        else:
            guid = entry.guid
            ordinals = match_points(entry.points, texts, entry.next)
        identities.append(NoteIdentity(guid, ordinals, entry))
    return identities


def _match_entries(questions: Sequence[Question], lock: Lock) -> list[LockedNote | None]:
    by_id = {n.id: n for n in lock.notes if n.id}
    by_path = {n.path: n for n in lock.notes}
    claimed: set[str] = set()
    found: list[LockedNote | None] = [None] * len(questions)

    def claim(i: int, entry: LockedNote | None) -> None:
        if entry is not None and entry.guid not in claimed:
            claimed.add(entry.guid)
            found[i] = entry

    # An id names the note wherever the file goes; a file that just gained an id keeps the
    # entry its path had.
    for i, q in enumerate(questions):
        if q.id:
            entry = by_id.get(q.id)
            if entry is None and (at_path := by_path.get(q.rel)) and at_path.id is None:
                entry = at_path
            claim(i, entry)
    for i, q in enumerate(questions):
        if not q.id and found[i] is None:
            entry = by_path.get(q.rel)
            claim(i, entry if entry is not None and entry.id is None else None)

    # Files without an id that are new at their path: renamed or moved? Recognise them by
    # their points, through an index from point text to the entries that hold it.
    orphans = [n for n in lock.notes if n.guid not in claimed and n.id is None]
    holders: dict[str, list[LockedNote]] = {}
    for note in orphans:
        for _, text in note.points:
            holders.setdefault(_normal(text), []).append(note)
    for i, q in enumerate(questions):
        if q.id or found[i] is not None:
            continue
        votes: Counter[str] = Counter()
        notes: dict[str, LockedNote] = {}
        for point in q.points:
            for note in holders.get(_normal(point.markdown), ()):
                if note.guid not in claimed:
                    votes[note.guid] += 1
                    notes[note.guid] = note
        for guid, shared in votes.most_common(1):
            note = notes[guid]
            if shared >= SAME_FILE * max(len(q.points), len(note.points)):
                claim(i, note)
    _reworded_questions(questions, orphans, found, claimed, claim)
    return found


def _reworded_questions(
    questions: Sequence[Question],
    orphans: list[LockedNote],
    found: list[LockedNote | None],
    claimed: set[str],
    claim: Callable[[int, LockedNote | None], None],
) -> None:
    """A question of a post whose heading was reworded and whose answer was edited in one go:
    the most similar heading and answer among its post's unclaimed entries, above `SIMILAR`,
    best first and one-to-one. Only within a post: the cost stays with what changed there."""
    waiting = [i for i, q in enumerate(questions) if found[i] is None and question_of(q.rel)]
    if not waiting:
        return
    by_post: dict[str, list[LockedNote]] = {}
    for note in orphans:
        if note.guid not in claimed and question_of(note.path):
            by_post.setdefault(file_of(note.path), []).append(note)
    known: dict[str, frozenset[str]] = {}
    pairs = []
    for i in waiting:
        q = questions[i]
        grams = bigrams("\n".join([q.title, *(p.markdown for p in q.points)]))
        for note in by_post.get(file_of(q.rel), ()):
            if note.guid not in known:
                texts = [question_of(note.path), *(text for _, text in note.points)]
                known[note.guid] = bigrams("\n".join(texts))
            score = similarity(grams, known[note.guid])
            if score >= SIMILAR:
                pairs.append((-score, i, note.guid, note))
    for _, i, guid, note in sorted(pairs, key=lambda pair: pair[:3]):
        if found[i] is None and guid not in claimed:
            claim(i, note)


def _fresh_guid(question: Question, used: set[str], deck: str) -> str:
    """Derived from the deck and the id (or path), so a lost lock still finds notes that have
    an id."""
    key = f"id:{question.id}" if question.id else f"path:{question.rel}"
    guid = guid_for("mkdeck", deck, key) if deck else guid_for("mkdeck", key)
    again = 0
    while guid in used:  # a path that another note used before it moved away: the next one,
        again += 1  # the same in every build of these cards and this lock
        guid = guid_for("mkdeck", deck, key, again)
    used.add(guid)
    return guid


# Anki's digits for a guid in base 91 (Anki's own `guid64` writes them, as genanki does).
_BASE91 = string.ascii_letters + string.digits + "!#$%&()*+,-./:;<=>?@[]^_`{|}~"


def guid_for(*values: object) -> str:
    """genanki's `guid_for`, by which every guid in the lock was made: the first 8 bytes of
    the SHA-256 of the values joined by `__`, in Anki's base 91. Written out here because
    importing genanki for it cost a rebuild that adds a file more than identifying it; a test
    holds the two equal."""
    joined = "__".join(str(value) for value in values).encode("utf-8")
    number = int.from_bytes(hashlib.sha256(joined).digest()[:8], "big")
    digits = []
    while number:
        number, digit = divmod(number, len(_BASE91))
        digits.append(_BASE91[digit])
    return "".join(reversed(digits))


def match_points(
    old: Sequence[tuple[int, str]], new: Sequence[str], next_ordinal: int
) -> ClozeOrdinals:
    """Give each new point text an ordinal, keeping old ordinals for the same points."""
    if [text for _, text in old] == list(new):  # unchanged, the common case: nothing to match
        return ClozeOrdinals(tuple(o for o, _ in old), next_ordinal, ())
    if not old:  # a new note: nothing to match against
        fresh = tuple(range(next_ordinal, next_ordinal + len(new)))
        return ClozeOrdinals(fresh, next_ordinal + len(new), ())
    assigned: list[int | None] = [None] * len(new)
    free = dict(old)  # ordinal → text, not yet claimed

    # 1. Unchanged text (in order, so duplicates pair up in order).
    by_text: dict[str, list[int]] = {}
    for ordinal, text in old:
        by_text.setdefault(_normal(text), []).append(ordinal)
    for i, text in enumerate(new):
        candidates = by_text.get(_normal(text))
        if candidates:
            assigned[i] = ordinal = candidates.pop(0)
            del free[ordinal]

    # 2. The most similar remaining pairs, best first, one-to-one. A point whose first line
    #    is unchanged counts as similar however much it grew or shrank below it: text at the
    #    margin after a point belongs to it once another point follows (`parse.split_points`),
    #    so a point added after the Extra makes the Extra part of the point above. So does a
    #    point, however short, that is another with paragraphs added below it or taken away:
    #    a label there (`缺点：`) is the next point's since mkdeck reads it so, and was the
    #    point's before.
    position = {ordinal: k for k, (ordinal, _) in enumerate(old)}
    old_grams = {ordinal: bigrams(text) for ordinal, text in free.items()}
    old_first = {ordinal: _first_line(text) for ordinal, text in free.items()}
    pairs = []
    for i, text in enumerate(new):
        if assigned[i] is not None or not old_grams:  # no old point left to be like
            continue
        grams, first = bigrams(text), _first_line(text)
        for ordinal, other in old_grams.items():
            score = similarity(grams, other)
            if score < SIMILAR and (
                (first is not None and first == old_first[ordinal])
                or _below_it(text, free[ordinal])
            ):
                score = SIMILAR
            if score >= SIMILAR:
                pairs.append((-score, abs(position[ordinal] - i), i, ordinal))
    for _, _, i, ordinal in sorted(pairs):
        if assigned[i] is None and ordinal in free:
            assigned[i] = ordinal
            del free[ordinal]
    # A note of one card keeps it however its one answer is rewritten: the card asks the
    # note's question (and mkdeck reading the parts of an answer anew rewrites it so).
    if len(old) == len(new) == 1 and assigned[0] is None:
        assigned[0] = old[0][0]
        free.clear()

    # 3. New points, or points rewritten into something else: fresh ordinals, never reused.
    ordinals = []
    for held in assigned:
        if held is None:
            held = next_ordinal
            next_ordinal += 1
        ordinals.append(held)
    return ClozeOrdinals(tuple(ordinals), next_ordinal, tuple(sorted(free)))


def _below_it(a: str, b: str) -> bool:
    """Whether one point's text is the other's with paragraphs below it: the same point,
    what stood under it added or taken away."""
    short, long = sorted((a.rstrip(), b.rstrip()), key=len)
    return bool(short) and long.startswith(short + "\n\n")


def bigrams(text: str) -> frozenset[str]:
    text = _normal(text)
    return frozenset(text[i : i + 2] for i in range(len(text) - 1)) or frozenset([text])


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Dice coefficient in [0, 1]; the size bound skips pairs that cannot reach SIMILAR."""
    total = len(a) + len(b)
    if not total or 2 * min(len(a), len(b)) < SIMILAR * total:
        return 0.0
    return 2 * len(a & b) / total


def _normal(text: str) -> str:
    return " ".join(text.split())


def _first_line(text: str) -> str | None:
    """A point's first line, when it says enough to recognise the point (a bare label such
    as `如下：` does not)."""
    first = _normal(text.partition("\n")[0])
    return first if len(first) >= FIRST_LINE else None


def modification_time(previous: LockedNote | None, digest: str, now: int) -> int:
    """Unchanged content keeps its time; changed content is strictly newer than before."""
    if previous is None:
        return now
    if previous.digest == digest:
        return previous.mtime
    return max(now, previous.mtime + 1)


# --- what the lock remembers, and what a build tells about it ----------------------------------


def duplicate_ids(questions: Sequence[Question]) -> list[Diagnostic]:
    """Two files with one `id` would be one note: the second gets an error, the first a note,
    so that each is named by a path the user can open."""
    first: dict[str, Question] = {}
    problems = []
    for q in questions:
        if q.id is None:
            continue
        other = first.setdefault(q.id, q)
        if other is not q:
            problems.append(
                Diagnostic(
                    q.rel,
                    q.id_line,
                    f"id `{q.id}` is already used by {file_of(other.rel)}:{other.id_line}"
                    " (each card file needs its own id)",
                )
            )
            problems.append(
                Diagnostic(
                    other.rel,
                    other.id_line,
                    f"id `{q.id}` is used again by {file_of(q.rel)}:{q.id_line}",
                    "note",
                )
            )
    return problems


def retired_points(question: Question, identity: NoteIdentity) -> list[Diagnostic]:
    """A note for each point removed in this edit: Anki shows its card empty."""
    if identity.previous is None:
        return []
    texts = dict(identity.previous.points)
    return [
        Diagnostic(
            question.rel,
            question.title_line,
            f"point c{ordinal} ({_clip(texts[ordinal])}) was removed: Anki keeps an "
            "empty card for it until you run Tools → Empty Cards",
            "note",
        )
        for ordinal in identity.ordinals.retired
    ]


def _clip(text: str, width: int = 30) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def lock_entry(question: Question, identity: NoteIdentity, digest: str, mtime: int) -> LockedNote:
    ordinals = identity.ordinals.ordinals
    points = sorted(zip(ordinals, (p.markdown for p in question.points), strict=True))
    return LockedNote(
        path=question.rel,
        guid=identity.guid,
        id=question.id,
        mtime=mtime,
        digest=digest,
        next=identity.ordinals.next,
        points=tuple(points),
    )


def kept_entries(
    lock: Lock, built: Sequence[LockedNote], present: Callable[[str], bool]
) -> tuple[list[LockedNote], list[Diagnostic]]:
    """Lock entries to carry over for files that are still there but were skipped this time.

    A file emptied for a moment must not lose its identity. The lock holds one entry a path,
    so an entry whose path now belongs to another note (its `id` was changed) is dropped, as
    are entries of deleted files; the build says that those notes stay in Anki.
    """
    used = {entry.guid for entry in built}
    paths = {entry.path for entry in built}
    kept, notes = [], []
    for entry in lock.notes:
        if entry.guid in used:
            continue
        if entry.path in paths:
            why = (
                f"the `id` changed from `{entry.id}`: this is a new note; the old one"
                if entry.id is not None
                else "this is a new note now; the one it had"
            )
            notes.append(Diagnostic(entry.path, 0, f"{why} {STAYS}", "note"))
        elif present(entry.path):
            kept.append(entry)
        else:
            notes.append(gone_note(entry.path))
    return kept, notes


STAYS = "stays in Anki until you delete it there"


def gone_note(path: str) -> Diagnostic:
    """What a build says of a card file, or a question of a post, that is gone, once."""
    if question_of(path):
        what = f"question `{question_of(path)}` is gone from this post"
        return Diagnostic(file_of(path), 0, f"{what}: its note {STAYS}", "note")
    return Diagnostic(path, 0, f"card file is gone: its note {STAYS}", "note")
