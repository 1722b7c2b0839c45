"""`livedrop demo`: a host, three sneakers with sizes and a live show `demo`, seeded idempotently."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from inventory.catalog import ProductSpec, VariantSpec, create_product
from inventory.models import Product
from live import shows
from web.auth import create_host, host_by_email
from web.lan import lan_address, phone_lines
from web.services import Services
from web.settings import Settings

DEMO_EMAIL = "demo@livedrop.local"
DEMO_SLUG = "demo"

SIZES = ("EU 40", "EU 41", "EU 42", "EU 43", "EU 44", "EU 45")
SNEAKERS = [
    ("Aurora Runner OG", "A retro runner in ember red, suede overlays, gum sole.", 12900, "AUR", (4, 9, 14, 14, 8, 3)),
    ("Pacific Low 'Tidal'", "Low-top court shoe in cobalt, full-grain leather.", 11000, "PAC", (6, 12, 20, 18, 10, 5)),
    ("Canopy Trail Mid", "Waterproof mid with a lugged outsole, forest green.", 15900, "CAN", (2, 5, 8, 8, 4, 1)),
]


async def seed_demo(services: Services) -> dict[str, str]:
    """Returns the host's login. Running it again changes nothing (the password is kept in the data folder)."""
    password_file = services.settings.data_dir / "demo-login.txt"
    async with services.sessions() as session:
        host = await host_by_email(session, DEMO_EMAIL)
    if host is None:
        password = secrets.token_urlsafe(9)
        host = await create_host(services.sessions, DEMO_EMAIL, password, "Demo Sneakers")
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
    password = password_file.read_text().strip() if password_file.exists() else "(set when first seeded; see `livedrop host create`)"

    async with services.sessions() as session:
        have = {p.title for p in (await session.execute(select(Product).where(Product.host_id == host.id))).scalars()}
        first_id: int | None = None
        for index, (title, description, price, prefix, stocks) in enumerate(SNEAKERS, start=1):
            if title in have:
                continue
            product = await create_product(
                session,
                host.id,
                ProductSpec(
                    title=title,
                    description=description,
                    price_cents=price,
                    currency="USD",
                    image_url=f"/static/img/sneaker-{index}.svg",
                    variants=tuple(
                        VariantSpec(f"{prefix}-{size.split()[1]}", size, stock) for size, stock in zip(SIZES, stocks)
                    ),
                ),
            )
            first_id = first_id or product.id
        show = await shows.show_by_slug(session, DEMO_SLUG)
        if show is None:
            show = await shows.create_show(session, host.id, "Sneaker Drop Live", slug=DEMO_SLUG)
        if show.status == "ended":
            show.status, show.ended_at = "scheduled", None  # a demo is always live again on restart
        shows.start(show)
        if show.pinned_product_id is None and first_id is not None:
            show.pinned_product_id = first_id
        await session.commit()
    return {"email": DEMO_EMAIL, "password": password}


def print_welcome(settings: Settings, login: dict[str, str]) -> None:
    base = settings.base_url
    phone = phone_lines(settings.host, settings.port, DEMO_SLUG, lan_address(), public_url=settings.public_url)
    print(
        "\n"
        "  livedrop demo is running\n"
        f"    viewer page:    {base}/s/{DEMO_SLUG}\n"
        f"    control panel:  {base}/host\n"
        f"    host login:     {login.get('email')}  /  {login.get('password')}\n"
        + "".join(f"    {line}\n" for line in phone)
        + "  Press Ctrl-C to stop.\n",
        flush=True,
    )
