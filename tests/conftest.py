"""Fixtures shared by every test. The database is PostgreSQL unless DATABASE_URL says otherwise."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from annotate.models import Project, Role
from tests.factories import add_member, make_project, make_superuser, make_user
from tests.xdist_env import isolate_xdist_worker

pytest_plugins = ["tests.worker", "tests.browser"]


def pytest_configure(config: pytest.Config) -> None:
    isolate_xdist_worker()


@pytest.fixture(scope="session", autouse=True)
def model_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Build the tiny models into pytest's cache folder, never into the user's cache.

    Kept between runs (a session folder only where the cache plugin is off): the built-in policy is
    pretrained when it is built (tens of seconds), and a build is the same for a given version and seed,
    which its folder name carries. Set in the environment, so the Celery workers tests start use it too.
    """
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("concord-models") if cache is not None else tmp_path_factory.mktemp("concord-models")
    previous = os.environ.get("CONCORD_MODEL_CACHE")
    os.environ["CONCORD_MODEL_CACHE"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("CONCORD_MODEL_CACHE", None)
    else:
        os.environ["CONCORD_MODEL_CACHE"] = previous


@pytest.fixture(scope="session", autouse=True)
def model_root_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Model versions and training runs under a session folder, for this process and every worker it starts."""
    from django.conf import settings

    root = tmp_path_factory.mktemp("model-root")
    previous = os.environ.get("CONCORD_MODEL_ROOT"), settings.CONCORD_MODEL_ROOT
    os.environ["CONCORD_MODEL_ROOT"] = str(root)
    settings.CONCORD_MODEL_ROOT = root
    yield root
    if previous[0] is None:
        os.environ.pop("CONCORD_MODEL_ROOT", None)
    else:
        os.environ["CONCORD_MODEL_ROOT"] = previous[0]
    settings.CONCORD_MODEL_ROOT = previous[1]


@pytest.fixture
def project(db: None) -> Project:
    return make_project(slug="demo")


@pytest.fixture
def annotator(project: Project) -> User:
    user = make_user("ann")
    add_member(project, user, Role.ANNOTATOR)
    return user


@pytest.fixture
def project_admin(project: Project) -> User:
    user = make_user("padmin")
    add_member(project, user, Role.ADMIN)
    return user


@pytest.fixture
def outsider(db: None) -> User:
    return make_user("outsider")


@pytest.fixture
def staff(db: None) -> User:
    """A staff account with no permissions: like any user outside the admin (annotate/access.py)."""
    return make_user("staff", staff=True)


@pytest.fixture
def superuser(db: None) -> User:
    return make_superuser("root")


@pytest.fixture
def staff_reader(db: None) -> User:
    """Staff with ``annotate.view_project``: reads every project's data, changes nothing."""
    return make_user("reader", staff=True, perms=["view_project"])


@pytest.fixture
def staff_operator(db: None) -> User:
    """Staff with add, change and delete ``project``: creates, administers and deletes every project."""
    return make_user("operator", staff=True, perms=["add_project", "change_project", "delete_project"])


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def web() -> Client:
    return Client()
