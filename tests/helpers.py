"""Test helpers: write card files, build them with mkdeck, import into a real Anki collection."""

from __future__ import annotations

import html
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest
from anki.import_export_pb2 import ImportAnkiPackageUpdateCondition
from anki.scheduler.v3 import CardAnswer
from click.testing import CliRunner, Result

from mkdeck.build import Report, build
from mkdeck.cli import main
from mkdeck.config import Config

# A 1×1 PNG, so image tests ship a real image file.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c49444154789c63f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)


def write_cards(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write `files` (relative path → content) under root/cards and return that folder.

    Images are dated an hour back, as a deck's images usually are: one written a moment
    before a build is looked at again by the next (`cache.racy`)."""
    cards = root / "cards"
    cards.mkdir(parents=True, exist_ok=True)
    an_hour_ago = time.time() - 3600
    for rel, content in files.items():
        path = cards / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
            os.utime(path, (an_hour_ago, an_hour_ago))
        else:
            path.write_text(content, encoding="utf-8")
    return cards


def build_deck(
    cards: Path, out: Path | None = None, deck: str | None = "Test", now: int | None = None
) -> Report:
    """Build as `mkdeck build` does; `now` fixes the clock (None: the real one)."""
    config = Config(root=cards.parent, cards=cards, output=cards.parent / "build", deck=deck)
    out = out or config.package_path(cards)
    return build(cards, out, config, now=now)


def run(args: list[str], cwd: Path) -> Result:
    """Run the command line as a user would, from `cwd`; a traceback fails the test."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        return CliRunner().invoke(main, args, catch_exceptions=False)


def import_package(col: Collection, package: Path) -> object:
    request = ImportAnkiPackageRequest(
        package_path=str(package),
        options=ImportAnkiPackageOptions(
            with_scheduling=True,
            update_notes=ImportAnkiPackageUpdateCondition.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_IF_NEWER,
        ),
    )
    return col.import_anki_package(request)


def shown(fragment: str) -> str:
    """What a reader sees of an HTML fragment: tags dropped, entities decoded, spaces collapsed."""
    text = re.sub(r"<style>.*?</style>", "", fragment, flags=re.DOTALL)
    text = re.sub(r"</?(?:p|div|li|ul|ol|br|hr|pre|table|thead|tbody|tr|td|th)\b[^>]*>", " ", text)
    text = re.sub(r"<[^>]+>", "", text)
    return " ".join(html.unescape(text).split())


def answer_everything(col: Collection, deck: str = "Test") -> int:
    """Review every card of `deck` once, as a user would, through Anki's scheduler."""
    for did in (d.id for d in col.decks.all_names_and_ids()):
        conf = col.decks.config_dict_for_deck_id(did)
        conf["new"]["perDay"] = 9999
        conf["new"]["bury"] = False
        col.decks.save(conf)
    col.decks.select(col.decks.id(deck))
    answered = 0
    while answered < 100:
        queued = col.sched.get_queued_cards(fetch_limit=1)
        if not queued.cards:
            break
        card = col.get_card(queued.cards[0].card.id)
        card.start_timer()
        col.sched.answer_card(
            col.sched.build_answer(card=card, states=queued.cards[0].states, rating=CardAnswer.EASY)
        )
        answered += 1
    return answered


def reviews(col: Collection, cid: int) -> int:
    return col.db.scalar("select count() from revlog where cid = ?", cid)


def card_hiding(col: Collection, text: str):
    """The one card whose front hides `text` and whose back shows it."""
    found = [
        card
        for card in (col.get_card(cid) for cid in col.find_cards(""))
        if text not in shown(card.question()) and text in shown(card.answer())
    ]
    assert len(found) == 1, f"{len(found)} cards hide {text!r}"
    return found[0]


def chromium() -> str:
    """Debian's Chromium for the browser tests. Without it a test module skips with the command
    that installs it, except in CI (`CI` set), where `.ci/run` installs it and a skip would hide
    a failure, so it fails instead."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            raise RuntimeError("CI must run the browser tests: apt-get install chromium")
        pytest.skip(
            "headless Chromium is needed: apt-get install chromium (Debian)",
            allow_module_level=True,
        )
    return found
