"""How fast is mkdeck, relative to the work it cannot avoid? Run: python bench/benchmark.py

Machines here are noisy and absolute times drift, so every number is printed as a ratio to a
floor measured in the same run:

- render floor: markdown-it-py, the CommonMark parser mkdeck reads cards with, rendering each
  file of the same corpus in one process, without mkdeck's own rules;
- write floor: genanki writing the same number of notes into a package;
- 2-core floor: the render floor split perfectly over two cores, plus the write floor.

It then times `mkdeck build` cold (no cache), first (a user's first build, which also writes
the memo), after editing one file, after adding one, after a pull that moved one entry of the
lock (another machine's build, committed), and with nothing changed, each as the
median of several runs in a fresh process, with the process's peak memory; each cold and
first build, edit, addition and pull is paired with a run of its floor right after it, and its
ratio is the median of the pairs' ratios; from the command line, in interleaved pairs, one
edit against a fresh process that writes the whole package with genanki, and nothing changed
against `python -c pass`; the cold build's growth from 500 notes to the full corpus; and the
start-up of `mkdeck --help` and of a five-note build against `python -c pass`. It ends with
one JSON line of all figures. mkdeck's modules are byte-compiled first, as an install leaves
them.

    python bench/benchmark.py --notes 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

WORDS = "注意力 矩阵 梯度 显存 优化器 归一化 残差 位置编码 旁路 batch token softmax".split()
# A 1×1 PNG; every fiftieth note shows one of its own.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c49444154789c63f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)


def make_corpus(cards: Path, notes: int, seed: int = 7) -> None:
    """`notes` card files: 4 points each, math in every point, code in every tenth note, an
    image in every fiftieth."""
    rng = random.Random(seed)
    for i in range(notes):
        sub = cards / f"topic{i % 20}"
        sub.mkdir(parents=True, exist_ok=True)
        points = []
        for k in range(1, 5):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14)))
            points.append(f"{k}. 要点{k}：{words}，公式 $x_{{{k}}}^2 + \\frac{{a}}{{b}}$")
        extra = "补充说明。\n"
        if i % 10 == 0:
            extra += "\n```python\nfor i in range(3):\n    print(i)\n```\n"
        if i % 50 == 0:
            image = sub / f"img{i}.png"
            image.write_bytes(PNG + i.to_bytes(4, "big"))
            # Dated an hour back, as a deck's images are: one changed a moment before a build
            # is looked at again by the next one.
            os.utime(image, (time.time() - 3600,) * 2)
            extra += f"\n![图](img{i}.png)\n"
        (sub / f"q{i:05d}.md").write_text(
            f"---\nid: q{i}\ntags: [bench]\n---\n# 第 {i} 题：{rng.choice(WORDS)}？\n\n"
            + "\n".join(points)
            + f"\n\n{extra}",
            encoding="utf-8",
        )


def median_time(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def render_floor(cards: Path) -> Callable[[], None]:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    texts = [p.read_text("utf-8") for p in sorted(cards.rglob("*.md"))]

    def floor() -> None:
        for text in texts:
            md.render(text)

    return floor


def write_floor(notes: int, out: Path) -> Callable[[], None]:
    import genanki

    model = genanki.Model(
        1,
        "floor",
        fields=[{"name": "Text"}, {"name": "Extra"}, {"name": "Source"}],
        templates=[{"name": "Cloze", "qfmt": "{{cloze:Text}}", "afmt": "{{cloze:Text}}"}],
        model_type=genanki.Model.CLOZE,
    )
    text = "<ol>" + "".join(f"<li>{{{{c{k}::要点 {k}}}}}</li>" for k in range(1, 5)) + "</ol>"

    def floor() -> None:
        deck = genanki.Deck(2, "floor")
        for i in range(notes):
            deck.add_note(genanki.Note(model=model, fields=[text, "补充", f"q{i}.md"], guid=str(i)))
        genanki.Package(deck).write_to_file(str(out))

    return floor


# The write floor as a fresh process: start-up, genanki's import and the write, as a user would
# pay them for a tool that writes the whole package every time.
WRITE = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from benchmark import write_floor
write_floor(int(sys.argv[1]), Path(sys.argv[2]))()
"""

BUILD = """
import json, resource, sys, time
from pathlib import Path
from mkdeck.build import build
from mkdeck.config import Config
root = Path(sys.argv[1])
config = Config(root=root, cards=root / "cards", output=root / "build", deck="Bench")
started = time.perf_counter()
report = build(root / "cards", root / "build" / "bench.apkg", config, use_cache=sys.argv[2] == "1")
seconds = time.perf_counter() - started
usage = (resource.getrusage(r) for r in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
peak = max(u.ru_maxrss for u in usage)
assert not report.errors, report.errors[:3]
print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024, "notes": report.notes}))
"""


def mkdeck_build(root: Path, cache: bool = True) -> dict:
    """One `mkdeck build` in a fresh process, as a user runs it: its seconds and peak memory."""
    done = subprocess.run(
        [sys.executable, "-c", BUILD, str(root), "1" if cache else "0"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def startup(base: Path, repeat: int) -> dict[str, float]:
    """Seconds of `python -c pass`, `mkdeck --help`, and a five-note build, cold and again with
    nothing changed, each a fresh process run from the command line (medians)."""
    deck = base / "startup"
    make_corpus(deck / "cards", 5)
    mkdeck = [sys.executable, "-m", "mkdeck"]

    def timed(command: list[str], before: Callable[[], None] = lambda: None) -> float:
        times = []
        for _ in range(repeat):
            before()
            started = time.perf_counter()
            subprocess.run(command, cwd=deck, check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    def clean() -> None:
        shutil.rmtree(deck / "build", ignore_errors=True)
        (deck / "cards" / "mkdeck.lock").unlink(missing_ok=True)

    build = [*mkdeck, "build", "cards", "-o", "build/five.apkg"]
    return {
        "python": timed([sys.executable, "-c", "pass"]),
        "help": timed([*mkdeck, "--help"]),
        "five_cold": timed(build, clean),
        "five_unchanged": timed(build),
    }


def timed_command(command: list[str], cwd: Path, expect: str = "") -> float:
    """Seconds a command takes from start to exit; `expect`: what it must print."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    assert expect in done.stdout, done.stdout
    return seconds


def median_ratio(pairs: list[tuple[float, float]]) -> float:
    return statistics.median(a / b for a, b in pairs)


def median_build(
    repeat: int,
    root: Path,
    before: Callable[[], None],
    cache: bool = True,
    floor: Callable[[], object] | None = None,
) -> dict:
    """`mkdeck build` after `before`, `repeat` times: the median seconds and the peak memory;
    with a `floor`, each build is paired with a run of the floor just after it, and `ratio` is
    the median of the pairs' ratios (the machine's drift falls on both alike)."""
    runs, ratios = [], []
    for _ in range(repeat):
        before()
        runs.append(mkdeck_build(root, cache))
        if floor is not None:
            ratios.append(runs[-1]["seconds"] / median_time(1, floor))
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak_mb": max(r["peak_mb"] for r in runs),
        "ratio": statistics.median(ratios) if ratios else None,
    }


def byte_compile_mkdeck() -> None:
    """Byte-compile mkdeck's modules, as an install leaves them (pip compiles a wheel's, and
    Python writes the rest on their first import): where Python is told not to write bytecode
    (`PYTHONDONTWRITEBYTECODE`), every build would otherwise compile mkdeck from its source,
    which no user's build does."""
    import compileall

    import mkdeck

    compileall.compile_dir(str(Path(mkdeck.__file__).parent), quiet=1)


def bench_folder() -> Path:
    """A folder of the run's own, mkdeck byte-compiled, and the builds' memo kept in it (thrown
    away with it after the run)."""
    byte_compile_mkdeck()
    base = Path(tempfile.mkdtemp(prefix="mkdeck-bench-"))
    os.environ["XDG_CACHE_HOME"] = str(base / "user-cache")
    return base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base = bench_folder()
    try:
        root = base / "deck"
        cards = root / "cards"
        make_corpus(cards, args.notes)
        render_once = render_floor(cards)
        write_once = write_floor(args.notes, base / "floor.apkg")
        render = median_time(args.repeat, render_once)
        write = median_time(args.repeat, write_once)
        floor = render + write

        def both_floors() -> None:
            render_once()
            write_once()

        def clean() -> None:
            shutil.rmtree(root / "build", ignore_errors=True)
            (cards / "mkdeck.lock").unlink(missing_ok=True)

        cold = median_build(args.repeat, root, clean, cache=False, floor=both_floors)

        def forget() -> None:  # no package, no lock, no memo: a user's very first build
            clean()
            shutil.rmtree(base / "user-cache", ignore_errors=True)

        # The first build as a user runs it: it also writes the memo the next builds read.
        first_build = median_build(args.repeat, root, forget, floor=both_floors)
        victim = next(cards.rglob("*.md"))
        count = [0]

        def edit() -> None:
            count[0] += 1
            victim.write_text(victim.read_text("utf-8") + f"\n再补一句 {count[0]}。\n", "utf-8")

        # A rebuild and its floor take a second each: more pairs cost little, and steady the
        # median of a ratio whose builds use a second core that the floor does not.
        pairs = max(args.repeat, 9)
        one_edit = median_build(pairs, root, edit, floor=write_once)

        def add() -> None:
            count[0] += 1
            new = cards / "topic0" / f"new{count[0]}.md"
            new.write_text(f"# 新问题 {count[0]}？\n\n1. 一：$x$\n2. 二：旁路\n", "utf-8")

        one_added = median_build(pairs, root, add, floor=write_once)

        def pull() -> None:  # another machine's build, committed: one entry's time moved
            count[0] += 1
            lock = cards / "mkdeck.lock"
            moved = re.sub(
                r"mtime = (\d+)",
                lambda m: f"mtime = {int(m[1]) + count[0]}",
                lock.read_text("utf-8"),
                count=1,
            )
            lock.write_text(moved, "utf-8")

        after_pull = median_build(pairs, root, pull, floor=write_once)
        unchanged = median_build(args.repeat, root, lambda: None)

        # From the command line, as a user runs it, in interleaved pairs: one edit against a
        # fresh process writing the whole package with genanki, and nothing changed against
        # `python -c pass`.
        (root / "pyproject.toml").write_text('[tool.mkdeck]\ndeck = "Bench"\n', "utf-8")
        command = [sys.executable, "-m", "mkdeck", "build", "cards", "-o", "build/bench.apkg"]
        writer = [sys.executable, "-c", WRITE, str(args.notes), str(base / "floor.apkg")]
        writer.append(str(Path(__file__).parent))
        edit_pairs, unchanged_pairs = [], []
        for _ in range(max(args.repeat, 5)):
            edit()
            ours = timed_command(command, root)
            edit_pairs.append((ours, timed_command(writer, root)))
            ours = timed_command(command, root, expect="is up to date")
            unchanged_pairs.append((ours, timed_command([sys.executable, "-c", "pass"], root)))

        growth = {}
        for size in sorted({500, 2_000, 5_000, args.notes}):
            if size > args.notes:
                continue
            part = base / f"grow{size}"
            make_corpus(part / "cards", size)
            growth[size] = mkdeck_build(part, cache=False)["seconds"]

        started = startup(base, max(args.repeat, 5))

        rows = [
            ("render floor (markdown-it-py, same files)", render, render / floor),
            ("write floor (genanki, same number of notes)", write, write / floor),
            ("mkdeck build, cold (no cache)", cold["seconds"], cold["ratio"]),
            ("mkdeck build, first (memo written)", first_build["seconds"], first_build["ratio"]),
            ("mkdeck build after editing one file", one_edit["seconds"], None),
            ("mkdeck build after adding one file", one_added["seconds"], None),
            ("mkdeck build after a pull moved one lock entry", after_pull["seconds"], None),
            ("mkdeck build, nothing changed", unchanged["seconds"], None),
        ]
        print(
            f"{args.notes} notes, 4 points each, median of {args.repeat} runs"
            f" ({pairs} for an edit, an addition and a pull)"
        )
        print("  1.0 × floor = the render floor + the write floor, measured just now")
        for name, seconds, ratio in rows:
            shown = f"{ratio:5.2f} × floor" if ratio is not None else " " * 13
            print(f"  {name:<46} {shown}  ({seconds:6.2f} s)")
        # The 2-core floor: the render split perfectly over two cores, plus the write.
        two_cores = render / 2 + write
        print(
            f"  cold: {cold['seconds'] / two_cores:5.2f} × the 2-core floor"
            f" (the render floor halved, plus the write floor: {two_cores:5.2f} s)"
        )
        print(f"  one edit: {one_edit['ratio']:5.2f} × the write floor alone")
        print(f"  one file added: {one_added['ratio']:5.2f} × the write floor alone")
        print(f"  after a pull: {after_pull['ratio']:5.2f} × the write floor alone")
        peak = max(
            cold["peak_mb"], first_build["peak_mb"], one_edit["peak_mb"], unchanged["peak_mb"]
        )
        print(
            f"  peak memory: {peak:.0f} MB, {peak * 1024 / args.notes:.1f} KB a note"
            f" (cold {cold['peak_mb']:.0f} MB, first build {first_build['peak_mb']:.0f} MB,"
            f" one edit {one_edit['peak_mb']:.0f} MB)"
        )
        print(
            "  command line, one edit: "
            f"{median_ratio(edit_pairs):5.2f} × a fresh process writing the package with genanki"
            f"  ({statistics.median(p[0] for p in edit_pairs):5.2f} s against"
            f" {statistics.median(p[1] for p in edit_pairs):5.2f} s)"
        )
        print(
            "  command line, nothing changed: "
            f"{median_ratio(unchanged_pairs):5.1f} × `python -c pass`"
            f"  ({statistics.median(p[0] for p in unchanged_pairs):5.2f} s)"
        )
        python = started["python"]
        for key, name in [
            ("help", "mkdeck --help"),
            ("five_cold", "five-note build, cold"),
            ("five_unchanged", "five-note build, nothing changed"),
        ]:
            print(
                f"  start-up: {name:<34} {started[key] / python:5.1f} × `python -c pass`"
                f"  ({started[key]:5.2f} s)"
            )
        first = min(growth)
        for size, seconds in growth.items():
            per_note = seconds / size * 1e6
            print(
                f"  growth: {size:>6} notes cold {seconds:6.2f} s, {per_note:6.0f} µs a note "
                f"({seconds / size / (growth[first] / first):4.2f} × the {first}-note rate)"
            )
        figures = {
            "notes": args.notes,
            "render_floor_s": render,
            "write_floor_s": write,
            "cold_s": cold["seconds"],
            "cold_x_floor": cold["ratio"],
            "cold_x_two_core_floor": cold["seconds"] / two_cores,
            "first_s": first_build["seconds"],
            "first_x_floor": first_build["ratio"],
            "one_edit_s": one_edit["seconds"],
            "one_edit_x_write_floor": one_edit["ratio"],
            "one_added_s": one_added["seconds"],
            "one_added_x_write_floor": one_added["ratio"],
            "after_pull_s": after_pull["seconds"],
            "after_pull_x_write_floor": after_pull["ratio"],
            "unchanged_s": unchanged["seconds"],
            "peak_cold_mb": cold["peak_mb"],
            "peak_first_mb": first_build["peak_mb"],
            "peak_one_edit_mb": one_edit["peak_mb"],
            "peak_mb": peak,
            "cli_one_edit_x_genanki_process": median_ratio(edit_pairs),
            "cli_unchanged_x_python": median_ratio(unchanged_pairs),
            "growth_s": growth,
            "startup_s": started,
        }
        print(json.dumps(figures))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
