"""Make the README's screenshots: a card of `cards/` as a phone shows it, front by day and back
by night. Run from the project folder: python scripts/screenshots.py

Needs `pip install -e '.[test]'` (Anki's backend, MathJax 3 and Playwright) and Debian's
`chromium`; Playwright drives that browser and downloads none.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

CARD = 2  # the third card of the deck: a formula and a label on a phone's width


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-m", "mkdeck", "preview"], cwd=root, check=True)
    page_file = root / "build" / "preview" / "index.html"
    browser_path = shutil.which("chromium") or "chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 420, "height": 900}, device_scale_factor=2)
        page.goto(page_file.as_uri())
        page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("MathJax.startup.promise")
        sides = page.locator(".pv-card").nth(CARD).locator(".pv-side .card")
        sides.nth(0).screenshot(path=str(root / "docs" / "front-day.png"))
        page.locator("#pv-theme").click()
        sides.nth(1).screenshot(path=str(root / "docs" / "back-night.png"))
        browser.close()


if __name__ == "__main__":
    main()
