"""Money for people: integer minor units shown with the currency's own number of decimals."""

from __future__ import annotations

# ISO 4217 currencies whose minor unit is not a hundredth.
_EXPONENTS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND",
                     "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def format_money(minor_units: int, currency: str) -> str:
    """``format_money(12900, "USD") == "129.00 USD"``, ``format_money(1500, "JPY") == "1,500 JPY"``."""
    exponent = _EXPONENTS.get(currency.upper(), 2)
    value = minor_units / (10**exponent)
    return f"{value:,.{exponent}f} {currency.upper()}"
