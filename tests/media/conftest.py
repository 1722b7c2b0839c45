"""A real livedrop process on loopback whose media offers only 127.0.0.1 as a candidate and checks
only 127.0.0.1."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support import LivedropProcess, host_token, livedrop_env



@dataclass
class MediaServer:
    url: str
    token: str
    other_token: str
    process: LivedropProcess

    def new_show(self, token: str | None = None) -> str:
        slug = f"media-{uuid.uuid4().hex[:8]}"
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token or self.token}"}, timeout=30) as http:
            assert http.post("/api/shows", json={"title": "Camera test", "slug": slug}).status_code == 201
            assert http.post(f"/api/shows/{slug}/start").status_code == 200
        return slug


def media_env(tmp_path_factory: pytest.TempPathFactory, name: str) -> dict[str, str]:
    data = tmp_path_factory.mktemp(name)
    return livedrop_env(data, LIVEDROP_MEDIA_HOST_ADDRESSES="127.0.0.1", LIVEDROP_MEDIA_REMOTE_ADDRESSES="127.0.0.1",
                        LIVEDROP_MEDIA_URL=None)


def make_hosts(env: dict[str, str]) -> tuple[str, str]:
    """Two hosts (unique emails: with DATABASE_URL every module of the run shares one database)."""
    tokens = []
    run = uuid.uuid4().hex[:8]
    for email in (f"media-host-{run}@example.com", f"other-media-host-{run}@example.com"):
        tokens.append(host_token(env, email, "media tests password"))
    return tokens[0], tokens[1]


@pytest.fixture(scope="module")
def media_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaServer]:
    env = media_env(tmp_path_factory, "media-livedrop")
    token, other = make_hosts(env)
    process = LivedropProcess(["serve", "--host", "127.0.0.1"], env).start()
    try:
        yield MediaServer(process.url, token, other, process)
    finally:
        process.stop()
