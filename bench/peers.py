"""mkdeck against a peer, on the same notes: python bench/peers.py --notes 20000

The peer is ankdown (`pip install ankdown`; `--python` names the interpreter of the environment
it is installed in),
the fastest Markdown-to-Anki tool measured: it renders with a C library (misaka), makes no
clozes and remembers nothing. Both tools get the benchmark's corpus (`benchmark.make_corpus`),
ankdown's copy written in its own format (the question, `%`, the answer with its points and
Extra, `%`, the tags), and both build a package from nothing in a fresh process started from
the command line, start-up included. Runs are interleaved in pairs (mkdeck, then ankdown) so
that the machine's drift falls on both alike; the figure is the median of the ratios.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from benchmark import bench_folder, make_corpus, timed_command

# ankdown 0.7.1 calls `yaml.load` without a loader, which PyYAML 6 refuses: given its safe one.
ANKDOWN = (
    "import functools, sys, yaml; yaml.load = functools.partial(yaml.load, Loader=yaml.SafeLoader);"
    " from ankdown.ankdown import main; sys.argv[0] = 'ankdown'; sys.exit(main())"
)
FRONT = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)


def ankdown_corpus(cards: Path, out: Path) -> None:
    """Each card file as an ankdown card: its question, then its answer, then its tags."""
    for path in sorted(cards.rglob("*.md")):
        text = FRONT.sub("", path.read_text("utf-8"))
        question, _, answer = text.partition("\n\n")
        target = out / path.relative_to(cards)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"{question.lstrip('# ')}\n\n%\n\n{answer.strip()}\n\n%\n\nbench\n")
    for image in cards.rglob("*.png"):
        shutil.copy(image, out / image.relative_to(cards))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--python", default=sys.executable, help="the Python ankdown is in")
    args = parser.parse_args()
    base = bench_folder()  # (its builds have no memo: `--no-cache`)
    try:
        cards, theirs = base / "deck" / "cards", base / "ankdown"
        make_corpus(cards, args.notes)
        ankdown_corpus(cards, theirs)
        mkdeck = [sys.executable, "-m", "mkdeck", "build", "cards", "--no-cache", "-o", "b.apkg"]
        ankdown = [
            args.python,
            "-c",
            ANKDOWN,
            "-r",
            str(theirs),
            "-p",
            str(base / "a.apkg"),
            "--highlight",
        ]
        ankdown += ["--config", "{dollar: True}"]
        pairs = []
        for _ in range(args.repeat):
            (cards / "mkdeck.lock").unlink(missing_ok=True)  # a clean start: no lock, no package
            (cards.parent / "b.apkg").unlink(missing_ok=True)
            ours = timed_command(mkdeck, cards.parent)
            peer = timed_command(ankdown, base)
            pairs.append((ours, peer))
            print(f"  mkdeck {ours:6.2f} s   ankdown {peer:6.2f} s   ratio {ours / peer:5.2f}")
        ratio = statistics.median(ours / peer for ours, peer in pairs)
        print(f"{args.notes} notes, cold: mkdeck ÷ ankdown = {ratio:.2f} (median of {len(pairs)})")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
