"""The web chat page in a real browser: Playwright driving Debian's Chromium.

The server is a live ``ragline serve`` application (see conftest.py) whose model quotes the
first sentence of passage [1] with its marker, streaming a word every 0.15 s, so the page
is seen mid-answer before the cited answer arrives. ``make test`` installs Chromium
(scripts/ensure-chromium.sh) and sets ``REQUIRE_BROWSER=1``, which turns a missing
browser into a failure instead of a skip. The screenshots are kept under
``SCREENSHOT_DIR`` when it is set (else the test's temporary folder).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from PIL import Image

from ragline.app.query import CONDENSE_PROMPT
from ragline.testing import openai_chunks, sse_body
from tests.server.conftest import QDRANT, Live, SlowBody, Upstream, serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LIGHTHOUSE = ("The Brightwater lighthouse was built in 1887 by the engineer Ada Finch. "
              "Its lamp burned whale oil until 1921.")

pytestmark = pytest.mark.model  # the pipelines load the real embedder


class QuotingUpstream(Upstream):
    """Answers with the first sentence of passage [1] and its marker; every streamed answer
    comes a word at a time, 0.15 s apart."""

    @staticmethod
    def reply(body: dict[str, Any]) -> str:
        system = body["messages"][0]["content"]
        user = body["messages"][-1]["content"]
        if system == CONDENSE_PROMPT:
            return "Standalone question: " + user.split("Follow-up question: ")[1].split("\n")[0]
        passage = user.split("[1] ", 1)[1].split("\n\n[2]")[0]
        sentences = [s.strip() for s in re.split(r"(?<=\.)\s+|\n+", passage)]
        first = next(s for s in sentences if len(s.split()) >= 4)
        return f"{first.rstrip('.')} [1]."

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        if not body.get("stream"):
            return self.text(request)
        events = sse_body(*openai_chunks(*re.findall(r"\S+\s*", self.reply(body))))
        slow = SlowBody([e + b"\n\n" for e in events.split(b"\n\n") if e], delay_s=0.15)
        return httpx2.Response(200, stream=slow, headers={"content-type": "text/event-stream"})


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with serving(tmp_path_factory.mktemp("ui") / "home", QuotingUpstream()) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"no Chromium at {CHROMIUM}: scripts/ensure-chromium.sh installs it")
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def assert_not_blank(path: Path) -> None:
    """The screenshot shows a page: many colours, and a tenth of it is not background."""
    with Image.open(path) as image:
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50, f"{path} has {len(colours)} colours: the page looks blank"
    background = max(count for count, _ in colours)
    assert background < 0.9 * pixels.width * pixels.height, f"{path} is nearly one colour"


def ask(page: Any, question: str) -> Any:
    """Type ``question`` and press Enter; the assistant message that answers it."""
    answers = page.locator(".message.assistant")
    before = answers.count()
    page.get_by_label("Your question").fill(question)
    page.get_by_label("Your question").press("Enter")
    answer = answers.nth(before)
    answer.wait_for()
    return answer


def test_the_page_streams_a_cited_answer_and_opens_its_passage(
        site: Live, browser: Any, shots: Path) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(site.url)
    page.get_by_label("Collection").wait_for()
    assert page.get_by_label("Collection").input_value() == "default"

    answer = ask(page, "What is Qdrant?")
    # mid-stream: some words shown, the answer not final yet (no citation button yet)
    page.wait_for_function("() => { const m = document.querySelector('.message.assistant');"
                           " return m.getAttribute('aria-busy') === 'true' &&"
                           " m.querySelector('.text').textContent.length > 0; }")
    assert answer.locator("button.cite").count() == 0
    cite = answer.get_by_role("button", name=re.compile(r"^Show source 1: qdrant\.md"))
    cite.wait_for(timeout=30_000)
    assert answer.get_attribute("aria-busy") == "false"
    assert "Qdrant is a vector database written in Rust" in answer.locator(".text").inner_text()
    meta = answer.locator(".meta").inner_text()
    assert "route:" in meta and "cost:" in meta and "cache: off" in meta

    cite.click()
    dialog = page.locator("dialog#passage")
    dialog.locator("mark.cited").wait_for()
    assert QDRANT in dialog.locator("mark.cited").inner_text()
    assert "qdrant.md" in dialog.locator("#passage-title").inner_text()
    page.screenshot(path=shots / "chat-passage.png")
    assert_not_blank(shots / "chat-passage.png")
    page.keyboard.press("Escape")
    assert not dialog.evaluate("d => d.open")
    assert errors == []
    page.close()


def test_an_uploaded_file_is_asked_about_and_sessions_reopen(
        site: Live, browser: Any, shots: Path, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(site.url)
    page.get_by_label("Collection").wait_for()
    document = tmp_path / "lighthouse.md"
    document.write_text(f"# Brightwater lighthouse\n\n{LIGHTHOUSE}\n", encoding="utf-8")
    page.get_by_label("File (Markdown, text, HTML or PDF)").set_input_files(document)
    page.get_by_role("button", name="Upload and ingest").click()
    status = page.locator("#upload-status")
    status.filter(has_text="Ingested lighthouse.md").wait_for(timeout=30_000)
    assert page.locator("#upload-progress").get_attribute("value") == "100"

    page.get_by_role("button", name="New chat").click()
    answer = ask(page, "Who built the Brightwater lighthouse?")
    lighthouse = re.compile(r"^Show source 1: lighthouse\.md")
    answer.get_by_role("button", name=lighthouse).wait_for(timeout=30_000)
    assert "built in 1887 by the engineer Ada Finch" in answer.locator(".text").inner_text()
    page.screenshot(path=shots / "chat-upload.png", full_page=True)
    assert_not_blank(shots / "chat-upload.png")

    # reopen the session from the list after a reload: its answer keeps its citations
    session_id = page.evaluate("() => location.hash.slice(1)")
    page.goto(site.url)
    page.locator(".session-open", has_text="Who built the Brightwater").first.click()
    page.wait_for_function(f"() => location.hash === '#{session_id}'")
    reopened = page.locator(".message.assistant").first
    reopened.get_by_role("button", name=lighthouse).click()
    assert "Ada Finch" in page.locator("dialog#passage mark.cited").inner_text()
    assert errors == []
    page.close()


def test_the_page_fits_a_phone_and_works_from_the_keyboard(
        site: Live, browser: Any, shots: Path) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    page.goto(site.url)
    page.get_by_label("Collection").wait_for()
    page.get_by_label("Your question").focus()
    page.keyboard.type("What licence is Qdrant under?")
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant").last
    answer.locator("button.cite").first.wait_for(timeout=30_000)
    answer.locator("button.cite").first.focus()
    page.keyboard.press("Enter")  # a citation is a button: the keyboard opens it
    page.locator("dialog#passage[open]").wait_for()
    page.keyboard.press("Escape")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px phone"
    page.screenshot(path=shots / "chat-phone.png", full_page=True)
    assert_not_blank(shots / "chat-phone.png")
    page.close()
