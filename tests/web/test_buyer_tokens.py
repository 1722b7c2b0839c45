"""Buyer tokens are checked with the signer's key derived once (web.auth.BuyerTokens._loads);
what they accept and refuse is exactly itsdangerous's."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

from web.auth import BuyerTokens

SECRET = "buyer-token-secret-0123456789"


def itsdangerous_verdict(token: str) -> object:
    try:
        value = URLSafeSerializer(SECRET, salt="livedrop.buyer").loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def test_the_quick_check_accepts_and_refuses_what_itsdangerous_does() -> None:
    tokens = BuyerTokens(SECRET)
    good = tokens.issue("a1b2c3d4e5f60718")
    payload, _, signature = good.rpartition(".")
    last = signature[-1]
    other_last = "A" if last != "A" else "B"
    candidates = [
        good,
        BuyerTokens("another-secret-0123456789").issue("a1b2c3d4e5f60718"),
        payload + "." + signature[:-1] + other_last,  # a signature changed in its last character
        payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + signature,  # the payload changed
        payload,  # no signature
        "." + signature,
        "",
        "not a token",
        URLSafeSerializer(SECRET, salt="livedrop.buyer").dumps(12345),  # signed, but not a buyer id
        URLSafeSerializer(SECRET, salt="livedrop.other").dumps("a1b2c3d4e5f60718"),  # another salt
        good + "x",
    ]
    for token in candidates:
        assert BuyerTokens(SECRET).verify(token) == itsdangerous_verdict(token), token
    assert BuyerTokens(SECRET).verify(good) == "a1b2c3d4e5f60718"


def test_the_keyed_hmac_is_hmac_sha1() -> None:
    """HmacSha1 (the key's states made once) against the standard library's HMAC, for keys
    shorter than, as long as and longer than SHA-1's 64-byte block, and messages of any length."""
    import hashlib
    import hmac
    import os

    from web.auth import HmacSha1

    for key_length in (0, 1, 20, 63, 64, 65, 200):
        key = os.urandom(key_length)
        mac = HmacSha1(key)
        for message in (b"", b"a", os.urandom(55), os.urandom(64), os.urandom(1000)):
            assert mac.digest(message) == hmac.new(key, message, hashlib.sha1).digest()
    assert HmacSha1(b"key").digest(b"The quick brown fox jumps over the lazy dog").hex() == \
        "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"  # RFC 2104's construction, the well-known test value
