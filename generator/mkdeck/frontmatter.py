"""A card file's front matter: the YAML between leading `---` lines, and where each key is.

Most front matter is a few `key: value` lines (`id: lora-memory`, `tags: [LLM, 显存]`), and
reading those with a YAML parser costs a card file more than all of its checks. So such lines
are read here directly, when what they say is certain: every key and value a plain string
(YAML would read no number, date, boolean or null in it) or a `[…]` list of such strings.
Anything else (quotes, comments, nested blocks, numbers, a key given twice) goes to the YAML
parser, which reads it by the whole of YAML; a test holds the two readings equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import MkdeckError


@dataclass(frozen=True)
class FrontMatter:
    data: dict
    lines: dict[str, int]  # key → the file line it is on
    body: int  # index of the first line after the front matter


def read_front_matter(lines: list[str], rel: str) -> FrontMatter:
    """The YAML between leading `---` lines, where each key is, and the first body line."""
    if not lines or lines[0].strip() != "---":
        return FrontMatter({}, {}, 0)
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        raise MkdeckError("front matter opened with `---` is never closed", rel, 1)
    plain = plain_front_matter(lines, end)
    if plain is not None:
        return FrontMatter(plain[0], plain[1], end + 1)
    data, where = yaml_front_matter(lines, end, rel)
    return FrontMatter(data, where, end + 1)


# `key: value`, the key a word (`id`, `tags`, `sub-deck`) and the value on the same line.
PLAIN_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):[ ]+(\S.*?)[ ]*")
# Plain words YAML reads as something other than a string: booleans and null (YAML 1.1, as
# PyYAML reads it). Numbers, dates and the like start with a digit or a sign: never plain here.
NOT_STRINGS = frozenset(
    "yes Yes YES no No NO true True TRUE false False FALSE on On ON off Off OFF null Null NULL"
    .split()
)  # fmt: skip


def plain_front_matter(lines: list[str], end: int) -> tuple[dict, dict[str, int]] | None:
    """Lines `1:end` read as `key: value` lines of plain strings and `[…]` lists of them, with
    each key's line; None when they are anything else, for the YAML parser to read."""
    data: dict = {}
    where: dict[str, int] = {}
    for i in range(1, end):
        line = lines[i]
        if not line.strip():
            continue
        m = PLAIN_LINE.fullmatch(line)
        if m is None or m.group(1) in data or not _plain_string(m.group(1)):
            return None
        value = m.group(2)
        if value.startswith("["):
            if not value.endswith("]"):
                return None
            inner = value[1:-1].strip()
            items = [item.strip() for item in inner.split(",")] if inner else []
            if not all(_plain_string(item) and not _FLOW.search(item) for item in items):
                return None
            data[m.group(1)] = items
        elif _plain_string(value):
            data[m.group(1)] = value
        else:
            return None
        where[m.group(1)] = i + 1
    return data, where


# What ends or nests a plain string, or starts a comment, in YAML's block context.
_STRUCTURE = re.compile(r":(?: |$)| #|\t")
# What ends a plain string in a `[…]` list (flow context) besides.
_FLOW = re.compile(r"[\[\]{},:#]")


def _plain_string(text: str) -> bool:
    """Whether YAML reads `text`, as a plain scalar, as exactly this string: it starts with a
    letter (so no number, date, sign or indicator), is no boolean or null word, holds nothing
    that would end it, and only characters YAML takes as they are."""
    return (
        text[:1].isalpha()
        and text not in NOT_STRINGS
        and text.isprintable()
        and not _STRUCTURE.search(text)
    )


def yaml_front_matter(lines: list[str], end: int, rel: str) -> tuple[dict, dict[str, int]]:
    """Lines `1:end` read by the YAML parser (safe: data only), with each key's line."""
    import yaml  # only front matter beyond plain `key: value` lines needs it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)("\n".join(lines[1:end]))
    try:  # parsed once: the node tree gives each key's line, and the data is built from it
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        # At the end of the YAML (an unclosed `[`), the last line of it is the one to fix.
        line = min(mark.line + 2, end) if mark is not None else 1
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise MkdeckError(f"invalid YAML front matter: {problem}", rel, line) from exc
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MkdeckError("front matter must be a mapping such as `id: my-card`", rel, 2)
    where = {
        str(key.value): key.start_mark.line + 2
        for key, _ in getattr(node, "value", [])
        if isinstance(key, yaml.ScalarNode)
    }
    return data, where
