"""A real livedrop process on loopback whose media offers only 127.0.0.1 as a candidate and checks
only 127.0.0.1."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import LivedropProcess, free_port, host_token, livedrop_env
from web.media_process import media_key



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


@dataclass
class Split:
    """`livedrop media` with `livedrop serve` in front of it: the media process's /internal/stats
    (where frames went, where ICE checks went) can be read with the key from SECRET_KEY."""

    web: MediaServer
    media: LivedropProcess

    def stats(self) -> dict:
        key = media_key(self.media.env["SECRET_KEY"])
        response = httpx.get(f"{self.media.url}/internal/stats", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def recordings(self) -> Path:
        return Path(self.media.env["LIVEDROP_DATA_DIR"]) / "recordings"


@contextlib.contextmanager
def split_processes(env: dict[str, str]) -> Iterator[Split]:
    token, other = make_hosts(env)
    port = free_port()
    media = LivedropProcess(["media", "--port", str(port)], env, port=port).start()
    try:
        with LivedropProcess(["serve", "--host", "127.0.0.1"], dict(env, LIVEDROP_MEDIA_URL=media.url)) as web:
            yield Split(MediaServer(web.url, token, other, web), media)
    finally:
        media.stop()
