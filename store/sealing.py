"""Webhook signing secrets sealed at rest, with a key kept outside the database.

An HMAC signature needs the secret itself, so it cannot be stored as a hash. With
ENTENTE_WEBHOOK_SECRET_KEY set (32 random bytes in base64, given to the API and the
workers, never to the database), a secret is stored sealed with AES-256-GCM, bound to
its subscription id as associated data (a sealed value copied onto another subscription
does not open): a database dump or backup then holds no usable secret. Without the key,
secrets are stored as issued, and values sealed earlier cannot be opened (the delivery
fails and says so, until the key is given back).
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_ENV = "ENTENTE_WEBHOOK_SECRET_KEY"
SEALED = "sealed:v1:"


class SecretUnavailable(Exception):
    """A sealed secret that the configured key (or its absence) cannot open."""


def key_from_env() -> bytes | None:
    """The sealing key, or None when not configured; ValueError when it is malformed."""
    text = os.environ.get(KEY_ENV, "").strip()
    if not text:
        return None
    try:
        key = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError(f"{KEY_ENV} is not base64") from None
    if len(key) != 32:
        raise ValueError(f"{KEY_ENV} must be 32 bytes (base64 of `openssl rand 32`)")
    return key


def seal(secret: str, subscription_id: uuid.UUID, key: bytes | None) -> str:
    """What to store for `secret`: sealed when there is a key, else the secret itself."""
    if key is None:
        return secret
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(key).encrypt(nonce, secret.encode(), subscription_id.bytes)
    return SEALED + base64.b64encode(nonce + sealed).decode()


def unseal(stored: str, subscription_id: uuid.UUID, key: bytes | None) -> str:
    """The secret a stored value holds; SecretUnavailable when it cannot be opened."""
    if not stored.startswith(SEALED):
        return stored
    if key is None:
        raise SecretUnavailable(f"the secret is sealed and {KEY_ENV} is not set")
    raw = base64.b64decode(stored[len(SEALED) :])
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], subscription_id.bytes).decode()
    except InvalidTag:
        raise SecretUnavailable(f"the secret was sealed with another {KEY_ENV}") from None
