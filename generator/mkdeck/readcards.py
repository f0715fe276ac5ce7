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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .assemble import note_fields
from .config import RenderSettings
from .discover import decode_source
from .errors import Diagnostic, MkdeckError
from .media import ImageRef
from .parse import Question, parse_question

if TYPE_CHECKING:  # the renderer loads where a file is rendered: a rebuild whose few files
    from .render import RenderedNote  # were read in another process never loads it here

Progress = Callable[[int, int], None]
# Below this many files to render, starting worker processes costs more than it saves.
PARALLEL_MIN = 400


@dataclass(frozen=True)
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


def read_card(job: tuple[str, bytes, RenderSettings]) -> CardRead:
    """One card file's bytes, parsed and rendered."""
    from .render import render_question

    rel, data, settings = job
    try:
        text = decode_source(data, rel)
    except MkdeckError as exc:
        return CardRead(None, None, (exc.diagnostic,))
    question, problems = parse_question(text, rel, settings.points)
    if question is None:
        return CardRead(None, None, tuple(problems))
    rendered = render_question(question, settings)
    ordinals = tuple(range(1, len(question.points) + 1))
    fresh = note_fields(question, rendered, ordinals)
    said = (*problems, *rendered.problems)
    return CardRead(question, rendered, said, rendered.media, fresh)


def read_cards(
    jobs: Sequence[tuple[str, bytes, RenderSettings]],
    parallel: bool | None,
    progress: Progress | None = None,
) -> Iterator[CardRead]:
    """`read_card` of each job, in order; `parallel` None: on every core when there are many."""
    workers = min(os.cpu_count() or 1, 8)
    if parallel is None:
        parallel = len(jobs) >= PARALLEL_MIN and workers > 1
    if not parallel:
        results: Iterator[CardRead] = map(read_card, jobs)
    else:
        results = _in_workers(jobs, workers)
    for done, result in enumerate(results, 1):
        if progress:
            progress(done, len(jobs))
        yield result


def _in_workers(
    jobs: Sequence[tuple[str, bytes, RenderSettings]], workers: int
) -> Iterator[CardRead]:
    import multiprocessing  # only a large deck needs workers: a rebuild of a few files does not
    from concurrent.futures import ProcessPoolExecutor

    from .render import load_renderer

    load_renderer()  # once, here, for every worker forked

    context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_end_with_the_build
    ) as pool:
        yield from pool.map(_read_in_worker, jobs, chunksize=max(1, len(jobs) // (workers * 16)))


class ReadingAhead:
    """Card files read in a process of their own, forked from this one, while this one goes
    on: after an edit, the few files that changed are parsed and rendered (Markdown's and
    Pygments' modules loaded, their patterns compiled) on a second core while the build
    identifies the thousands it carries over. `read_card` is pure, so where it runs changes
    nothing; reads that went wrong there are simply done again here (`read` says None). The
    process sends the HTML too (`_read_in_worker` does not), so a note whose ordinals moved is
    sealed without reading its file again. It ends with its results read, or is stopped when
    this object is dropped unread."""

    def __init__(self, jobs: Sequence[tuple[str, bytes, RenderSettings]], hashes: Sequence[str]):
        import pickle
        import weakref

        self._keys = tuple(zip((job[0] for job in jobs), hashes, strict=True))
        self._reads: dict[tuple[str, str], CardRead] | None = None
        readable, writable = os.pipe()
        pid = os.fork()
        if pid == 0:  # the reading process: it reads, sends, and ends
            code = 1
            try:
                os.close(readable)
                sent = pickle.dumps([read_card(job) for job in jobs], -1)  # HTML too
                with open(writable, "wb") as out:
                    out.write(sent)
                code = 0
            finally:
                os._exit(code)
        os.close(writable)
        self.process, self._readable = pid, readable  # the reading process's id
        self._ended = weakref.finalize(self, _stop_reading, pid, readable)

    def read(self, rel: str, data_hash: str) -> CardRead | None:
        """What reading the file with these bytes gave there (None: read it here); the first
        call waits for all of them."""
        if self._reads is None:
            self._reads = self._results()
        return self._reads.get((rel, data_hash))

    def _results(self) -> dict[tuple[str, str], CardRead]:
        import pickle

        chunks = []
        with contextlib.suppress(OSError):
            while chunk := os.read(self._readable, 1 << 20):
                chunks.append(chunk)
        self._ended.detach()
        os.close(self._readable)
        _, status = os.waitpid(self.process, 0)
        if status != 0 or not chunks:
            return {}
        try:  # from the process forked above: this build's own values
            reads = pickle.loads(b"".join(chunks))
        except (pickle.UnpicklingError, EOFError):
            return {}
        return dict(zip(self._keys, reads, strict=True)) if len(reads) == len(self._keys) else {}


def _stop_reading(pid: int, readable: int) -> None:
    """The reading process stopped and reaped, its results unread (a build that stopped)."""
    import signal

    with contextlib.suppress(OSError):
        os.close(readable)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(OSError):
        os.waitpid(pid, 0)


def read_ahead(
    jobs: Sequence[tuple[str, bytes, RenderSettings]], hashes: Sequence[str], parallel: bool | None
) -> ReadingAhead | None:
    """`ReadingAhead` of these jobs, where a second core and `fork` serve: a few files (a pool
    serves many), on Linux, from a process that runs no other thread (a fork copies none of
    them, nor the locks they might hold)."""
    import threading

    if (
        not jobs
        or len(jobs) >= PARALLEL_MIN
        or parallel is False
        or sys.platform != "linux"
        or (os.cpu_count() or 1) < 2
        or threading.active_count() > 1
    ):
        return None
    return ReadingAhead(jobs, hashes)


def _end_with_the_build() -> None:
    """A worker ends when the build that started it dies (killed, say): on Linux the kernel
    tells it (`PR_SET_PDEATHSIG`); elsewhere the pool's own shutdown has to do."""
    if sys.platform != "linux":
        return
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def _read_in_worker(job: tuple[str, bytes, RenderSettings]) -> CardRead:
    """`read_card`, sending back the sealed fields without the HTML they were made of: half as
    much to carry between processes. The rare note whose ordinals are not 1, 2, 3… is read
    again where it is needed."""
    read = read_card(job)
    return replace(read, rendered=None) if read.fresh is not None else read
