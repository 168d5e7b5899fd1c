"""API tokens (SPEC §7, §9): a user's tokens, made, listed and revoked, and the DRF
authentication that reads them.

- A token is ``Authorization: Token <key>``; only the key's SHA-256 is stored and the key is
  shown once. A user may hold up to ``API_TOKENS_PER_USER`` tokens, each with a name.
- Every request looks the token up in the database (no cache): a revoked token is refused by
  the very next request.
- A token remembers a fingerprint of its user's password: changing the password (the page, the
  admin, ``changepassword``) ends every token made before, and new ones are made as usual.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework import authentication, exceptions

from crm.errors import Conflict, NotFound, ValidationFailed
from crm.models import ApiToken, User

KEY_BYTES = 20  # 40 hex characters, like DRF's tokens
PREFIX_CHARS = 8
NAME_MAX = ApiToken._meta.get_field("name").max_length
DEFAULT_NAME = "API"
# ``last_used_at`` is written at most this often per token (not on every request).
LAST_USED_RESOLUTION = timedelta(minutes=5)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def password_fingerprint(user: User) -> str:
    """Changes whenever the user's password (hash) changes."""
    return salted_hmac("crm.ApiToken", user.password, algorithm="sha256").hexdigest()


def _is_current(token: ApiToken, user: User) -> bool:
    return constant_time_compare(token.password_hash, password_fingerprint(user))


# --- reads -------------------------------------------------------------------------------------
def token_list(*, user: User) -> QuerySet[ApiToken]:
    """The user's tokens that still work (newest first)."""
    return ApiToken.objects.filter(user=user, password_hash=password_fingerprint(user))


def user_for_key(key: str) -> tuple[User, ApiToken] | None:
    """The active user a key belongs to and its token, or None (unknown, revoked, made before
    the password changed, user inactive). Always a database read."""
    if not key or len(key) > 100:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=key_hash(key)).first()
    if token is None or not token.user.is_active or not _is_current(token, token.user):
        return None
    return token.user, token


# --- writes ------------------------------------------------------------------------------------
@transaction.atomic
def token_create(*, by: User, name: str = "") -> tuple[ApiToken, str]:
    """A new token of ``by``; returns it and its key (the only time the key is known)."""
    name = (name or "").strip() or DEFAULT_NAME
    if len(name) > NAME_MAX:
        raise ValidationFailed(
            f"A token's name has at most {NAME_MAX} characters.",
            details={"name": [f"Ensure this field has no more than {NAME_MAX} characters."]},
        )
    tokens_purge_stale(user=by)
    # Locks the user's row: two concurrent requests cannot both pass the limit.
    User.objects.select_for_update().filter(pk=by.pk).first()
    limit = settings.API_TOKENS_PER_USER
    if ApiToken.objects.filter(user=by).count() >= limit:
        raise Conflict(
            f"You already have {limit} API tokens; revoke one first.", code="too_many_tokens"
        )
    key = secrets.token_hex(KEY_BYTES)
    token = ApiToken.objects.create(
        user=by,
        name=name,
        key_hash=key_hash(key),
        prefix=key[:PREFIX_CHARS],
        password_hash=password_fingerprint(by),
    )
    return token, key


@transaction.atomic
def token_revoke(*, by: User, token_id: int) -> None:
    """Revoke one of ``by``'s tokens: it stops working at once. Anyone else's is not found."""
    if not 0 < token_id < 2**63:  # beyond a bigint: no such row (and no database error)
        raise NotFound("No such API token.")
    deleted, _ = ApiToken.objects.filter(user=by, pk=token_id).delete()
    if not deleted:
        raise NotFound("No such API token.")


def tokens_purge_stale(*, user: User) -> int:
    """Delete the tokens that stopped working when the password changed."""
    deleted, _ = (
        ApiToken.objects.filter(user=user).exclude(password_hash=password_fingerprint(user))
    ).delete()
    return deleted


def _touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


# --- DRF ---------------------------------------------------------------------------------------
class TokenAuthentication(authentication.TokenAuthentication):
    """``Authorization: Token <key>`` against ``ApiToken`` (401 for anything not valid now).

    ``request.auth`` is the ``ApiToken``.
    """

    def authenticate_credentials(self, key: str):
        found = user_for_key(key)
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        user, token = found
        _touch(token)
        return user, token
