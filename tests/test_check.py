"""Broken sources: every problem reported as path:line, all at once, nothing written."""

from __future__ import annotations

import zipfile

from helpers import PNG, build_deck, card_hiding, import_package, run, shown, write_cards

GOOD = "---\nid: good\n---\n# 好的问题\n\n1. 第一点\n2. 第二点\n"

BROKEN = {
    "bad-yaml.md": "---\nid: x\ntags: [a, b\n---\n# Q\n\n1. a\n",
    "fence.md": "# Q\n\n1. a\n\n```python\nprint(1)\n",
    "dollar.md": "# Q\n\n1. a\n2. 公式 $\\frac{a}{b} 没有闭合\n",
    "gbk.md": "# 问题\n\n1. 第一点\n2. 第二点\n".encode("gbk"),
    "image.md": "# Q\n\n1. a\n2. 图 ![x](missing.png)\n",
    "empty.md": "",
    "dollars.md": "# Q\n\n1. a\n2. 块公式\n\n   $$\n   x^2\n",
}

EXPECTED = [
    ("cards/bad-yaml.md:3:", "invalid YAML front matter"),
    ("cards/fence.md:5:", "code fence ``` opened here is never closed"),
    ("cards/gbk.md:1:", "not valid UTF-8"),
]


def test_check_reports_every_broken_file_with_its_line(tmp_path):
    write_cards(tmp_path, {"good.md": GOOD, **BROKEN})
    result = run(["check", "cards"], tmp_path)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    for where, what in EXPECTED:
        matching = [line for line in lines if line.startswith(f"{where} error:")]
        assert matching, f"no `{where}` in:\n{result.stderr}"
        assert what in matching[0]
    assert "Traceback" not in result.output + result.stderr
    assert "GB18030" in result.stderr  # says how to convert
    # An unclosed `$` is shown as written, as GitHub shows it: said, and the card is built.
    assert any(line.startswith("cards/dollar.md:4: warning: unclosed `$`") for line in lines)
    assert any(line.startswith("cards/dollars.md:6: warning: unclosed `$$`") for line in lines)
    assert (
        "cards/image.md:4: warning: image not found: `missing.png` (the card shows a placeholder)"
        in lines
    )
    assert not (tmp_path / "build").exists()


def test_a_file_without_a_card_is_a_warning_and_the_build_goes_on(tmp_path):
    files = {"good.md": GOOD, "no-answer.md": "# 只有问题？\n", "empty.md": " \n"}
    write_cards(tmp_path, files)
    result = run(["build", "cards", "-o", "deck.apkg"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "cards/empty.md:1: warning: the file is empty: skipped" in result.stderr
    assert "cards/no-answer.md:1: warning: the question has no answer below it: skipped" in (
        result.stderr
    )
    assert "1 note, 2 cards, 0 media, 2 warnings" in result.stdout


def test_strict_turns_warnings_into_errors_and_writes_nothing(tmp_path):
    write_cards(tmp_path, {"good.md": GOOD, "no-answer.md": "# 只有问题？\n"})
    result = run(["build", "cards", "-o", "deck.apkg", "--strict"], tmp_path)
    assert result.exit_code == 1
    assert "cards/no-answer.md:1: error: the question has no answer below it" in result.stderr
    assert not (tmp_path / "deck.apkg").exists()
    assert run(["check", "cards", "--strict"], tmp_path).exit_code == 1
    assert run(["check", "cards"], tmp_path).exit_code == 0


def test_strict_build_with_errors_leaves_the_previous_package_untouched(tmp_path):
    cards = write_cards(tmp_path, {"good.md": GOOD})
    first = build_deck(cards)
    assert not first.errors
    before = first.package.read_bytes()

    write_cards(tmp_path, {"fence.md": BROKEN["fence.md"]})
    result = run(["build", "cards", "-o", str(first.package), "--strict"], tmp_path)
    assert result.exit_code == 1
    assert "cards/fence.md:5: error:" in result.stderr
    assert "nothing written" in result.stderr
    assert first.package.read_bytes() == before
    left = sorted(p.name for p in first.package.parent.iterdir())
    assert left == [first.package.name]  # no temporary file left behind, no memo in the project


def test_a_file_with_an_error_is_left_out_and_the_rest_builds(tmp_path):
    write_cards(tmp_path, {"good.md": GOOD, "two.md": "# 二\n\n1. a\n2. b\n"})
    assert run(["build", "cards", "-o", "deck.apkg"], tmp_path).exit_code == 0
    write_cards(tmp_path, {"fence.md": BROKEN["fence.md"], "two.md": "# 二\n\n1. a\n2. b\n3. c\n"})
    result = run(["build", "cards", "-o", "deck.apkg"], tmp_path)
    assert result.exit_code == 1  # so that CI still notices
    assert "cards/fence.md:5: error:" in result.stderr
    assert "Built deck.apkg: 2 notes, 5 cards" in result.stdout
    assert "; 1 file left out for the errors above" in result.stdout
    again = run(["build", "cards", "-o", "deck.apkg"], tmp_path)  # nothing changed: said again
    assert again.exit_code == 1 and "cards/fence.md:5: error:" in again.stderr
    assert "is up to date" in again.stdout and "1 file left out" in again.stdout


def test_an_error_about_the_whole_folder_writes_nothing(tmp_path):
    cards = write_cards(tmp_path, {"good.md": GOOD})
    assert run(["build", "cards", "-o", "deck.apkg"], tmp_path).exit_code == 0
    before = (tmp_path / "deck.apkg").read_bytes()
    (cards / "mkdeck.lock").write_text("<<<<<<< HEAD\n", "utf-8")
    write_cards(tmp_path, {"two.md": "# 二\n\n1. a\n"})
    result = run(["build", "cards", "-o", "deck.apkg"], tmp_path)
    assert result.exit_code == 1 and "nothing written" in result.stderr
    assert (tmp_path / "deck.apkg").read_bytes() == before


def test_build_prints_a_summary_line(tmp_path):
    write_cards(tmp_path, {"good.md": GOOD, "two.md": "# 二\n\n1. a\n2. b\n3. c\n"})
    result = run(["build", "cards", "-o", "out/deck.apkg"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "2 notes, 5 cards, 0 media, 0 warnings" in result.stdout
    assert "\x1b[" not in result.stdout + result.stderr  # no colour in a pipe
    assert (tmp_path / "out" / "deck.apkg").is_file()


def test_duplicate_ids_name_both_files(tmp_path):
    write_cards(tmp_path, {"a.md": GOOD, "b.md": GOOD})
    result = run(["check", "cards"], tmp_path)
    assert result.exit_code == 1
    assert "cards/b.md:2: error: id `good` is already used by a.md:2" in result.stderr


def test_image_outside_the_cards_folder_is_not_packed_and_shows_a_placeholder(tmp_path, collection):
    (tmp_path / "secret.png").write_bytes(PNG)
    write_cards(tmp_path, {"leak.md": "# Q\n\n1. a\n2. 图 ![x](../secret.png)\n"})
    result = run(["check", "cards", "--strict"], tmp_path)
    assert result.exit_code == 1
    expected = "cards/leak.md:4: error: image `../secret.png` is outside the cards folder"
    assert expected in result.stderr
    report = build_deck(tmp_path / "cards")
    assert [str(d) for d in report.warnings] == [
        "leak.md:4: warning: image `../secret.png` is outside the cards folder; mkdeck only "
        "packs files from inside it (the card shows a placeholder)"
    ]
    assert report.media == 0
    with zipfile.ZipFile(report.package) as zf:
        assert not [n for n in zf.namelist() if n.isdigit()]
    import_package(collection, report.package)
    card = card_hiding(collection, "图")
    assert "[image not packed: ../secret.png]" in shown(card.answer())
    assert "<img" not in card.answer()


def test_crlf_and_bom_simply_work(tmp_path):
    text = "\ufeff---\r\nid: crlf\r\n---\r\n# 问题\r\n\r\n1. 一\r\n2. 二\r\n"
    write_cards(tmp_path, {"crlf.md": text.encode("utf-8")})
    report = build_deck(tmp_path / "cards")
    assert not report.diagnostics
    assert report.cards == 2


def test_missing_cards_folder_is_an_error_not_a_traceback(tmp_path):
    result = run(["build", "nowhere"], tmp_path)
    assert result.exit_code != 0
    assert result.stderr.startswith("nowhere: error: cards folder not found")
    assert "Traceback" not in result.output


def test_colour_only_on_request_and_never_with_no_color(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from mkdeck.cli import main

    write_cards(tmp_path, {"fence.md": BROKEN["fence.md"]})
    monkeypatch.chdir(tmp_path)
    coloured = CliRunner().invoke(main, ["check", "cards"], color=True)
    assert "\x1b[31m" in coloured.stderr
    monkeypatch.setenv("NO_COLOR", "1")
    plain = CliRunner().invoke(main, ["check", "cards"], color=True)
    assert "\x1b[" not in plain.stderr
    assert "cards/fence.md:5: error:" in plain.stderr


def test_package_is_compressed_and_carries_the_night_mode_palette(tmp_path):
    import json
    import sqlite3
    import zipfile

    body = "\n".join(
        f"{i}. 第 {i} 点：同样的解释文字重复出现，压缩后应当小得多" for i in range(1, 40)
    )
    svg = '<svg xmlns="http://www.w3.org/2000/svg">' + "<g/>" * 200 + "</svg>"
    files = {"big.md": f"# 大\n\n{body}\n\n![](a.png) ![](b.svg)\n", "a.png": PNG, "b.svg": svg}
    report = build_deck(write_cards(tmp_path, files))
    with zipfile.ZipFile(report.package) as zf:
        info = zf.getinfo("collection.anki2")
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.compress_size < info.file_size / 2
        # A PNG is compressed already: it is stored as it is; an SVG is text, and deflated.
        kinds = {
            name[-4:]: zf.getinfo(i).compress_type
            for i, name in json.loads(zf.read("media")).items()
        }
        assert kinds == {".png": zipfile.ZIP_STORED, ".svg": zipfile.ZIP_DEFLATED}
        db = tmp_path / "collection.anki2"
        db.write_bytes(zf.read("collection.anki2"))
    models = sqlite3.connect(db).execute("select models from col").fetchone()[0]
    assert ".nightMode .highlight" in models and ".night_mode .highlight" in models


def test_a_nested_deck_name_makes_a_valid_file_name(tmp_path):
    from mkdeck.config import Config

    config = Config(tmp_path, tmp_path / "cards", tmp_path / "build", deck="LLM::算法题")
    assert config.package_path(tmp_path / "cards").name == "LLM - 算法题.apkg"


def test_a_missing_image_is_packed_once_it_is_there(tmp_path):
    cards = write_cards(tmp_path, {"a.md": "# 图？\n\n1. 点：![x](later.png)\n"})
    first = build_deck(cards)
    assert first.media == 0 and [d.severity for d in first.diagnostics] == ["warning"]
    write_cards(tmp_path, {"later.png": PNG})
    second = build_deck(cards)
    assert second.media == 1 and not second.diagnostics
    with zipfile.ZipFile(second.package) as zf:
        assert PNG in [zf.read(n) for n in zf.namelist() if n.isdigit()]


IMAGES = (
    "# 图？\n\n1. 窗口：![a](img\\ch14\\a.png)\n2. 站点：![b](/images/b.png)\n"
    "3. 嵌入：![[COCO_image.png]]\n"
)


def test_images_as_real_notes_write_them_are_found(tmp_path):
    root = tmp_path
    (root / "pyproject.toml").write_text(
        '[tool.mkdeck]\nstatic = ["docs/public"]\n', encoding="utf-8"
    )
    write_cards(
        root,
        {
            "a.md": IMAGES,
            "img/ch14/a.png": PNG + b"a",
            "pics/COCO_Image.png": PNG + b"c",
        },
    )
    (root / "docs" / "public" / "images").mkdir(parents=True)
    (root / "docs" / "public" / "images" / "b.png").write_bytes(PNG + b"b")
    result = run(["build", "cards", "-o", "deck.apkg"], root)
    assert result.exit_code == 0, result.stderr
    assert "3 media" in result.stdout
    assert (
        "cards/a.md:5: warning: embed `COCO_image.png` found as `COCO_Image.png`, whose case "
        "differs" in result.stderr
    )


def test_a_missing_image_is_named_as_written_not_percent_encoded(tmp_path):
    write_cards(tmp_path, {"a.md": "# 图？\n\n1. 点：![x](img\\ch14\\指标.png)\n"})
    result = run(["check", "cards"], tmp_path)
    assert "image not found: `img\\ch14\\指标.png`" in result.stderr


def test_a_missing_image_at_a_windows_path_shows_its_name(tmp_path, collection):
    """Typora on Windows writes absolute paths with backslashes: `\\U` in a placeholder is
    text, not an escape of the pattern that places it (found on a public repository)."""
    src = r"C:\Users\me\AppData\Roaming\Typora\typora-user-images\image-1.png"
    report = build_deck(write_cards(tmp_path, {"win.md": f"# Q\n\n1. a\n2. 图 ![]({src})\n"}))
    assert report.package is not None and not report.errors
    import_package(collection, report.package)
    assert f"[image not packed: {src}]" in shown(card_hiding(collection, "图").answer())
