"""Read every card file of a snapshot: from the cache when its bytes are unchanged, else
parsed and rendered, on every core when the deck is large enough to pay for the workers.

Each file is read by `read_card`, a pure function of its bytes and the render settings, so
the order of work and the process it runs in change nothing: parallel and serial builds give
the same notes.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace

from .assemble import note_fields
from .cache import BuildCache
from .config import RenderSettings
from .discover import Snapshot, decode_source
from .errors import Diagnostic, MkdeckError
from .parse import Question, parse_question
from .render import RenderedNote, render_question

Progress = Callable[[int, int], None]

# What reading one card file gives: the parsed and rendered question (None when the file holds
# no card), and its problems. A pure function of the file's bytes and the settings.
ReadResult = tuple[tuple[Question, RenderedNote] | None, list[Diagnostic]]
# Below this many files to render, starting worker processes costs more than it saves.
PARALLEL_MIN = 400


def read_all(
    snap: Snapshot,
    settings: RenderSettings,
    cache: BuildCache,
    progress: Progress | None,
    parallel: bool | None,
) -> tuple[list[ReadResult], int]:
    """Each file's result, from the cache when its bytes are unchanged, else rendered; and how
    many were rendered."""
    sources = snap.sources
    results: list[ReadResult | None] = [None] * len(sources)
    jobs: list[tuple[int, str, bytes, str]] = []
    for i, (source, read) in enumerate(zip(sources, snap.files, strict=True)):
        if isinstance(read, Diagnostic):
            results[i] = (None, [read])
            continue
        data, data_hash = read
        hit = cache.render(source.rel, data_hash)
        if hit is None:
            jobs.append((i, source.rel, data, data_hash))
        else:
            results[i] = hit
    done = len(sources) - len(jobs)
    rendered = _render_all([(rel, data, settings) for _, rel, data, _ in jobs], parallel)
    for (i, rel, _, data_hash), result in zip(jobs, rendered, strict=True):
        results[i] = result
        cache.renders[rel] = (data_hash, result)
        done += 1
        if progress:
            progress(done, len(sources))
    present = {s.rel for s in sources}
    cache.renders = {rel: hit for rel, hit in cache.renders.items() if rel in present}
    return [r if r is not None else (None, []) for r in results], len(jobs)


def _render_all(
    jobs: list[tuple[str, bytes, RenderSettings]], parallel: bool | None
) -> Iterator[ReadResult]:
    workers = min(os.cpu_count() or 1, 8)
    if parallel is None:
        parallel = len(jobs) >= PARALLEL_MIN and workers > 1
    if not parallel:
        yield from map(read_with_fields, jobs)
        return
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(read_with_fields, jobs, chunksize=max(1, len(jobs) // (workers * 16)))


def read_card(job: tuple[str, bytes, RenderSettings]) -> ReadResult:
    """One card file's bytes, parsed and rendered: None when it holds no card."""
    rel, data, settings = job
    try:
        question, problems = parse_question(decode_source(data, rel), rel)
        rendered = render_question(question, settings)
    except MkdeckError as exc:
        return None, [exc.diagnostic]
    return (question, rendered), [*problems, *rendered.problems]


def read_with_fields(job: tuple[str, bytes, RenderSettings]) -> ReadResult:
    """`read_card`, with the note's fields made for ordinals 1, 2, 3… (a new note's, and most
    notes') and kept instead of the HTML they are made of: in a large build the sealing runs
    on every core, and less comes back from each worker. A note whose points have other
    ordinals reads its file again with `read_card`."""
    parsed, problems = read_card(job)
    if parsed is None:
        return parsed, problems
    question, rendered = parsed
    fresh = tuple(range(1, len(question.points) + 1))
    fields = (fresh, *note_fields(question, rendered, fresh))
    return (question, replace(rendered.without_html(), fields=fields)), problems
