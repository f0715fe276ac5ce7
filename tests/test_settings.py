"""Settings are checked with their types, found where they belong, and a run of one file never
sees another's results. Each case runs through the command line, with its exact output."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import run, write_cards

GOOD = "# 好问题？\n\n1. 第一点\n2. 第二点\n"


def _pyproject(root: Path, table: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "notes"\n\n[tool.mkdeck]\n{table}\n', encoding="utf-8"
    )


@pytest.mark.parametrize("space", ["\u3000", "\u00a0", "\u200b", " \t", "\u2028"])
def test_a_heading_of_only_whitespace_is_no_question_and_no_crash(tmp_path, space):
    write_cards(tmp_path, {"a.md": f"# {space}\n"})
    result = run(["check", "cards"], tmp_path)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "cards/a.md:1: warning: the question has no answer below it: skipped",
        "cards: error: no cards: no file here holds a question with an answer",
        "mkdeck: 1 error",
    ]


def test_one_files_problems_never_land_on_another(tmp_path):
    # Rendered second, the blank heading once inherited the first file's image and its error.
    write_cards(tmp_path, {"0.md": "# 图\n\n1. ![x](img.png)\n", "a.md": "# \u3000\n\n1. 一点\n"})
    result = run(["check", "cards"], tmp_path)
    assert result.exit_code == 0
    no_id = (
        ": note: no `id` in the front matter: the note is known by its path (kept in "
        "mkdeck.lock); an `id` keeps it even without the lock"
    )
    assert result.stderr.splitlines() == [
        f"cards/0.md:1{no_id}",
        "cards/0.md:3: warning: image not found: `img.png` (the card shows a placeholder)",
        f"cards/a.md:1{no_id}",
    ]


def test_a_setting_of_the_wrong_type_is_an_error_at_its_line(tmp_path):
    _pyproject(tmp_path, 'deck = "笔记"\nallow_scripts = "false"')
    write_cards(tmp_path, {"q.md": GOOD})
    result = run(["build"], tmp_path)
    assert result.exit_code == 1
    assert result.stderr == (
        "pyproject.toml:6: error: `allow_scripts` in [tool.mkdeck] must be true or "
        'false, not "false"\n'
    )
    assert not (tmp_path / "build").exists()


def test_a_number_where_a_path_belongs_is_an_error_not_a_traceback(tmp_path):
    _pyproject(tmp_path, "cards = 5")
    result = run(["check"], tmp_path)
    assert result.exit_code == 1
    assert result.stderr == (
        "pyproject.toml:5: error: `cards` in [tool.mkdeck] must be a string "
        "(a folder path), not int 5\n"
    )


def test_an_unknown_setting_is_named_with_the_known_ones(tmp_path):
    _pyproject(tmp_path, 'deck = "x"\noutput_dir = "out"')
    result = run(["check"], tmp_path)
    assert result.exit_code == 1
    assert result.stderr == (
        "pyproject.toml:6: error: unknown setting `output_dir` in [tool.mkdeck] "
        "(known: deck, cards, output, allow_scripts, exclude, static, points, topics, "
        "languages)\n"
    )


def test_a_pyproject_without_mkdeck_settings_is_not_adopted(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n', encoding="utf-8")
    write_cards(tmp_path / "notes", {"q.md": GOOD})
    result = run(["build"], tmp_path / "notes")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Built build/cards.apkg: 1 note, 2 cards")
    assert (tmp_path / "notes" / "build" / "cards.apkg").is_file()


def test_settings_are_looked_up_from_the_cards_folder_not_from_where_you_stand(tmp_path):
    project = tmp_path / "project"
    _pyproject(project, 'deck = "Mine"\noutput = "build"')
    write_cards(project, {"q.md": GOOD})
    assert run(["build"], project).exit_code == 0
    mine = project / "build" / "Mine.apkg"
    before = mine.read_bytes()

    other = write_cards(tmp_path / "elsewhere", {"q.md": "# 别的？\n\n1. 一\n"})
    result = run(["build", str(other)], project)
    assert result.exit_code == 0, result.stderr
    assert "Built build/cards.apkg" in result.stdout  # that folder's own name, not "Mine"
    assert mine.read_bytes() == before


def test_a_build_that_finds_no_cards_writes_nothing(tmp_path):
    project = tmp_path / "project"
    _pyproject(project, 'deck = "Mine"')
    write_cards(project, {"q.md": GOOD})
    assert run(["build"], project).exit_code == 0
    package = project / "build" / "Mine.apkg"
    before = package.read_bytes()

    (project / "cards" / "q.md").unlink()
    (project / "cards" / "README.md").write_text("# 说明\n\n1. 不是卡片\n", encoding="utf-8")
    result = run(["build"], project)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "cards/README.md: note: a README describes its folder: not a card",
        "cards: error: no cards: no file here holds a question with an answer",
        "mkdeck: 1 error; nothing written",
    ]
    assert package.read_bytes() == before


def test_exclude_and_the_default_skips_are_listed_by_check(tmp_path):
    _pyproject(tmp_path, 'exclude = ["drafts/*", "*.draft.md"]')
    write_cards(
        tmp_path,
        {
            "a.md": "# 一？\n\n1. 点\n",
            "drafts/b.md": "# 草稿？\n\n1. 点\n",
            "c.draft.md": "# 草稿？\n\n1. 点\n",
            "Drawing.excalidraw.md": "# 画\n\n1. 点\n",
            "sketch.md": "---\nexcalidraw-plugin: parsed\n---\n# 画\n\n1. 点\n",
            "templates/daily.md": "# {{title}}\n\n1. 点\n",
        },
    )
    result = run(["check", "cards"], tmp_path)
    assert result.exit_code == 0, result.stderr
    said = result.stderr.splitlines()
    assert "cards/Drawing.excalidraw.md: note: an Excalidraw drawing: not a card" in said
    assert "cards/sketch.md:1: note: an Excalidraw drawing: not a card" in said
    assert "cards/templates/daily.md: note: in a templates folder: not a card" in said
    assert 'cards/drafts/b.md: note: excluded by `exclude = ["drafts/*"]`: not a card' in said
    assert 'cards/c.draft.md: note: excluded by `exclude = ["*.draft.md"]`: not a card' in said
    assert "OK: 1 note, 1 card" in result.stdout


def test_a_static_folder_outside_the_project_is_refused(tmp_path):
    _pyproject(tmp_path, 'static = ["../elsewhere"]')
    write_cards(tmp_path, {"a.md": "# 一？\n\n1. 点\n"})
    result = run(["check", "cards"], tmp_path)
    assert result.exit_code == 1
    assert "`static` folder `../elsewhere` is outside the project" in result.stderr


def test_the_points_setting_applies_to_every_card_file_and_is_checked(tmp_path):
    _pyproject(tmp_path, 'points = "numbered"')
    write_cards(tmp_path, {"a.md": "# 一？\n\n- 甲\n- 乙\n"})
    result = run(["check", "cards"], tmp_path)
    assert result.exit_code == 0 and "OK: 1 note, 1 card" in result.stdout
    _pyproject(tmp_path, 'points = "bullets"')
    result = run(["check", "cards"], tmp_path)
    assert result.exit_code == 1
    assert '`points` in [tool.mkdeck] must be one of "numbered", "lists", "auto"' in result.stderr


def test_the_languages_setting_is_checked_at_its_line(tmp_path):
    _pyproject(tmp_path, 'languages = ["english"]')
    write_cards(tmp_path, {"q.md": GOOD})
    result = run(["check"], tmp_path)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "pyproject.toml:5: error: `languages` in [tool.mkdeck] must be a list of two-letter "
        'language codes such as ["en"]'
    )


@pytest.mark.parametrize(
    ("rel", "why"),
    [
        ("q.md", None),
        ("deep/er/Q.MARKDOWN", None),
        ("a/Drawing.Excalidraw.MD", "an Excalidraw drawing"),
        ("a/_Sidebar.md", "a docs site's navigation"),
        ("book/SUMMARY.md", "a docs site's navigation"),
        ("book/summary.md", None),  # (GitBook's is in capitals: a note may be called so)
        ("目录预览.md", "a table of contents"),
        ("x/Table of Contents.markdown", "a table of contents"),
        ("toc.txt", "a table of contents"),  # (asked of other files too, by `mkdeck import`)
        ("toc.md.md", None),
        ("contents.draft.md", None),
        ("_navbar.markdown", None),  # (docsify's navigation is `.md`)
    ],
)
def test_a_file_is_no_card_for_its_name_alone_as_the_rules_say(rel, why):
    """`not_a_card` answers for every name as its rules say: it looks closer only at the
    names the rules could mean, and a large deck asks it of every file."""
    from mkdeck.discover import not_a_card

    said = not_a_card(rel, (), ())
    assert (said is None) if why is None else (said is not None and said.startswith(why))
