"""Typed errors shared by every connector.

One hierarchy for all vendors, so the applier and the flows can decide what to do (retry, reconcile,
fail the action, stop the run) without knowing which ATS they talk to.  Messages never contain secrets
or full e-mail addresses: bodies are truncated and passed through :func:`syncbridge.redact.redact`.
"""

from __future__ import annotations

from typing import Any


class SyncbridgeError(Exception):
    """Base class of every error syncbridge raises on purpose."""


class ConfigError(SyncbridgeError):
    """The configuration is invalid.  ``str()`` is one line that names the YAML path."""

    def __init__(self, message: str) -> None:
        # one line whatever a hostile key or value contains: control characters are shown escaped
        super().__init__("".join(c if c.isprintable() else repr(c)[1:-1] for c in str(message)))


class ApiError(SyncbridgeError):
    """The vendor answered with an error (or did not answer)."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        connector: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        details: list[str] | None = None,
        body: Any = None,
    ) -> None:
        from syncbridge.redact import redact

        self.message = redact(message)
        self.status = status
        self.connector = connector
        self.request_id = request_id
        self.retry_after = retry_after
        self.details = [redact(d) for d in (details or [])]
        self.body = body
        #: set once a client has spent its retries on this error (no outer layer retries it again)
        self.final = False
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = []
        if self.connector:
            parts.append(f"[{self.connector}]")
        if self.status is not None:
            parts.append(f"HTTP {self.status}:")
        parts.append(self.message)
        if self.details:
            parts.append("(" + "; ".join(self.details) + ")")
        return " ".join(parts)


class AuthError(ApiError):
    """401 or a refused token request: credentials are wrong or expired."""


class PermissionDenied(ApiError):
    """403: valid credentials without the needed scope or role.  A configuration problem."""


class NotFound(ApiError):
    """404: unknown id (or a wrong path)."""


class InvalidRequest(ApiError):
    """400/409/422 or a SOAP validation fault: the vendor refused the content.  Never retried."""

    def __init__(self, message: str, *, xpath: str | None = None, **kw: Any) -> None:
        self.xpath = xpath
        super().__init__(message, **kw)


class RateLimited(ApiError):
    """429: the vendor did not process the request.  Always safe to retry after ``retry_after``."""

    retryable = True


class ServerError(ApiError):
    """5xx: the vendor failed.  The request may or may not have had an effect."""

    retryable = True


class TransportError(ApiError):
    """No HTTP answer: connection refused/reset, timeout, TLS failure.

    ``sent`` says whether the request may have reached the vendor: ``False`` for a failure to connect
    (safe to retry a write), ``True`` when the connection broke after sending (a write must be
    reconciled before it is sent again).
    """

    retryable = True

    def __init__(self, message: str, *, sent: bool = True, **kw: Any) -> None:
        self.sent = sent
        super().__init__(message, **kw)


def delivery_uncertain(exc: BaseException) -> bool:
    """True when a failed write may nevertheless have been applied by the vendor."""
    if isinstance(exc, TransportError):
        return exc.sent
    return isinstance(exc, ServerError)


class UnexpectedResponse(ServerError):
    """A success status with a body that is not what the API documents (HTML from a proxy, truncated JSON,
    not XML...).  A :class:`ServerError`: for a write, the vendor may still have applied it, so the applier
    reconciles before resending."""


class PaginationError(ApiError):
    """A paginator stopped: the vendor pointed back to a page position already read (a loop), or the
    listing exceeded the connector's ``max_pages``.  Never retried: re-reading would loop again."""


class InvalidRecord(SyncbridgeError, ValueError):
    """One vendor record is unusable (no valid id, wrong shape).  It is refused and counted, never stored;
    the message names the stream and the reason, never the record's personal data."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
