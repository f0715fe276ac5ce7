"""Where the line scanner and CommonMark used to disagree, and the dialect's delimiters: each
case built and imported into real Anki, read off the cards as Anki renders them."""

from __future__ import annotations

import pickle
from pathlib import Path

from helpers import build_deck, run, shown, write_cards

FENCE_AFTER_POINTS = """\
# 两个要点？

1. 甲：一
2. 乙：二

```python
x = 1
```
"""


def test_a_fence_at_the_margin_after_the_points_is_the_extra(deck):
    first, second = deck({"a.md": FENCE_AFTER_POINTS})
    for card in (first, second):
        assert "x = 1" not in shown(card.question())  # on no card's front
        extra = card.answer().split('class="extra"', 1)[1]
        assert "x" in shown(extra) and 'class="highlight"' in extra
    assert "x = 1" not in shown(second.answer().split('class="extra"')[0])


INDENTED_CODE = """\
# 缩进的代码？

围栏这样开头（缩进四格，是代码，不是围栏）：

    ```python

1. 甲：一
2. 乙：二
"""


def test_a_fence_inside_an_indented_code_block_is_code(tmp_path, deck):
    cards = deck({"a.md": INDENTED_CODE})
    assert len(cards) == 2
    front = cards[0].question()
    assert "<pre><code>```python\n</code></pre>" in front


ESCAPES = """\
# 反斜杠？

1. 换行后：$a \\\\$
2. 转义的反斜杠：\\\\$x$
3. 美元：\\$5 和 \\$10
"""


def test_backslashes_before_a_dollar_are_counted(deck):
    cards = deck({"a.md": ESCAPES})
    answers = [c.answer() for c in cards]
    assert "\\(a \\\\\\)" in answers[0]  # `$a \\$`: a formula ending in TeX's `\\`
    assert "\\(x\\)" in answers[1]  # `\\$x$`: a backslash, then a formula
    assert "$5 和 $10" in shown(answers[2])  # `\$`: dollars as text


def test_a_mark_never_closes_inside_a_code_span(deck):
    [card] = deck({"a.md": "# 标记？\n\n1. ==x `a==b` y== z\n"})
    front = shown(card.question())
    assert front.endswith("[...] z")
    assert "a==b" not in front and "y==" not in front
    assert "x a==b y" in shown(card.answer())


def test_a_pickle_in_the_build_folder_is_never_loaded(tmp_path):
    """A repository that ships a crafted `build/` runs no code on `check` or `build`."""
    cards = write_cards(tmp_path, {"a.md": "# A？\n\n1. 一\n"})
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    for name in ("build.pickle", "state.pickle"):
        crafted = tmp_path / "build" / ".mkdeck-cache" / name
        crafted.parent.mkdir(parents=True, exist_ok=True)
        crafted.write_bytes(pickle.dumps(Payload()))
    assert run(["check", "cards"], tmp_path).exit_code == 0
    assert run(["build", "cards", "-o", "build/T.apkg"], tmp_path).exit_code == 0
    assert not build_deck(cards).errors
    assert not marker.exists()
