"""The HTTP side of tinyats: syncbridge's ApiClient with the documented auth header, and the cursor
pagination every list shares."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import requests

from syncbridge.errors import UnexpectedResponse
from syncbridge.http import ApiClient, OffsetTokenPaginator

AUTH_HEADER = "X-TinyATS-Key"


class KeyHeader(requests.auth.AuthBase):
    """The documented auth: the account's API key in one header on every request."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[AUTH_HEADER] = self.key
        return request


class TinyApi:
    """``http`` sends every request (retries, rate limit, typed errors, write counting); ``pages`` reads a
    list ``{"data": [...], "next_cursor": ...}`` page by page with the shared cursor paginator (each
    cursor followed once, at most ``max_pages`` pages)."""

    def __init__(self, http: ApiClient, *, page_size: int) -> None:
        self.http = http
        self.page_size = page_size

    def pages(self, path: str, params: Mapping[str, Any]) -> Iterator[list[Any]]:
        def fetch(cursor: str | None) -> tuple[list[Any], str | None]:
            query = {**params, "limit": self.page_size} | ({"cursor": cursor} if cursor else {})
            body = self.http.get_json(path, query)
            data = body.get("data") if isinstance(body, dict) else None
            following = body.get("next_cursor") if isinstance(body, dict) else None
            if not isinstance(data, list) or not isinstance(following, str | None):
                raise UnexpectedResponse(f"{path}: not a page of records", connector=self.http.connector)
            return data, following or None

        paginator = OffsetTokenPaginator(self.http.connector, path, max_pages=self.http.max_pages)
        for data, _following in paginator.pages(fetch):
            yield data

    def close(self) -> None:
        self.http.close()
