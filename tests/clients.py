"""Test clients signed in as a user (or anonymous for None).

django-axes refuses ``client.login()``, which has no request: the web client logs in with
``force_login``; the API client authenticates with ``force_authenticate``.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient


def web_client(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def api_client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client
