"""Greenhouse Harvest v3 transport: the OAuth client-credentials token and the API client.

Facts (Greenhouse's Harvest v3 documentation): ``POST {token_url}`` with HTTP Basic client credentials and a
form body ``grant_type=client_credentials&sub=<user id>``; tokens last an hour; the success body has
``expires_at`` (ISO-8601) according to most live clients and ``expires_in`` according to one reading of
the reference, so both are accepted.  Every resource call carries ``Authorization: Bearer``; list pages
follow the ``Link`` header; rate-limit headers drive the limiter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from syncbridge.errors import ApiError, AuthError
from syncbridge.http import ApiClient, ClientCredentials, HeaderRateLimiter


class GreenhouseTokens(ClientCredentials):
    """One token per (client id, sub), refreshed 60 s before it expires and once on a 401."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        sub: int | None = None,
        connector: str = "greenhouse",
        **kw: Any,
    ) -> None:
        form = {"sub": str(sub)} if sub is not None else {}
        super().__init__(token_url, client_id, client_secret, connector=connector, form=form, **kw)

    def refused(self, error: ApiError, body: Mapping[str, Any]) -> AuthError:
        # bad credentials come back as 400/401 with either {"message"} or RFC 6749's {"error"}
        msg = error.message.replace(self.client_id, "<client_id>")
        return AuthError(f"token request refused: {msg}", status=error.status, connector=error.connector)


def build_client(
    *,
    base_url: str,
    token_url: str,
    client_id: str,
    client_secret: str,
    sub: int | None,
    connector: str,
    **http: Any,
) -> ApiClient:
    """The API client and its token provider; ``http``: :class:`ApiClient` options (``sleep`` and the retry
    budget are the token endpoint's too, so error messages state the settings)."""
    tokens = GreenhouseTokens(token_url, client_id, client_secret, sub=sub, connector=connector, **http)
    return ApiClient(base_url, connector=connector, tokens=tokens, limiter=HeaderRateLimiter(), **http)
