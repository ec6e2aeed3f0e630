"""Fixtures that drive Debian's chromium through Playwright against Django's live server.

Playwright's own browser download does not work on these machines, so we launch
the system chromium by path. Playwright's sync API runs an event loop in the test
thread, which makes Django refuse ORM calls from the test body; the tests only
read the database between browser steps, so that check is switched off here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def log_in(page: Any, live_server: Any, user: Any, next_url: str) -> None:
    """Sign in through the login form (django-axes watches it) and wait until ``next_url`` has loaded."""
    from tests.factories import PASSWORD

    page.goto(f"{live_server.url}/accounts/login/?next={next_url}")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    # The login page's own URL ends with ?next=…: wait until it is gone.
    page.wait_for_url(lambda url: url.endswith(next_url) and "/login/" not in url)
