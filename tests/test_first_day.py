"""What a new user meets on the first day: every message says where and how to go on."""

from __future__ import annotations

import subprocess

from helpers import run, write_cards

ONE = "# 为什么要除以根号 d？\n\n1. 方差：点积的方差随维度增长\n"


def test_a_missing_cards_folder_says_where_mkdeck_looked_and_how_to_name_one(tmp_path):
    result = run(["build"], tmp_path)
    assert result.exit_code == 1
    said = result.stderr
    assert f"cards: error: cards folder not found (looked for {tmp_path.resolve()}/cards)" in said
    assert "`mkdeck build NOTES_DIR`" in said and "Traceback" not in said


def test_a_cards_setting_that_names_no_folder_points_at_its_line(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.mkdeck]\ndeck = "D"\ncards = "card"\n')
    write_cards(tmp_path, {"a.md": ONE})
    result = run(["check"], tmp_path)
    assert result.exit_code == 1
    assert "pyproject.toml:3: error: the cards folder `card` that `cards` names is not there" in (
        result.stderr
    )


def test_a_misspelt_table_is_said_not_ignored(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.mkdek]\ndeck = "D"\n')
    write_cards(tmp_path, {"a.md": ONE})
    result = run(["build"], tmp_path)
    assert result.exit_code == 1
    expected = "pyproject.toml:4: error: `[tool.mkdek]` is no table mkdeck reads: name it"
    assert expected in result.stderr


def test_a_settings_syntax_error_names_its_line_and_column(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.mkdeck]\ncards = "cards\n')
    result = run(["build"], tmp_path)
    assert result.exit_code == 1
    assert "pyproject.toml:2:15: error: cannot read settings: Illegal character" in result.stderr


def test_a_duplicate_id_names_both_files_as_paths_to_open(tmp_path):
    card = "---\nid: same\n---\n# 问？\n\n1. 一\n"
    write_cards(tmp_path, {"a.md": card, "sub/b.md": card})
    said = run(["check"], tmp_path).stderr
    assert "cards/sub/b.md:2: error: id `same` is already used by a.md:2" in said
    assert "cards/a.md:2: note: id `same` is used again by sub/b.md:2" in said


def test_the_gbk_hint_is_a_command_that_converts_the_file_safely(tmp_path):
    cards = write_cards(tmp_path, {"老 笔记.md": ONE.encode("gb18030")})
    said = run(["check"], tmp_path).stderr
    command = said.split("convert it in the cards folder with `")[1].split("`")[0]
    subprocess.run(command, shell=True, cwd=cards, check=True)
    assert (cards / "老 笔记.md").read_text("utf-8") == ONE
    assert run(["check"], tmp_path).exit_code == 0


def test_new_gives_a_readable_id_and_will_not_ask_a_question_twice(tmp_path):
    first = run(["new", "为什么要除以根号d？"], tmp_path)
    assert first.exit_code == 0
    text = (tmp_path / "cards" / "为什么要除以根号d.md").read_text("utf-8")
    assert text.startswith("---\nid: 为什么要除以根号d-")
    again = run(["new", "为什么要除以根号d？"], tmp_path)
    assert again.exit_code == 1
    assert "cards/为什么要除以根号d.md:5: error: a card file asks this question already" in (
        again.stderr
    )
    assert sorted(p.name for p in (tmp_path / "cards").iterdir()) == ["为什么要除以根号d.md"]


def test_install_hints_name_this_distribution_as_it_was_installed(tmp_path, monkeypatch):
    """`mkdeck` on PyPI is another project: a hint never says `pip install 'mkdeck[…]'`. In a
    clone (an editable install, as the README's commands make), it installs into the clone."""
    from pathlib import Path

    from mkdeck import install_hint

    project = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(project)
    assert install_hint("preview").endswith(" install -e '.[preview]'")
    monkeypatch.chdir(tmp_path)
    assert install_hint("anki").endswith(f" install -e '{project}[anki]'")


def test_help_lists_every_command_and_loads_no_more_than_it_shows():
    """`mkdeck --help` says what each command does, and starts at once: it loads none of the
    pipeline's libraries, and not even pathlib (a path is made only when one is given)."""
    import sys

    script = (
        "import sys\n"
        "from mkdeck.cli import main\n"
        "main(['--help'], standalone_mode=False)\n"
        "heavy = ('pathlib', 'markdown_it', 'pygments', 'genanki', 'yaml', 'anki', 'sqlite3',"
        " 'mkdeck.build', 'mkdeck.config')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    *shown, loaded = done.stdout.splitlines()
    for command in ("build", "sync", "watch", "check", "new", "import", "preview"):
        assert any(line.strip().startswith(command + " ") for line in shown), command
    assert loaded == "[]"


def test_a_long_first_build_shows_each_stage_as_it_goes(tmp_path):
    """A first build of a large repository looks at every file that may be a post before it
    renders anything: both stages are told to the progress bar, each with its own count."""
    from mkdeck.build import build
    from mkdeck.config import Config

    post = "# 帖子\n\n## 问题一？\n\n1. 甲\n\n## 问题二？\n\n1. 乙\n"
    posts = {f"p{i}.md": post.replace("帖子", f"帖子 {i}") for i in range(3)}
    cards = write_cards(
        tmp_path / "cards",
        {**{f"q{i}.md": f"# 问题 {i}？\n\n1. 要点 {i}\n" for i in range(5)}, **posts},
    )
    config = Config(root=tmp_path, cards=cards, output=tmp_path / "build", deck="Test")
    told: list[tuple[str, int, int]] = []
    report = build(cards, config.package_path(cards), config, lambda *t: told.append(t))
    assert report.notes == 5 + 3 * 2 and not report.errors
    stages = [doing for doing, done, total in told if done == total]
    assert stages == ["Looking for posts", "Rendering"]
    # Only the files with more than one heading are looked at; each question is rendered.
    assert [t for t in told if t[0] == "Looking for posts"][-1][1:] == (3, 3)
    assert [t for t in told if t[0] == "Rendering"][-1][1:] == (11, 11)
    # Once the lock knows the posts as posts (the next build cuts them under that key), an
    # edit renders one file and looks at none.
    for edit in ("一", "二"):
        told.clear()
        (cards / "q1.md").write_text(f"# 问题 1？\n\n1. 要点 {edit}\n", "utf-8")
        build(cards, config.package_path(cards), config, lambda *t: told.append(t))
    assert told == [("Rendering", 1, 1)]


def test_the_progress_bar_draws_one_labelled_bar_a_stage_on_a_terminal(monkeypatch):
    import io

    from mkdeck import cli

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    shown = Terminal()
    monkeypatch.setattr(cli.sys, "stderr", shown)
    monkeypatch.setenv("NO_COLOR", "1")
    bar = cli._ProgressBar()
    for stage, total in (("Looking for posts", 300), ("Rendering", 250), ("Rendering", 3)):
        for done in range(1, total + 1):
            bar(stage, done, total)
    drawn = shown.getvalue()
    assert drawn.count("Looking for posts") >= 1 and drawn.count("Rendering") >= 1
    assert "300/300" in drawn or "100%" in drawn
    assert bar.bar is None  # every bar ended with its stage
    quiet = cli._ProgressBar()
    monkeypatch.setattr(cli.sys, "stderr", io.StringIO())  # not a terminal: no bar at all
    for done in range(1, 301):
        quiet("Rendering", done, 300)
    assert quiet.bar is None and cli.sys.stderr.getvalue() == ""
