"""The back-office in a real browser: Debian's Chromium, headless, driven by Playwright.

The tests run the real stack: Django's live server (a thread of this process, on the transactional
test database), a real Celery worker on Redis where the worker matters, PostgreSQL. Every page
visited is saved as a full-page screenshot under artifacts/screenshots/<test>/ for review.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from fulfil.processes import wait_until

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("FULFIL_ARTIFACTS", Path(__file__).resolve().parents[3] / "artifacts"))
PASSWORD = "browser-test-password"


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per module (Playwright's own browser download is not used)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: apt-get install -y chromium", pytrace=False)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop marked as running on this thread, so Django would
    # refuse ORM calls from the test as if they came from async code. They do not: allow them
    # while the browser is up, and only then.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    """A fresh browser tab on the live server; fails the test on any JavaScript error."""
    # A common laptop screen: the pages must fit its width without scrolling sideways.
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 768}, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    js_errors: list[str] = []

    def on_console(message) -> None:
        if message.type == "error":
            js_errors.append(f"{message.text} ({message.location.get('url')})")

    page.on("pageerror", lambda error: js_errors.append(str(error)))
    page.on("console", on_console)
    yield page
    context.close()
    js_errors = [e for e in js_errors if "/favicon.ico" not in e]  # the browser asks; we have none
    assert not js_errors, f"JavaScript errors on the pages: {js_errors}"


@pytest.fixture
def shot(page, request) -> Callable[[str], Path]:
    """shot("label"): save a full-page screenshot of the current page as NN-label.png."""
    folder = ARTIFACTS / "screenshots" / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    taken = 0

    def take(label: str) -> Path:
        nonlocal taken
        taken += 1
        path = folder / f"{taken:02d}-{label}.png"
        page.screenshot(path=path, full_page=True)
        return path

    return take


def log_in(page, username: str) -> None:
    """Log in through the admin's real login form (the user's password is PASSWORD)."""
    page.goto("/admin/")
    page.wait_for_url("**/admin/login/**")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#fulfil-start")
    assert page.title() == "Catalogue, imports and webhooks | FulFil"
    assert page.inner_text("#user-tools").upper().startswith(f"WELCOME, {username.upper()}")


@pytest.fixture
def staff(page, shot, transactional_db) -> User:
    """A superuser, logged in through the admin's real login form."""
    user = User.objects.create_superuser("staff", "staff@example.com", PASSWORD)
    page.goto("/admin/login/")
    shot("login")
    log_in(page, "staff")
    shot("admin-home")
    return user


def job_page_finished(page, timeout: float = 60, worker=None) -> None:
    """Wait until a job page shows a finished job, loaded again to show its summary (the page
    reloads itself once the job it was watching has finished)."""
    from playwright.sync_api import Error

    def finished() -> bool:
        try:
            root = page.locator("[data-status-url]")
            classes = root.get_attribute("class", timeout=1000) or ""
            reloading = root.get_attribute("data-reload-when-finished", timeout=1000) is not None
        except Error:  # the page is being loaded again
            return False
        return not reloading and any(f"status-{s}" in classes for s in ("success", "failure", "revoked"))

    wait_until(finished, timeout=timeout, what="the job page to show the finished job", worker=worker)
    page.wait_for_load_state()


def fits_the_width(page, selector: str = "body") -> bool:
    """Whether the element's content fits its box, with no sideways scrolling (or cut text)."""
    return page.eval_on_selector(selector, "el => el.scrollWidth <= el.clientWidth")


def same_look(page, selector: str) -> list[tuple]:
    """The look of every visible element matching selector: height, font size, weight of border
    radius and padding; buttons that look alike give one distinct tuple."""
    script = """els => els.filter(e => e.offsetParent !== null).map(e => {
        const s = getComputedStyle(e);
        return [Math.round(e.getBoundingClientRect().height), s.fontSize, s.borderRadius, s.paddingTop, s.paddingLeft];
    })"""
    return sorted({tuple(look) for look in page.eval_on_selector_all(selector, script)})


def bar_drawn_full(page, timeout: float = 5) -> None:
    """Wait until the progress bar is drawn full (its width is animated), as a person would see it."""
    script = (
        "() => { const bar = document.querySelector('.bar');"
        " return bar.querySelector('.fill').getBoundingClientRect().width / bar.clientWidth; }"
    )
    wait_until(lambda: page.evaluate(script) > 0.995, timeout=timeout, what="the progress bar to be drawn full")
