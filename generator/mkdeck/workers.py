"""Work spread over processes: a pure function of each job, on every core when there are
enough jobs to pay for starting the workers.

The order of work and the process it runs in change nothing: the results come back in the
order of the jobs. The workers start when the work is handed out, so the caller may do other
work before it takes the results (a build parses its lock while its card files are read).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

Job = TypeVar("Job")
Result = TypeVar("Result")
# How far a build has come: (what it is doing, jobs done, jobs in all), for a progress bar.
Progress = Callable[[str, int, int], None]
# Below this many jobs, starting worker processes costs more than it saves.
PARALLEL_MIN = 400


class InWorkers(Generic[Job, Result]):
    """`here(job)` of each job, or `there(job)` in workers (which may send back less of the
    same result), taken in order by iterating once. `parallel` None: in workers when there
    are many jobs and more than one core. `progress` is told of each result taken, as
    `doing`. `close` stops workers whose results will not be taken (a build that stops
    early)."""

    def __init__(
        self,
        jobs: Sequence[Job],
        parallel: bool | None,
        here: Callable[[Job], Result],
        there: Callable[[Job], Result],
        progress: Progress | None = None,
        doing: str = "",
    ) -> None:
        workers = min(os.cpu_count() or 1, 8)
        if parallel is None:
            parallel = len(jobs) >= PARALLEL_MIN and workers > 1
        self._total = len(jobs)
        self._progress = progress
        self._doing = doing
        self._pool: ProcessPoolExecutor | None = None
        if not parallel:
            self._results: Iterator[Result] = map(here, jobs)
            return
        import multiprocessing  # only large work needs them: a rebuild of a few files does not
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_end_with_the_build
        )
        try:  # every job is handed out now
            chunks = max(1, len(jobs) // (workers * 16))
            self._results = self._pool.map(there, jobs, chunksize=chunks)
        except BaseException:
            self.close()
            raise

    def __iter__(self) -> Iterator[Result]:
        try:
            for done, result in enumerate(self._results, 1):
                if self._progress:
                    self._progress(self._doing, done, self._total)
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
