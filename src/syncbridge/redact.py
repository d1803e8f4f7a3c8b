"""Keep secrets and personal data out of logs, errors and artifacts.

Two mechanisms:

* :func:`register_secret` remembers every secret value the configuration loads (client secrets,
  tokens as they are issued); :func:`redact` replaces them with ``***``.
* e-mail addresses are masked to ``j***@example.org`` (first character and domain kept, so an operator
  can still tell addresses apart in a log without the log holding personal data).

:class:`RedactingFilter` applies both to every log record passing a handler; :func:`install` puts it on
the root logger's handlers and on Prefect's, and is called by the CLI and the flows.
"""

from __future__ import annotations

import logging
import re
import threading

# the look-behind lets a match start only where a word starts: without it the engine retries from every
# character of a long word that holds no "@", which is quadratic (40,000 characters took 5 s)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})"
)
# the same in a URL query string (``jane%40example.org``), as urllib3 logs it at DEBUG
_EMAIL_ENCODED = re.compile(
    r"(?<![A-Za-z0-9._+\-])([A-Za-z0-9._+\-])[A-Za-z0-9._+\-]*%40([A-Za-z0-9.\-]+\.[A-Za-z]{2,})"
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/=]+")
_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret so that :func:`redact` removes it wherever it appears."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def mask_email(value: str) -> str:
    value = _EMAIL_ENCODED.sub(lambda m: f"{m.group(1)}***%40{m.group(2)}", value)
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", value)


def redact(text: object) -> str:
    s = str(text)
    if _secrets:
        with _lock:
            secrets = sorted(_secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in s:
                s = s.replace(secret, "***")
    s = _BEARER.sub(r"\1***", s)
    return mask_email(s)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (after %-formatting) with :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = str(record.msg)
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # tracebacks are rendered by the formatter; redact their text through exc_text
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True


_FILTER = RedactingFilter()


def install(*loggers: logging.Logger) -> None:
    """Attach the redacting filter to the handlers of the given loggers (default: root and Prefect)."""
    targets = list(loggers) or [logging.getLogger(), logging.getLogger("prefect")]
    for logger in targets:
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
