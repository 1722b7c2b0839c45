"""The link in a ``buyer.orders_link`` email: ``/orders?t=<token>``, where the token is the
buyer's email signed with the server's secret and good for a day. Whoever holds it sees that
email's orders, as whoever holds a receipt link sees that order (docs/payments.md)."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer

ORDERS_LINK_MAX_AGE_S = 24 * 3600


class OrdersLinkTokens:
    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="livedrop.orders-link")

    def issue(self, email: str) -> str:
        return str(self._serializer.dumps(email))

    def email_of(self, token: str) -> str | None:
        """The email the token was made for; None when it is forged, altered or older than a day."""
        try:
            email = self._serializer.loads(token[:1000], max_age=ORDERS_LINK_MAX_AGE_S)
        except BadSignature:  # SignatureExpired is one too
            return None
        return email if isinstance(email, str) else None

    def url(self, base_url: str, email: str) -> str:
        return f"{base_url}/orders?t={self.issue(email)}"
