"""The `mkdeck` command: parses arguments, calls the pipeline, prints. No logic lives here.

Each command imports the pipeline it runs when it runs, so `mkdeck --help` starts at once.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, NoReturn

import click

from . import __version__, install_hint
from .errors import Diagnostic, MkdeckError

if TYPE_CHECKING:
    from pathlib import Path

    from click._termui_impl import ProgressBar

    from .build import Report
    from .config import Config
    from .postimport import ImportPlan

# Below this many files a build is too quick for a progress bar to be anything but flicker.
PROGRESS_MIN_FILES = 200


class _PathParam(click.Path):
    """`click.Path`, whose value the command gets as a `pathlib.Path`, made only when one is
    given: `mkdeck --help` does not load pathlib (2 ms of its 47, in 40 interleaved runs)."""

    def coerce_path_result(self, value: str | os.PathLike[str]) -> Path:
        from pathlib import Path

        return Path(value)


def _color() -> bool | None:
    """None lets click decide (colour on a terminal, none in a pipe); NO_COLOR turns it off."""
    return False if os.environ.get("NO_COLOR") else None


def _located(d: Diagnostic, cards_dir: Path | None) -> str:
    """`path:line`, the path as typed from here (below the cards folder for a card file's)."""
    from pathlib import Path

    path = Path(d.path)
    if cards_dir is not None and not path.is_absolute():
        path = cards_dir / path
    return _display(path) + d.where.removeprefix(d.path)


def _echo_diagnostic(d: Diagnostic, cards_dir: Path | None = None) -> None:
    """`path:line: severity: message`, the path as typed from here so editors can jump to it."""
    style = {"error": "red", "warning": "yellow", "note": "cyan"}[d.severity]
    where = _located(d, cards_dir)
    if not d.path:  # about no file: Anki, the network, the command line
        where = "mkdeck"
    click.echo(
        f"{where}: {click.style(d.severity + ':', fg=style, bold=True)} {d.message}",
        err=True,
        color=_color(),
    )


class _ProgressBar:
    """A progress bar on stderr for each long stage of a build (looking for posts, rendering),
    only on a terminal."""

    def __init__(self) -> None:
        self.bar: ProgressBar[int] | None = None
        self.doing: str | None = None

    def __call__(self, doing: str, done: int, total: int) -> None:
        if doing != self.doing:
            self._end()
            self.doing = doing
            if total >= PROGRESS_MIN_FILES and sys.stderr.isatty():
                self.bar = click.progressbar(
                    length=total, label=doing, file=sys.stderr, color=_color()
                )
                self.bar.__enter__()
        if self.bar is not None:
            self.bar.update(1)
        if done == total:
            self._end()

    def _end(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
        self.bar = self.doing = None


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _summary(report: Report) -> str:
    notes = _count(report.notes, "note")
    if report.posts:
        topics = f", {_count(report.post_topics, 'topic')}" if report.post_topics else ""
        notes += f" ({report.post_questions} from {_count(report.posts, 'post')}{topics})"
    return (
        f"{notes}, {_count(report.cards, 'card')}, {report.media} media, "
        f"{_count(len(report.warnings), 'warning')}, {report.seconds:.2f} s"
        + (
            f"; {_left_out(report)} left out for the errors above (their notes stay in Anki "
            "as they were)"
            if report.left_out
            else ""
        )
    )


def _left_out(report: Report) -> str:
    """`2 files`, `1 question of a post`, or both."""
    from .lockfile import question_of

    sources = report.left_out_sources or report.left_out
    questions = sum(bool(question_of(rel)) for rel in sources)
    parts = [_count(len(sources) - questions, "file")] if len(sources) > questions else []
    if questions:
        parts.append(
            "1 question of a post" if questions == 1 else f"{questions} questions of posts"
        )
    return " and ".join(parts)


def _display(path: Path | None) -> str:
    """A path as the user would type it: relative to where they stand, when it is below."""
    if path is None:
        return ""
    try:
        return str(path.resolve().relative_to(os.path.realpath(os.getcwd())))
    except ValueError:
        return str(path)


def _fail(exc: MkdeckError, base: Path | None = None) -> NoReturn:
    _echo_diagnostic(exc.diagnostic, base)
    sys.exit(1)


def _cards_folder(given: Path | None, config: Config) -> Path:
    """The cards folder a command reads: the one named, else the configured one. One that is
    not there is an error that says where mkdeck looked and how to name the folder."""
    cards_dir = given or config.cards
    if cards_dir.is_dir():
        return cards_dir
    if given is None and config.source is not None and config.cards_line:
        where = MkdeckError(
            f"the cards folder `{_display(cards_dir)}` that `cards` names is not there: fix the "
            "setting, or name the folder (`mkdeck build NOTES_DIR`)",
            str(config.source),
            config.cards_line,
        )
    else:
        how = (
            "run mkdeck in the folder that holds `cards/`, or name your notes' folder: "
            '`mkdeck build NOTES_DIR` (or set `cards = "NOTES_DIR"` under [tool.mkdeck] in '
            "pyproject.toml)"
        )
        where = MkdeckError(
            f"cards folder not found (looked for {cards_dir.resolve()}): {how}", str(cards_dir)
        )
    _fail(where)


def _config(cards_dir: Path | None = None) -> Config:
    from .config import load_config  # (not for `--help`: the TOML reader is not needed there)

    try:
        return load_config(cards_dir)
    except MkdeckError as exc:
        _fail(exc)


def _report_problems(report: Report, cards_dir: Path, consequence: str) -> None:
    """Print every diagnostic; when errors stopped the build, say what that means and exit
    with status 1 (files left out for their errors are said in the summary line)."""
    for d in report.diagnostics:
        _echo_diagnostic(d, cards_dir)
    if report.errors and report.package is None:
        message = f"mkdeck: {_count(len(report.errors), 'error')}{consequence}"
        click.echo(message, err=True, color=_color())
        sys.exit(1)


def _cards_dir_option(*flags: str):
    """For commands that write card files: where to, when not the configured cards/."""
    return click.option(
        *flags,
        "cards_dir",
        type=_PathParam(file_okay=False),
        help="Cards folder to write into (default: cards/).",
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mkdeck")
def main() -> None:
    """Turn a folder of Markdown notes into an Anki deck: one cloze card per numbered point.

    \b
    Typical loop:
      mkdeck new "问题？"      start a card file with a fresh id
      mkdeck import POST.md   split a post of questions into card files
      mkdeck check            find every problem in cards/ (nothing is written)
      mkdeck build            write build/<deck>.apkg, then import it into Anki
      mkdeck sync             build, then import into your Anki in one step
      mkdeck watch --sync     do that on every save
      mkdeck preview          every card as the phone shows it, in a browser
    """


_cards_dir_argument = click.argument("cards_dir", required=False, type=_PathParam(file_okay=False))
_strict_option = click.option(
    "--strict",
    is_flag=True,
    help="All or nothing: any error or warning writes nothing (for CI that holds you to it).",
)


def _anki_connect_options(command):
    """How to reach a running Anki: the same for `sync` and `watch --sync`."""
    for option in reversed(
        [
            click.option(
                "--anki-connect",
                "url",
                default="http://127.0.0.1:8765",
                show_default=True,
                help="Where a running Anki's AnkiConnect add-on listens.",
            ),
            click.option(
                "--key", envvar="ANKICONNECT_KEY", help="AnkiConnect's API key, if it has one."
            ),
            click.option(
                "--timeout", default=30.0, show_default=True, help="Seconds to wait for Anki."
            ),
        ]
    ):
        command = option(command)
    return command


@main.command("build")
@_cards_dir_argument
@click.option(
    "-o",
    "--output",
    type=_PathParam(dir_okay=False),
    help="Package to write (default: from [tool.mkdeck], else build/<deck>.apkg).",
)
@_strict_option
@click.option(
    "--no-cache", is_flag=True, help="Build everything again, ignoring what was remembered."
)
@click.option(
    "--new-note",
    "new_notes",
    multiple=True,
    metavar="FILE",
    help="Give this card file a note of its own, not the one it had (when `sync` says that "
    "note is another project's). Repeatable.",
)
def build_command(
    cards_dir: Path | None,
    output: Path | None,
    strict: bool,
    no_cache: bool,
    new_notes: tuple[str, ...],
) -> None:
    """Build the deck from CARDS_DIR (default: cards/) into an .apkg.

    A card file with an error is left out, its note in Anki kept as it was, and
    the rest is built; the exit status is then 1. An error about the whole
    folder (the lock, the settings), or any error or warning with --strict,
    writes nothing. A file that holds no card is skipped with a warning.
    """
    from pathlib import Path

    from .build import build

    config = _config(cards_dir)
    cards_dir = _cards_folder(cards_dir, config)
    out = output or config.package_path(cards_dir)
    report = build(
        cards_dir,
        out,
        config,
        progress=_ProgressBar(),
        strict=strict,
        use_cache=not no_cache,
        new_notes=frozenset(_in_cards(Path(f), cards_dir) for f in new_notes),
    )
    _report_problems(report, cards_dir, "; nothing written")
    package = _display(report.package)
    done = f"{package} is up to date" if report.up_to_date else f"Built {package}"
    click.echo(f"{done}: {_summary(report)}", color=_color())
    if report.left_out:  # so that CI still notices
        sys.exit(1)


def _in_cards(path: Path, cards_dir: Path) -> str:
    """A card file named on the command line, as a path in the cards folder: as typed from
    here, or already relative to the cards folder (as mkdeck prints it)."""
    if not path.is_absolute() and not path.exists() and (cards_dir / path).exists():
        path = cards_dir / path
    try:
        return path.resolve().relative_to(cards_dir.resolve()).as_posix()
    except ValueError:
        return path.as_posix()  # outside the folder: the build says it is no card file here


@main.command("sync")
@_cards_dir_argument
@click.option("--profile", help="Anki profile to sync into (needed when there are several).")
@click.option(
    "--collection",
    type=_PathParam(dir_okay=False),
    help="Collection file to import into directly (Anki must be closed).",
)
@_anki_connect_options
@_strict_option
def sync_command(
    cards_dir: Path | None,
    profile: str | None,
    collection: Path | None,
    url: str,
    key: str | None,
    timeout: float,
    strict: bool,
) -> None:
    """Build the deck, then import it into your Anki as File → Import does.

    \b
    Anki running with AnkiConnect: the package is sent to it.
    Anki closed: the profile's collection is opened and imported into
    (needs the `anki` extra). Review history is kept, notes you
    edited in Anki are kept until their Markdown changes, nothing is deleted.
    The cards of a file moved to another folder follow it to its subdeck;
    cards you moved yourself stay where you put them.
    """
    from pathlib import Path

    from .opening import build_and_sync

    config = _config(cards_dir)
    cards_dir = _cards_folder(cards_dir, config)

    def built(report: Report) -> None:
        _report_problems(report, cards_dir, "; nothing written, nothing synced")

    anki = (url, key, timeout)
    report, result = build_and_sync(
        cards_dir, config, collection, profile, anki, built, _ProgressBar(), strict
    )
    if isinstance(result, MkdeckError):
        _fail(result)
    assert result is not None  # (a build that wrote nothing stopped at its errors)
    counts = [
        (result.added, "added"),
        (result.updated, "updated"),
        (result.unchanged, "unchanged"),
        (result.conflicts, "in conflict"),
    ]
    told = ", ".join(f"{n} {what}" for n, what in counts if n is not None)
    if not told and result.sent is not None:  # AnkiConnect: what was sent is all sync knows
        told = f"sent the {result.sent} that could change" if result.sent else "nothing to send"
    where = _display(Path(result.target)) if result.route == "collection" else result.target
    click.echo(
        f"Synced {_count(report.notes, 'note')} into {where}"
        + (f": {told}" if told else "")
        + (" (AnkiConnect does not report counts)" if result.route == "AnkiConnect" else ""),
        color=_color(),
    )
    if result.replaced:
        shown = ", ".join(result.replaced[:5]) + (", …" if len(result.replaced) > 5 else "")
        click.echo(
            f"mkdeck: {_count(len(result.replaced), 'note')} edited in Anki since the last "
            f"sync had their Markdown changed, and now read as the Markdown does: {shown}",
            err=True,
            color=_color(),
        )
    for file, before, now in result.moved or ():
        click.echo(
            f"mkdeck: moved the cards of {file} from `{before}` to `{now}`, where its file is now",
            err=True,
            color=_color(),
        )
    if result.elsewhere:
        _echo_elsewhere(result.elsewhere, config.deck_name(cards_dir), cards_dir)
    if report.left_out:
        click.echo(
            f"mkdeck: {_left_out(report)} left out for the errors above",
            err=True,
            color=_color(),
        )
        sys.exit(1)


def _echo_elsewhere(elsewhere: tuple[tuple[str, str], ...], deck: str, cards_dir: Path) -> None:
    """The notes sync left as they are, because Anki has them only outside this project's
    decks, and what to do about each kind."""
    for file, where in elsewhere[:5]:
        _echo_diagnostic(
            Diagnostic(
                file,
                0,
                f"not synced: Anki has this file's note only in `{where}`, outside `{deck}`",
                "warning",
            ),
            cards_dir,
        )
    more = f" (and {len(elsewhere) - 5} more)" if len(elsewhere) > 5 else ""
    left = "it is" if len(elsewhere) == 1 else "they are"
    click.echo(
        f"mkdeck: {_count(len(elsewhere), 'note')} left as {left} in Anki{more}, so that no "
        "other deck's note is overwritten. Another project's "
        "note, which a file of this one shares (both were first built before each deck had "
        "notes of its own): `mkdeck build --new-note FILE` gives the file a note of its own. "
        f"Cards you moved out of `{deck}`: move them back under it in Anki's browser; a deck "
        "you renamed in Anki: set `deck` in [tool.mkdeck] to its new name",
        err=True,
        color=_color(),
    )


@main.command("watch")
@_cards_dir_argument
@click.option("--sync", "also_sync", is_flag=True, help="Also import each build into Anki.")
@click.option("--profile", help="With --sync: the Anki profile.")
@click.option(
    "--collection",
    type=_PathParam(dir_okay=False),
    help="With --sync: a collection file to import into (Anki closed).",
)
@_anki_connect_options
def watch_command(
    cards_dir: Path | None,
    also_sync: bool,
    profile: str | None,
    collection: Path | None,
    url: str,
    key: str | None,
    timeout: float,
) -> None:
    """Build again on every save of a card file, an image or the settings.

    One line a rebuild: what changed, notes and cards, seconds. Problems are
    printed once, when they appear, and named again when they are resolved. A
    build with errors keeps the last good package. Stop with Ctrl-C.
    """
    from . import watch

    given = cards_dir
    config = _config(given)
    cards_dir = _cards_folder(given, config)
    out = config.package_path(cards_dir)

    # What the last build said: a save prints only what changed since, not every warning of
    # a large deck again (the status line would be lost under them).
    said: set[Diagnostic] = set()

    def rebuild(what: str) -> None:
        nonlocal said
        stamp = time.strftime("%H:%M:%S")
        done = watch.rebuild(
            cards_dir, given, also_sync, collection, profile, watch.AnkiConnect(url, key, timeout)
        )
        if done.settings_error is not None:
            _echo_diagnostic(done.settings_error.diagnostic)
            click.echo(f"{stamp} {what}: the settings have an error", err=True, color=_color())
            return
        assert done.report is not None
        now = set(done.report.diagnostics)
        for d in done.report.diagnostics:
            if d not in said:
                _echo_diagnostic(d, cards_dir)
        gone = sorted(said - now)
        said = now
        if gone:
            shown = "; ".join(
                _display(cards_dir / d.path) + d.where.removeprefix(d.path) for d in gone[:5]
            )
            more = f" and {len(gone) - 5} more" if len(gone) > 5 else ""
            click.echo(f"{stamp} resolved: {shown}{more}", err=True, color=_color())
        if done.report.errors and done.report.package is None:
            kept = (
                f"{_display(done.package)} stays as it was"
                if done.package is not None and done.package.is_file()
                else "nothing written"
            )
            click.echo(
                f"{stamp} {what}: {_count(len(done.report.errors), 'error')}; {kept}",
                err=True,
                color=_color(),
            )
            return
        if done.sync_error is not None:
            _echo_diagnostic(done.sync_error.diagnostic, cards_dir)
        synced = ", synced" if done.synced else ""
        if done.synced and done.sent is not None:  # what went to Anki's importer
            synced += f" {_count(done.sent, 'note')}" if done.sent else " (nothing to send)"
        if done.replaced:
            synced += f" (replaced the edit made in Anki of {', '.join(done.replaced)})"
        if done.moved:
            synced += (
                " (moved the cards of "
                + ", ".join(f"{file} to `{now}`" for file, _, now in done.moved)
                + ")"
            )
        if done.elsewhere:
            synced += (
                f" (left {_count(len(done.elsewhere), 'note')} as in Anki, which has "
                "them in other decks: `mkdeck sync` says which)"
            )
        click.echo(f"{stamp} {what}: {_summary(done.report)}{synced}", color=_color())

    rebuild("start")
    try:
        for batch in watch.changes(cards_dir, config.source, out.parent):
            rebuild(", ".join(batch.paths))
    except KeyboardInterrupt:
        click.echo("Stopped watching.", color=_color())
    except MkdeckError as exc:
        _fail(exc)


@main.command("preview")
@_cards_dir_argument
@click.option(
    "-o",
    "--output",
    type=_PathParam(file_okay=False),
    help="Folder for the page (default: preview/ beside the package).",
)
def preview_command(cards_dir: Path | None, output: Path | None) -> None:
    """Write an offline page of every card as the phone shows it, day and night.

    Cards are rendered by Anki's own renderer and formulas by MathJax 3, both
    installed with the `preview` extra. Open the page in a browser.
    """
    from .build import preview

    config = _config(cards_dir)
    cards_dir = _cards_folder(cards_dir, config)
    out = output or config.package_path(cards_dir).parent / "preview"
    try:
        report, page = preview(cards_dir, config, out, _ProgressBar())
    except MkdeckError as exc:
        _fail(exc)
    _report_problems(report, cards_dir, "; no preview written")
    assert page is not None
    if not page.mathjax:
        click.echo(
            "mkdeck: MathJax 3 was not found, so formulas show as TeX: " + install_hint("preview"),
            err=True,
            color=_color(),
        )
    click.echo(f"Preview of {_count(page.cards, 'card')}: {_display(page.page)}", color=_color())


@main.command("check")
@_cards_dir_argument
@_strict_option
def check_command(cards_dir: Path | None, strict: bool) -> None:
    """Report every problem in CARDS_DIR as path:line: message. Writes nothing.

    Exit status 1 when there is at least one error (or warning, with --strict).
    """
    from .build import check

    config = _config(cards_dir)
    cards_dir = _cards_folder(cards_dir, config)
    report = check(cards_dir, config, progress=_ProgressBar(), strict=strict)
    _report_problems(report, cards_dir, "")
    click.echo(f"OK: {_summary(report)}", color=_color())


@main.command("new")
@click.argument("question")
@_cards_dir_option("-d", "--dir")
def new_command(question: str, cards_dir: Path | None) -> None:
    """Write a new card file for QUESTION, with a fresh id; prints its path.

    Fill in the numbered points, then run `mkdeck build`.
    """
    from .newcard import new_card

    try:
        path = new_card(cards_dir or _config().cards, question)
    except MkdeckError as exc:
        _fail(exc)
    click.echo(_display(path))


@main.command("import")
@click.argument("posts", nargs=-1, required=True, type=_PathParam(exists=True))
@_cards_dir_option("-o", "--output")
@click.option("-n", "--dry-run", is_flag=True, help="Show the plan; write nothing.")
@click.option(
    "--outside-images",
    is_flag=True,
    help="Also copy images from outside the post's folder (your own posts' absolute paths).",
)
def import_command(
    posts: tuple[Path, ...], cards_dir: Path | None, dry_run: bool, outside_images: bool
) -> None:
    """Split POSTS (Markdown files, or folders of them) into card files.

    \b
    Questions are read as `mkdeck build` reads a post: headings that ask
    (`…？`, `什么是…`, `How …`), numbered ones beside them, and topics:
      # 1、…？   ## 1. What is …?   ### 1.1 …   **Q1: Explain …**
    Each becomes one card file with a fresh id and the post's tags; a
    heading with no text of its own above them is a section and becomes a
    tag; a post's folder below the folder named becomes a subfolder (a
    subdeck). A file of one question becomes one card file. Prose before
    the first question and the footer are left out (and listed).

    Importing again after a post changed updates the card files you have
    not edited since, leaves the ones you edited alone (and lists them),
    and names the questions that are new and those that are gone.
    """
    from .postimport import STATES, apply_plan, plan_import, posts_in

    cards_dir = cards_dir or _config().cards
    totals = dict.fromkeys(STATES, 0)
    questions = topics = left_out = 0
    failed = False
    for post, base in posts_in(list(posts)):
        try:
            plan = plan_import(post, cards_dir, outside_images, base)
        except MkdeckError as exc:
            _echo_diagnostic(exc.diagnostic, base)
            failed = True
            continue
        _print_plan(plan, base, cards_dir, dry_run)
        if not dry_run:
            try:
                apply_plan(plan, cards_dir)
            except OSError as exc:  # a full disk, a read-only folder: each file whole or absent
                _fail(MkdeckError(f"cannot write: {exc.strerror or exc}", str(exc.filename or "")))
        counts = {state: plan.count(state) for state in STATES}
        for state, n in counts.items():
            totals[state] += n
        asked = sum(not card.topic for card in plan.cards)
        skipped = len(plan.left_out) + len(plan.skipped)
        questions, topics, left_out = (
            questions + asked,
            topics + len(plan.cards) - asked,
            left_out + skipped,
        )
        summary = _import_counts(asked, len(plan.cards) - asked, counts, skipped, len(plan.gone))
        click.echo(f"{plan.post}: {summary}")
    if not questions and not topics:
        click.echo("mkdeck: nothing to import: every question was skipped", err=True)
        sys.exit(1)
    done = "Would import" if dry_run else "Imported"
    summary = _import_counts(questions, topics, totals, left_out, 0)
    click.echo(f"{done} into {_display(cards_dir)}: {summary}.")
    if failed:
        sys.exit(1)


def _print_plan(plan: ImportPlan, base: Path, cards_dir: Path, dry_run: bool) -> None:
    """What importing one post does, file by file, and what it leaves out."""
    from .postimport import EDITED, NEW, UNCHANGED, UPDATED

    for d in sorted([*plan.warnings, *plan.skipped]):
        _echo_diagnostic(d, base)
    for part in plan.left_out:
        where = f"{_display(base / plan.post)}:{part.first_line}-{part.last_line}"
        click.echo(f"left out {where}: {part.what}")
    verbs = {
        NEW: "would write" if dry_run else "write",
        UPDATED: "would update" if dry_run else "update",
        UNCHANGED: "unchanged",
        EDITED: "kept as you edited it:",
    }
    for card in plan.cards:
        size = _count(card.points, "point") if card.points else "one card for the whole answer"
        click.echo(f"{verbs[card.state]} {_display(cards_dir / card.filename)} ({size})")
    for gone in plan.gone:
        click.echo(f"gone from the post: {_display(cards_dir / gone)} (left as it is)")


def _import_counts(
    questions: int, topics: int, counts: dict[str, int], left_out: int, gone: int
) -> str:
    """`5 questions, 1 topic, 2 new, 1 updated, 2 unchanged, 1 edited by you, 3 left out`."""
    parts = [_count(questions, "question")]
    if topics:
        parts.append(_count(topics, "topic"))
    parts += [f"{n} {state}" for state, n in counts.items()]
    parts.append(f"{left_out} left out")
    if gone:
        parts.append(f"{gone} gone from the post")
    return ", ".join(parts)
