"""The run viewer in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Screenshots go to ``tests/artifacts/serve/`` (ignored by git; ``EXO_TEST_ARTIFACTS`` moves
them). Without Chromium or Playwright these tests skip locally, and fail in CI (``CI=true``),
where ``.ci/run`` installs Chromium.
"""

from __future__ import annotations

import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from exo import Agent
from exo.serve import app
from serve.conftest import TOKEN
from serve.harness import GATE, PLAN, XSS, Server, agents, lookup

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("EXO_TEST_ARTIFACTS", Path(__file__).parent.parent / "artifacts"))


def _missing() -> str | None:
    if not Path(CHROMIUM).is_file():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the viewer tests need Chromium in CI: {missing}")
        pytest.skip(f"viewer tests: {missing}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{server.url}/?token={TOKEN}")  # signs in: the cookie, then / without the token
    assert page.url == f"{server.url}/"
    page.wait_for_selector("#list-view:not([hidden])")
    yield page
    context.close()
    assert problems == []  # no script error, no blocked resource (CSP), no failed request


def shot(page: Any, name: str) -> None:
    (ARTIFACTS / "serve").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve" / f"{name}.png"), full_page=True)


def start(server: Server, agent: str, task: str) -> str:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = httpx2.post(
        f"{server.url}/runs", json={"agent": agent, "input": task}, headers=headers
    )
    assert response.status_code == 202
    return str(response.json()["id"])


def test_a_run_shows_its_plan_tools_children_and_usage(page: Any, server: Server) -> None:
    run_id = start(server, "helper", "Tell me about svelte")
    row = page.wait_for_selector(f'tr[data-id="{run_id}"]')  # the list refreshes by itself
    page.wait_for_selector(f'tr[data-id="{run_id}"] .badge.completed')
    shot(page, "runs-list")
    row.click()
    page.wait_for_selector("#run-status.completed")
    assert page.inner_text("#plan") == PLAN
    tool = page.locator(".timeline > .item.tool", has_text="lookup")
    assert '"query": "svelte"' in tool.inner_text()
    assert "svelte: a compiler-based UI framework" in tool.locator(".result").inner_text()
    child = page.locator("#children .child")
    assert child.locator(".child-name").inner_text() == "helper_child_1"
    assert "Svelte compiles components" in child.inner_text()
    assert "task: summarize svelte" in child.inner_text()
    usage = page.inner_text("#usage")
    assert all(phase in usage for phase in ("plan", "execute", "children"))
    assert page.inner_text("#output").startswith("Svelte is small and fast")
    shot(page, "run-completed")


def test_the_timeline_updates_live(page: Any, server: Server) -> None:
    run_id = start(server, "gated", "Wait for the gate")
    page.goto(f"{server.url}/#/runs/{run_id}")
    call = page.wait_for_selector(".timeline .item.tool[data-call-id]")
    assert "wait_for_gate" in call.inner_text()
    assert page.inner_text("#run-status") == "running"
    assert page.locator(".timeline .item.tool .result").count() == 0  # the tool still waits
    shot(page, "run-live")
    GATE.set()
    page.wait_for_selector(".timeline .item.tool .result")  # arrived over SSE, no reload
    page.wait_for_selector("#run-status.completed")
    assert "gate opened for draft.txt" in page.inner_text(".timeline .item.tool .result")
    assert page.inner_text("#output") == "Done: gate opened for draft.txt"


def test_approve_a_tool_call_from_the_page(page: Any, server: Server) -> None:
    run_id = start(server, "janitor", "Delete the draft")
    page.goto(f"{server.url}/#/runs/{run_id}")
    request = page.wait_for_selector("#approvals:not([hidden]) .request")
    assert "delete_file" in request.inner_text() and '"path": "draft.txt"' in request.inner_text()
    shot(page, "run-paused")
    page.click("#approvals button.approve")
    page.wait_for_selector("#run-status.completed")
    assert page.inner_text("#output") == "Done: deleted draft.txt"
    assert page.is_hidden("#approvals")
    shot(page, "run-approved")


def test_edit_a_plan_before_it_runs(page: Any, server: Server) -> None:
    run_id = start(server, "writer", "Write a haiku")
    page.goto(f"{server.url}/#/runs/{run_id}")
    page.wait_for_selector("#approvals:not([hidden]) textarea.plan-edit")
    assert page.input_value("textarea.plan-edit") == PLAN
    page.fill("textarea.plan-edit", "1. Count syllables\n2. Write")
    page.click("#approvals button.edit")
    page.wait_for_selector("#run-status.completed")
    assert page.inner_text("#plan") == "1. Count syllables\n2. Write"


def test_cost_renders_as_money(page: Any) -> None:
    lines = page.locator("#cost > div")
    page.evaluate("renderCost(0.0123)")
    assert lines.all_text_contents() == ["cost $0.0123"]
    page.evaluate("renderCost({total: 0.5, by_phase: {plan: 0.1, execute: 0.4}})")
    assert lines.all_text_contents() == ["cost $0.5000", "plan: $0.1000", "execute: $0.4000"]


def test_a_run_started_from_the_page_appears(page: Any, server: Server) -> None:
    page.select_option("#new-agent", "plain")
    page.fill("#new-input", "hello from the page")
    page.click("#new-run button")
    page.wait_for_selector("#run-status.completed")
    assert page.inner_text("#output") == "Answer to: hello from the page"


def test_a_failed_run_shows_its_error(page: Any, server: Server) -> None:
    run_id = start(server, "broken", "Fail please")
    page.goto(f"{server.url}/#/runs/{run_id}")
    page.wait_for_selector("#run-status.failed")
    page.wait_for_selector("#run-error:not([hidden])")
    assert page.inner_text("#run-error") == (
        "ModelError: serve-test:m (HTTP 400): the server said no"
    )
    assert "the server said no" in page.inner_text(".timeline .item.error")
    shot(page, "run-failed")


def test_markup_in_run_data_renders_as_text_and_runs_no_script(
    browser: Any, tmp_path: Path
) -> None:
    """An agent name, task, plan, tool arguments and result and an error, each holding
    markup: all shown as the text they are, no element made of them, no script run (the
    page's console stays clean, so no inline handler was even refused by the CSP)."""
    hostile = Agent(name=XSS, model="serve-test:m", tools=[lookup], planning_enabled=True)
    database = str(tmp_path / "exo.db")
    server = Server(app([*agents(), hostile], token=TOKEN, database_url=database))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    try:
        run_id = start(server, XSS, f"Do it {XSS}")
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{server.url}/?token={TOKEN}")
        page.wait_for_selector(f'tr[data-id="{run_id}"] .badge.failed')
        assert XSS in page.inner_text(f'tr[data-id="{run_id}"]')  # the name, as text
        page.goto(f"{server.url}/#/runs/{run_id}")
        page.wait_for_selector("#run-error:not([hidden])")
        assert XSS in page.inner_text("#run-title")
        assert page.inner_text("#run-input") == f"Do it {XSS}"
        assert page.inner_text("#plan") == f"1. Look up {XSS}\n2. Fail with {XSS}"
        tool = page.locator(".timeline > .item.tool", has_text="lookup")
        assert json.dumps(XSS) in tool.inner_text()  # the arguments, as JSON text
        assert f"{XSS}: a compiler-based UI framework" in tool.locator(".result").inner_text()
        assert XSS in page.inner_text("#run-error")
        shot(page, "run-markup-as-text")
        assert page.evaluate("window.__pwned") is None
        made = page.evaluate("document.querySelectorAll('main img, main script').length")
        assert made == 0
    finally:
        context.close()
        server.stop()
    assert problems == []


def test_a_browser_without_a_session_signs_in_through_the_form(
    browser: Any, server: Server
) -> None:
    """The sign-in page loads whole (its stylesheet too: no other 401 than the page's own),
    and the form signs in. Before, the stylesheet needed the session the page was there to
    get, so the page showed unstyled."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    failed: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
        page.goto(f"{server.url}/")
        page.wait_for_selector("form input#token")
        assert page.evaluate("getComputedStyle(document.body).display") == "grid"  # styled
        shot(page, "sign-in")
        page.fill("#token", TOKEN)
        page.click("form button")
        page.wait_for_selector("#list-view:not([hidden])")
        assert page.url == f"{server.url}/"
    finally:
        context.close()
    assert failed == [f"{server.url}/"]  # the sign-in page itself answers 401
    assert len(errors) == 1 and "401" in errors[0]


def test_a_tokenless_server_takes_changes_from_its_own_page_only(
    browser: Any, tmp_path: Path
) -> None:
    """In a real browser: the viewer of a tokenless server starts and approves runs (its
    requests carry its own Origin), while another origin's page posting a no-cors fetch to
    it is refused, so no run starts."""
    server = Server(app(agents(), token=None, database_url=str(tmp_path / "exo.db")))
    other = _attacker_site()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{server.url}/")
        page.wait_for_selector("#list-view:not([hidden])")
        page.select_option("#new-agent", "plain")
        page.fill("#new-input", "hello from the page")
        page.click("#new-run button")
        page.wait_for_selector("#run-status.completed")
        assert page.inner_text("#output") == "Answer to: hello from the page"
        # A page of another origin: another site on loopback (so the browser's private
        # network rules, which block public pages, do not apply), e.g. another dev server.
        attacker = context.new_page()
        attacker.goto(f"http://127.0.0.1:{other.server_port}/")
        sent = attacker.evaluate(
            """url => fetch(url + "/runs", {method: "POST", mode: "no-cors",
                 headers: {"Content-Type": "text/plain"},
                 body: JSON.stringify({agent: "plain", input: "pwned"})}).then(r => r.type)""",
            server.url,
        )
        assert sent == "opaque"  # it reached the server (the browser hides the answer)
        metrics = httpx2.get(f"{server.url}/metrics").text
        assert 'exo_http_errors_total{status="403"} 1' in metrics  # refused: cross_origin
        runs = httpx2.get(f"{server.url}/runs").json()["data"]
        assert [run["input"] for run in runs] == ["hello from the page"]
    finally:
        context.close()
        server.stop()
        other.shutdown()
        other.server_close()


def _attacker_site() -> http.server.ThreadingHTTPServer:
    """A plain page on another loopback port (no CSP: its script may fetch anywhere)."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><p>another site</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    return site
