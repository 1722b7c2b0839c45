"""A show's external stream URL: set on create, changed and cleared with PATCH, validated, kept in
SQL, shown in the snapshot, and pushed to open pages as a show event."""

from __future__ import annotations

import httpx
import pytest

from tests.web.buying import auth

HLS = "https://cdn.example.com/live/demo/index.m3u8"
WHEP = "https://media.example.com:8889/demo/whep"


async def make_show(http: httpx.AsyncClient, token: str, **extra: object) -> httpx.Response:
    return await http.post("/api/shows", json={"title": "Drop night", **extra}, headers=auth(token))


async def test_a_show_created_with_a_stream_url_keeps_it_and_the_snapshot_says_which_kind(
    client: httpx.AsyncClient, host_token: str
) -> None:
    made = await make_show(client, host_token, stream_url=f"  {HLS} ")
    assert made.status_code == 201, made.text
    assert made.json()["stream_url"] == HLS and made.json()["stream_kind"] == "hls"
    slug = made.json()["slug"]
    snapshot = (await client.get(f"/api/shows/{slug}")).json()
    assert snapshot["show"]["stream_url"] == HLS and snapshot["show"]["stream_kind"] == "hls"
    listed = (await client.get("/api/shows", headers=auth(host_token))).json()["shows"]
    assert [s["stream_url"] for s in listed] == [HLS]

    plain = await make_show(client, host_token)
    assert plain.json()["stream_url"] is None and plain.json()["stream_kind"] is None


async def test_patch_changes_and_clears_the_stream_url_and_the_title(client: httpx.AsyncClient, host_token: str) -> None:
    slug = (await make_show(client, host_token)).json()["slug"]
    changed = await client.patch(f"/api/shows/{slug}", json={"stream_url": WHEP}, headers=auth(host_token))
    assert changed.status_code == 200, changed.text
    assert changed.json()["stream_url"] == WHEP and changed.json()["stream_kind"] == "whep"
    assert changed.json()["title"] == "Drop night"  # left alone
    assert (await client.get(f"/api/shows/{slug}")).json()["show"]["stream_url"] == WHEP  # not a stale cached view

    renamed = await client.patch(f"/api/shows/{slug}", json={"title": "Late drop"}, headers=auth(host_token))
    assert renamed.json()["title"] == "Late drop" and renamed.json()["stream_url"] == WHEP  # left alone

    cleared = await client.patch(f"/api/shows/{slug}", json={"stream_url": None}, headers=auth(host_token))
    assert cleared.status_code == 200 and cleared.json()["stream_url"] is None and cleared.json()["stream_kind"] is None
    assert (await client.get(f"/api/shows/{slug}")).json()["show"]["stream_url"] is None

    await client.patch(f"/api/shows/{slug}", json={"stream_url": HLS}, headers=auth(host_token))
    emptied = await client.patch(f"/api/shows/{slug}", json={"stream_url": ""}, headers=auth(host_token))
    assert emptied.json()["stream_url"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"stream_url": "javascript:alert(1)//x.m3u8"}, "stream_url"),
        ({"stream_url": "ftp://cdn.example.com/a.m3u8"}, "stream_url"),
        ({"stream_url": "/static/stream.m3u8"}, "stream_url"),
        ({"stream_url": "https://"}, "stream_url"),
        ({"stream_url": "https://user:secret@cdn.example.com/a.m3u8"}, "stream_url"),
        ({"stream_url": "https://cdn.example.com/a b.m3u8"}, "stream_url"),
        ({"stream_url": "https://cdn.example.com:99999/a.m3u8"}, "stream_url"),
        ({"stream_url": "https://cdn.example.com/" + "a" * 2000 + ".m3u8"}, "stream_url"),
        ({"stream_url": 42}, "stream_url"),
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"slug": "new-slug"}, "slug"),  # slugs never change
    ],
)
async def test_bad_changes_are_refused_with_the_field_named(
    client: httpx.AsyncClient, host_token: str, body: dict, field: str
) -> None:
    slug = (await make_show(client, host_token, stream_url=HLS)).json()["slug"]
    refused = await client.patch(f"/api/shows/{slug}", json=body, headers=auth(host_token))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_request" and error["message"].startswith(field), error
    assert (await client.get(f"/api/shows/{slug}")).json()["show"]["stream_url"] == HLS  # unchanged


async def test_a_bad_stream_url_on_create_makes_no_show(client: httpx.AsyncClient, host_token: str) -> None:
    refused = await make_show(client, host_token, stream_url="data:application/vnd.apple.mpegurl,#EXTM3U", slug="never")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request"
    assert "stream_url" in refused.json()["error"]["message"]
    assert (await client.get("/api/shows/never")).status_code == 404


async def test_only_the_shows_host_may_change_it(
    client: httpx.AsyncClient, host_token: str, other_host_token: str
) -> None:
    slug = (await make_show(client, host_token)).json()["slug"]
    other = await client.patch(f"/api/shows/{slug}", json={"stream_url": HLS}, headers=auth(other_host_token))
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    nobody = await client.patch(f"/api/shows/{slug}", json={"stream_url": HLS})
    assert nobody.status_code == 401 and nobody.json()["error"]["code"] == "unauthorized"
    malformed = await client.patch(f"/api/shows/{slug}", content=b"{nope", headers=auth(host_token))
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_json"
    missing = await client.patch("/api/shows/no-such-show", json={"stream_url": HLS}, headers=auth(host_token))
    assert missing.status_code == 404
    assert (await client.get(f"/api/shows/{slug}")).json()["show"]["stream_url"] is None
