"""Project settings from `[tool.mkdeck]` in the nearest pyproject.toml.

Settings are a frozen dataclass because they are part of every render's cache key (DESIGN §7):
two builds with equal settings must render a file identically.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import MkdeckError


@dataclass(frozen=True)
class Config:
    """What a build needs to know besides the card files themselves.

    `deck` is the root deck name (None: the cards folder's name); `root` is the folder
    the relative paths in `cards` and `output` start from.
    """

    root: Path
    cards: Path
    output: Path
    deck: str | None = None
    allow_scripts: bool = False

    def deck_name(self, cards_dir: Path) -> str:
        return self.deck or cards_dir.resolve().name

    def package_path(self, cards_dir: Path) -> Path:
        """`output` may name a folder (the package is `<deck>.apkg` inside) or an .apkg.

        A deck name such as `LLM::算法题` is no file name (`:` is refused on Windows and `/`
        everywhere), so the separators become ` - `.
        """
        if self.output.suffix == ".apkg":
            return self.output
        name = self.deck_name(cards_dir).replace("::", " - ").replace("/", "-").replace(":", "-")
        return self.output / f"{name}.apkg"


def find_pyproject(start: Path) -> Path | None:
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(start: Path | None = None) -> Config:
    """Read `[tool.mkdeck]` from the pyproject.toml at or above `start` (default: cwd)."""
    start = (start or Path.cwd()).resolve()
    pyproject = find_pyproject(start)
    if pyproject is None:
        return Config(root=start, cards=start / "cards", output=start / "build")
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MkdeckError(f"cannot read settings: {exc}", str(pyproject)) from exc
    table = data.get("tool", {}).get("mkdeck", {})
    root = pyproject.parent
    known = {"deck", "cards", "output", "allow_scripts"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise MkdeckError(
            f"unknown [tool.mkdeck] setting(s): {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known))})",
            str(pyproject),
        )
    deck = table.get("deck")
    if deck is not None and (not isinstance(deck, str) or not deck.strip()):
        raise MkdeckError("[tool.mkdeck] deck must be a non-empty string", str(pyproject))
    return Config(
        root=root,
        cards=root / table.get("cards", "cards"),
        output=root / table.get("output", "build"),
        deck=deck,
        allow_scripts=bool(table.get("allow_scripts", False)),
    )
