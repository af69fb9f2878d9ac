"""The page in a real browser, as a person uses it: Playwright driving Debian's chromium against
``derive serve`` on loopback. It types a formula, waits for the preview and the verdict,
reveals the derivation's steps one at a time, downloads a handout, and checks that a hostile
formula and title stay text. Screenshots go to docs/img/web-*.png (docs/web.md shows them).

Skipped only when /usr/bin/chromium (or the playwright package) is absent; .ci/run installs
both.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
IMG = ROOT / "docs" / "img"

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="chromium is not installed (apt-get install chromium)")

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "derive", "serve", "--port", str(port),
                             "--workers", "2"], cwd=ROOT, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(url + "/", timeout=2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"derive serve did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(timeout=15)


@pytest.fixture(scope="module")
def browser():
    profile = tempfile.mkdtemp(prefix="derive-chromium-")
    with playwright_sync.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=ARGS, headless=True, accept_downloads=True,
            viewport={"width": 1100, "height": 900})
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture()
def page(browser, server):
    page = browser.new_page()
    requested: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(server + "/")
    page.wait_for_selector("body[data-ready=yes]")
    page.requested, page.dialogs = requested, dialogs  # type: ignore[attr-defined]
    yield page
    page.close()


def test_a_wrong_formula_is_read_checked_and_explained(page, server):
    page.fill("#formula", "dW1 = np.dot(dZ1, X.T)")
    page.wait_for_selector("#preview[data-state=read] .katex")
    preview = page.inner_text("#preview-math")
    assert "dW" in preview and "X" in preview
    assert "syntax: text" in page.inner_text("#preview-info")
    page.screenshot(path=str(IMG / "web-preview.png"), full_page=False)
    page.click("#check")
    page.wait_for_selector("#verdict[data-verdict=not_equivalent]")
    verdict = page.inner_text("#verdict")
    assert "incorrect: not equivalent" in verdict
    assert "missing_scale" in verdict
    assert page.locator("#verdict .expected .katex").count() == 1  # the correct formula, as maths
    assert "counterexample" in verdict
    assert page.locator("#verdict .counterexample .katex").count() >= 2  # its matrices
    page.locator("#verdict-section").screenshot(path=str(IMG / "web-verdict.png"))
    # nothing was loaded from anywhere but this server (KaTeX and its fonts are shipped)
    assert page.requested and all(u.startswith((server, "blob:")) for u in page.requested)


def test_a_correct_latex_formula(page):
    page.fill("#formula", r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot g^{[1]\prime}(Z^{[1]})")
    page.wait_for_selector("#preview[data-state=read] .katex")
    assert "syntax: latex" in page.inner_text("#preview-info")
    page.click("#check")
    page.wait_for_selector("#verdict[data-verdict=correct]")
    assert page.inner_text("#verdict .verdict-label").startswith("correct")


def test_the_derivation_reveals_its_steps_one_at_a_time(page):
    page.click("#derive")
    page.wait_for_selector("#proof[data-passed=yes]")
    layer = page.locator(".layer[data-layer='1']")
    steps = layer.locator("li.step")
    total = steps.count()
    assert total >= 3
    assert layer.locator("li.step:visible").count() == 0
    layer.locator("button.next-step").click()
    assert layer.locator("li.step:visible").count() == 1
    layer.locator("button.next-step").click()
    assert layer.locator("li.step:visible").count() == 2
    first = layer.locator("li.step").first
    assert first.locator(".rule").inner_text()  # each step names its rule
    assert first.locator(".why .katex").count() == 1  # and its element-wise reasoning, as maths
    assert f"(2/{total})" in layer.locator("button.next-step").inner_text()
    page.locator("#derivation-section").screenshot(path=str(IMG / "web-derivation.png"))
    layer.locator("button.all-steps").click()
    assert layer.locator("li.step:visible").count() == total


def test_the_whole_page(page):
    """The page as a class sees it: a wrong formula checked, the derivation a step in."""
    page.fill("#formula", "dZ1 = dZ2 W2^T * relu'(Z1)")
    page.wait_for_selector("#preview[data-state]")
    page.click("#check")
    page.wait_for_selector("#verdict[data-verdict=shape_error]")
    assert "wrong_order" in page.inner_text("#verdict")
    page.click("#derive")
    page.wait_for_selector("#proof[data-passed=yes]")
    page.locator(".layer[data-layer='2'] button.next-step").click()
    assert page.locator(".layer[data-layer='2'] li.step:visible").count() == 1
    page.screenshot(path=str(IMG / "web-page.png"), full_page=True)


def test_a_handout_downloads(page):
    page.fill("#title", "Week 3: backprop")
    with page.expect_download() as info:
        page.click("#dl-md")
    download = info.value
    assert download.suggested_filename == "handout.md"
    text = Path(download.path()).read_text(encoding="utf-8")
    assert text.startswith("# Week 3: backprop")
    assert "dW" in text
    with page.expect_download() as info:
        page.click("#dl-tex")
    assert info.value.suggested_filename == "handout.tex"
    assert r"\documentclass" in Path(info.value.path()).read_text(encoding="utf-8")


def test_the_stability_plot_shows_and_downloads(page):
    with page.expect_download() as info:
        page.click("#dl-plot")
    assert Path(info.value.path()).read_bytes().startswith(b"\x89PNG")
    page.wait_for_selector("#plot:not([hidden])")
    assert page.evaluate("document.getElementById('plot').naturalWidth") > 100


HOSTILE = [
    '<img src=x onerror="alert(1)">',
    "dZ1 = <script>alert(2)</script>",
    r"dZ1 = \href{javascript:alert(3)}{W2}",
    r"dZ1 = \htmlClass{x}{W2} \url{javascript:alert(4)}",
    'dW1 = "><svg onload=alert(5)>',
]


@pytest.mark.parametrize("formula", HOSTILE)
def test_hostile_formulas_stay_text(page, formula):
    page.fill("#formula", formula)
    page.wait_for_selector("#preview[data-state=unread], #preview[data-state=read]")
    page.click("#check")
    page.wait_for_selector("#verdict[data-verdict]")
    page.wait_for_timeout(200)
    assert page.dialogs == []
    assert page.locator("#preview img, #verdict img, #preview svg[onload], script:not([src])").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0


def test_a_hostile_title_stays_text_in_the_handout(page):
    page.fill("#title", "</script><img src=x onerror=alert(1)>")
    with page.expect_download() as info:
        page.click("#dl-md")
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert "onerror" in text.splitlines()[0]  # the title is there, as text:
    assert "<img src=x" not in text  # no tag a Markdown renderer would make an element of
    assert page.dialogs == []
    assert page.locator("img[onerror]").count() == 0
