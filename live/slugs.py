"""Show slugs: ``[a-z0-9-]{1,64}``, from the title by default, ``-2``, ``-3``... on collision."""

from __future__ import annotations

import re
import unicodedata

SLUG_PATTERN = re.compile(r"^[a-z0-9-]{1,64}$")


def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:64].strip("-") or "show"


def with_suffix(base: str, n: int) -> str:
    suffix = f"-{n}"
    return base[: 64 - len(suffix)].rstrip("-") + suffix
