"""The viewer page in the browser tests: opening a show's page and filling its checkout and bag
forms with the one test buyer's address."""

from __future__ import annotations

from typing import Any


def open_viewer(context: Any, slug: str, problems: list[str] | None = None) -> Any:
    """A new page of ``context`` on the show's viewer page, /s/{slug}. With ``problems``, the page's
    uncaught errors are appended to it, from before the page loads."""
    page = context.new_page()
    if problems is not None:
        page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"/s/{slug}")
    return page


def fill_address(page: Any, name: str = "Kim Lee", email: str = "kim@example.com") -> None:
    """The checkout sheet's name, email and a US address (a US address needs its state, whose list
    loads with the sheet)."""
    page.fill("#co-name", name)
    page.fill("#co-email", email)
    page.fill("#co-line1", "1 Main St")
    page.fill("#co-city", "Springfield")
    page.fill("#co-postal", "12345")
    page.select_option("#co-country", "US")
    page.select_option("#co-region", "IL")


def fill_bag_address(page: Any) -> None:
    """The bag's checkout form: name, email and address (its region is a text field)."""
    page.fill("#bag-name", "Kim Lee")
    page.fill("#bag-email", "kim@example.com")
    page.fill("#bag-line1", "1 Main St")
    page.fill("#bag-city", "Springfield")
    page.fill("#bag-postal", "12345")
    page.fill("#bag-region", "IL")
