"""The link in a ``thread.message`` email: ``/threads/<id>?t=<token>``, where the token is the
thread id and its buyer id signed with the server's secret, good for 30 days. Whoever holds it
reads and answers that one thread as its buyer, as whoever holds a receipt link sees that order
(docs/threads.md)."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer

THREAD_LINK_MAX_AGE_S = 30 * 24 * 3600  # a reply may come weeks later; the link is for one thread only


def thread_path(thread_id: str) -> str:
    return f"/threads/{thread_id}"


class ThreadLinkTokens:
    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="livedrop.thread-link")

    def issue(self, thread_id: str, buyer_id: str) -> str:
        return str(self._serializer.dumps([thread_id, buyer_id]))

    def buyer_of(self, token: str, thread_id: str) -> str | None:
        """The buyer the token was made for, if it was made for this thread and is fresh."""
        try:
            value = self._serializer.loads(token[:1000], max_age=THREAD_LINK_MAX_AGE_S)
        except BadSignature:
            return None
        if isinstance(value, list) and len(value) == 2 and value[0] == thread_id and isinstance(value[1], str):
            return value[1]
        return None

    def url(self, base_url: str, thread_id: str, buyer_id: str) -> str:
        return f"{base_url}{thread_path(thread_id)}?t={self.issue(thread_id, buyer_id)}"
