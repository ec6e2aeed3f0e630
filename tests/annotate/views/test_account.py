"""The API token page: create (key shown on that response only), replace, revoke; and the key works.

DRF stores keys as they are, so "shown once" is the page's promise: no later page shows it.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from rest_framework.authtoken.models import Token

from annotate.services.tokens import token_create
from tests.browser import log_in
from tests.clients import web_client
from tests.factories import make_user

PAGE = "/accounts/token/"


def _api_status(key: str) -> int:
    return int(Client().get("/api/projects/", headers={"Authorization": f"Token {key}"}).status_code)


@pytest.mark.django_db
class TokenPageTests:
    def test_it_shows_the_new_key_once_and_the_key_authenticates(self, annotator: User) -> None:
        web = web_client(annotator)
        assert "You have no token." in web.get(PAGE).content.decode()
        created = web.post(PAGE)
        assert created.status_code == 200
        key = Token.objects.get(user=annotator).key
        assert f'<code id="new-token">{key}</code>' in created.content.decode()
        assert "no-store" in created["Cache-Control"]
        later = web.get(PAGE).content.decode()
        assert key not in later
        assert "Its key is not shown again." in later
        assert _api_status(key) == 200

    def test_replacing_the_key_stops_the_old_one(self, annotator: User) -> None:
        web = web_client(annotator)
        web.post(PAGE)
        old = Token.objects.get(user=annotator).key
        web.post(PAGE)
        new = Token.objects.get(user=annotator).key
        assert new != old
        assert (_api_status(old), _api_status(new)) == (401, 200)

    def test_revoking_removes_the_key(self, annotator: User) -> None:
        web = web_client(annotator)
        web.post(PAGE)
        key = Token.objects.get(user=annotator).key
        response = web.post(f"{PAGE}revoke/")
        assert response.status_code == 302
        assert "Your token was revoked" in web.get(response["Location"]).content.decode()
        assert not Token.objects.filter(user=annotator).exists()
        assert _api_status(key) == 401

    def test_it_only_ever_touches_the_signed_in_users_own_token(
        self, annotator: User, outsider: User
    ) -> None:
        other = Token.objects.create(user=outsider)
        web_client(annotator).post(PAGE)
        web_client(annotator).post(f"{PAGE}revoke/")
        assert Token.objects.get(user=outsider).key == other.key

    def test_revoke_is_post_only(self, annotator: User) -> None:
        Token.objects.create(user=annotator)
        assert web_client(annotator).get(f"{PAGE}revoke/").status_code == 405
        assert Token.objects.filter(user=annotator).exists()


@pytest.mark.django_db(transaction=True)
class TokenCreateConcurrencyTests:
    def test_two_creates_at_once_both_answer_and_leave_one_token(self) -> None:
        user = make_user("racer")
        barrier = threading.Barrier(2)
        keys: list[str] = []

        def create() -> None:
            barrier.wait()
            try:
                keys.append(token_create(user=user).key)
            finally:
                connection.close()

        threads = [threading.Thread(target=create) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(keys) == 2
        assert list(Token.objects.filter(user=user).values_list("key", flat=True)) in ([keys[0]], [keys[1]])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
class TokenPageBrowserTests:
    def test_it_creates_shows_once_and_revokes_a_token(self, page: Any, live_server: Any) -> None:
        user = make_user("tokenuser")
        log_in(page, live_server, user, "/annotate/")
        page.click("text=Your API token")
        page.wait_for_selector("#token-state:has-text('You have no token.')")
        page.click("#token-create")
        key = page.inner_text("#new-token").strip()
        assert key == Token.objects.get(user=user).key
        assert _api_status(key) == 200
        page.goto(f"{live_server.url}{PAGE}")
        assert page.locator("#new-token").count() == 0
        assert key not in page.content()
        page.click("#token-revoke")
        page.wait_for_selector("#token-revoked")
        assert not Token.objects.filter(user=user).exists()
        assert _api_status(key) == 401
