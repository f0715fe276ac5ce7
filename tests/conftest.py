"""Fixtures: a fresh Anki collection, and a deck built and imported into it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from anki.collection import Collection

from helpers import build_deck, import_package, write_cards


@pytest.fixture(autouse=True)
def own_memo(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test remembers builds in a cache folder of its own, as a user's is their own."""
    folder = tmp_path_factory.mktemp("user-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder


@pytest.fixture
def same_second() -> int:
    """A clock for builds that all happen in one second, as in scripts and watch loops."""
    return int(time.time())


@pytest.fixture
def collection(tmp_path: Path) -> Iterator[Collection]:
    (tmp_path / "anki").mkdir()
    col = Collection(str(tmp_path / "anki" / "collection.anki2"))
    try:
        yield col
    finally:
        col.close()


@pytest.fixture
def deck(tmp_path: Path, collection: Collection):
    """Build card files and import them: `deck({"a.md": "..."})` → list of cards in source order."""

    def make(files: dict[str, str | bytes], deck_name: str | None = "Test"):
        cards_dir = write_cards(tmp_path / "project", files)
        report = build_deck(cards_dir, deck=deck_name)
        assert not report.errors, [str(d) for d in report.errors]
        import_package(collection, report.package)
        cids = collection.find_cards("")
        found = [collection.get_card(cid) for cid in cids]
        return sorted(found, key=lambda c: (c.note()["Source"], c.ord))

    return make
