"""Feishu's event encryption and request signatures. Pure functions.

With an Encrypt Key set in the developer console, Feishu posts ``{"encrypt": "<base64>"}``:
AES-256-CBC, key = sha256(encrypt_key), the first 16 bytes of the decoded data are the IV,
PKCS#7 padding. It signs each request: ``X-Lark-Signature`` = hex sha256 of
``timestamp + nonce + encrypt_key + raw body``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_BLOCK = 16


class DecryptError(ValueError):
    pass


def _key(encrypt_key: str) -> bytes:
    return hashlib.sha256(encrypt_key.encode()).digest()


def decrypt(encrypted: str, encrypt_key: str) -> str:
    """The plaintext of an ``encrypt`` field; ``DecryptError`` if it is not one."""
    try:
        data = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptError("the encrypted body is not base64") from None
    if len(data) < 2 * _BLOCK or len(data) % _BLOCK:
        raise DecryptError("the encrypted body has an invalid length")
    decryptor = Cipher(algorithms.AES(_key(encrypt_key)), modes.CBC(data[:_BLOCK])).decryptor()
    padded = decryptor.update(data[_BLOCK:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
        return plain.decode()
    except (ValueError, UnicodeDecodeError):
        raise DecryptError("the body does not decrypt with this encrypt key") from None


def encrypt(plaintext: str, encrypt_key: str, *, iv: bytes | None = None) -> str:
    """What Feishu does to a body (used by the tests' fake platform)."""
    iv = iv if iv is not None else os.urandom(_BLOCK)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(_key(encrypt_key)), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + encryptor.update(padded) + encryptor.finalize()).decode()


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def signature_valid(timestamp: str, nonce: str, encrypt_key: str, body: bytes, given: str) -> bool:
    """Compare in constant time."""
    try:
        expected = signature(timestamp, nonce, encrypt_key, body)
        claimed = given.strip().lower().encode()
    except UnicodeEncodeError:  # a header no one but a forger writes (a lone surrogate)
        return False
    return hmac.compare_digest(expected.encode(), claimed)
