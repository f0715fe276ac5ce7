"""Notes you did not write: hostile card files of every family, built, imported into real Anki,
and each card's front and back opened in headless Chromium with detectors installed before any
card script runs. Nothing may run, navigate or fetch; legitimate HTML still shows as written.

The browser is Debian's `chromium`, driven by Playwright (see test_preview.py for the skip).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from helpers import PNG, build_deck, chromium, import_package, run, shown, write_cards

CHROMIUM = chromium()
sync_api = pytest.importorskip("playwright.sync_api")

# One vector a row: (family, HTML or Markdown as a point's text would carry it).
VECTORS = [
    ("encoded scheme", '<iframe src="&#106;avascript:alert(2)"></iframe>'),
    ("encoded scheme", '<a href="javascript&colon;alert(1)">a</a>'),
    ("encoded scheme", '<a href="jav&NewLine;ascript:alert(1)">b</a>'),
    ("encoded scheme", '<a href="jav\tascript:alert(1)">c</a>'),
    ("encoded scheme", '<form action="javascript:alert(1)"><button>d</button></form>'),
    ("encoded scheme", '<button formaction="javascript:alert(1)">e</button>'),
    ("encoded scheme", '<svg><animate attributeName="href" values="javascript:alert(1)"/></svg>'),
    ("encoded scheme", '<svg><set attributeName="onload" to="alert(1)"/></svg>'),
    ("encoded scheme", '<embed src="javascript:alert(1)">'),
    ("encoded scheme", '<math href="javascript:alert(1)">f</math>'),
    ("srcdoc", '<iframe srcdoc="<img src=x onerror=parent.alert(6)>"></iframe>'),
    ("parsed otherwise", "<!--><img src=x onerror=alert(3)>-->"),
    ("parsed otherwise", "<!-- --!><img src=x onerror=alert(3)>-->"),
    ("parsed otherwise", "<div><![CDATA[><img src=x onerror=alert(4)>]]></div>"),
    ("parsed otherwise", "<svg><style><img src=x onerror=alert(4)></style></svg>"),
    ("parsed otherwise", "<math><style><img src=x onerror=alert(4)></style></math>"),
    ("parsed otherwise", "<div><img src=x onerror=alert(5)//"),
    ("data frame", '<iframe src="data:text/html,<script>parent.alert(1)</script>"></iframe>'),
    ("data frame", '<object data="data:text/html,<script>alert(1)</script>"></object>'),
    ("data frame", '<embed src="data:text/html,<script>alert(1)</script>">'),
    ("navigation", '<meta http-equiv="refresh" content="0;url=https://example.org/">'),
    ("navigation", '<form action="https://example.org/"><button>g</button></form>'),
    ("navigation", '<base href="https://example.org/">'),
    ("request", '<link rel="stylesheet" href="https://example.org/x.css">'),
    ("request", "<style>@import url(https://example.org/y.css);</style>"),
    ("request", '<span style="background:url(https://example.org/z.png)">h</span>'),
    ("request", '<video poster="https://example.org/p.png"></video>'),
    ("request", '<iframe src="https://example.org/"></iframe>'),
    ("script", "<script>alert(1)</script>"),
    ("script", '<img src="x" onerror="alert(1)">'),
    ("markdown", "[i](javascript:alert(1))"),
    ("markdown", "![j](javascript:alert(1))"),
    ("markdown", "[k](data:text/html,<script>alert(1)</script>)"),
    ("markdown", "<file:///etc/passwd>"),
]

DETECTORS = """
for (const name of ["alert", "confirm", "prompt", "print"]) {
  window[name] = (...args) => window.__mkdeck_hit(name);
}
// (eval is left alone: the browser driver itself evaluates through it)
document.addEventListener("submit", () => window.__mkdeck_hit("submit"), true);
"""


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update"],
        )
        yield chromium
        chromium.close()


def _open(browser, page_file: Path) -> dict:
    """Open a page of card sides, click everything on it, and say what ran, navigated and
    fetched."""
    hits: list[str] = []
    requests: list[str] = []
    navigations: list[str] = []
    context = browser.new_context()
    context.expose_binding("__mkdeck_hit", lambda _source, name: hits.append(name))
    context.add_init_script(DETECTORS)
    page = context.new_page()
    page.on("dialog", lambda dialog: (hits.append("dialog"), dialog.dismiss()))
    page.on(
        "request",
        lambda r: r.url.startswith(("file:", "data:", "about:")) or requests.append(r.url),
    )
    page.goto(page_file.as_uri())
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    page.evaluate(
        """() => document.querySelectorAll("*").forEach(e =>
             e.dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true})))"""
    )
    page.wait_for_timeout(300)
    context.close()
    return {"ran": hits, "fetched": requests, "navigated": navigations}


def _card_page(collection, folder: Path, cids: list[int]) -> Path:
    """These cards' fronts and backs as Anki renders them, on one page."""
    sides = []
    for cid in cids:
        card = collection.get_card(cid)
        sides += [card.question(), card.answer()]
    page = folder / f"cards-{cids[0]}-{len(cids)}.html"
    body = "".join(f"<div class='card'>{side}</div>" for side in sides)
    page.write_text(f"<!doctype html><html><body>{body}</body></html>", "utf-8")
    return page


def test_no_hostile_card_runs_navigates_or_fetches(tmp_path, collection, browser):
    files = {
        f"v{i:02d}.md": f"# 向量 {i}？\n\n1. 点：{vector}\n2. 另一点\n\n{vector}\n"
        for i, (_, vector) in enumerate(VECTORS)
    }
    files["x"] = PNG[:16]  # an image by its bytes that no browser can show: onerror would fire
    files["<img src=x onerror=alert(8)>.md"] = "# 文件名？\n\n1. 点\n"
    files["<svg onload=alert(9)>/a.md"] = "# 文件夹？\n\n1. 点\n"
    files["title.md"] = (
        "# 标题 <img src=x onerror=alert(10)>？\n\n上下文 <img src=x onerror=alert(11)>\n\n1. 点\n"
    )
    cards = write_cards(tmp_path, files)
    report = build_deck(cards)
    assert not report.errors, [str(d) for d in report.errors]
    warned = {d.path for d in report.warnings}
    import_package(collection, report.package)
    # Each vector is named as removed at its line, or is no HTML at all and shows as text.
    for i, (_, vector) in enumerate(VECTORS):
        if f"v{i:02d}.md" not in warned:
            [nid] = collection.find_notes(f'"Source:v{i:02d}.md"')
            assert vector[:8] in shown(collection.get_note(nid)["Extra"]), vector
    assert collection.note_count() == len(files) - 1  # all but the image `x`
    (tmp_path / "pages").mkdir()
    cids = list(collection.find_cards(""))
    if any(_open(browser, _card_page(collection, tmp_path / "pages", cids)).values()):
        seen = {}  # which cards: each on a page of its own
        for cid in cids:
            found = _open(browser, _card_page(collection, tmp_path / "pages", [cid]))
            if any(found.values()):
                seen[collection.get_card(cid).note()["Source"]] = found
        assert seen == {}


def test_file_and_folder_names_show_as_text(tmp_path, deck):
    cards = deck({"<b>粗</b> & 名.md": "# 文件名？\n\n1. 点\n"})
    back = cards[0].answer()
    assert "&lt;b&gt;粗&lt;/b&gt; &amp; 名.md" in back and "<b>粗</b>" not in back


@pytest.mark.parametrize(
    "tex",
    [
        r"\href{javascript:alert(7)}{x^2}",
        r"\mmlToken{mi}[href='javascript:alert(1)']{x}",
        r"\style{background:url(https://example.org/a.png)}{x}",
        r"\class{foo}{x}",
        r"\cssId{bar}{x}",
        r"\bbox[background:url(https://example.org/b.png)]{x}",
        r"\require{html}",
        r"\url{javascript:alert(2)}",
        r"\enclose{circle}[background:url(https://example.org/c.png)]{x}",
        r"x + \data{mjx=1}{y}",
    ],
)
def test_tex_that_makes_links_or_styles_is_an_error_at_its_line(tmp_path, tex):
    write_cards(tmp_path, {"t.md": f"# 公式？\n\n1. 点：${tex}$\n"})
    result = run(["check", "cards"], tmp_path)
    assert result.exit_code == 1
    assert "cards/t.md:3: error:" in result.stderr


def test_tex_links_to_the_web_stay(deck):
    [card] = deck({"t.md": "# 链接？\n\n1. 点：$\\href{https://example.org}{x^2}$\n"})
    assert "\\href{https://example.org}{x^2}" in card.answer()


# Legitimate HTML of real notes: (Markdown, what the card's HTML must hold).
KEPT = [
    ('<font color="red">红</font>', '<font color="red">红</font>'),
    (
        '<span style="color:#c00;font-weight:bold">粗红</span>',
        'style="color:#c00;font-weight:bold"',
    ),
    (
        "<details><summary>答案</summary>藏着</details>",
        "<details open><summary>答案</summary>藏着</details>",  # open: the back is the answer
    ),
    ("x<sup>2</sup> 和 H<sub>2</sub>O", "x<sup>2</sup> 和 H<sub>2</sub>O"),
    (
        "<kbd>Ctrl</kbd> <u>下划线</u> <mark>标记</mark>",
        "<kbd>Ctrl</kbd> <u>下划线</u> <mark>标记</mark>",
    ),
    ("<center>居中</center>", "<center>居中</center>"),
    ("行一<br>行二", "行一<br>行二"),
    ('<a href="https://example.org/a">链接</a>', '<a href="https://example.org/a">链接</a>'),
    (
        '<img src="https://example.org/a.png" width="100">',
        'src="https://example.org/a.png" width="100"',
    ),
]


@pytest.mark.parametrize(("markdown", "expected"), KEPT)
def test_legitimate_html_still_renders_as_written(deck, markdown, expected):
    [card] = deck({"k.md": f"# 保留？\n\n1. 甲：一\n\n{markdown}\n"})
    assert expected in card.answer()


def test_typora_images_are_packed_with_their_zoom(deck):
    [card] = deck(
        {"i.md": '# 图？\n\n1. 甲：一\n\n<img src="a.png" style="zoom:50%;" />\n', "a.png": PNG}
    )
    back = card.answer()
    assert 'style="zoom:50%"' in back and 'src="mkdeck-' in back
    assert "a.png" not in shown(back)


def test_the_detectors_see_what_a_card_with_scripts_does(tmp_path, collection, browser):
    """The control: with `allow_scripts = true` nothing is removed, and the same browser sees
    the script run, the page fetch and the link navigate."""
    from mkdeck.build import build
    from mkdeck.config import Config

    vectors = '<img src="x" onerror="alert(1)"> <a href="https://example.org/">k</a>'
    cards = write_cards(tmp_path, {"c.md": f"# 控制？\n\n1. 点：{vectors}\n", "x": PNG[:16]})
    config = Config(tmp_path, cards, tmp_path / "build", deck="T", allow_scripts=True)
    report = build(cards, tmp_path / "c.apkg", config)
    import_package(collection, report.package)
    (tmp_path / "pages").mkdir()
    found = _open(
        browser, _card_page(collection, tmp_path / "pages", list(collection.find_cards("")))
    )
    assert "alert" in found["ran"] and found["navigated"]


def test_allow_scripts_is_said_on_every_build_with_where_it_was_set(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mkdeck]\ndeck = "T"\nallow_scripts = true\n', encoding="utf-8"
    )
    write_cards(tmp_path, {"s.md": "# 脚本？\n\n1. 点：<script>alert(1)</script>\n"})
    for _ in range(2):  # the second build is up to date, and says it again
        result = run(["build"], tmp_path)
        assert result.exit_code == 0, result.stderr
        assert "pyproject.toml:3: warning: `allow_scripts = true`: 1 card file keeps script" in (
            result.stderr
        )
        assert "cards/s.md:3: note: kept HTML a card may otherwise not carry" in result.stderr


def test_a_card_file_linked_from_outside_is_not_read(tmp_path):
    outside = tmp_path / "elsewhere.md"
    outside.write_text("# 外面的秘密？\n\n1. 点：不该进卡组\n", encoding="utf-8")
    cards = write_cards(tmp_path, {"a.md": "# 里面？\n\n1. 点\n"})
    (cards / "linked.md").symlink_to(outside)
    report = build_deck(cards)
    assert [str(d) for d in report.warnings] == [
        "linked.md: warning: a link to a file outside the cards folder: not read"
    ]
    assert report.notes == 1


def test_an_embed_found_by_name_through_a_link_out_is_refused(tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(PNG)
    cards = write_cards(tmp_path, {"a.md": "# 嵌入？\n\n1. 点：![[secret.png]]\n"})
    (cards / "sub").mkdir()
    (cards / "sub" / "secret.png").symlink_to(secret)
    report = build_deck(cards)
    assert [str(d) for d in report.warnings] == [
        "a.md:3: warning: image `secret.png` is outside the cards folder; mkdeck only packs "
        "files from inside it (the card shows a placeholder)"
    ]
    assert report.media == 0 and report.cards == 1


def test_images_through_linked_folders_and_files_are_found_where_they_really_are(tmp_path):
    """Many images are resolved folder by folder (`RealPaths`), each folder once: the file
    found is the one `Path.resolve` names, through a linked folder, a linked file, `..`, a
    missing file, a link to a link; and an image reached through a linked folder that leads
    outside the cards folder is refused."""
    from mkdeck.media import RealPaths

    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "out.png").write_bytes(PNG)
    cards = write_cards(tmp_path, {"img/a.png": PNG, "sub/b.md": "# B？\n\n1. 点\n"})
    (cards / "linked").symlink_to(cards / "img")
    (cards / "away").symlink_to(tmp_path / "outside")
    (cards / "img" / "file-link.png").symlink_to(cards / "img" / "a.png")
    (cards / "img" / "link-to-link.png").symlink_to(cards / "img" / "file-link.png")
    real = RealPaths()
    for written in [
        "img/a.png",
        "linked/a.png",
        "linked/../img/a.png",
        "sub/../linked/file-link.png",
        "linked/link-to-link.png",
        "away/out.png",
        "linked/missing.png",
        "nowhere/missing.png",
        "img/..",
    ]:
        for _ in range(2):  # (the second time from what it found of the folder)
            assert real(cards / written) == (cards / written).resolve(), written
    images = ["linked/a.png", "linked/link-to-link.png", "away/out.png"]
    body = "\n".join(f"{k}. 图 {k}：![](../{src})" for k, src in enumerate(images, 1))
    (cards / "sub" / "b.md").write_text(f"# B？\n\n{body}\n", "utf-8")
    report = build_deck(cards)
    assert [str(d) for d in report.warnings] == [
        "sub/b.md:5: warning: image `../away/out.png` is outside the cards folder; mkdeck only "
        "packs files from inside it (the card shows a placeholder)"
    ]
    assert report.media == 1  # a.png, by both of its ways


def test_embeds_by_name_are_looked_for_as_a_walk_of_the_folder_finds_files(tmp_path):
    """The files an Obsidian embed may name are those a walk of the cards folder finds (as
    `Path.rglob` walks it): none hidden or in a hidden folder, none in a linked folder, a link
    to a file kept, a broken link left out; and the nearest of the same name is shown."""
    from mkdeck.media import _files_by_name

    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "far.png").write_bytes(PNG)
    cards = write_cards(
        tmp_path,
        {
            "sub/a.md": "# A？\n\n1. 近：![[x.png]]\n2. 外：![[far.png]]\n3. 链：![[z.png]]\n",
            "attachments/x.png": PNG + b"far",
            "sub/x.png": PNG + b"near",
            ".hidden/far.png": PNG,
            "attachments/Q.PNG": PNG + b"q",
        },
    )
    (cards / "linked").symlink_to(tmp_path / "outside")
    (cards / "attachments" / "z.png").symlink_to(cards / "attachments" / "x.png")
    (cards / "attachments" / "broken.png").symlink_to(tmp_path / "nowhere.png")

    walked: dict[str, list[Path]] = {}
    for file in sorted(cards.rglob("*")):
        if file.is_file() and not any(p.startswith(".") for p in file.relative_to(cards).parts):
            walked.setdefault(file.name, []).append(file)
    index = _files_by_name(cards)
    assert {name: files for name, files in index.items() if name in walked} == walked
    assert set(index) == set(walked) | {"q.png"}  # (case-folded too)
    report = build_deck(cards)
    assert [str(d) for d in report.warnings] == [
        "sub/a.md:4: warning: image not found: `far.png` (the card shows a placeholder)"
    ]
    with zipfile.ZipFile(report.package) as zf:
        shown = sorted(zf.read(n) for n in zf.namelist() if n.isdigit())
    assert shown == [PNG + b"far", PNG + b"near"]  # the nearer x.png; z.png, a link to the other


def test_import_copies_only_images_from_the_posts_own_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("private", encoding="utf-8")
    (tmp_path / "outside.png").write_bytes(PNG)
    posts = tmp_path / "posts"
    (posts / "img").mkdir(parents=True)
    (posts / "img" / "ok.png").write_bytes(PNG)
    (posts / "img" / "fake.png").write_text("not an image", encoding="utf-8")
    (posts / "img" / "link.png").symlink_to(tmp_path / "outside.png")
    images = [
        "img/ok.png",
        "../outside.png",
        "%2e%2e/outside.png",
        "..%2Foutside.png",
        "img/link.png",
        "../notes.txt",
        "img/fake.png",
    ]
    body = "\n".join(f"{k}. 图 {k}：![]({src})" for k, src in enumerate(images, 1))
    (posts / "post.md").write_text(f"## 1. 图片？\n\n{body}\n", encoding="utf-8")
    result = run(["import", "posts/post.md", "-o", "cards"], tmp_path)
    assert result.exit_code == 0, result.stderr
    copied = sorted(p.name for p in (tmp_path / "cards" / "images").iterdir())
    assert len(copied) == 1 and copied[0].startswith("ok-")
    # `..`, encoded `..`, a link out, and a file that is no image: none of them leave.
    assert result.stderr.count("is outside the folder imported") == 5
    assert "`img/fake.png` is not an image (by its bytes), left out" in result.stderr
    # The user's own post, asked for: what is outside is copied, if it is an image.
    again = run(["import", "posts/post.md", "-o", "mine", "--outside-images"], tmp_path)
    assert again.exit_code == 0, again.stderr
    assert len(list((tmp_path / "mine" / "images").iterdir())) == 2  # ok.png and outside.png
    assert "`../notes.txt` is not an image (by its bytes), left out" in again.stderr


def test_a_git_lfs_pointer_is_named_as_one(tmp_path):
    pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 12\n"
    cards = write_cards(tmp_path, {"a.md": "# 图？\n\n1. 点：![](p.png)\n", "p.png": pointer})
    report = build_deck(cards)
    assert [str(d) for d in report.warnings] == [
        "a.md:3: warning: `p.png` is a Git LFS pointer, not the image itself: run `git lfs pull` "
        "in its repository (the card shows a placeholder)"
    ]
    assert report.media == 0 and report.cards == 1


def test_a_tag_over_several_lines_is_named_at_the_line_of_what_is_removed(tmp_path):
    html = '<div>\n<img\n  src="x"\n  onerror="alert(1)">\n</div>\n'
    cards = write_cards(tmp_path, {"a.md": f"# 多行？\n\n1. 点\n\n{html}", "x": PNG})
    [warning] = [str(d) for d in build_deck(cards).warnings]
    assert warning.startswith("a.md:8: warning: removed `onerror=`")


def test_a_placeholder_for_a_missing_image_shows_its_name_as_text(tmp_path, collection):
    cards = write_cards(tmp_path, {"a.md": '# 图？\n\n1. 点：![x]("x<b>bold</b>.png)\n'})
    report = build_deck(cards)
    assert [d.severity for d in report.diagnostics if "placeholder" in d.message] == ["warning"]
    import_package(collection, report.package)
    back = collection.get_card(collection.find_cards("")[0]).answer()
    assert "<b>" not in back and '[image not packed: "x<b>bold</b>.png]' in shown(back)


def test_a_removed_script_is_named_once(tmp_path):
    """`<script>…</script>` in a line is one thing removed: its end tag is not named again."""
    cards = write_cards(tmp_path, {"a.md": "# 问题？\n\n1. 甲：<script>alert(1)</script> 乙\n"})
    report = build_deck(cards)
    assert [(d.line, d.message.split(" from")[0]) for d in report.warnings] == [
        (3, "removed `<script>`")
    ]
