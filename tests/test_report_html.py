"""The review page, checked in a real headless Chromium: it loads with no console errors,
every player's source exists and plays, and the failed-lines filter works."""

from __future__ import annotations

import shutil

import pytest
from conftest import needs, write_jsonl

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")

pytestmark = needs(CHROMIUM is not None, "the distribution's chromium (.ci/run installs it)")

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.slow
def test_report_page_in_chromium(run_cli, tmp_path):
    rows = [
        {"id": "one", "text": "A first line for the reviewer.", "voice": "Calm_Woman"},
        {"id": "two", "text": "A second line, a little longer than the first.", "voice": "Wise_Woman"},
        {"id": "ghost", "text": "This voice does not exist.", "voice": "No_Such_Voice"},
    ]
    manifest = write_jsonl(tmp_path / "m.jsonl", rows)
    result = run_cli(manifest)
    assert result.exit_code == 1
    page_path = result.out_dir / "report.html"
    html_text = page_path.read_text()
    assert "http://" not in html_text and "https://" not in html_text, (
        "the page must not load anything remote"
    )

    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(page_path.as_uri())
        sources = page.eval_on_selector_all("audio", "els => els.map(e => e.getAttribute('src'))")
        assert sorted(sources) == ["one.mp3", "two.mp3"]
        for src in sources:
            assert (result.out_dir / src).is_file()
        # each player really loads its clip: the browser decodes the header and knows the duration
        durations = page.eval_on_selector_all(
            "audio",
            """els => Promise.all(els.map(e => new Promise(done => {
                 if (e.readyState >= 1) return done(e.duration);
                 e.addEventListener('loadedmetadata', () => done(e.duration));
                 e.addEventListener('error', () => done(-1));
                 e.load();
               })))""",
        )
        items = {i["id"]: i for i in result.report["items"]}
        for src, seconds in zip(sources, durations, strict=True):
            assert seconds == pytest.approx(items[src.removesuffix(".mp3")]["duration_s"], abs=0.1)
        assert page.locator("tbody tr:visible").count() == 3
        page.click("button[data-filter=failed]")
        visible = page.locator("tbody tr:visible")
        assert visible.count() == 1 and visible.first.get_attribute("data-id") == "ghost"
        assert page.inner_text("#shown") == "1"
        page.click("button[data-filter=all]")
        assert page.locator("tbody tr:visible").count() == 3
        assert page.locator("svg#pace circle").count() == 2
        browser.close()
    assert errors == []
