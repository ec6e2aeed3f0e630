"""Login throttling (django-axes) on the site and admin login pages, over real form posts."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

LOGIN_PAGES = ["/accounts/login/", "/admin/login/"]


def post_login(web: Client, url: str, username: str, password: str) -> int:
    return web.post(url, {"username": username, "password": password, "next": "/annotate/"}).status_code


def logged_in(web: Client) -> bool:
    return "_auth_user_id" in web.session


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    # PBKDF2's million rounds cost ~0.5 s a login on this machine; what is tested is the count.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(db: None) -> User:
    # Staff, so that the admin login page lets her in once the password is right.
    return make_user("alice", staff=True)


class LoginThrottleTests:
    def test_the_limit_comes_from_settings(self) -> None:
        assert 3 <= settings.AXES_FAILURE_LIMIT <= 10
        assert timedelta(minutes=1) <= settings.AXES_COOLOFF_TIME

    @pytest.mark.parametrize("url", LOGIN_PAGES)
    def test_it_refuses_the_right_password_after_the_failure_limit(
        self, web: Client, alice: User, url: str
    ) -> None:
        limit = settings.AXES_FAILURE_LIMIT
        codes = [post_login(web, url, "alice", f"wrong-{n}") for n in range(limit)]
        # Each wrong password shows the form again; the one that reaches the limit locks.
        assert codes == [200] * (limit - 1) + [429]
        response = web.post(url, {"username": "alice", "password": PASSWORD})
        assert response.status_code == 429
        assert b"Too many failed logins" in response.content
        assert not logged_in(web)

    @pytest.mark.parametrize("url", LOGIN_PAGES)
    def test_it_lets_the_right_password_in_just_below_the_limit_and_starts_again(
        self, web: Client, alice: User, url: str
    ) -> None:
        limit = settings.AXES_FAILURE_LIMIT
        for n in range(limit - 1):
            assert post_login(web, url, "alice", f"wrong-{n}") == 200
        assert post_login(web, url, "alice", PASSWORD) == 302 and logged_in(web)
        # The success cleared the count: the same number of mistakes again does not lock.
        again = Client()
        for n in range(limit - 1):
            assert post_login(again, url, "alice", f"wrong-{n}") == 200
        assert post_login(again, url, "alice", PASSWORD) == 302 and logged_in(again)

    def test_a_lock_earned_on_one_login_page_holds_on_the_other(self, web: Client, alice: User) -> None:
        for n in range(settings.AXES_FAILURE_LIMIT):
            post_login(web, "/accounts/login/", "alice", f"wrong-{n}")
        assert post_login(Client(), "/admin/login/", "alice", PASSWORD) == 429

    def test_it_locks_only_that_username_from_that_address(self, web: Client, alice: User) -> None:
        make_user("bob")
        for n in range(settings.AXES_FAILURE_LIMIT):
            post_login(web, "/accounts/login/", "alice", f"wrong-{n}")
        bob = Client()
        assert post_login(bob, "/accounts/login/", "bob", PASSWORD) == 302 and logged_in(bob)
        elsewhere = Client(REMOTE_ADDR="198.51.100.7")
        assert post_login(elsewhere, "/accounts/login/", "alice", PASSWORD) == 302 and logged_in(elsewhere)

    def test_it_lets_the_right_password_in_after_the_cool_off(self, web: Client, alice: User) -> None:
        with override_settings(AXES_COOLOFF_TIME=timedelta(seconds=2)):
            for n in range(settings.AXES_FAILURE_LIMIT):
                post_login(web, "/accounts/login/", "alice", f"wrong-{n}")
            assert post_login(web, "/accounts/login/", "alice", PASSWORD) == 429
            # That refused attempt started the cool-off again: wait it out from there.
            time.sleep(2.5)
            assert post_login(web, "/accounts/login/", "alice", PASSWORD) == 302 and logged_in(web)

    def test_forty_wrong_passwords_never_let_the_forty_first_in(self, web: Client, alice: User) -> None:
        # The attack from the issue: before, the 41st (right) password logged in.
        codes = [post_login(web, "/accounts/login/", "alice", f"guess-{n}") for n in range(40)]
        assert codes.count(429) == 40 - settings.AXES_FAILURE_LIMIT + 1
        assert post_login(web, "/accounts/login/", "alice", PASSWORD) == 429 and not logged_in(web)

    def test_a_locked_user_keeps_api_token_access(self, web: Client, alice: User) -> None:
        # Tokens are their own secrets and are not guessed through the login form.
        for n in range(settings.AXES_FAILURE_LIMIT):
            post_login(web, "/accounts/login/", "alice", f"wrong-{n}")
        token = Token.objects.create(user=alice)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        assert api.get("/api/projects/").status_code == 200
