"""Production settings read from the environment: `check --deploy` is clean with the documented one.

Settings are computed when ``config.settings`` is imported, so each case runs ``manage.py``
or Python in a child process with the environment it names, as gunicorn would start.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / "docker" / ".env.example"
SECURITY_SETTINGS = [
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "AXES_FAILURE_LIMIT",
    "AXES_COOLOFF_TIME",
]


def documented_environment() -> dict[str, str]:
    """docker/.env.example as Docker Compose reads it (an inline comment follows whitespace)."""
    env: dict[str, str] = {}
    for raw in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"{ENV_EXAMPLE}: {raw!r} is not NAME=value"
        env[name.strip()] = value.split(" #", 1)[0].split("\t#", 1)[0].strip()
    return env


def strong_secret() -> str:
    return secrets.token_urlsafe(50)


def run_child(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # Only what the child is given: nothing leaks in from the test run's own environment.
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def settings_in(env: dict[str, str], tmp_path: Path) -> dict[str, object]:
    names = json.dumps(SECURITY_SETTINGS)
    code = (
        "import json; from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n, None) for n in {names}}}, default=str))"
    )
    child = run_child(["-c", code], {"DJANGO_SETTINGS_MODULE": "config.settings", **env}, tmp_path)
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout.strip().splitlines()[-1])


class DeployCheckTests:
    def test_it_passes_check_deploy_with_the_documented_environment(self, tmp_path: Path) -> None:
        env = {**documented_environment(), "SECRET_KEY": strong_secret()}
        assert env["DEBUG"] == "0"
        child = run_child(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env, tmp_path)
        assert child.returncode == 0, child.stdout + child.stderr
        assert "System check identified no issues (0 silenced)." in child.stdout

    def test_it_passes_check_deploy_with_only_what_production_requires(self, tmp_path: Path) -> None:
        env = {"DEBUG": "0", "SECRET_KEY": strong_secret(), "ALLOWED_HOSTS": "concord.example.org"}
        child = run_child(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env, tmp_path)
        assert child.returncode == 0, child.stdout + child.stderr
        assert "System check identified no issues (0 silenced)." in child.stdout

    def test_it_still_flags_the_placeholder_secret_key(self, tmp_path: Path) -> None:
        # The documented file as it is: its SECRET_KEY is a placeholder, and the check says so.
        child = run_child(["manage.py", "check", "--deploy"], documented_environment(), tmp_path)
        assert "security.W009" in child.stdout + child.stderr

    def test_it_warns_when_an_operator_turns_hsts_off(self, tmp_path: Path) -> None:
        env = {**documented_environment(), "SECRET_KEY": strong_secret(), "SECURE_HSTS_SECONDS": "0"}
        child = run_child(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env, tmp_path)
        assert child.returncode != 0
        assert "security.W004" in child.stdout + child.stderr


class SecureDefaultsTests:
    def test_it_defaults_to_https_only_without_debug(self, tmp_path: Path) -> None:
        values = settings_in(
            {"DEBUG": "0", "SECRET_KEY": strong_secret(), "ALLOWED_HOSTS": "x.org"}, tmp_path
        )
        assert values["SECURE_SSL_REDIRECT"] is True
        assert values["SESSION_COOKIE_SECURE"] is True and values["CSRF_COOKIE_SECURE"] is True
        assert values["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600
        assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True and values["SECURE_HSTS_PRELOAD"] is True
        # Trusting a proxy header is a decision only the operator can make.
        assert values["SECURE_PROXY_SSL_HEADER"] is None

    def test_it_keeps_plain_http_in_development(self, tmp_path: Path) -> None:
        values = settings_in({"DEBUG": "1", "CONCORD_VAR_DIR": str(tmp_path / "var")}, tmp_path)
        assert values["SECURE_SSL_REDIRECT"] is False
        assert values["SESSION_COOKIE_SECURE"] is False and values["CSRF_COOKIE_SECURE"] is False
        assert values["SECURE_HSTS_SECONDS"] == 0

    def test_it_reads_each_setting_from_the_environment(self, tmp_path: Path) -> None:
        secret = tmp_path / "secret_key"
        secret.write_text(strong_secret() + "\n", encoding="utf-8")
        cooloff = tmp_path / "cooloff"
        cooloff.write_text("30", encoding="utf-8")
        values = settings_in(
            {
                "DEBUG": "0",
                "SECRET_KEY_FILE": str(secret),
                "ALLOWED_HOSTS": "x.org",
                "SECURE_SSL_REDIRECT": "0",
                "SECURE_HSTS_SECONDS": "3600",
                "SECURE_HSTS_PRELOAD": "no",
                "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto,https",
                "AXES_FAILURE_LIMIT": "8",
                "AXES_COOLOFF_MINUTES_FILE": str(cooloff),
            },
            tmp_path,
        )
        assert values["SECURE_SSL_REDIRECT"] is False
        assert values["SECURE_HSTS_SECONDS"] == 3600 and values["SECURE_HSTS_PRELOAD"] is False
        assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
        assert values["AXES_FAILURE_LIMIT"] == 8
        assert values["AXES_COOLOFF_TIME"] == "0:30:00"

    @pytest.mark.parametrize(
        ("name", "value", "message"),
        [
            ("SECURE_HSTS_SECONDS", "a-year", "SECURE_HSTS_SECONDS='a-year' is not an integer"),
            ("SECURE_HSTS_SECONDS", "-1", "SECURE_HSTS_SECONDS=-1 must be 0 (off) or positive"),
            ("SESSION_COOKIE_SECURE", "maybe", "SESSION_COOKIE_SECURE='maybe' is not a boolean"),
            (
                "SECURE_PROXY_SSL_HEADER",
                "X-Forwarded-Proto",
                "SECURE_PROXY_SSL_HEADER='X-Forwarded-Proto' must be",
            ),
            ("AXES_FAILURE_LIMIT", "0", "AXES_FAILURE_LIMIT=0 must be at least 1"),
            ("AXES_COOLOFF_MINUTES", "soon", "AXES_COOLOFF_MINUTES='soon' is not an integer"),
        ],
    )
    def test_it_refuses_to_start_on_a_bad_value_and_names_it(
        self, tmp_path: Path, name: str, value: str, message: str
    ) -> None:
        env = {"DEBUG": "0", "SECRET_KEY": strong_secret(), "ALLOWED_HOSTS": "x.org", name: value}
        child = run_child(["manage.py", "check"], env, tmp_path)
        assert child.returncode != 0
        assert "ImproperlyConfigured" in child.stderr and message in child.stderr


# What a production process answers, through Django's whole middleware stack: plain HTTP is
# redirected, HTTPS (as the proxy reports it) carries HSTS, secure cookies and the CSP.
RESPONSES_SCRIPT = """
import json, django
django.setup()
from django.test import Client
web = Client(SERVER_NAME="concord.example.org")
plain = web.get("/accounts/login/")
https = web.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
cookie = https.cookies.get("csrftoken")
print(json.dumps({
    "plain": [plain.status_code, plain.get("Location")],
    "https": [https.status_code, https.get("Strict-Transport-Security"), https.get("Content-Security-Policy")],
    "csrf_cookie_secure": bool(cookie and cookie["secure"]),
}))
"""


class ProductionResponseTests:
    def test_it_redirects_to_https_and_sends_hsts_and_secure_cookies(self, tmp_path: Path) -> None:
        env = {
            **documented_environment(),
            "SECRET_KEY": strong_secret(),
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        # No server to reach here: SQLite in a temporary folder (the login page GET needs no rows).
        env.pop("DATABASE_URL")
        env.pop("CELERY_BROKER_URL")
        env["CONCORD_VAR_DIR"] = str(tmp_path / "var")
        env["MEDIA_ROOT"] = str(tmp_path / "media")
        child = run_child(["-c", RESPONSES_SCRIPT], env, tmp_path)
        assert child.returncode == 0, child.stderr
        seen = json.loads(child.stdout.strip().splitlines()[-1])
        assert seen["plain"] == [301, "https://concord.example.org/accounts/login/"]
        status, hsts, csp = seen["https"]
        assert status == 200
        assert hsts == "max-age=31536000; includeSubDomains; preload"
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert seen["csrf_cookie_secure"] is True
