"""How fast is mkdeck, relative to the work it cannot avoid? Run: python bench/benchmark.py

Machines here are noisy and absolute times drift, so every number is printed as a ratio to a
floor measured in the same run: markdown-it-py, the CommonMark parser mkdeck reads cards with,
converting the same files without mkdeck's own rules (rendering Markdown is the cost). Each
timing is the best of a few runs.

    python bench/benchmark.py --files 2000 --repeat 3
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from markdown_it import MarkdownIt

from mkdeck.build import build, check
from mkdeck.config import Config

WORDS = "注意力 矩阵 梯度 显存 优化器 归一化 残差 位置编码 旁路 batch token softmax".split()


def make_corpus(cards: Path, files: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for i in range(files):
        points = []
        for k in range(1, rng.randint(3, 7)):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18)))
            points.append(f"{k}. 要点{k}：{words}，公式 $x_{{{k}}}^2 + \\frac{{a}}{{b}}$")
        code = "\n```python\nfor i in range(3):\n    print(i)\n```\n" if i % 5 == 0 else ""
        sub = cards / f"topic{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"q{i:05d}.md").write_text(
            f"---\nid: q{i}\ntags: [bench]\n---\n# 第 {i} 题：{rng.choice(WORDS)}？\n\n"
            + "\n".join(points)
            + f"\n\n补充说明。\n{code}",
            encoding="utf-8",
        )


def best(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="mkdeck-bench-"))
    try:
        cards = root / "cards"
        make_corpus(cards, args.files)
        texts = [p.read_text("utf-8") for p in sorted(cards.rglob("*.md"))]
        config = Config(root=root, cards=cards, output=root / "build", deck="Bench")
        out = root / "build" / "bench.apkg"
        md = MarkdownIt("commonmark", {"html": True}).enable("table")

        def floor() -> None:
            for text in texts:
                md.render(text)

        build(cards, out, config)  # first build writes the lock: later builds are rebuilds
        victim = next(cards.rglob("*.md"))

        def edit_one_and_build() -> None:
            victim.write_text(victim.read_text("utf-8") + "\n再补一句。\n", "utf-8")
            build(cards, out, config)

        t_floor = best(args.repeat, floor)
        rows = [
            ("floor: markdown-it-py, same files", t_floor),
            ("mkdeck check", best(args.repeat, lambda: check(cards, config))),
            ("mkdeck build (no changes)", best(args.repeat, lambda: build(cards, out, config))),
            ("mkdeck build after editing one file", best(args.repeat, edit_one_and_build)),
        ]
        points = sum(len(re.findall(r"^\d+\. ", t, re.MULTILINE)) for t in texts)
        print(f"{args.files} files, {points} points, best of {args.repeat}")
        for name, seconds in rows:
            print(f"  {name:<40} {seconds / t_floor:6.2f} × floor")
        print(f"  (floor itself: {t_floor * 1000 / args.files:.2f} ms a file on this machine)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
