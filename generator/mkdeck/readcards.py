"""Read card files: each one parsed and rendered, on every core when there are enough of them.

`read_card` is a pure function of a file's bytes and the render settings, so the order of work
and the process it runs in change nothing: parallel and serial builds give the same notes. What
was read before is not this module's business: `build.py` asks the memo first and sends only
the rest here.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .assemble import note_fields
from .config import RenderSettings
from .discover import decode_source
from .errors import Diagnostic, MkdeckError
from .media import ImageRef
from .parse import Question, parse_question
from .render import RenderedNote, render_question

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

Progress = Callable[[int, int], None]
# Below this many files to render, starting worker processes costs more than it saves.
PARALLEL_MIN = 400


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


class CardReads:
    """Card files being read, `read_card` of each job, taken in order by iterating once. With
    `parallel` (None: on every core when there are many), workers start reading when this is
    made, so the caller can do other work before it takes the reads (a build parses its lock
    meanwhile); `close` stops workers whose reads will not be taken. Without, each file is
    read here as its read is taken."""

    def __init__(
        self, jobs: Sequence[Job], parallel: bool | None, progress: Progress | None = None
    ) -> None:
        workers = min(os.cpu_count() or 1, 8)
        if parallel is None:
            parallel = len(jobs) >= PARALLEL_MIN and workers > 1
        self._total = len(jobs)
        self._progress = progress
        self._pool: ProcessPoolExecutor | None = None
        if not parallel:
            self._results: Iterator[CardRead] = map(read_card, jobs)
            return
        import multiprocessing  # only a large deck needs workers: a rebuild of a few files
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_end_with_the_build
        )
        try:  # every job is handed out now
            chunks = max(1, len(jobs) // (workers * 16))
            self._results = self._pool.map(_read_in_worker, jobs, chunksize=chunks)
        except BaseException:
            self.close()
            raise

    def __iter__(self) -> Iterator[CardRead]:
        try:
            for done, result in enumerate(self._results, 1):
                if self._progress:
                    self._progress(done, self._total)
                yield result
        finally:
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def _end_with_the_build() -> None:
    """A worker ends when the build that started it dies (killed, say): on Linux the kernel
    tells it (`PR_SET_PDEATHSIG`); elsewhere the pool's own shutdown has to do."""
    if sys.platform != "linux":
        return
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def _read_in_worker(job: Job) -> CardRead:
    """`read_card`, sending back the sealed fields without the HTML they were made of: half as
    much to carry between processes. The rare note whose ordinals are not 1, 2, 3… is read
    again where it is needed."""
    read = read_card(job)
    return replace(read, rendered=None) if read.fresh is not None else read
