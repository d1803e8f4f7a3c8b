"""The tinyats connector: people, notes, tags and custom fields over the API in ``tinyats/__init__.py``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from syncbridge.connector import Capability, Connector, ConnectorSettings, StateStore, StreamSpec, Window
from syncbridge.errors import InvalidRequest
from syncbridge.http import ApiClient
from syncbridge.model import Candidate, Email, NewCandidate, Note, Phone, Ref
from syncbridge.records import Refused, map_records, require_id, vendor_answer

from .client import AUTH_HEADER, KeyHeader, TinyApi


class TinyAtsSettings(ConnectorSettings):
    """``connectors.<name>`` for ``type: tinyats``."""

    type: Literal["tinyats"] = "tinyats"
    base_url: str = Field(min_length=1, description="the API root, e.g. https://acme.tinyats.example/api/v1")
    api_key: SecretStr = Field(description=f"the account's API key (sent as {AUTH_HEADER}); use ${{ENV}}")
    page_size: int = Field(default=100, ge=1, le=200)


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str) and v.strip()] if isinstance(value, list) else []


def person(rec: Mapping[str, Any], connector: str) -> Candidate:
    """A tinyats person as the common model's candidate (the raw record kept)."""
    fields = rec.get("fields")
    return Candidate(
        ref=Ref(connector=connector, kind="candidate", id=require_id(rec, "person")),
        first_name=rec.get("first_name") or None,
        last_name=rec.get("last_name") or None,
        emails=tuple(Email(value=e) for e in _strings(rec.get("emails"))),
        phones=tuple(Phone(value=p) for p in _strings(rec.get("phones"))),
        tags=tuple(_strings(rec.get("tags"))),
        custom_fields=dict(fields) if isinstance(fields, Mapping) else {},
        created_at=_time(rec.get("created_at")),
        updated_at=_time(rec.get("updated_at")),
        raw=dict(rec),
    )


class TinyAtsConnector(Connector):
    type = "tinyats"
    settings_model = TinyAtsSettings
    writes_counted = True  # every write goes through the ApiClient
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.read_candidates,
            Capability.find_candidates,
            Capability.create_candidate,
            Capability.add_note,
            Capability.add_tags,
            Capability.set_fields,
        }
    )
    streams = (StreamSpec("people", "candidate"),)

    def __init__(self, name: str, settings: ConnectorSettings, *, state: StateStore | None = None) -> None:
        super().__init__(name, settings, state=state)
        assert isinstance(settings, TinyAtsSettings)
        self.cfg = settings
        http = ApiClient(
            settings.base_url,
            connector=name,
            auth=KeyHeader(settings.api_key.get_secret_value()),
            **settings.http_options(),  # timeouts, retries, max_pages: the keys every block inherits
        )
        self.api = TinyApi(http, page_size=settings.page_size)

    # reads ------------------------------------------------------------------------------------------
    def _people(self, params: Mapping[str, Any], stream: str) -> Iterator[list[Candidate | Refused]]:
        for page in self.api.pages("people", params):
            yield map_records(page, lambda rec: person(rec, self.name), connector=self.name, stream=stream)

    def read(self, stream: str, window: Window) -> Iterator[Sequence[Candidate | Refused]]:
        if stream != "people":
            raise KeyError(stream)
        params = {"updated_until": window.until.isoformat()}
        if window.since is not None:
            params["updated_since"] = window.since.isoformat()
        yield from self._people(params, stream)

    def find_candidates(self, email: str) -> list[Candidate]:
        return [
            c for page in self._people({"email": email}, "lookup") for c in page if isinstance(c, Candidate)
        ]

    def get_candidate(self, candidate_id: str) -> Candidate:
        rec = self.api.http.get_json(f"people/{candidate_id}")
        return vendor_answer(lambda: person(rec, self.name), self.name)

    def check(self) -> dict[str, Any]:
        account = self.api.http.get_json("account")
        return {"account": account.get("name") if isinstance(account, dict) else None}

    # writes: each looks first and sends nothing when the effect is already there --------------------
    def create_candidate(self, new: NewCandidate) -> Candidate:
        existing = self.find_candidates(new.email)
        if len(existing) == 1:
            return existing[0]
        if existing:
            raise InvalidRequest(
                f"{len(existing)} tinyats people already carry this e-mail; not creating another",
                connector=self.name,
            )
        body = {
            "first_name": new.first_name,
            "last_name": new.last_name,
            "emails": [new.email],
            "phones": [new.phone] if new.phone else [],
            "tags": list(new.tags),
        }
        created = self.api.http.send_json("POST", "people", body)
        return vendor_answer(lambda: person(created, self.name), self.name)

    def add_note(self, candidate_id: str, note: Note) -> str:
        body = {"subject": note.subject, "body": note.body_text()}
        created = self.api.http.send_json("POST", f"people/{candidate_id}/notes", body)
        return vendor_answer(lambda: require_id(created, "note"), self.name)

    def add_tags(self, candidate_id: str, tags: Sequence[str]) -> None:
        current = set(self.get_candidate(candidate_id).tags)
        missing = [t for t in tags if t not in current]
        if missing:  # adding a tag that is there already changes nothing: safe to resend
            self.api.http.send_json("POST", f"people/{candidate_id}/tags", {"tags": missing}, idempotent=True)

    def set_fields(self, candidate_id: str, fields: Mapping[str, Any]) -> None:
        if self.has_fields(candidate_id, fields):
            return
        # a merge of the given keys only: sending it twice leaves the same values
        self.api.http.send_json("PATCH", f"people/{candidate_id}", {"fields": dict(fields)}, idempotent=True)

    # reconciliation ---------------------------------------------------------------------------------
    def find_note(self, candidate_id: str, marker: str) -> str | None:
        return self.find_notes(candidate_id, [marker]).get(marker)

    def find_notes(self, candidate_id: str, markers: Sequence[str]) -> dict[str, str]:
        """One read of the person's notes, every marker looked up in it."""
        notes = [
            n
            for page in self.api.pages(f"people/{candidate_id}/notes", {})
            for n in page
            if isinstance(n, dict)
        ]
        refs = {m: [str(n.get("id")) for n in notes if m in str(n.get("body") or "")] for m in markers}
        return {m: found[0] for m, found in refs.items() if found}

    def close(self) -> None:
        self.api.close()
