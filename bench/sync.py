"""From an edit to Anki: how long `mkdeck sync --collection` takes after one point is reworded,
as a ratio to what Anki's own backend takes to import a one-note package into the same
collection. Run: python bench/sync.py --notes 5000

Both are fresh processes started from the command line, start-up included, timed in interleaved
pairs (mkdeck, then Anki alone) so that the machine's noise falls on both; the ratio is the
median of the pairs. It also times a sync with no note changed, once after Anki changed (it
opens Anki) and once more right after (nothing changed anywhere: Anki is not opened). Needs
the `anki` package in the Python that runs it (the `test` or `anki` extra).

    python bench/sync.py --notes 20000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys

from benchmark import bench_folder, make_corpus, timed_command

# Anki's importer alone, with the rules File → Import uses and mkdeck's sync asks for.
ANKI_IMPORT = """
import sys
from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest
from anki.import_export_pb2 import ImportAnkiPackageUpdateCondition as C
col = Collection(sys.argv[1])
newer = C.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_IF_NEWER
log = col.import_anki_package(ImportAnkiPackageRequest(package_path=sys.argv[2],
    options=ImportAnkiPackageOptions(with_scheduling=False, update_notes=newer,
    update_notetypes=newer))).log
col.close()
assert len(log.new) + len(log.updated) == 1, log
"""

SETTINGS = '[tool.mkdeck]\ndeck = "{deck}"\ncards = "cards"\noutput = "build"\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    base = bench_folder()
    mkdeck = [sys.executable, "-m", "mkdeck"]
    try:
        deck, one = base / "deck", base / "one"
        make_corpus(deck / "cards", args.notes)
        (deck / "pyproject.toml").write_text(SETTINGS.format(deck="Bench"), "utf-8")
        (one / "cards").mkdir(parents=True)
        (one / "pyproject.toml").write_text(SETTINGS.format(deck="One"), "utf-8")
        collection = base / "anki" / "collection.anki2"
        collection.parent.mkdir()
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"from anki.collection import Collection as C; C({str(collection)!r}).close()",
            ],
            check=True,
        )
        sync = [*mkdeck, "sync", "--collection", str(collection)]
        subprocess.run(sync, cwd=deck, check=True, capture_output=True)  # the deck is in Anki
        victim = next((deck / "cards").rglob("*.md"))
        single = one / "cards" / "one.md"

        ours, anki_alone, unchanged, settled = [], [], [], []
        for i in range(args.repeat):
            text = victim.read_text("utf-8")
            victim.write_text(
                re.sub(r"要点1[^：]*：", f"要点1（改 {i}）：", text, count=1), "utf-8"
            )
            # One note changed, and only one.
            ours.append(timed_command(sync, deck, expect="1 updated"))
            single.write_text(f"# 一题？\n\n1. 要点：第 {i} 次改写\n", "utf-8")
            subprocess.run([*mkdeck, "build"], cwd=one, check=True, capture_output=True)
            package = one / "build" / "One.apkg"
            importing = [sys.executable, "-c", ANKI_IMPORT, str(collection), str(package)]
            anki_alone.append(timed_command(importing, one))
            # Anki changed (the import just timed): sync opens it, and finds nothing to send.
            unchanged.append(timed_command(sync, deck, expect="0 updated"))
            # Nothing changed anywhere since that sync: Anki is not opened.
            settled.append(timed_command(sync, deck, expect="0 updated"))
        ratios = [a / b for a, b in zip(ours, anki_alone, strict=True)]
        figures = {
            "notes": args.notes,
            "edit_and_sync_s": statistics.median(ours),
            "anki_one_note_import_s": statistics.median(anki_alone),
            "edit_and_sync_x_one_note_import": statistics.median(ratios),
            "sync_unchanged_s": statistics.median(unchanged),
            "sync_settled_s": statistics.median(settled),
        }
        print(f"{args.notes} notes in the collection, medians of {args.repeat} interleaved pairs")
        for name, key in [
            ("Anki imports a one-note package (fresh process)", "anki_one_note_import_s"),
            ("one point reworded, then mkdeck sync", "edit_and_sync_s"),
            ("mkdeck sync, no note changed, Anki changed", "sync_unchanged_s"),
            ("mkdeck sync, nothing changed since the last", "sync_settled_s"),
        ]:
            print(f"  {name:<50} {figures[key]:5.2f} s")
        ratio = figures["edit_and_sync_x_one_note_import"]
        print(f"  edit and sync: {ratio:4.2f} × the one-note import")
        print(json.dumps(figures))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
