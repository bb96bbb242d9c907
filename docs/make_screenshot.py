"""The README's picture of the web page: a live server, a test scene, its caption, a
grounding box, an answer and a zero-shot classification, in headless Chromium.

    python docs/make_screenshot.py          # -> docs/web-page.png
"""
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    from playwright.sync_api import sync_playwright
    from server_fixture import live_server
    from test_web_page import CHROMIUM, FLAGS

    from polymodal.data import shapes
    scene = next(s for s in shapes("shapes", "test", 11, 40)
                 if len(s.objects) >= 3 and any(ph.kind == "relational" for ph in s.phrases))
    image = ROOT / "docs" / "scene.png"
    Image.fromarray(scene.image).save(image)
    try:
        with live_server() as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(url)
            page.set_input_files("#file", str(image))
            page.click("#caption-run")
            page.wait_for_function("document.getElementById('caption-result').textContent.length > 0")
            page.fill("#phrase", next(ph.text for ph in scene.phrases if ph.kind == "relational"))
            page.click("#ground-run")
            page.wait_for_selector("#box", state="visible")
            names = [o.name for o in scene.objects]
            absent = next(f"{c} {k}" for c in ("blue", "gray", "green", "red") for k in ("circle", "square")
                          if f"{c} {k}" not in names)
            page.fill("#labels", f"{names[0]}, {names[1]}, {absent}")
            page.click("#classify-run")
            page.wait_for_function("document.getElementById('classify-result').textContent.includes('%')")
            page.fill("#speak-text", scene.caption)
            page.click("#speak-run")
            page.wait_for_selector("#speak-audio")
            page.screenshot(path=str(ROOT / "docs" / "web-page.png"))
            browser.close()
    finally:
        image.unlink()
    print(ROOT / "docs" / "web-page.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
