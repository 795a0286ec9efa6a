"""A client for the JSON API served by the real HTTP server (waitress on a loopback port)."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any


class Clock:
    """The API's clock: a fixed instant when `at` is set, the real time otherwise."""

    def __init__(self) -> None:
        self.at: dt.datetime | None = None

    def __call__(self) -> dt.datetime:
        return self.at or dt.datetime.now(dt.UTC)


@dataclass
class Reply:
    status: int
    headers: Message  # names compared case-insensitively
    body: Any


@dataclass
class Api:
    base: str

    def get(self, path: str, token: str | None = None, *, scheme: str = "Bearer") -> Reply:
        return self.call("GET", path, token, scheme=scheme)

    def post_json(self, path: str, token: str | None, payload: Any) -> Reply:
        return self.post(path, token, json.dumps(payload).encode(), content_type="application/json")

    def post(
        self, path: str, token: str | None, data: bytes, *, content_type: str = "text/csv"
    ) -> Reply:
        return self.call("POST", path, token, data=data, content_type=content_type)

    def call(
        self,
        method: str,
        path: str,
        token: str | None,
        *,
        scheme: str = "Bearer",
        data: bytes | None = None,
        content_type: str | None = None,
    ) -> Reply:
        request = urllib.request.Request(self.base + path, method=method, data=data)
        if token is not None:
            request.add_header("Authorization", f"{scheme} {token}")
        if content_type is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Reply(response.status, response.headers, json.loads(response.read()))
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.headers, json.loads(error.read()))

    def lookup(self, token: str, **query: str) -> Reply:
        return self.get("/api/v1/lookup?" + urllib.parse.urlencode(query), token)
