"""The show link as a QR code for the control panel (screens and posters), made with segno.

SVG, made server-side when the panel page is rendered: no script, no image request, and it scales
to a poster without blurring. Error correction M (15 % of the code may be damaged or covered) is
what printed posters need; a border of 4 modules is the quiet zone the QR standard asks for.
"""

from __future__ import annotations

import segno
from markupsafe import Markup


def qr_svg(url: str, *, title: str) -> Markup:
    """An inline <svg> of ``url`` (role img, labelled by ``title``), safe to put in a template."""
    code = segno.make(url, error="m", micro=False)
    size = code.symbol_size(scale=4, border=4)[0]
    svg = code.svg_inline(scale=4, border=4, dark="#111", light="#fff", title=title, svgclass="qr-code")
    # A viewBox lets CSS scale it (a projector's full screen); role=img names it by its <title>.
    return Markup(svg.replace("<svg ", f'<svg role="img" viewBox="0 0 {size} {size}" ', 1))


def qr_data_uri(url: str) -> str:
    """The same code as a data: URI of an SVG file, for a "download for a poster" link."""
    return str(segno.make(url, error="m", micro=False).svg_data_uri(scale=10, border=4, dark="#000", light="#fff"))
