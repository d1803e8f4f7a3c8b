"""What a vendor plugin says about its webhooks: how they are signed and what their events mean.

A connector class that receives webhooks sets ``webhooks = <its WebhookReader>``; the receiver
(:mod:`syncbridge.webhooks`), the config check, ``syncbridge webhooks register`` and the privacy code ask
that reader and never branch on a vendor.  This module is light on purpose: connectors import it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from syncbridge.connector import Connector

Work = Literal["refresh", "erase", "ignore"]


@dataclass(frozen=True)
class Event:
    """One verified delivery: the person it names and what to do about it."""

    connector: str
    event_id: str
    action: str
    person_id: str | None
    work: Work


@dataclass(frozen=True)
class ErasureSignal:
    """A delivery saying the ATS erased a person: their id, or (when the vendor names a candidacy
    instead) the candidacy whose person the mirror knows."""

    reason: str
    person_id: str | None = None
    candidacy_id: str | None = None


def id_at(node: Any, *path: str) -> str | None:
    """The non-empty id (int or string) at ``path`` in nested dicts, as a string; None otherwise."""
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    if isinstance(node, bool) or not isinstance(node, int | str) or str(node).strip() == "":
        return None
    return str(node)


def work_for(action: str, person: str | None, erase: frozenset[str], refresh: frozenset[str]) -> Work:
    if person is None:
        return "ignore"
    if action in erase:
        return "erase"
    return "refresh" if action in refresh else "ignore"


@dataclass(frozen=True)
class Delivery:
    """One webhook request as received: the raw body (signatures cover bytes), its headers (names
    lower-cased), the parsed JSON object, and the receiver's clock and replay window."""

    raw: bytes
    headers: Mapping[str, str]
    body: dict[str, Any]
    now: float
    replay_window_seconds: int


@dataclass(frozen=True)
class Registration:
    """``syncbridge webhooks register``: the connector and the URL to register, the events asked for
    (empty = the reader's own list), where to say what happened and how to keep a signature token."""

    connector: Connector
    name: str
    url: str
    events: Sequence[str]
    say: Callable[[str], None]
    remember_token: Callable[[str], None]


class WebhookReader(ABC):
    """One vendor's webhooks (the connector class's ``webhooks`` attribute)."""

    #: ``webhooks.connectors.<name>.secret`` must be configured (False: registration may store it)
    secret_required: ClassVar[bool] = True
    #: actions meaning the person was erased (anonymised or deleted) in the ATS
    erase_actions: ClassVar[frozenset[str]] = frozenset()

    def is_ping(self, body: Mapping[str, Any], *, verified: bool) -> bool:
        """A connectivity check the vendor sends when a webhook is saved: answered, never stored
        (``verified``: the signature matched)."""
        return False

    @abstractmethod
    def refusal(self, secrets: Iterable[str], delivery: Delivery) -> str | None:
        """Why the delivery is refused (bad or missing signature, replay), or None when it is genuine."""

    @abstractmethod
    def event(self, connector: str, delivery: Delivery) -> Event:
        """The verified delivery as an :class:`Event`."""

    def erasure(self, body: Mapping[str, Any]) -> ErasureSignal | None:
        """What a delivery says was erased in the ATS (None: not an erasure)."""
        return None

    def register(self, reg: Registration) -> None:
        """Create the webhooks through the vendor's API, or say how to."""
        reg.say(f"{reg.connector.type}: register {reg.url} in the ATS for the events syncbridge reads")
