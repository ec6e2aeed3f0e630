"""The embedded default keeps working: the demo loads and an annotator labels on SQLite.

`make test` runs this file a second time with no DATABASE_URL, so it runs on SQLite
there (and on PostgreSQL in the main run, where it is just another test).
"""

from __future__ import annotations

import os

import pytest
from django.db import connection
from django.test import Client

from annotate.demo import DEMO_PASSWORD, demo_load
from annotate.models import Judgment

pytestmark = pytest.mark.django_db


class EmbeddedDefaultSmokeTests:
    def test_it_uses_sqlite_without_a_database_url(self) -> None:
        if os.environ.get("DATABASE_URL"):
            pytest.skip("DATABASE_URL is set: this run is on PostgreSQL")
        assert connection.vendor == "sqlite"

    def test_the_demo_loads_and_an_annotator_labels(self) -> None:
        summary = demo_load(prompts=30)
        assert summary.prompts >= 30 and summary.comparisons > 30
        web = Client()
        # Through the login page: django-axes refuses Client.login(), which has no request.
        login = web.post("/accounts/login/", {"username": "alice", "password": DEMO_PASSWORD})
        assert login.status_code == 302 and "/login/" not in login["Location"]
        page = web.get("/annotate/demo/")
        assert page.status_code == 200
        lease = page.context["lease"]
        response = web.post("/annotate/demo/submit/", {"assignment": lease.pk, "choice": "b", "strength": "slightly"})
        assert response.status_code == 302
        judgment = Judgment.objects.get(annotator__username="alice")
        assert judgment.choice == ("a" if lease.flipped else "b")
