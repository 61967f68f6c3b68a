"""End to end: the replay page in a real headless Chromium against a real `attune serve`
over a seeded SQLite data folder: log in, timeline, click to jump, comment, correct codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from assistant.store import open_store
from assistant.testing.live import CHROMIUM_FLAGS, chromium_path, live_server
from tests.test_reports import FAST_HASHER, TURNS, sample_events

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SESSION = "replay-1"
USER, PASSWORD = "dr-lee", "dr-lee-password-123"
# the sample session without its far-away last turn, so the timeline spans one minute
EVENTS = sample_events(SESSION, TURNS[:-1], time_check_at=None)
UTTERANCES = [e for e in EVENTS if e["type"] == "utterance"]
CUES = [e for e in EVENTS if e["type"] == "cue"]


def seed(data: Path) -> None:
    store = open_store(data, password_hasher=FAST_HASHER)
    try:
        therapist = store.add_user(USER, "therapist", PASSWORD)
        store.create_session(therapist.id, session_id=SESSION, label="Intake", planned_minutes=50)
        for event in EVENTS:
            store.append_event(SESSION, event)
    finally:
        store.close()


def wait_ready(page: Any) -> None:
    page.wait_for_selector("body[data-ready]", timeout=15000)
    assert page.evaluate("document.body.dataset.ready") == "true"


def test_replay_page_timeline_jump_comment_and_correction(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    seed(tmp_path / "data")
    problems: list[str] = []
    with live_server(tmp_path, "--no-cues") as server, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console: {m.text} {m.location}")
                    if m.type == "error"
                    else None
                ),
            )
            page.on(
                "response",
                lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
            )
            base = server.base_url

            # logging in through the login page
            page.goto(f"{base}/replay/{SESSION}")
            page.wait_for_url(f"{base}/login*")
            page.fill("input[name=username]", USER)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/")
            page.goto(f"{base}/replay/{SESSION}")
            wait_ready(page)

            # the timeline: every turn a bar in its speaker's lane, every cue a marker
            assert page.locator("#timeline svg rect.turn").count() == len(UTTERANCES)
            assert page.locator("#timeline svg rect.turn.client").count() == 6
            assert page.locator("#timeline svg .cue-marker").count() == len(CUES)
            assert page.locator("#share-chart svg polyline.series").count() == 1
            assert page.locator("#rq-chart svg polyline.series").count() == 1
            assert page.locator("#turns li.utterance").count() == len(UTTERANCES)
            assert page.locator("#counts b[data-count=open]").inner_text() == "2"
            assert page.locator("#share-switch").is_visible()  # the owner may share
            nasty = page.locator('#turns li[data-id="c4"] .text').inner_text()
            assert "<script>" in nasty  # shown as text, never run
            page.screenshot(path=str(ARTIFACTS / "replay-timeline.png"), full_page=True)

            # a click anywhere on a chart jumps to the utterance at that moment
            target = next(u for u in UTTERANCES if u["id"] == "c5")
            box = page.locator("#rq-chart svg").bounding_box()
            bar = page.locator('#timeline rect.turn[data-id="c5"]').bounding_box()
            assert box is not None and bar is not None
            page.mouse.click(bar["x"] + bar["width"] / 2, box["y"] + box["height"] / 2)
            current = page.locator("#turns li.current")
            current.wait_for(timeout=5000)
            assert current.get_attribute("data-id") == str(target["id"])
            assert page.locator('#timeline rect.turn.current[data-id="c5"]').count() == 1
            page.wait_for_function(
                """() => {
                    const r = document.querySelector('#turns li.current').getBoundingClientRect();
                    const box = document.querySelector('#turns').getBoundingClientRect();
                    return r.top >= box.top && r.bottom <= box.bottom;
                }""",
                timeout=5000,
            )
            # and clicking a turn's bar selects that turn
            page.locator('#timeline rect.turn[data-id="t2"]').click()
            page.wait_for_selector('#turns li.current[data-id="t2"]', timeout=5000)

            # filters: only closed questions
            page.select_option("#label-filter", "question=closed")
            assert page.locator("#turns li.utterance:visible").count() == 1
            page.select_option("#label-filter", "")

            # a comment, saved and still there after a reload
            item = page.locator('#turns li[data-id="t2"]')
            item.locator("[data-action=comment]").click()
            item.locator("textarea[name=text]").fill("Could be open: <b>what</b> is it like?")
            item.locator("button[type=submit]").click()
            item.locator("li.comment").wait_for(timeout=5000)

            # a label correction: closed -> open question, shown as original vs corrected
            item.locator("[data-action=correct]").click()
            item.locator("select[name=question]").select_option('"open"')
            item.locator("button[type=submit]").click()
            page.wait_for_selector('#turns li.corrected[data-id="t2"]', timeout=5000)
            page.screenshot(path=str(ARTIFACTS / "replay-annotated.png"), full_page=True)

            page.reload()
            wait_ready(page)
            item = page.locator('#turns li[data-id="t2"]')
            assert item.locator("li.comment .comment-text").inner_text() == (
                "Could be open: <b>what</b> is it like?"
            )
            assert "corrected" in (item.get_attribute("class") or "")
            change = item.locator('.correction .change[data-label="question"]')
            assert change.locator("del").inner_text() == "closed"
            assert change.locator("ins").inner_text() == "open"
            assert "open question" in item.locator(".tags").inner_text()
            page.select_option("#label-filter", "question=closed")  # filters use corrected codes
            assert page.locator("#turns li.utterance:visible").count() == 0

            # the report link works from the page
            report = page.context.request.get(f"{base}/api/sessions/{SESSION}/report.html")
            assert report.status == 200 and "Could be open" in report.text()
        finally:
            browser.close()
    # (the login and home pages, not this one, may ask for a favicon the server lacks)
    assert [p for p in problems if "/favicon.ico" not in p] == []
    log = server.log()
    assert "Could be open" not in log and "Traceback" not in log
