"""Django's four standard password validators, in validate_password and in createsuperuser."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
STRONG = "violet-harbour-quietly-47"


def refusal(password: str, user: User | None = None) -> list[str]:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        return [str(message) for message in exc.messages]
    return []


class PasswordValidatorsTests:
    def test_it_refuses_password(self) -> None:
        assert refusal("password") == ["This password is too common."]

    @pytest.mark.parametrize(
        ("password", "reason"),
        [
            ("short1!", "This password is too short. It must contain at least 8 characters."),
            ("4815162342", "This password is entirely numeric."),
            ("qwertyuiop", "This password is too common."),
        ],
    )
    def test_it_refuses_weak_passwords_and_says_why(self, password: str, reason: str) -> None:
        assert reason in refusal(password)

    def test_it_refuses_a_password_like_the_username(self) -> None:
        user = User(username="margaret.hamilton", email="margaret@example.org")
        assert "The password is too similar to the username." in refusal("margaret.hamilton1", user)

    def test_it_accepts_a_strong_password(self) -> None:
        user = User(username="margaret.hamilton", email="margaret@example.org")
        assert refusal(STRONG, user) == []


def converse(
    args: list[str], env: dict[str, str], answers: list[tuple[str, str]], timeout: float = 60
) -> str:
    """Run a command on a terminal (getpass needs one), answering each prompt as it appears."""
    main, child_end = pty.openpty()
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdin=child_end, stdout=child_end, stderr=child_end, close_fds=True
    )
    os.close(child_end)
    seen = ""
    answered_up_to = 0  # each prompt is looked for only in what came after the last answer
    pending = list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(main, 4096).decode(errors="replace")
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if pending and pending[0][0] in seen[answered_up_to:]:
                _, answer = pending.pop(0)
                os.write(main, (answer + "\n").encode())
                answered_up_to = len(seen)
            if process.poll() is not None and not ready:
                break
    finally:
        process.kill()
        process.wait()
        os.close(main)
    return seen


@pytest.mark.django_db(transaction=True)
class CreateSuperuserValidationTests:
    def test_it_refuses_password_and_takes_a_strong_one(self) -> None:
        db = connection.settings_dict
        if db["ENGINE"] != "django.db.backends.postgresql":
            pytest.skip("the child process reaches the test database by DATABASE_URL (PostgreSQL)")
        url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
        env.pop("DJANGO_SUPERUSER_PASSWORD", None)
        transcript = converse(
            [
                sys.executable,
                "manage.py",
                "createsuperuser",
                "--username",
                "root-admin",
                "--email",
                "r@example.org",
            ],
            env,
            [
                ("Password:", "password"),
                ("Password (again):", "password"),
                ("Bypass password validation and create user anyway? [y/N]:", "N"),
                ("Password:", STRONG),
                ("Password (again):", STRONG),
            ],
        )
        assert "This password is too common." in transcript
        assert "Superuser created successfully." in transcript, transcript
        admin = User.objects.get(username="root-admin")
        assert admin.is_superuser and admin.check_password(STRONG)
