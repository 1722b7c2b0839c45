"""Who is calling: hosts (API token or panel session + CSRF header) and buyers (signed token).

Host passwords are argon2 hashes. API tokens are random and stored as SHA-256 only. Buyer tokens
are signed with SECRET_KEY and need no database read, which matters in a drop: every hold request
carries one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection
from starlette.types import Scope

from inventory.checkout import normalize_email
from inventory.clock import now_ms
from inventory.models import Buyer, Host
from web.errors import ApiError
from web.models import ApiToken

BUYER_COOKIE = "livedrop_buyer"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_hasher = PasswordHasher()


class EmailTaken(ValueError):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def valid_email(email: str) -> bool:
    local, at, domain = email.partition("@")
    return bool(at and local and "." in domain and " " not in email and len(email) <= 320)


async def create_host(sessions: async_sessionmaker, email: str, password: str, name: str = "") -> Host:
    email = normalize_email(email)
    if not valid_email(email):
        raise ValueError(f"{email!r} is not an email address")
    if len(password) < 8:
        raise ValueError("the password must be at least 8 characters long")
    async with sessions() as session:
        host = Host(email=email, name=name or email.split("@")[0], password_hash=hash_password(password))
        session.add(host)
        try:
            await session.commit()
        except IntegrityError:
            raise EmailTaken(f"a host with the email {email} already exists") from None
        return host


async def host_by_email(session: AsyncSession, email: str) -> Host | None:
    return (await session.execute(select(Host).where(Host.email == normalize_email(email)))).scalar_one_or_none()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_api_token(sessions: async_sessionmaker, host_id: int, name: str = "") -> str:
    token = "ldh_" + secrets.token_urlsafe(32)
    async with sessions() as session:
        session.add(ApiToken(host_id=host_id, token_hash=_token_hash(token), name=name))
        await session.commit()
    return token


async def host_for_token(session: AsyncSession, token: str) -> Host | None:
    row = (
        await session.execute(
            select(Host).join(ApiToken, ApiToken.host_id == Host.id).where(ApiToken.token_hash == _token_hash(token))
        )
    ).scalar_one_or_none()
    return row


def bearer_token(conn: HTTPConnection) -> str | None:
    return bearer_of(conn.headers.get("authorization", ""))


def bearer_of(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value; None for anything else."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


# -- the panel session -------------------------------------------------------------------------


def csrf_token(session: dict) -> str:
    """The session's CSRF token (made on first use); the panel sends it back in X-CSRF-Token."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(24)
    return token


def csrf_ok(conn: HTTPConnection, submitted: str | None) -> bool:
    expected = conn.session.get("csrf")
    return bool(expected and submitted and hmac.compare_digest(expected, submitted))


async def current_host(conn: HTTPConnection, sessions: async_sessionmaker, method: str = "GET") -> Host:
    """The host behind a request, or 401. A session without the CSRF header on a state-changing
    request is refused (403) even though the cookie is valid: that is what CSRF protection means."""
    token = bearer_token(conn)
    async with sessions() as session:
        if token is not None:
            host = await host_for_token(session, token)
            if host is None:
                raise ApiError(401, "unauthorized", "the API token is not valid")
            return host
        host_id = conn.session.get("host_id") if "session" in conn.scope else None
        if host_id is None:
            raise ApiError(
                401, "unauthorized", "sign in at /host/login or send Authorization: Bearer <host token>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if method not in SAFE_METHODS and not csrf_ok(conn, conn.headers.get(CSRF_HEADER)):
            raise ApiError(403, "csrf_failed", "missing or wrong X-CSRF-Token header; reload the control panel")
        host = await session.get(Host, host_id)
        if host is None:
            raise ApiError(401, "unauthorized", "your session has ended; sign in again")
        return host


# -- buyers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuyerIdentity:
    buyer_id: str
    token: str


_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _buyer_id_of(payload: bytes) -> str | None:
    """The buyer id in a signed token's payload when it is the plain case ``issue`` writes (the
    base64 of a JSON string of letters and digits); None for anything else, which itsdangerous
    then reads. 1.2 µs instead of itsdangerous's 6.3 (its base64 and JSON layers), on every new
    buyer's first request: 100,000 joins before a drop."""
    if payload[:1] == b".":  # itsdangerous's mark of a compressed payload
        return None
    try:
        raw = binascii.a2b_base64(payload.translate(_FROM_URLSAFE) + b"=" * (-len(payload) % 4))
    except binascii.Error:
        return None
    inner = raw[1:-1]
    if len(raw) < 3 or raw[:1] != b'"' or raw[-1:] != b'"' or not inner.isalnum() or not inner.isascii():
        return None
    return inner.decode("ascii")


class HmacSha1:
    """HMAC-SHA1 under one key, its inner and outer hash states made once (RFC 2104): a message
    costs two copies and two short SHA-1 updates. ``hmac.digest`` sets the key up again on every
    call (OpenSSL 3 fetches the algorithm each time): 6.8 µs a token here against 0.95, and every
    join of a waiting room and every draw entry checks a token seen for the first time."""

    BLOCK = 64  # SHA-1's block size in bytes

    def __init__(self, key: bytes) -> None:
        if len(key) > self.BLOCK:
            key = hashlib.sha1(key).digest()
        key = key.ljust(self.BLOCK, b"\0")
        self._inner = hashlib.sha1(key.translate(_IPAD))
        self._outer = hashlib.sha1(key.translate(_OPAD))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


_IPAD = bytes(b ^ 0x36 for b in range(256))  # byte -> byte xor 0x36, for bytes.translate
_OPAD = bytes(b ^ 0x5C for b in range(256))


class BuyerTokens:
    CACHE_SIZE = 100_000

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeSerializer(secret_key, salt="livedrop.buyer")
        # The signer's key, derived once (itsdangerous derives it, and builds its signer, on
        # every check): see _loads.
        self._signing_key = self._serializer.make_signer().derive_key()
        self._mac = HmacSha1(self._signing_key)
        # Tokens never change, and checking one (itsdangerous derives the key every time) was a
        # tenth of a hold request's cost in a drop; valid ones are remembered, invalid never.
        self._verified: OrderedDict[str, str] = OrderedDict()

    def issue(self, buyer_id: str) -> str:
        return str(self._serializer.dumps(buyer_id))

    def verify(self, token: str) -> str | None:
        known = self._verified.get(token)
        if known is not None:
            return known
        try:
            value = self._loads(token)
        except BadSignature:
            return None
        if not isinstance(value, str):
            return None
        self._verified[token] = value
        if len(self._verified) > self.CACHE_SIZE:
            self._verified.popitem(last=False)
        return value

    def _loads(self, token: str) -> Any:
        """``self._serializer.loads(token)``, a token signed the way ``issue`` signs checked with
        one HMAC: a token seen for the first time is every join of a waiting room (100,000 new
        buyers before a drop), and itsdangerous took ~28 µs of the join's ~150 to check one
        (bench/queue.py). Any other token, a forged one included, takes itsdangerous's way, so
        what is accepted is exactly what it accepts."""
        value, dot, signature = token.rpartition(".")
        if dot:
            payload = value.encode()
            mac = self._mac.digest(payload)  # itsdangerous's Signer: HMAC-SHA1
            if hmac.compare_digest(base64.urlsafe_b64encode(mac).rstrip(b"="), signature.encode()):
                return _buyer_id_of(payload) or self._serializer.load_payload(payload)
        return self._serializer.loads(token)

    def from_scope(self, scope: Scope, authorization: bytes | None) -> str | None:
        """``from_request`` without building a request first (the hold route's hot path, which
        has already picked the Authorization header out of the raw headers): a bearer token is
        checked straight away; anything else takes the long way."""
        token = bearer_of(authorization.decode("latin-1")) if authorization is not None else None
        return self.verify(token) if token is not None else self.from_request(HTTPConnection(scope))

    def from_request(self, conn: HTTPConnection) -> str | None:
        token = bearer_token(conn) or conn.cookies.get(BUYER_COOKIE) or conn.query_params.get("token")
        return self.verify(token) if token else None


async def create_buyer(sessions: async_sessionmaker, name: str = "") -> Buyer:
    async with sessions() as session:
        buyer = Buyer(id=secrets.token_hex(8), name=name, created_at=now_ms())
        session.add(buyer)
        await session.commit()
        return buyer
