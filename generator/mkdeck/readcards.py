"""Read card files: each one parsed and rendered, on every core when there are enough of them
(`workers.InWorkers`).

`read_card` is a pure function of a file's bytes and the render settings, so the order of work
and the process it runs in change nothing: parallel and serial builds give the same notes. What
was read before is not this module's business: `build.py` asks the memo first and sends only
the rest here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from .assemble import note_fields
from .config import RenderSettings
from .discover import decode_source
from .errors import Diagnostic, MkdeckError
from .media import ImageRef
from .parse import Question, parse_question
from .render import RenderedNote, render_question
from .workers import InWorkers, Progress


@dataclass(frozen=True, slots=True)
class CardRead:
    """What reading one card file gives: its question (None: the file holds no card), what it
    says about the file, and its images in order.

    `rendered` is None when the read comes from the memo or a worker, which keep no HTML; `fresh`
    is the note's Text and Extra sealed for ordinals 1, 2, 3… (a new note's, and most notes'),
    images as tokens: made where the file is rendered, so in a large build on every core.
    """

    question: Question | None
    rendered: RenderedNote | None
    problems: tuple[Diagnostic, ...]
    media: tuple[ImageRef, ...] = ()
    fresh: tuple[str, str] | None = None


# A card file to read: its path in the cards folder, its bytes, the settings, and its code
# blocks' HTML as an earlier build remembered them (`render.render_question`'s `known_code`).
Job = tuple[str, bytes, RenderSettings, Mapping[str, str]]


def read_card(job: Job) -> CardRead:
    """One card file's bytes, parsed and rendered."""
    rel, data, settings, known_code = job
    try:
        text = decode_source(data, rel)
    except MkdeckError as exc:
        return CardRead(None, None, (exc.diagnostic,))
    question, problems = parse_question(text, rel, settings.points, settings.languages)
    if question is None:
        return CardRead(None, None, tuple(problems))
    rendered = render_question(question, settings, known_code)
    ordinals = tuple(range(1, len(question.points) + 1))
    fresh = note_fields(question, rendered, ordinals)
    said = (*problems, *rendered.problems)
    return CardRead(question, rendered, said, rendered.media, fresh)


def read_cards(
    jobs: Sequence[Job], parallel: bool | None, progress: Progress | None = None
) -> InWorkers[Job, CardRead]:
    """`read_card` of each job, in order: in workers when there are many (`InWorkers`), which
    start reading as soon as this is called."""
    return InWorkers(jobs, parallel, read_card, _read_in_worker, progress, "Rendering")


def _read_in_worker(job: Job) -> CardRead:
    """`read_card`, sending back the sealed fields without the HTML they were made of: half as
    much to carry between processes. The rare note whose ordinals are not 1, 2, 3… is read
    again where it is needed."""
    read = read_card(job)
    return replace(read, rendered=None) if read.fresh is not None else read
