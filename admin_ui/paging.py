"""Pages of long lists: where a page starts, read from the address bar, and the links to
the pages either side that keep the filters chosen."""

from __future__ import annotations

import re

from flask import request, url_for


def positive_int(text: str | None) -> int | None:
    """A page position from the address bar; anything else means the first page.

    ASCII digits only, and few of them: str.isdigit() admits "²", which int() refuses, and
    a huge number would overflow the database's integer."""
    if text and _PAGE_POSITION.fullmatch(text) and int(text) > 0:
        return int(text)
    return None


_PAGE_POSITION = re.compile(r"[0-9]{1,9}")


def link(endpoint: str, **changes: object) -> str:
    """This page's address with the same filters and some arguments changed (None drops
    one): for the "older" and "newer" links."""
    args = {key: value for key, value in request.args.items() if value}
    args.update(changes)
    return url_for(endpoint, **{key: value for key, value in args.items() if value is not None})


def offset_links(
    endpoint: str, offset: int, size: int, more: bool
) -> tuple[str | None, str | None]:
    """(earlier page, later page) links for a list paged by offset (`from`)."""
    earlier = (
        link(endpoint, **{"from": offset - size if offset > size else None}) if offset else None
    )
    later = link(endpoint, **{"from": offset + size}) if more else None
    return earlier, later
