"""The `livedrop` command: a click CLI over one app (after Datasette's)."""

from __future__ import annotations

import asyncio
import getpass
import logging
import sys
from collections.abc import Awaitable
from typing import TypeVar

import click

from web.embedded_redis import EmbeddedRedisError
from web.services import Services, ServiceUnreachable, open_services
from web.settings import Settings, SettingsError

T = TypeVar("T")


def _settings(host: str | None = None, port: int | None = None) -> Settings:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(f"bad configuration: {exc}") from None
    changes: dict[str, object] = {}
    if host:
        changes["host"] = host
    if port:
        changes["port"] = port
    return settings.with_overrides(**changes) if changes else settings


def _run(coro: Awaitable[T]) -> T:
    try:
        try:
            import uvloop  # noqa: PLC0415 - optional: about twice the requests per core where it installs
        except ImportError:
            return asyncio.run(coro)  # type: ignore[arg-type]
        return uvloop.run(coro)  # type: ignore[arg-type]
    except (ServiceUnreachable, EmbeddedRedisError) as exc:
        raise click.ClickException(str(exc)) from None


def _logging(settings: Settings | None = None) -> None:
    """Text, or JSON lines with LIVEDROP_LOG_FORMAT=json (web.logs)."""
    from web.logs import configure

    configure(settings.log_format if settings is not None else "text", logging.INFO)


@click.group()
@click.version_option(package_name="livedrop")
def main() -> None:
    """livedrop: a live-shopping event server."""


@main.command()
@click.option("--host", help="Interface to bind (default 127.0.0.1, or LIVEDROP_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default 8000, or LIVEDROP_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Run the web server and hub (plus background jobs when no worker runs)."""
    from web.server import serve as run_server

    settings = _settings(host, port)
    _logging(settings)
    _run(run_server(settings))


@main.command()
def worker() -> None:
    """Run hold expiry, offer clocks and other background work."""
    from web.server import work

    settings = _settings()
    _logging(settings)
    _run(work(settings))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface for the web processes' calls (keep it loopback).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default 8001, or LIVEDROP_MEDIA_PORT).")
def media(host: str, port: int | None) -> None:
    """Run the video process (WHIP/WHEP peers); web processes reach it at LIVEDROP_MEDIA_URL."""
    from web.media_process import run_media

    settings = _settings()
    _logging(settings)
    # plain asyncio, not uvloop: aiortc and aioice are tested on it
    asyncio.run(run_media(settings, host, port))


@main.command()
@click.option("--host", help="Interface to bind (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default 8000).")
def demo(host: str | None, port: int | None) -> None:
    """Serve a seeded demo: a host, sneakers with sizes and a live show `demo`."""
    from web.demo import print_welcome, seed_demo
    from web.server import serve as run_server

    settings = _settings(host, port)
    _logging(settings)
    login: dict[str, str] = {}

    async def seed(services: Services) -> None:
        login.update(await seed_demo(services))

    _run(run_server(settings, before_start=seed, after_start=lambda: print_welcome(settings, login)))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of lines.")
def status(as_json: bool) -> None:
    """Who holds the job lease, viewers per live show, Redis and database reachability (exit 1 when one is down)."""
    import json
    from dataclasses import asdict

    from web.status import gather_status

    found = _run(gather_status(_settings()))
    if as_json:
        click.echo(json.dumps({**asdict(found), "healthy": found.healthy}))
    else:
        for line in found.lines():
            click.echo(line)
    if not found.healthy:
        sys.exit(1)


@main.group()
def host() -> None:
    """Manage host accounts."""


@host.command("create")
@click.option("--email", required=True)
@click.option("--name", default="", help="Display name (default: the part of the email before @).")
def host_create(email: str, name: str) -> None:
    """Create a host; the password is read from standard input."""
    from web.auth import EmailTaken, create_host

    password = _read_password()

    async def go() -> str:
        services = await open_services(_settings())
        try:
            created = await create_host(services.sessions, email, password, name)
            return created.email
        finally:
            await services.close()

    try:
        created_email = _run(go())
    except EmailTaken as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created host {created_email}")


def _read_password() -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise click.ClickException("the passwords do not match")
        return password
    return sys.stdin.readline().rstrip("\r\n")


@main.group()
def token() -> None:
    """Manage API tokens."""


@token.command("create")
@click.option("--email", required=True, help="The host the token acts for.")
@click.option("--name", default="", help="A note to recognise the token by.")
def token_create(email: str, name: str) -> None:
    """Print a new API token for a host (alone on the last line)."""
    from web.auth import create_api_token, host_by_email

    async def go() -> str | None:
        services = await open_services(_settings())
        try:
            async with services.sessions() as session:
                found = await host_by_email(session, email)
            if found is None:
                return None
            return await create_api_token(services.sessions, found.id, name)
        finally:
            await services.close()

    new_token = _run(go())
    if new_token is None:
        raise click.ClickException(f"no host with the email {email}; create it with `livedrop host create`")
    click.echo(new_token)


@main.group()
def db() -> None:
    """The database."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations."""

    async def go() -> None:
        services = await open_services(_settings(), migrate=True)
        await services.close()

    _run(go())
    click.echo("database is up to date")


@main.group()
def inventory() -> None:
    """Stock in Redis."""


@inventory.command("reconcile")
def inventory_reconcile() -> None:
    """Rebuild Redis stock from the database."""
    from web.livedrop import assemble
    async def go() -> int:
        settings = _settings()
        services = await open_services(settings)
        try:
            return len(await assemble(settings, services).checkout.reconcile())
        finally:
            await services.close()

    count = _run(go())
    click.echo(f"reconciled stock of {count} products")


if __name__ == "__main__":  # pragma: no cover
    main()
