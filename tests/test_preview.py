"""`mkdeck preview`, opened in headless Chromium at a phone's width, as a reviewer looks at it:
every formula typeset, no card wider than the screen, revealed code in its own colours, and
text, clozes, links, inline code and the footer readable (WCAG AA, 4.5:1) by day and night.

The browser is Debian's `chromium`, driven by Playwright; nothing downloads a browser. Without
Chromium these tests skip with the command that installs it, except in CI (`CI` set), where
`.ci/run` installs it and a skip would hide a failure, so they fail instead.
"""

from __future__ import annotations

import pytest

from helpers import chromium, run, write_cards

CHROMIUM = chromium()
sync_api = pytest.importorskip("playwright.sync_api")

WIDE = r"""# 宽内容：注意力公式、代码和表格？

链接 [Anki](https://apps.ankiweb.net) 和行内代码 `std::vector<int>`。

1. 公式：$\mathrm{Attention}(Q,K,V)=\mathrm{softmax}\left(\frac{QK^\top}{\sqrt{d_k}}\right)V
   \quad Q\in\mathbb{R}^{n\times d}$
2. 代码写法：

   ```python
   def attention(q, k, v, mask=None, dropout=None, scale=None, training=True, weights=False):
       return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1) @ v
   ```
3. 展示公式：
   $$
   \mathcal{L} = -\mathbb{E}\left[\log\sigma\left(\beta\log
   \frac{\pi_\theta(y_w|x)}{\pi_{\text{ref}}(y_w|x)}
   -\beta\log\frac{\pi_\theta(y_l|x)}{\pi_{\text{ref}}(y_l|x)}\right)\right]
   $$
4. 对比：长度为 $m - n$. 然后 $\sum_{i=1}^{n} x_i$ 见下表，$\boldsymbol{W}$、$\cancel{x}$、
   $\color{red}{y}$、$\bbox[2px]{z}$、$\enclose{circle}{u}$

| 方法 | 显存占用（训练时） | 计算量 | 通信量 | 实现 `torch.distributed.fsdp` |
| --- | --- | --- | --- | --- |
| 数据并行 | 每卡完整副本 | 不变 | 梯度 all-reduce | `DistributedDataParallel` |

```python
for step in range(10):
    print(step)
```
"""

CONTRAST = """
(selector) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ground = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  return [...document.querySelectorAll(selector)].map((el) => {
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(ground(el));
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  });
}
"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("preview")
    (root / "pyproject.toml").write_text('[tool.mkdeck]\ndeck = "Test"\n', "utf-8")
    write_cards(root, {"wide.md": WIDE})
    result = run(["preview"], root)
    assert result.exit_code == 0, result.stderr
    assert "Preview of 4 cards: build/preview/index.html" in result.stdout
    with sync_api.sync_playwright() as playwright:
        # Classic scrollbars, as Anki desktop shows them: headless Chromium hides them by
        # default, and a scrollbar that cannot show is one a test cannot find.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox"],
            ignore_default_args=["--hide-scrollbars"],
        )
        tab = browser.new_page(viewport={"width": 390, "height": 844})
        tab.goto((root / "build" / "preview" / "index.html").as_uri())
        tab.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
        tab.evaluate("MathJax.startup.promise")
        yield tab
        browser.close()


def _night(page, on: bool) -> None:
    button = page.locator("#pv-theme")
    if (button.inner_text() == "Night") == on:
        button.click()


def test_every_formula_is_typeset(page):
    cards = page.locator(".card")
    assert cards.count() == 8  # 4 cards, front and back
    text = "\n".join(cards.all_inner_texts())
    assert "\\(" not in text and "\\[" not in text and "$" not in text
    assert page.locator("mjx-merror, [data-mjx-error]").count() == 0
    # Each card shows the inline formula and, but for its hidden part, the display one.
    assert page.locator(".card mjx-container").count() >= 12


@pytest.mark.parametrize("night", [False, True])
def test_no_card_is_wider_than_the_phone(page, night):
    _night(page, night)
    widths = page.evaluate(
        "[...document.querySelectorAll('.pv-side .card')]"
        ".map(c => [c.scrollWidth, c.clientWidth, c.getBoundingClientRect().width])"
    )
    assert widths and all(scroll <= client <= 390 for scroll, client, _ in widths), widths


@pytest.mark.parametrize("night", [False, True])
def test_no_formula_shows_a_scrollbar(page, night):
    """A short inline formula flows in its line (no box, so it sits on the baseline and its
    glyphs may stick out); a long one scrolls in its box, without a bar under it."""
    _night(page, night)
    spans = page.evaluate(
        "[...document.querySelectorAll('.pv-side .card span.math')].map(s => [s.className,"
        " getComputedStyle(s).display, s.offsetHeight - s.clientHeight, s.scrollWidth,"
        " s.clientWidth])"
    )
    short = [s for s in spans if s[0] == "math"]
    wide = [s for s in spans if s[0] == "math wide"]
    assert len(short) >= 10 and all(display == "inline" for _, display, *_ in short), spans
    assert wide and all(display == "inline-block" for _, display, *_ in wide), spans
    assert all(bar == 0 for _, _, bar, _, _ in wide), wide  # no scrollbar's height
    assert all(scroll > client for *_, scroll, client in wide), wide  # and it does scroll


def test_the_page_fits_the_window_it_is_opened_in(page):
    """Opened on the phone itself (a 390 px window), nothing is clipped at the right edge."""
    page_width, window = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert page_width <= window, (page_width, window)
    right = page.evaluate(
        "Math.max(...[...document.querySelectorAll('.pv-side')]"
        ".map(s => s.getBoundingClientRect().right))"
    )
    assert right <= window


def test_revealed_code_keeps_the_highlighters_colours(page):
    _night(page, False)
    revealed = page.locator(".cloze .highlight .k").first
    plain = page.locator(".extra .highlight .k").first
    style = "el => [getComputedStyle(el).color, getComputedStyle(el).fontWeight]"
    assert revealed.evaluate(style) == plain.evaluate(style)
    cloze_text = page.locator(".cloze .highlight pre").first.evaluate(
        "el => getComputedStyle(el).fontWeight"
    )
    assert cloze_text == "400"


@pytest.mark.parametrize("night", [False, True])
def test_text_clozes_links_code_and_footer_are_readable(page, night):
    _night(page, night)
    for selector in (
        ".card .question",
        ".card .context",
        ".card li",
        ".card .cloze",
        ".card a",
        ".card p > code",
        ".card .source",
    ):
        ratios = page.evaluate(CONTRAST, selector)
        assert ratios, selector
        assert min(ratios) >= 4.5, (selector, night, min(ratios))
