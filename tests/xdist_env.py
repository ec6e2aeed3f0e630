"""Each pytest-xdist worker its own broker database, fault-test Redis port and media folder.

Called from ``pytest_configure`` (tests/conftest.py), before any test. pytest-django already gives
each worker its own test database (``test_<name>_gw0``, …); the Celery workers the tests start are
handed that database, ``settings.CELERY_BROKER_URL`` and ``settings.MEDIA_ROOT``, so they are this
worker's too. Celery reads its broker from the ``CELERY_BROKER_URL`` environment variable each time it
connects, hence the variable as well as the setting. Without xdist (or in xdist's controller, which
runs no test) nothing changes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def shifted_redis_url(url: str, index: int) -> str:
    """``redis://host:port/15`` for worker 0, ``…/14`` for worker 1, …: one database number each."""
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(db - index) % 16}"))


def isolate_xdist_worker() -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", … in a worker of `pytest -n`
    if not worker:
        return
    from django.conf import settings

    index = int(worker.removeprefix("gw"))
    broker = str(settings.CELERY_BROKER_URL)
    if broker.startswith("redis://"):
        settings.CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"] = shifted_redis_url(broker, index)
    port = int(os.environ.get("CONCORD_TEST_REDIS_PORT", "6391"))
    os.environ["CONCORD_TEST_REDIS_PORT"] = str(port + index)
    # Uploads and export files of this worker's tests, apart from the other's (job ids repeat across
    # the two databases).
    media = Path(tempfile.mkdtemp(prefix=f"concord-test-media-{worker}-"))
    settings.MEDIA_ROOT = media
    os.environ["MEDIA_ROOT"] = str(media)
