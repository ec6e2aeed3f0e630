"""Fixtures that drive Debian's chromium through Playwright against Django's live server."""
