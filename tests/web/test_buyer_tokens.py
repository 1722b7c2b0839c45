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
