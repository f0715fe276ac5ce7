"""Project settings: `[tool.mkdeck]` in a pyproject.toml, checked with their types.

Only a pyproject.toml that has a `[tool.mkdeck]` table is adopted (as ruff does for its own
settings), so a cards folder inside some unrelated Python project is not handed that
project's paths. Given a cards folder, settings are looked up from it upward, and nowhere
else: `mkdeck build ../other/cards` never takes this project's deck name and output. Without
one, from the current folder upward.

Settings are a frozen dataclass: a render is a function of the file and these values, so two
builds with equal settings render a file identically.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import MkdeckError

# Each setting and the type it must have, with how the message names that type.
SETTINGS: dict[str, tuple[type, str]] = {
    "deck": (str, "a string (the root deck name)"),
    "cards": (str, "a string (a folder path)"),
    "output": (str, "a string (a folder, or a path ending in .apkg)"),
    "allow_scripts": (bool, "true or false"),
    "exclude": (list, "a list of strings (globs of paths in the cards folder)"),
    "static": (list, "a list of strings (folders that site-root image paths start from)"),
    "points": (str, 'one of "numbered", "lists", "auto" (where points come from)'),
    "topics": (bool, "true or false (whether a post's headings that ask nothing are notes)"),
    "languages": (
        list,
        'a list of two-letter language codes such as ["en"] (the languages of the sections '
        "a card keeps, of those labelled `## Answer (EN)`)",
    ),
}
# Where points may come from (`points`, here or in a card file's front matter): numbered items
# only, numbered items or bullets ("lists"), or every structure `parse.find_points` reads.
POINT_RULES = ("numbered", "lists", "auto")
# Settings that are lists hold strings.
LISTS = {"exclude", "static", "languages"}
LANGUAGE_CODE = re.compile(r"[A-Za-z]{2}")
TABLE_HEADER = re.compile(r"^\s*\[\s*tool\s*\.\s*mkdeck\s*\]\s*(?:#.*)?$")
ANY_HEADER = re.compile(r"^\s*\[")
# Where `tomllib` says a syntax error is: `(at line 2, column 15)`.
TOML_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)")
KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


@dataclass(frozen=True)
class RenderSettings:
    """The settings a render depends on: with the file's text, all that its output depends on."""

    allow_scripts: bool = False
    points: str = "auto"  # where points come from, unless a card file's front matter says
    topics: bool = True  # a post's plain headings with an answer (`## 虚函数`) are notes
    languages: tuple[str, ...] = ()  # of the sections labelled `(EN)`, those kept (): all


@dataclass(frozen=True)
class Config:
    """What a build needs to know besides the card files themselves.

    `deck` is the root deck name (None: the cards folder's name); `root` is the folder
    the relative paths in `cards` and `output` start from; `source` the settings file.
    """

    root: Path
    cards: Path
    output: Path
    deck: str | None = None
    allow_scripts: bool = False
    source: Path | None = None
    allow_scripts_line: int = 0  # where `allow_scripts` is set in `source`
    exclude: tuple[str, ...] = ()  # globs of card-folder paths that are not cards
    static: tuple[Path, ...] = ()  # where `/images/a.png` may be, besides the cards folder
    points: str = "auto"
    topics: bool = True
    languages: tuple[str, ...] = ()  # lower case
    cards_line: int = 0  # where `cards` is set in `source`

    @property
    def render_settings(self) -> RenderSettings:
        return RenderSettings(
            allow_scripts=self.allow_scripts,
            points=self.points,
            topics=self.topics,
            languages=self.languages,
        )

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


def load_config(cards_dir: Path | None = None, cwd: Path | None = None) -> Config:
    """Settings for a run on `cards_dir` (None: the configured cards folder)."""
    cwd = (cwd or Path.cwd()).resolve()
    start = cards_dir.resolve() if cards_dir is not None else cwd
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            table = _mkdeck_table(candidate)
            if table is not None:
                return _config(candidate, table)
    return Config(root=cwd, cards=cwd / "cards", output=cwd / "build")


def _mkdeck_table(pyproject: Path) -> dict | None:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        # Not ours to judge unless it speaks to mkdeck.
        try:
            mentions = "tool.mkdeck" in pyproject.read_text(encoding="utf-8", errors="replace")
        except OSError:
            mentions = False
        if mentions:
            where = TOML_WHERE.search(str(exc))
            line, column = (int(where.group(1)), int(where.group(2))) if where else (0, 0)
            problem = TOML_WHERE.sub("", str(exc)).strip()
            raise MkdeckError(
                f"cannot read settings: {problem}", str(pyproject), line, column=column
            ) from exc
        return None
    tool = data.get("tool")
    table = tool.get("mkdeck") if isinstance(tool, dict) else None
    if table is None and isinstance(tool, dict):
        # `[tool.mkdek]`: settings the user meant for mkdeck, silently ignored otherwise.
        import difflib  # only a misspelt table needs it

        near = difflib.get_close_matches("mkdeck", [str(name) for name in tool], 1, 0.7)
        if near:
            text = pyproject.read_text(encoding="utf-8").split("\n")
            line = next((i for i, t in enumerate(text, 1) if near[0] in t and "[" in t), 0)
            raise MkdeckError(
                f"`[tool.{near[0]}]` is no table mkdeck reads: name it `[tool.mkdeck]`",
                str(pyproject),
                line,
            )
    return table if isinstance(table, dict) else None


def _config(pyproject: Path, table: dict) -> Config:
    lines = _key_lines(pyproject.read_text(encoding="utf-8").split("\n"))
    for key, value in table.items():
        line = lines.get(key, lines.get("", 0))
        if key not in SETTINGS:
            raise MkdeckError(
                f"unknown setting `{key}` in [tool.mkdeck] (known: {', '.join(SETTINGS)})",
                str(pyproject),
                line,
            )
        kind, described = SETTINGS[key]
        wrong_items = (
            key in LISTS and not all(isinstance(item, str) and item.strip() for item in value)
            if isinstance(value, list)
            else False
        )
        if (
            not isinstance(value, kind)
            or (isinstance(value, str) and not value.strip())
            or wrong_items
            or (key == "points" and value not in POINT_RULES)
            or (key == "languages" and isinstance(value, list) and not _language_codes(value))
        ):
            raise MkdeckError(
                f"`{key}` in [tool.mkdeck] must be {described}, not {_toml(value)}",
                str(pyproject),
                line,
            )
    root = pyproject.parent
    for folder in table.get("static", ()):
        if not (root / folder).resolve().is_relative_to(root.resolve()):
            raise MkdeckError(
                f"`static` folder `{folder}` is outside the project: mkdeck only packs files "
                "from inside it",
                str(pyproject),
                lines.get("static", 0),
            )
    return Config(
        root=root,
        cards=root / table.get("cards", "cards"),
        output=root / table.get("output", "build"),
        deck=table.get("deck"),
        allow_scripts=table.get("allow_scripts", False),
        source=pyproject,
        allow_scripts_line=lines.get("allow_scripts", 0),
        exclude=tuple(table.get("exclude", ())),
        static=tuple(root / folder for folder in table.get("static", ())),
        points=table.get("points", "auto"),
        topics=table.get("topics", True),
        languages=tuple(code.lower() for code in table.get("languages", ())),
        cards_line=lines.get("cards", 0),
    )


def _language_codes(value: list) -> bool:
    """Whether each item is a two-letter language code (`en`, `RU`)."""
    return all(isinstance(code, str) and LANGUAGE_CODE.fullmatch(code) for code in value)


def _key_lines(lines: list[str]) -> dict[str, int]:
    """Line of each key in the `[tool.mkdeck]` table ("" → the table's header)."""
    found: dict[str, int] = {}
    inside = False
    for number, text in enumerate(lines, 1):
        if TABLE_HEADER.match(text):
            inside = True
            found[""] = number
        elif ANY_HEADER.match(text):
            inside = False
        elif inside and (m := KEY.match(text)):
            found.setdefault(m.group(1), number)
    return found


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return f"{type(value).__name__} {value!r}"
