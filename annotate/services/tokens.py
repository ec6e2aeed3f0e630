"""API tokens: one per user (DRF's ``authtoken.Token``), created and revoked by their owner.

DRF stores the key as it is, not hashed, and ``annotate/api/authentication.py`` compares it
directly; so "shown once" is a promise of the pages (the key is shown on the response that
created it and never again), not of the storage.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from rest_framework.authtoken.models import Token


def token_create(*, user: User) -> Token:
    """A new key for ``user``; any earlier key stops working in the same transaction."""
    with transaction.atomic():
        # Two creates at once would both delete and then clash on the one-token-per-user key:
        # holding the user's row makes the second wait, and then replace the first one's key.
        User.objects.select_for_update().filter(pk=user.pk).first()
        Token.objects.filter(user=user).delete()
        return Token.objects.create(user=user)


def token_revoke(*, user: User) -> bool:
    """``user`` has no key any more; whether there was one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted > 0
