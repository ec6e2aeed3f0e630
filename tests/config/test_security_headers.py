"""The Content-Security-Policy on every page, and templates it can hold: no inline script, style or handler."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from annotate.models import Project

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))


def directives(header: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.mark.django_db
class ContentSecurityPolicyHeaderTests:
    @pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
    def test_it_sends_a_strict_policy_on_the_login_pages(self, web: Client, url: str) -> None:
        response = web.get(url)
        assert response.status_code == 200
        policy = directives(response["Content-Security-Policy"])
        assert policy["default-src"] == ["'self'"]
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
        assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'self'"]

    def test_it_sends_the_policy_on_the_annotator_page(
        self, web: Client, project: Project, annotator: User
    ) -> None:
        web.force_login(annotator)
        response = web.get(f"/annotate/{project.slug}/")
        assert response.status_code == 200
        header = response["Content-Security-Policy"]
        assert "unsafe-inline" not in header and "unsafe-eval" not in header

    def test_it_relaxes_styles_for_the_api_docs_only(self, web: Client, staff: User) -> None:
        web.force_login(staff)
        response = web.get("/api/docs/")
        assert response.status_code == 200
        policy = directives(response["Content-Security-Policy"])
        assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
        assert policy["worker-src"] == ["blob:"]
        assert policy["script-src"] == ["'self'"]


class TemplateInlineCodeTests:
    # A template that needs one of these moves its code to annotate/static/annotate/*.js or the
    # stylesheet: the policy would block it in the browser, silently for the user.
    @pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "templates")))
    def test_it_has_no_inline_handler_script_or_style(self, path: Path) -> None:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\son[a-z]+\s*=", text), "inline event handler"
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline <script> block"
        assert not re.search(r"<style\b", text), "inline <style> block"
        assert not re.search(r"\sstyle\s*=", text), "style attribute"
        assert "javascript:" not in text.lower()
        # htmx evaluates these with eval(), which the policy (and htmx.config.allowEval) refuses.
        assert not re.search(r"\s(data-)?hx-on", text), "hx-on handler"
        assert not re.search(r"hx-vals=['\"]\s*js:", text), "hx-vals js: expression"

    def test_it_found_the_templates(self) -> None:
        names = {p.name for p in TEMPLATES}
        assert {"base.html", "quality.html", "task.html", "login.html"} <= names
