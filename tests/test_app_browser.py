"""The app in a real browser: headless Debian Chromium driven by Playwright.

Set UPDATE_SCREENSHOT=1 to (re)write docs/screenshot.png: the app's first example (a BUS-BRA
scan, see examples/ATTRIBUTION.md) with the bundled models. Set SCREENSHOT_DIR to keep the
screenshots the tests take (default: the test's temporary folder).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.app_fixtures import shared_app, write_phantom
from webapp import ui as app_ui

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshot.png"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def served():
    return shared_app()  # the test run's one app server


@pytest.fixture(scope="module")
def url(served):
    return served[1]


def shot(page, tmp_path, name: str) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def checked_organ(page) -> str:
    return page.locator("#organ input:checked").get_attribute("value") or ""


def open_app(browser, url):
    """A desktop-sized page on the app, and the list its JavaScript errors are collected in."""
    page = browser.new_page(viewport={"width": 1360, "height": 1000})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    return page, errors


def overlay_src(page) -> str:
    return page.locator("#overlay-image img").first.get_attribute("src") or ""


def test_upload_segment_adjust_and_download(browser, url, tmp_path):
    path, image, _ = write_phantom(tmp_path, seed=2, height=288, width=384)
    page, errors = open_app(browser, url)
    page.get_by_text("Research and teaching demo").first.wait_for()

    page.get_by_label("Thyroid").check()
    page.locator("#upload input[type=file]").set_input_files(path)
    page.locator("#overlay-image img").first.wait_for(timeout=30_000)
    summary = page.locator("#summary")
    summary.get_by_text(re.compile("found|marked")).first.wait_for()
    text = summary.inner_text()  # the quality estimate, or the mirror agreement without one
    assert any(k in text for k in ("Expected overlap", "Confidence", "Low confidence")), text

    # A low threshold (re-rendered on the server: the summary quotes it) makes sure there is a
    # mask whose tint depends on the opacity, with trained or untrained models alike.
    page.locator("#threshold input[type=range]").fill("0.05")
    summary.get_by_text("threshold 0.05").first.wait_for(timeout=15_000)
    page.wait_for_timeout(300)
    first = overlay_src(page)

    opacity = page.locator("#opacity input[type=range]")
    opacity.fill("0.9")
    page.wait_for_function(
        "old => { const i = document.querySelector('#overlay-image img');"
        " return i && i.src !== old; }", arg=first, timeout=15_000)

    with page.expect_download() as info:
        page.locator("#download-mask").click()
    saved = tmp_path / "downloaded_mask.png"
    info.value.save_as(saved)
    with Image.open(saved) as mask:
        assert mask.format == "PNG" and mask.size == (image.shape[1], image.shape[0])
        assert set(np.unique(np.asarray(mask)).tolist()) <= {0, 255}

    assert not page.locator("#status").inner_text().strip()
    assert not errors, errors

    # Closing the tab frees the session's decoded image (app.forget_session on unload).
    results = list(app_ui._SESSIONS.values())
    assert results and not any(r.released for r in results)
    page.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(r.released for r in results):
        time.sleep(0.2)
    assert all(r.released for r in results)


def test_bad_file_shows_a_message(browser, url, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is a text file, not an image")
    page = browser.new_page(viewport={"width": 1360, "height": 1000})
    page.goto(url)
    page.locator("#upload input[type=file]").set_input_files(str(bad))
    page.locator("#status").get_by_text("not an image file we can read").wait_for(
        timeout=30_000)
    assert not page.locator("#overlay-image img").count()
    page.close()


def test_every_example_works_after_the_clean_ups(browser, served, tmp_path):
    """Issue: the examples stopped working about 20 minutes after start (the upload cache was
    swept). The clean-ups are aged here, then every thumbnail is clicked."""
    from gradio.route_utils import delete_files_created_by_app

    from webapp.examples import load_examples
    from webapp.scratch import scratch

    demo, address = served
    examples = load_examples()
    page, errors = open_app(browser, address)
    thumbnails = page.locator("#examples button.thumbnail-item")
    thumbnails.first.wait_for()
    assert thumbnails.count() == len(examples)
    delete_files_created_by_app(demo, 0)  # Gradio's delete_cache, once its age has passed
    scratch().sweep(0)
    summary = page.locator("#summary")
    for index in [*range(len(examples)), 0]:  # the first one twice: a second click works too
        example = examples[index]
        assert example.caption in thumbnails.nth(index).inner_text()
        thumbnails.nth(index).click()
        page.wait_for_function(
            "name => document.querySelector('#upload')?.innerText.includes(name)",
            arg=example.path.stem, timeout=60_000)
        summary.get_by_text("Segmented in").first.wait_for(timeout=60_000)
        assert checked_organ(page) == example.organ  # the click set the organ, visibly
        assert not page.locator("#status").inner_text().strip()
        shot(page, tmp_path, f"example_{index}")
        page.locator("#upload button[aria-label='Clear']").first.click()
        summary.get_by_text("Segmented in").first.wait_for(state="detached", timeout=15_000)
    assert not errors, errors
    page.close()


def test_ground_truth_workflow_and_teaching_tab(browser, url, tmp_path):
    """Mask before image, the example with its true mask, another image replacing it while on
    the ground-truth tab, the field-of-view box, and the teaching tab's feature maps."""
    from webapp.examples import load_examples

    with_truth = next(e for e in load_examples() if e.truth is not None)
    page, errors = open_app(browser, url)
    page.locator("#examples button.thumbnail-item").first.wait_for()
    page.get_by_text("Check against a ground-truth mask").click()
    page.locator("#truth-upload input[type=file]").set_input_files(str(with_truth.truth))
    status = page.locator("#status")
    status.get_by_text("Upload the image first.").wait_for(timeout=20_000)
    assert "could not be segmented" not in status.inner_text()
    shot(page, tmp_path, "truth_mask_first")

    page.locator("#truth-example").click()
    page.get_by_text("IoU").first.wait_for(timeout=60_000)
    assert not status.inner_text().strip()  # the earlier message is gone
    swatches = page.locator(".swatch")
    assert swatches.count() == 3
    colours = {swatches.nth(i).evaluate("e => getComputedStyle(e).backgroundColor")
               for i in range(3)}
    assert colours == {"rgb(40, 200, 40)", "rgb(230, 40, 230)", "rgb(255, 220, 0)"}
    assert swatches.first.bounding_box()["width"] >= 8  # drawn, not an empty glyph box
    shot(page, tmp_path, "truth_example")

    # Another image, straight away (no clearing first), while on "Against ground truth".
    thyroid = next(e for e in load_examples() if e.organ == "thyroid")
    with page.expect_file_chooser() as chooser:
        page.locator("#replace").click()
    chooser.value.set_files(str(thyroid.path))
    page.wait_for_function(
        "name => document.querySelector('#upload')?.innerText.includes(name)",
        arg=thyroid.path.stem, timeout=60_000)
    page.locator("#summary").get_by_text("ground-truth mask was removed").wait_for(
        timeout=60_000)
    page.get_by_text("to see Dice and IoU here").first.wait_for()  # the hint is back
    page.get_by_role("tab", name="Result").click()
    page.get_by_text("Thin yellow box").first.wait_for()  # the field of view is drawn
    shot(page, tmp_path, "replaced_on_truth_tab")

    page.get_by_role("tab", name="How it works").click()
    page.locator("#teach-note").get_by_text("not always the lesion").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    tiles = page.locator(".feature-maps img")
    assert tiles.count() >= 8
    box = tiles.first.bounding_box()
    assert box["width"] >= 140 and box["height"] >= 140  # large enough to read
    assert "squeezed into" in page.locator("#net-input").inner_text()
    shot(page, tmp_path, "teaching")
    assert not errors, errors
    page.close()


def test_batch_tab(browser, url, tmp_path):
    from webapp.examples import load_examples

    breast = [str(e.path) for e in load_examples() if e.organ == "breast"]
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    page = browser.new_page(viewport={"width": 1360, "height": 1000})
    page.goto(url)
    page.get_by_role("tab", name="Batch").click()
    page.locator("#batch-files input[type=file]").set_input_files([*breast, str(bad)])
    page.wait_for_function("() => document.querySelector('#batch-files')?.innerText"
                           ".includes('notes')", timeout=60_000)
    page.locator("#batch-run").click()
    page.locator("#batch-status").get_by_text("images segmented").wait_for(timeout=120_000)
    assert f"{len(breast)} of {len(breast) + 1} images segmented" in page.locator(
        "#batch-status").inner_text()
    table = page.locator("#batch-table").inner_text()
    assert "notes.png" in table and "not an image file we can read" in table
    assert page.locator("#batch-gallery img").count() == len(breast)
    # one row of overlays: the gallery is as tall as its row, not an empty box below it
    gallery, tile = page.evaluate("""() => [
        document.querySelector('#batch-gallery').getBoundingClientRect().height,
        document.querySelector('#batch-gallery button.thumbnail-item')
            .getBoundingClientRect().height]""")
    assert gallery < tile + 40, (gallery, tile)  # the row and the gallery's padding
    with page.expect_download() as info:
        page.locator("#batch-download").click()
    assert info.value.suggested_filename.endswith(".zip")
    page.wait_for_timeout(1000)
    shot(page, tmp_path, "batch")
    # on a phone's screen the seven columns keep whole words ("Quality" once broke letter by
    # letter): the table scrolls sideways inside its frame, the page does not widen, and each
    # heading stays above its column
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(800)
    headings = _lines(page, "#batch-table th span.text")
    assert "Quality" in {text for text, _ in headings}, headings
    assert all(lines == 1 for text, lines in headings if " " not in text), headings
    cells = _lines(page, "#batch-table .virtual-body span.text")
    assert all(lines == 1 for text, lines in cells if text.isdigit()), cells
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    lefts = page.evaluate("""() => ['#batch-table th', '#batch-table .virtual-row .body-cell']
        .map((s) => [...document.querySelectorAll(s)].slice(0, 7)
        .map((e) => Math.round(e.getBoundingClientRect().left)))""")
    assert lefts[0] == lefts[1], lefts
    shot(page, tmp_path, "batch_phone")
    page.close()


@pytest.mark.skipif(os.environ.get("UPDATE_SCREENSHOT") != "1",
                    reason="set UPDATE_SCREENSHOT=1 to rewrite docs/screenshot.png")
def test_readme_screenshot(browser, url):
    page = browser.new_page(viewport={"width": 1360, "height": 1000})
    page.goto(url)
    page.locator("#examples button.thumbnail-item").first.click()
    page.locator("#summary").get_by_text("Model:").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)  # images finish loading
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    page.close()


@pytest.mark.parametrize("touch", [False, True], ids=["mouse", "touch"])
def test_a_box_drawn_on_the_result_guides_the_outline(browser, url, tmp_path, touch):
    """Two clicks (or taps, on a phone-sized touch screen) on the result image with the box
    tool: the summary says the outline is guided by the user, the report holds the box, and
    Clear prompts (with a mouse) or Undo last prompt (on a phone) goes back to the automatic
    answer."""
    path, image, truth = write_phantom(tmp_path, seed=8, height=288, width=384)
    if touch:
        context = browser.new_context(viewport={"width": 412, "height": 915}, has_touch=True,
                                      is_mobile=True)
        page = context.new_page()
        page.goto(url)
    else:
        page, _ = open_app(browser, url)
    page.locator("#upload input[type=file]").set_input_files(path)
    img = page.locator("#overlay-image img").first
    img.wait_for(timeout=30_000)
    summary = page.locator("#summary")
    summary.get_by_text(re.compile("found|marked")).first.wait_for(timeout=30_000)
    page.locator("#prompt-tool input[value=box]").check()
    ys, xs = np.nonzero(truth)
    img.scroll_into_view_if_needed()
    box = img.bounding_box()
    # the picture sits inside its element as object-fit: contain does it
    scale = min(box["width"] / image.shape[1], box["height"] / image.shape[0])
    left = (box["width"] - scale * image.shape[1]) / 2
    top = (box["height"] - scale * image.shape[0]) / 2
    for i, (x, y) in enumerate(((xs.min() - 6, ys.min() - 6), (xs.max() + 6, ys.max() + 6))):
        position = {"x": left + scale * (x + 0.5), "y": top + scale * (y + 0.5)}
        if touch:
            img.tap(position=position)
        else:
            img.click(position=position)
        if i == 0:  # the server has the first corner before the second click
            page.locator("#prompt-hint").get_by_text("First corner set").wait_for(timeout=30_000)
            assert not page.locator("#status").inner_text().strip()  # not an error
            img.wait_for(timeout=30_000)
            box = img.bounding_box()
    summary.get_by_text("Guided by you").first.wait_for(timeout=30_000)
    assert "1 box" in summary.inner_text()
    shot(page, tmp_path, f"guided_{'touch' if touch else 'mouse'}")
    if not touch:  # the teaching tab shows what the box changed
        page.get_by_role("tab", name="How it works").click()
        page.locator("#prompt-note").get_by_text("1 box").wait_for(timeout=60_000)
        page.locator("#prompt-change img").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        shot(page, tmp_path, "teaching_prompt")
        page.get_by_role("tab", name="Segment").click()
    if touch:  # "Undo last prompt" takes the box back (the button sits beside Clear)
        page.locator("#undo-prompt").tap()
    else:
        page.locator("#clear-prompts").click()
    page.wait_for_function(
        "() => !document.querySelector('#summary').innerText.includes('Guided by you')",
        timeout=30_000)
    page.close()


def _lines(page, selector: str) -> list[tuple[str, int]]:
    """(text, lines it takes on screen) of each shown element matched by ``selector``."""
    return [tuple(v) for v in page.evaluate("""(selector) => [...document.querySelectorAll(
        selector)].filter((el) => el.offsetHeight > 0).map((el) => {
            const text = document.createRange();  // one rectangle per line the text takes
            text.selectNodeContents(el);
            return [el.innerText.trim(),
                    new Set([...text.getClientRects()].map((r) => r.top)).size];
        })""", selector)]


def test_tables_keep_each_number_on_one_line_on_a_phone(browser, url, tmp_path):
    """On a phone's screen the tables' columns are narrow: a number (an area such as 14,648, a
    layer's size 224x224) stays whole on one line rather than breaking between its digits: the
    lesion table (360 px wide), and the teaching tab's table of the network's layers (390 px),
    where a layer's four feature maps also fit side by side. And before that: the upload
    area's label does not cover its icon, and the disclaimer has one frame, not two."""
    path, _, _ = write_phantom(tmp_path, seed=3, height=420, width=560)
    context = browser.new_context(viewport={"width": 360, "height": 800}, has_touch=True,
                                  is_mobile=True)
    page = context.new_page()
    page.goto(url)
    page.locator("#upload .icon-wrap").first.wait_for(timeout=30_000)
    # the upload area's label does not cover its icon; the disclaimer has one frame
    label, icon = page.evaluate("""() => [
        document.querySelector('#upload [data-testid=block-label], #upload label'),
        document.querySelector('#upload .icon-wrap')].map((e) => {
            const r = e.getBoundingClientRect(); return [r.top, r.bottom]; })""")
    assert label[1] <= icon[0], (label, icon)
    frames = page.evaluate("""() => [...document.querySelectorAll('.disclaimer')]
        .filter((e) => parseFloat(getComputedStyle(e).borderLeftWidth) > 0).length""")
    assert frames == 1, frames
    page.locator("#upload input[type=file]").set_input_files(path)
    page.locator("#summary").get_by_text(re.compile("found|marked")).first.wait_for(
        timeout=30_000)
    page.wait_for_timeout(500)
    values = _lines(page, "#lesion-table .virtual-body span.text")
    assert any("," in text for text, _ in values), values  # an area of 1,000 px² or more
    assert all(lines == 1 for _, lines in values), values
    shot(page, tmp_path, "phone_table")
    page.set_viewport_size({"width": 390, "height": 844})  # at 360 the tab is in a menu
    page.get_by_role("tab", name="How it works").tap()
    page.locator("#architecture table").first.wait_for(timeout=30_000)
    sizes = _lines(page, "#architecture td:nth-child(2), #architecture td:nth-child(3)")
    assert any("×" in text for text, _ in sizes), sizes
    assert all(lines == 1 for _, lines in sizes), sizes
    words = _lines(page, "#architecture th")  # "Stage", "Filters": never split inside
    assert all(lines == 1 for text, lines in words if " " not in text), words
    # the feature maps: four tiles side by side within the screen, no empty box under them
    page.locator(".feature-maps button.thumbnail-item").first.wait_for(timeout=60_000)
    gallery, tiles = page.evaluate("""() => {
        const g = [...document.querySelectorAll('.feature-maps')].find((e) => e.offsetHeight);
        const box = (e) => { const r = e.getBoundingClientRect();
                             return [r.left, r.right, r.height]; };
        return [box(g), [...g.querySelectorAll('button.thumbnail-item')].map(box)];
    }""")
    assert len(tiles) == 4, tiles
    assert all(gallery[0] <= left and right <= gallery[1] + 1 for left, right, _ in tiles), (
        gallery, tiles)
    assert gallery[2] < 2 * tiles[0][2], (gallery, tiles)
    shot(page, tmp_path, "phone_architecture")
    context.close()


def test_the_model_cards_tables_break_no_word(browser, url):
    """The model card's tables on a laptop's screen: each heading word ("Images") and each
    data set's name stays whole; on a phone's screen a table too wide scrolls sideways inside
    itself, and the page does not widen."""
    page, _ = open_app(browser, url)
    page.get_by_role("tab", name="Model card").click()
    page.locator("#model-card table").first.wait_for(timeout=30_000)
    cells = _lines(page, "#model-card th, #model-card td:first-child")
    assert any(text == "Images" for text, _ in cells), cells
    assert all(lines == 1 for text, lines in cells if " " not in text), cells
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.close()


def test_the_optional_number_fields_start_empty(browser, url):
    """Scale and Frame are optional: they start empty (Gradio showed None as 0, and a frame of
    0 would pick a multi-frame file's first frame without asking), saying what empty means."""
    page, _ = open_app(browser, url)
    # the examples' captions are whole, on a laptop's and a phone's width
    for width in (1360, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.locator("#examples .caption-label").first.wait_for(timeout=30_000)
        page.wait_for_timeout(300)
        cut = page.evaluate("""() => [...document.querySelectorAll('#examples .caption-label')]
            .filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.innerText)""")
        assert cut == [], (width, cut)
    page.set_viewport_size({"width": 1360, "height": 1000})
    page.get_by_text("Scale and frame").first.click()
    page.wait_for_timeout(800)
    fields = page.evaluate("""() => [...document.querySelectorAll('input[type=number]')]
        .filter((e) => e.placeholder.startsWith('empty')).map((e) => [e.value, e.placeholder])""")
    assert fields == [["", "empty: sizes in pixels"], ["", "empty: a single-frame file"]], fields
    # and the result image carries no label over its top-left corner (where a click lands)
    page.locator("#examples button.thumbnail-item").first.click()
    page.locator("#overlay-image img").first.wait_for(timeout=30_000)
    labels = page.evaluate("""() => [...document.querySelectorAll(
        '#overlay-image label, #overlay-image [data-testid=block-label]')]
        .filter((e) => e.offsetHeight > 0).length""")
    assert labels == 0, labels
    page.close()
