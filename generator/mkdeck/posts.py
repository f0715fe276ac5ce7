"""A post: one Markdown file that holds many questions, each of which is a note of its own.

Posts are how much of what people keep is written: a blog post of five numbered questions, a
chapter of an interview book, a README that lists sixty. This module reads a post's headings
and decides what each one is, as data (`Post`), for `mkdeck build` (each question becomes a
note) and for `mkdeck import` (each question becomes a card file) alike:

- a heading **asks** when it ends in `？`/`?` (marks and a link may follow), or opens with a
  question word or a prompt (`什么是…`, `如何…`, `简述…`, `What…`, `Explain…`);
- a heading of the same level and numbering as asking ones is a question too (`**2-4** QA：…`
  beside `**2-3** QA：…？`), and so is a plain **topic** heading at a question's level with an
  answer below it (`## 虚函数`);
- a heading with no text of its own above deeper questions is a **section**: it names the
  questions under it (a tag, and the context of a short title: `GELU › 数学定义`);
- a question's own sub-headings that do not ask are its structure (`### Architecture`), so a
  question answered only in sub-headings is one question;
- the post's **title**, prose before the first question, text after a rule (`***`) and
  **footers** (`## 参考`, `## 欢迎关注…`) are left out, each with its lines and reason.

**The rule that tells a post from a card file**: a file is a post when at least two of its
headings ask, each with an answer below it; any other file holds one question. Front matter
`kind: post` or `kind: card` overrides it, and a file with an `id` in its front matter is a card
file (the id names its one note), as is one whose first `#` heading only labels its question
(`# 题目`, `# Question (EN)`: `parse.LABEL_HEADING`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from .discover import NOT_CARDS, Snapshot, SourceFile, content, decode_source
from .errors import Diagnostic, MkdeckError
from .frontmatter import FrontMatter, read_front_matter
from .newcard import CITATION
from .numbering import NUMBERED_HEADING, POINT_START
from .parse import HEADING, LABEL_HEADING, REFERENCES, is_blank, scan_fences

KINDS = ("post", "card")

# What may follow the question mark of a heading that asks: emphasis, a star or emoji, a
# bracketed remark (`（高频）`), links to a source (`[[src](…)]`).
_TRAILING = r"(?:[\s*_~`]|\[+[^\]]*\]+(?:\([^)]*\))?\]*|[（(][^）)]{0,16}[）)]|[^\w\s])*"
ENDS_ASKING = re.compile(rf"[？?]{_TRAILING}$")
# Words that ask, at the start of a heading (after its number): a question written without
# its question mark is still a question.
ASKING_START = re.compile(
    r"^(?:什么|为什么|为何|怎么|怎样|如何|是否|哪些|哪个|哪种|多少|能否|可否|有何|有哪些|"
    r"简述|请(?!求)|试述|试比较|论述|阐述|说说|说一说|谈谈|讲讲|介绍一下|推导一下|请推导|写出|"
    r"what|why|how|when|which|who|where|is|are|do|does|did|can|could|should|would|will|"
    r"explain|describe|compare|define|derive|discuss|list|write|implement|"
    r"differentiate|distinguish|outline|contrast)(?![a-z])",
    re.IGNORECASE,
)
# Words that ask anywhere in a short Chinese heading (`Transformer 为什么要用 LayerNorm`).
ASKING_INSIDE = re.compile(r"为什么|为何|什么是|是什么|如何|怎么|怎样|哪些|区别|有何|多少|是否")
# Headings over what is no question: references, a sign-off, a list of other posts.
FOOTER = re.compile(
    r"^[*_]*(?:欢迎关注|关注我|往期|推荐阅读|相关阅读|相关文章|扫码|公众号|写在最后|后记|致谢|"
    r"版权|声明|交流群|联系|贡献|许可|更新日志|赞助|about the author|acknowledg|thanks|follow|"
    r"contribut|licen[cs]e|changelog|sponsor|star history|support)",
    re.IGNORECASE,
)
# Headings over prose about the post itself, not a question: left out, with their reason. (A
# summary, `总结`, is the post's content: a topic.)
PREAMBLE = re.compile(
    r"^[*_]*(?:前言|引言|目录|导读|写在前面|introduction|contents|table of contents|preface|toc)"
    r"[*_:：]*$",
    re.IGNORECASE,
)
BOLD_LINE = re.compile(r"^\*\*((?:(?!\*\*).)+)\*\*[ \t]*$|^__((?:(?!__).)+)__[ \t]*$")
# A link to where a question was found, after it: `[[src](…)]`, `[[src]](…)`.
SOURCE_LINK = re.compile(rf"\s*(?:{CITATION.pattern})\s*$")
# A number in bold before a heading's text, and numbers such as `2-3` (chapter 2, question 3).
BOLD_NUMBER = re.compile(r"^\*\*([\dQq][\d.\-]{0,8})\*\*\s*")
DASHED_NUMBER = re.compile(r"^\d{1,3}(?:-\d{1,3})+[ \t]+(?P<rest>.*)$")
# What names a question before its text, once the number is gone: `QA：`, `- `, `问题:`.
QUESTION_LABEL = re.compile(
    r"^(?:(?:QA|Q|问题?|题|第[一二三四五六七八九十\d]{1,3}个?问题)\s*[:：.、]|[-–—:：])\s*",
    re.IGNORECASE,
)
EMPHASIS = re.compile(r"^(\*\*|__|\*)(.+)\1$")
# Inline marks and entities that never belong in a title (`&#x20;` from some exporters).
ENTITY = re.compile(r"&(?:#x?[0-9a-fA-F]+|nbsp);")
# A short title says too little on a card alone: the heading above it is shown before it.
SHORT_TITLE = 8
THEMATIC_BREAK = re.compile(r"^ {0,3}([*_-])(?:[ \t]*\1){2,}[ \t]*$")
# Below this level: a line that is bold as a whole and asks (`**Q1: Explain …**`).
BOLD_LEVEL = 7
# Below that: a numbered list item that asks, its answer indented under it (`1. 为什么…？`).
ITEM_LEVEL = 8


@dataclass(frozen=True)
class Heading:
    index: int  # line index in the file
    level: int  # 1–6; `BOLD_LEVEL` for a bold line, `ITEM_LEVEL` for a list item
    title: str  # without its number, emphasis and entities
    shape: str  # how it is numbered (`1、`, `1.1`, `Q1`), "" when it is not
    asks: bool
    indent: int = 0  # a list item's: the column its answer is indented to


@dataclass(frozen=True)
class PostQuestion:
    """One question of a post: its heading and where its answer ends."""

    key: str  # unique in the post: its title as shown, `(2)` after a repeated one
    title: str  # as the card asks it, with the section above a short one
    heading: int  # the heading's line index
    end: int  # the line index where its answer ends
    topic: bool  # a topic heading (`## 虚函数`), not a question
    sections: tuple[str, ...]  # the sections it stands in, outermost first
    indent: int = 0  # a list item's answer is indented this far: moved to the margin


@dataclass(frozen=True)
class LeftOut:
    first_line: int  # 1-based, inclusive
    last_line: int
    what: str


@dataclass(frozen=True)
class Post:
    """How a file reads: as a post of `questions`, or (`kind` "card") as one question."""

    kind: str
    why: str  # the reason, as `check` says it
    questions: tuple[PostQuestion, ...] = ()
    left_out: tuple[LeftOut, ...] = ()
    sections: tuple[str, ...] = ()


def read_headings(lines: list[str], fenced: list[bool], start: int) -> list[Heading]:
    """The file's headings; below all of them, each line that is bold as a whole and asks or
    is numbered (`**Q1: Explain self-attention.**`); below those, each numbered list item at
    the margin that asks, with its answer indented under it. Many lists write questions so."""
    found = []
    for i in range(start, len(lines)):
        line = lines[i]
        if not fenced[i] and (item := _asking_item(lines, fenced, i)) is not None:
            found.append(item)
            continue
        if fenced[i] or line.lstrip(" ")[:1] not in ("#", "*", "_"):
            continue
        m = HEADING.match(line)
        bold = None if m else BOLD_LINE.match(line)
        raw = m.group(2) if m else (bold.group(1) or bold.group(2)) if bold else None
        if raw is None or is_blank(raw):
            continue
        title, shape = clean_title(raw)
        asks = asking(title)
        if bold and not (shape or asks):
            continue  # bold text, not a question
        found.append(Heading(i, len(m.group(1)) if m else BOLD_LEVEL, title, shape, asks))
    return found


def _asking_item(lines: list[str], fenced: list[bool], i: int) -> Heading | None:
    """The list item at line `i` as a question: numbered at the margin, ending in a question
    mark (an answer's points often open with `如何`), with text indented under it up to the
    next item or heading, and nothing else at the margin."""
    m = POINT_START.match(lines[i])
    if m is None:
        return None
    title, shape = clean_title(lines[i].strip())
    if not ENDS_ASKING.search(title):
        return None
    column, answered = m.end(), False
    for j in range(i + 1, len(lines)):
        line = lines[j]
        if is_blank(line) or (fenced[j] and line[:1] in (" ", "\t")):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent >= min(column, 2):
            answered = True
            continue
        if not (POINT_START.match(line) or HEADING.match(line)):
            return None  # text at the margin: no answer of this item's
        break
    return Heading(i, ITEM_LEVEL, title, shape, True, min(column, 4)) if answered else None


def clean_title(raw: str) -> tuple[str, str]:
    """A heading's text without its number, emphasis and entities, and the shape of its
    number (`1、`, `1.1`, `Q1:`; "" when it has none)."""
    text = _unwrap(SOURCE_LINK.sub("", ENTITY.sub(" ", raw)).strip())
    text = BOLD_NUMBER.sub(r"\1 ", text)  # `**2-3** QA：…`
    numbered = NUMBERED_HEADING.match(text) or DASHED_NUMBER.match(text)
    if numbered is None or not numbered.group("rest").strip():
        return " ".join((QUESTION_LABEL.sub("", text) or text).split()), ""
    rest = numbered.group("rest")
    head = text[: len(text) - len(rest)].strip()
    shape = re.sub(r"\d+", "1", head)
    rest = QUESTION_LABEL.sub("", _unwrap(rest.strip()))
    return " ".join(_unwrap(rest.strip()).split()) or text, shape


def asking(title: str) -> bool:
    """Whether a heading asks: by its question mark, or by the words it opens with (an
    English one with a word after it: `Outline` names a part, `Outline the steps` asks)."""
    if ENDS_ASKING.search(title):
        return True
    opening = ASKING_START.match(title)
    if opening and (not opening.group(0).isascii() or len(title.split()) >= 2):
        return True
    return len(title) <= 60 and bool(ASKING_INSIDE.search(title))


def _unwrap(text: str) -> str:
    """`**加粗的标题**` → `加粗的标题`."""
    m = EMPHASIS.match(text)
    return m.group(2).strip() if m else text


def read_post(
    lines: list[str], fenced: list[bool], front: FrontMatter, known: str | None = None
) -> Post:
    """How a file reads: by its front matter's `kind`, else by the rule (module docstring).
    `known` is how the lock knows it: as a "card" file, which it stays until `kind: post` says
    otherwise (read as a post now, its questions would be new notes), or as a "post", which
    it stays while any heading in it has an answer (down to one question, its note is kept)."""
    headings = read_headings(lines, fenced, front.body)
    kinds = classify(headings, lines, fenced, len(lines))
    asked = [h for h in headings if kinds[h.index] == "question" and h.asks]
    said = front.data.get("kind")
    held = _held_to_one_question(front, known, next((h for h in headings if h.level == 1), None))
    answered = any(kinds[h.index] in ("question", "topic") for h in headings)
    if said in KINDS:
        kind, why = str(said), f"`kind: {said}` in its front matter"
    elif known == "post" and answered and front.data.get("id") is None:
        kind, why = "post", "mkdeck.lock knows it as a post"
    elif len(asked) < 2:
        kind, why = "card", "fewer than two of its headings ask"
    elif held is not None:
        kind, why = (
            "card",
            (
                f"{held} as one question, though {len(asked)} of its headings ask (`kind: post` "
                "in its front matter makes each a note, with new cards)"
            ),
        )
    else:
        kind, why = "post", f"{len(asked)} of its headings ask, each with an answer"
    if kind == "card":
        return Post("card", why)
    named = front.data.get("title")
    root = clean_title(named)[0] if isinstance(named, str) and named.strip() else ""
    return _questions(lines, fenced, front.body, headings, kinds, why, root)


def held_as_card(front: FrontMatter, known: str | None) -> bool:
    """Whether `read_post` reads the file as one question whatever its headings: its front
    matter does not say `kind: post`, and its `id` or the lock holds it to one question
    (`_held_to_one_question`, which its first heading is not needed for). So a build need not
    find its headings (a block parse of the whole file, in a repository of long notes most of
    the time a build spends before its workers start)."""
    return (
        front.data.get("kind") != "post" and _held_to_one_question(front, known, None) is not None
    )


def _held_to_one_question(
    front: FrontMatter, known: str | None, first: Heading | None
) -> str | None:
    """What holds a file to one question however many of its headings ask (None: nothing):
    an `id`, the lock that knows it as a card file, or a first `#` heading that only labels
    its question."""
    if front.data.get("id") is not None:
        return "it has an `id`"
    if known == "card":
        return "mkdeck.lock knows it"
    if first is not None and LABEL_HEADING.match(first.title):
        return "its first heading labels its question (`# 题目`)"
    return None


def classify(
    headings: list[Heading], lines: list[str], fenced: list[bool], total: int
) -> dict[int, str]:
    """Each heading's part: title, section, question, topic, empty (a question without an
    answer), structure (inside an answer), footer, or other (left out)."""
    kinds: dict[int, str] = {}
    if not headings:
        return kinds
    # A numbered point that asks inside the answer of a heading that asks is that answer's.
    ends = _span_ends(headings, total)
    answering = _inside_asking(headings, ends)
    for h in headings:
        if h.level == ITEM_LEVEL and h.index in answering:
            kinds[h.index] = "structure"
    headings = [h for h in headings if h.index not in kinds]
    if not headings:
        return kinds
    ends = _span_ends(headings, total)
    own = _own_text(headings, lines, total)
    asks = {h.index for h in headings if h.asks}
    # Siblings: of the same level and numbering as headings that ask, and not inside the
    # answer of one that asks (`#### 2.1 Prefix LM` under `### 2. 区别是什么？` is its answer).
    shapes = {(h.level, h.shape) for h in headings if h.asks and h.shape}
    asks |= {
        h.index
        for h in headings
        if h.shape and (h.level, h.shape) in shapes and h.index not in answering
    }
    top = min(h.level for h in headings)
    at_top = [h for h in headings if h.level == top]
    for k, h in enumerate(headings):
        below = [o for o in headings[k + 1 :] if o.index < ends[h.index]]
        answered = any(not is_blank(lines[i]) for i in range(h.index + 1, ends[h.index]))
        deeper_asks = any(o.index in asks for o in below)
        if FOOTER.match(h.title) or REFERENCES.match("# " + h.title):
            kinds[h.index] = "footer"
        elif h is headings[0] and len(at_top) == 1 and deeper_asks and h.level < BOLD_LEVEL:
            kinds[h.index] = "title"
        elif deeper_asks and not own[h.index]:
            kinds[h.index] = "section"
        elif deeper_asks and h.index not in asks:  # its own text, then questions of its own
            kinds[h.index] = "topic"
        elif h.index in asks and (h.asks or not PREAMBLE.match(h.title)):
            kinds[h.index] = "question" if answered else "empty"
        elif not own[h.index] and below:
            kinds[h.index] = "section"
        elif PREAMBLE.match(h.title):
            kinds[h.index] = "other"
        elif answered:  # what a post says under a heading is kept: a topic, not lost
            kinds[h.index] = "topic"
        else:
            kinds[h.index] = "other"
    # Inside a question's answer, a heading that does not ask is part of that answer.
    current: Heading | None = None
    for h in headings:
        kind = kinds[h.index]
        if current is not None and h.index >= ends[current.index]:
            current = None
        if kind in ("question", "topic") and current is None:
            current = h
        elif current is not None and (
            kind in ("other", "topic", "section", "empty")
            or (kind == "footer" and REFERENCES.match("# " + h.title))  # its Extra
        ):
            kinds[h.index] = "structure"
        elif current is not None and kind == "question":
            current = h  # a deeper question of its own: the answer above ends here
    return kinds


def _inside_asking(headings: list[Heading], ends: dict[int, int]) -> set[int]:
    """The headings that stand inside the span of a heading above them that asks."""
    inside: set[int] = set()
    open_: list[Heading] = []
    for h in headings:
        open_ = [o for o in open_ if h.index < ends[o.index]]
        if open_:
            inside.add(h.index)
        if h.asks:
            open_.append(h)
    return inside


def _span_ends(headings: list[Heading], total: int) -> dict[int, int]:
    """Where each heading's span ends: at the next heading of its level or above."""
    ends: dict[int, int] = {}
    open_: list[Heading] = []
    for h in headings:
        while open_ and open_[-1].level >= h.level:
            ends[open_.pop().index] = h.index
        open_.append(h)
    for h in open_:
        ends[h.index] = total
    return ends


def _own_text(headings: list[Heading], lines: list[str], total: int) -> dict[int, bool]:
    """Whether each heading has text of its own before the next heading."""
    own = {}
    for k, h in enumerate(headings):
        nxt = headings[k + 1].index if k + 1 < len(headings) else total
        own[h.index] = any(not is_blank(lines[i]) for i in range(h.index + 1, nxt))
    return own


def _questions(
    lines: list[str],
    fenced: list[bool],
    body: int,
    headings: list[Heading],
    kinds: dict[int, str],
    why: str,
    root: str = "",
) -> Post:
    """The post's questions and what it leaves out. `root` is the post's own title from its
    front matter: the context of a short title with no heading above it."""
    left: list[LeftOut] = []
    questions: list[PostQuestion] = []
    used: dict[str, int] = {}
    chain: list[Heading] = []  # the sections and titles above the current heading
    first = headings[0].index if headings else len(lines)
    _leave_out(lines, body, first, "prose before the first question", left)
    asked = [h for h in headings if kinds[h.index] in ("question", "topic")]
    for k, h in enumerate(headings):
        kind = kinds[h.index]
        if kind == "structure":
            continue
        nxt = next(
            (o.index for o in headings[k + 1 :] if kinds[o.index] != "structure"), len(lines)
        )
        chain = [s for s in chain if s.level < h.level]
        if kind in ("question", "topic"):
            chain.append(h)  # a short title below it is shown with it
        if kind in ("section", "title"):
            if kind == "title":
                _leave_out(
                    lines, h.index, nxt, f"the post's title `{h.title}`, and text under it", left
                )
            else:
                _leave_out(lines, h.index + 1, nxt, f"text under a section `{h.title}`", left)
            chain.append(h)
            continue
        if kind == "footer":
            _leave_out(lines, h.index, nxt, f"`{h.title}`, a footer", left)
            continue
        if kind == "other":
            _leave_out(lines, h.index, nxt, f"`{h.title}`, which asks nothing", left)
            continue
        if kind == "empty":
            _leave_out(lines, h.index, nxt, f"`{h.title}`, which has no answer", left)
            continue
        stop = _rule_after(lines, fenced, headings, h.index + 1, nxt)
        last = h is asked[-1]
        after = "footer after the last question" if last else "text after a rule"
        _leave_out(lines, stop, nxt, after, left)
        sections = tuple(s.title for s in chain if kinds[s.index] == "section")
        title = h.title
        parent = chain[-2].title if len(chain) > 1 else root
        if parent and len(title) <= SHORT_TITLE and not h.asks:
            title = f"{parent} › {title}"
        key = title
        used[key] = used.get(key, 0) + 1
        if used[key] > 1:
            key = f"{title} ({used[key]})"
        questions.append(
            PostQuestion(key, title, h.index, stop, kind == "topic", sections, h.indent)
        )
    section_names = tuple(h.title for h in headings if kinds[h.index] == "section")
    return Post("post", why, tuple(questions), tuple(left), section_names)


def _rule_after(
    lines: list[str], fenced: list[bool], headings: list[Heading], start: int, end: int
) -> int:
    """Where an answer in lines `start:end` ends: at a rule (`***`) that only a sign-off
    follows, no heading of the answer's own; else at `end`."""
    for i in range(start, end):
        rule = not fenced[i] and THEMATIC_BREAK.match(lines[i])
        # `---` right under a line of text underlines a heading (setext): no rule.
        own_heading_after = any(i < h.index < end for h in headings)
        if rule and (is_blank(lines[i - 1]) or "-" not in lines[i]) and not own_heading_after:
            return i
    return end


def _leave_out(lines: list[str], start: int, end: int, what: str, out: list[LeftOut]) -> None:
    filled = [i for i in range(start, end) if not is_blank(lines[i])]
    if filled:
        out.append(LeftOut(filled[0] + 1, filled[-1] + 1, what))


def question_text(lines: list[str], front: FrontMatter, question: PostQuestion) -> str:
    """One question of a post as a card file of its own, every line where it is in the post
    (so that each message about it names the post's line): the post's front matter (its tags
    and deck are every question's) without an `id`, blank lines, the question asked as a `#`
    heading, its answer."""
    head = lines[: front.body]
    if "id" in front.lines:  # the post's `id` would name every question the same
        head = [*head]
        head[front.lines["id"] - 1] = ""
    gap = [""] * (question.heading - front.body)
    asked = f"# {question.title}"
    return "\n".join([*head, *gap, asked, *answer_lines(lines, question)])


def answer_lines(lines: list[str], question: PostQuestion) -> list[str]:
    """A question's answer as written below its heading; a list item's moved to the margin."""
    answer = lines[question.heading + 1 : question.end]
    if not question.indent:
        return answer
    cut = question.indent
    return [line[min(cut, len(line) - len(line.lstrip(" "))) :] for line in answer]


# --- the stage: a snapshot's posts, each split into its questions ------------------------------

# A line that may be a question's heading (a list item's only when it ends in `?`/`？`): a
# file with fewer than two is no post, and most card files are told so without being decoded.
_HEADING_LIKE = re.compile(rb"\n {0,3}(?:#{1,6}[ \t]|\*\*|__)")  # searched from a `\n`: fast
_ASKING_END = re.compile(rb"(?:\?|\xef\xbc\x9f)[ \t*]*(?=\r?\n|$)")
_NUMBERED = re.compile(rb"\d{1,3}\D")


def _may_be_post(data: bytes) -> bool:
    """Whether a file has two lines that may be questions' headings: headings, bold lines,
    or numbered items that end in a question mark. Most card files have one `#` heading, and
    are told at once."""
    found = len(_HEADING_LIKE.findall(b"\n" + data))
    if found >= 2:
        return True
    for m in _ASKING_END.finditer(data):
        start = data.rfind(b"\n", 0, m.start()) + 1
        found += bool(_NUMBERED.match(data, start))
        if found >= 2:
            return True
    return False


@dataclass(frozen=True, slots=True)
class CutPost:
    """A post cut into its questions: a function of its bytes, its path, how the lock knows it
    and the `topics` setting (`cut_key`), which a rebuild may look up instead of reading the
    post again."""

    questions: tuple[tuple[str, bytes], ...]  # each key, and the question as a card file
    reading: tuple[Diagnostic, ...]  # how it was read (`check`)
    said: tuple[Diagnostic, ...]  # what every build says of it
    topics: int  # of its questions, those a topic heading names


def cut_key(lock_says: str | None, topics: bool) -> str:
    """What a post's cut depends on besides its bytes and path."""
    return f"{lock_says or ''}|{int(topics)}"


# A file to look at as a post: its path, its bytes, how the lock knows it, the `topics`
# setting, and whether to say why a file is one question (`split_posts`).
PostJob = tuple[str, bytes, str | None, bool, bool]
# What looking at one gives: the post cut into its questions; why it is one question; or None,
# when it cannot be read as text (its read says why).
Looked = CutPost | str | None


def look_at(job: PostJob) -> Looked:
    """A file read as a post: a pure function of the job, so many are looked at in workers."""
    rel, data, lock_says, topics, explain = job
    read = _read_file(data, rel, lock_says, explain)
    if read is None:
        return None
    if read[0].kind == "card":
        return read[0].why
    return _cut(*read, rel, topics)


def _look_at_each(jobs: list[PostJob]) -> Iterable[Looked]:
    return map(look_at, jobs)


def split_posts(
    snap: Snapshot,
    known: Callable[[str], str | None],
    topics: bool = True,
    settled: Callable[[str, str], bool] = lambda rel, data_hash: False,
    cut_before: Callable[[str, str, str], CutPost | None] = lambda rel, data_hash, key: None,
    explain: bool = True,
    look: Callable[[list[PostJob]], Iterable[Looked]] = _look_at_each,
) -> Split:
    """The snapshot with each post replaced by its questions: one source each, named
    `post#question` (which keys its lock entry), its text that question alone, on the lines it
    has in the post. `known(rel)`: how the lock knows this file, "card" or "post" (None: not
    at all), as which it stays (read the other way, its cards would get new identities).
    `topics` False: a post's headings that ask nothing are left out, and `check` says so.
    `settled(rel, data_hash)`: the last build read this file, with these bytes, as a card
    file (a rebuild's common case, not looked at again: the rule is a function of the bytes).
    `cut_before(rel, data_hash, key)`: the post with these bytes as an earlier build cut it
    under `cut_key` (None: not known), taken as it is. `explain` False: a file that is one
    question whatever its headings say (`held_as_card`) is taken as one without reading them,
    and not said why (only `check` says how each file was read). `look`: `look_at` each file
    that may be a post, in order (a build looks at many in workers).

    A file that cannot be read as text is left as it is: reading it says what is wrong."""
    # First what is known of each file, and the files to look at; then each file in order.
    found: list[tuple[SourceFile, tuple[bytes | None, str] | Diagnostic, str, bool, Looked | int]]
    found = []
    jobs: list[PostJob] = []
    for source, file in zip(snap.sources, snap.files, strict=True):
        if isinstance(file, tuple) and settled(source.rel, file[1]):  # (never a README)
            found.append((source, file, "", False, None))
            continue
        readme = source.rel.rpartition("/")[2].rpartition(".")[0].lower() in NOT_CARDS
        lock_says = None if readme else known(source.rel)
        key = cut_key(lock_says, topics)
        cut = cut_before(source.rel, file[1], key) if isinstance(file, tuple) else None
        if cut is not None:
            found.append((source, file, key, readme, cut))
            continue
        file, data = _bytes_of(source, file)
        if data is None or not (lock_says == "post" or _may_be_post(data)):
            found.append((source, file, key, readme, None))
            continue
        found.append((source, file, key, readme, len(jobs)))
        jobs.append((source.rel, data, lock_says, topics, explain))
    looked = list(look(jobs)) if jobs else []

    sources: list[SourceFile] = []
    files: list[tuple[bytes | None, str] | Diagnostic] = []
    skipped = list(snap.skipped)
    said: list[Diagnostic] = []
    reading: list[Diagnostic] = []
    cuts: dict[str, tuple[str, str, CutPost]] = {}
    fresh: set[str] = set()
    for source, file, key, readme, outcome in found:
        if isinstance(outcome, int):
            outcome = looked[outcome]
            if isinstance(outcome, CutPost):
                fresh.add(source.rel)
        if not isinstance(outcome, CutPost):
            if readme:
                why = "a README describes its folder: not a card"
                skipped.append(Diagnostic(source.rel, 0, why, "note"))
                continue
            if outcome is not None and not outcome.startswith("fewer"):
                reading.append(Diagnostic(source.rel, 0, f"one question: {outcome}", "note"))
            sources.append(source)
            files.append(file)
            continue
        assert isinstance(file, tuple)  # (a post was read from its bytes)
        cuts[source.rel] = (file[1], key, outcome)
        reading += outcome.reading
        said += outcome.said
        for question, data in outcome.questions:
            sources.append(SourceFile(source.file, f"{source.rel}#{question}", source.subdecks))
            files.append((data, hashlib.sha256(data).hexdigest()))
    split = replace(snap, sources=tuple(sources), files=tuple(files), skipped=tuple(skipped))
    topic_count = sum(cut.topics for _, _, cut in cuts.values())
    return Split(split, said, reading, len(cuts), topic_count, cuts, frozenset(fresh))


def _bytes_of(
    source: SourceFile, file: tuple[bytes | None, str] | Diagnostic
) -> tuple[tuple[bytes | None, str] | Diagnostic, bytes | None]:
    """The file with its bytes, read now when they were not, and the bytes (None: the file
    cannot be read, or changed since it was found: reading it says so)."""
    if not isinstance(file, tuple):
        return file, None
    try:
        data = content(source, file)
    except MkdeckError as exc:
        return exc.diagnostic, None
    return (data, file[1]), data


def _cut(read: Post, lines: list[str], front: FrontMatter, rel: str, topics: bool) -> CutPost:
    """The post's questions, each as a card file of its own, and what is said of it."""
    if not topics:
        read = _without_topics(read, lines)
    topical = sum(q.topic for q in read.questions)
    n = len(read.questions)
    count = f"{n} question{'s' * (n != 1)}" + (f" ({topical} topics)" if topical else "")
    reading = [Diagnostic(rel, 0, f"a post of {count}: {read.why}", "note")]
    reading += [
        Diagnostic(rel, part.first_line, f"left out{_lines(part)}: {part.what}", "note")
        for part in read.left_out
    ]
    said = []
    if not read.questions:
        why = "read as a post, but none of its headings asks a question with an answer"
        said.append(Diagnostic(rel, 0, why, "warning"))
    questions = tuple(
        (question.key, question_text(lines, front, question).encode("utf-8"))
        for question in read.questions
    )
    return CutPost(questions, tuple(reading), tuple(said), topical)


@dataclass(frozen=True)
class Split:
    """What `split_posts` gives: the sources, what every build says about them, what `check`
    says of how each file was read, how many posts there are and how many topics they hold."""

    snap: Snapshot
    said: list[Diagnostic]
    reading: list[Diagnostic]
    posts: int
    topics: int = 0  # of the questions, those a topic heading names (`## 虚函数`)
    # Each post by path: the hash of its bytes, its `cut_key` and its cut; those cut now, and
    # not taken from an earlier build (`cut_before`).
    cuts: dict[str, tuple[str, str, CutPost]] = field(default_factory=dict)
    cut_now: frozenset[str] = frozenset()


def _without_topics(read: Post, lines: list[str]) -> Post:
    """The post without its topics (`topics = false`): each is left out, with its lines."""
    gone: list[LeftOut] = []
    for q in read.questions:
        if q.topic:
            _leave_out(lines, q.heading, q.end, f"`{q.title}`, a topic (`topics = false`)", gone)
    kept = tuple(q for q in read.questions if not q.topic)
    left = tuple(sorted([*read.left_out, *gone], key=lambda part: part.first_line))
    return replace(read, questions=kept, left_out=left)


def _lines(part: LeftOut) -> str:
    if part.last_line == part.first_line:
        return ""
    return f" (lines {part.first_line}–{part.last_line})"


def _read_file(
    data: bytes, rel: str, known: str | None, explain: bool = True
) -> tuple[Post, list[str], FrontMatter] | None:
    """How a file reads, with its lines and front matter; None: it cannot be read as text
    (its read says why). `explain` False: a file `held_as_card` is not read further."""
    try:
        lines = decode_source(data, rel).split("\n")
        front = read_front_matter(lines, rel)
        if not explain and held_as_card(front, known):
            return Post("card", "held to one question"), lines, front
        fenced = scan_fences(lines, front.body, rel)
    except MkdeckError:
        return None
    return read_post(lines, fenced, front, known), lines, front
