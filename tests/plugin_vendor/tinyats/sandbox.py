"""The tinyats sandbox: the API of ``tinyats/__init__.py`` over one SQLite file, and its plugin class.

Built on syncbridge's sandbox kit (:mod:`syncbridge.sandbox`): the SQLite store and seeding a file once,
the gate that injects latency and faults (429, 500, 503, dropped connections) before a request has any
effect, the seed helpers and demo-people picker, the threaded server and the ``serve`` command line
(``syncbridge sandbox tinyats serve --db F``).  What is tinyats's own: its records, its API, its key.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import Depends, Request, Response

from syncbridge.plugins import Sandbox
from syncbridge.sandbox.cli import ServeCommand
from syncbridge.sandbox.faults import Gate, GatedApp, Reply, Settings
from syncbridge.sandbox.seed import (
    FIRST_NAMES,
    LAST_NAMES,
    classify_emails,
    made_up_people,
    pick_people,
    rng_for,
)
from syncbridge.sandbox.server import ThreadedSandbox
from syncbridge.sandbox.store import Index, Store, Table, dumps, ensure_tables, seed_file

API = "/api/v1"
API_KEY = "sbx-tinyats-key-51d0"  # the sandbox's key: not a secret
MAX_LIMIT = 200

PEOPLE = Table.records(
    "people",
    ("id INTEGER PRIMARY KEY",),
    ("updated",),
    indexes=(Index("people_updated", "updated"),),
    getters={"updated": lambda rec: rec["updated_at"]},
)
EMAILS = Table(
    "emails",
    ("email TEXT NOT NULL", "person INTEGER NOT NULL", "position INTEGER NOT NULL"),
    (Index("emails_email", "email"),),
    data_column=None,
)
NOTES = Table.records(
    "notes", ("id INTEGER PRIMARY KEY", "person INTEGER NOT NULL"), indexes=(Index("notes_person", "person"),)
)
META = Table("meta", ("key TEXT PRIMARY KEY", "value TEXT NOT NULL"), data_column=None)

#: what the gate answers instead of the API (a refused or faulty request)
REPLIES = {
    kind: Reply.json(int(status), {"error": kind, "message": "try again later"})
    for kind, status in (("rate_limited", "429"), ("429", "429"), ("500", "500"), ("503", "503"))
}


def schema(conn: sqlite3.Connection) -> None:
    ensure_tables(conn, (PEOPLE, EMAILS, NOTES, META))


def _stamp(when: datetime) -> str:
    """Timestamps as fixed-width UTC text, so that text order is time order."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _write(conn: sqlite3.Connection, rec: dict[str, Any], when: datetime) -> dict[str, Any]:
    """Insert or replace a person, ``updated_at`` = ``when``, its e-mails indexed (inside a transaction)."""
    rec["updated_at"] = _stamp(when)
    rec.setdefault("created_at", rec["updated_at"])
    if "id" not in rec:
        rec["id"] = conn.execute("SELECT COALESCE(MAX(id), 1000) + 1 FROM people").fetchone()[0]
    conn.execute(PEOPLE.insert_sql("INSERT OR REPLACE"), PEOPLE.row(rec))
    conn.execute("DELETE FROM emails WHERE person = ?", (rec["id"],))
    rows = [(e.strip().lower(), rec["id"], i) for i, e in enumerate(rec["emails"])]
    conn.executemany(EMAILS.insert_sql(), rows)
    return rec


class ApiProblem(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


class People(Store):
    """The sandbox's data: people (with an e-mail index) and their notes."""

    def __init__(self, db_path: str | Path) -> None:
        super().__init__(db_path, schema)

    def person(self, pid: int) -> dict[str, Any]:
        rec = self.get_json("people", pid)
        if rec is None:
            raise ApiProblem(404, "not_found", f"no person {pid}")
        return dict(rec)

    def put(self, rec: dict[str, Any]) -> dict[str, Any]:
        with self.transaction() as conn:
            return _write(conn, rec, datetime.now(UTC))

    def people(self, query: dict[str, str], after: int, limit: int) -> list[dict[str, Any]]:
        where: list[str] = ["id > ?"]
        args: list[Any] = [after]
        for key, op in (("updated_since", ">="), ("updated_until", "<=")):
            if key in query:
                where.append(f"updated {op} ?")
                args.append(_stamp(_parse_time(query[key])))
        if "email" in query:
            where.append("id IN (SELECT person FROM emails WHERE email = ?)")
            args.append(query["email"].strip().lower())
        sql = f"SELECT data FROM people WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
        return [json.loads(r[0]) for r in self.query(sql, [*args, limit])]

    def notes(self, pid: int, after: int, limit: int) -> list[dict[str, Any]]:
        sql = "SELECT data FROM notes WHERE person = ? AND id > ? ORDER BY id LIMIT ?"
        return [json.loads(r[0]) for r in self.query(sql, (pid, after, limit))]

    def add_note(self, pid: int, subject: str, body: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        with self.transaction() as conn:
            rec = self.person(pid)
            note_id = conn.execute("SELECT COALESCE(MAX(id), 5000) + 1 FROM notes").fetchone()[0]
            note = {"id": note_id, "person": pid, "subject": subject, "body": body, "created_at": _stamp(now)}
            conn.execute(NOTES.insert_sql(), NOTES.row(note))
            _write(conn, rec, now)  # a note is a change of the person
        return note


def _parse_time(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ApiProblem(400, "bad_request", "timestamps are ISO 8601") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# --- the API --------------------------------------------------------------------------------------------


def _cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode()


def _after(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == "after":
            return int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ApiProblem(400, "bad_cursor", "cursor is not one this API gave")


def _page(request: Request, fetch: Callable[[int, int], list[dict[str, Any]]]) -> dict[str, Any]:
    try:
        limit = int(request.query_params.get("limit", "50"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiProblem(400, "bad_request", f"limit must be 1..{MAX_LIMIT}")
    rows = fetch(_after(request.query_params.get("cursor")), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return {"data": rows, "next_cursor": _cursor(rows[-1]["id"]) if more else None}


def _json(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json")


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiProblem(400, "bad_request", "the body must be a JSON object")
    return body


def _texts(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ApiProblem(422, "invalid", f"{key} must be a list of non-empty strings")
    return [v.strip() for v in value]


def create_app(
    db_path: str | Path,
    *,
    latency_ms: float = 0.0,
    fault_rate: float = 0.0,
    fault_seed: int = 0,
    token_ttl: int = 0,
    api_key: str = API_KEY,
) -> GatedApp:
    """The API over ``db_path`` (``token_ttl``, a common ``serve`` option, means nothing: no tokens)."""
    del token_ttl
    store = People(db_path)

    def authenticated(request: Request) -> None:
        if request.headers.get("x-tinyats-key") != api_key:
            raise ApiProblem(401, "unauthorized", "X-TinyATS-Key is missing or wrong")

    app = GatedApp(
        title="tinyats sandbox",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(authenticated)],
    )
    app.state.sandbox = store
    app.gate = Gate(Settings(latency_ms, fault_rate, fault_seed), REPLIES.__getitem__, prefix=API)

    async def problem(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiProblem)
        return _json({"error": exc.error, "message": exc.message}, exc.status)

    app.add_exception_handler(ApiProblem, problem)

    @app.get(f"{API}/account")
    async def account() -> Response:
        return _json({"name": "tinyats sandbox", "people": store.count("people")})

    @app.get(f"{API}/people")
    async def list_people(request: Request) -> Response:
        keys = ("updated_since", "updated_until", "email")
        query = {k: request.query_params[k] for k in keys if k in request.query_params}
        return _json(_page(request, lambda after, limit: store.people(query, after, limit)))

    @app.get(f"{API}/people/{{pid}}")
    async def get_person(pid: int) -> Response:
        return _json(store.person(pid))

    @app.post(f"{API}/people")
    async def create_person(request: Request) -> Response:
        body = await _body(request)
        first, last = body.get("first_name"), body.get("last_name")
        emails = _texts(body, "emails")
        if not (isinstance(first, str) and first.strip() and isinstance(last, str) and last.strip()):
            raise ApiProblem(422, "invalid", "first_name and last_name are required")
        if not emails or not all("@" in e for e in emails):
            raise ApiProblem(422, "invalid", "emails: at least one address")
        rec: dict[str, Any] = {"first_name": first.strip(), "last_name": last.strip(), "emails": emails}
        rec |= {"phones": _texts(body, "phones"), "tags": sorted(set(_texts(body, "tags"))), "fields": {}}
        return _json(store.put(rec), 201)

    @app.patch(f"{API}/people/{{pid}}")
    async def update_person(pid: int, request: Request) -> Response:
        fields = (await _body(request)).get("fields", {})
        if not isinstance(fields, dict):
            raise ApiProblem(422, "invalid", "fields must be an object")
        rec = store.person(pid)
        merged = {**rec["fields"], **fields}
        rec["fields"] = {k: v for k, v in merged.items() if v is not None}
        return _json(store.put(rec))

    @app.post(f"{API}/people/{{pid}}/tags")
    async def add_tags(pid: int, request: Request) -> Response:
        tags = _texts(await _body(request), "tags")
        rec = store.person(pid)
        if not set(tags) <= set(rec["tags"]):
            rec["tags"] = sorted(set(rec["tags"]) | set(tags))
            rec = store.put(rec)
        return _json(rec)

    @app.get(f"{API}/people/{{pid}}/notes")
    async def list_notes(pid: int, request: Request) -> Response:
        store.person(pid)
        return _json(_page(request, lambda after, limit: store.notes(pid, after, limit)))

    @app.post(f"{API}/people/{{pid}}/notes")
    async def add_note(pid: int, request: Request) -> Response:
        body = await _body(request)
        text, subject = body.get("body"), body.get("subject", "")
        if not isinstance(text, str) or not text.strip() or not isinstance(subject, str):
            raise ApiProblem(422, "invalid", "body is required")
        return _json(store.add_note(pid, subject, text), 201)

    return app


# --- serving and the plugin ----------------------------------------------------------------------------


class Server(ThreadedSandbox):
    """The sandbox in a background thread (a context manager); ``url`` is the root, the API under /api/v1."""

    vendor = "tinyats"

    def create_app(self) -> GatedApp:
        return create_app(self.db_path, **self.app_kwargs)


class TinyAtsSandbox(Sandbox):
    """tinyats for the demo, ``syncbridge sandbox tinyats`` and the conformance suite."""

    vendor = "tinyats"
    employer = "Tiny Widgets Ltd"
    connector_name = "tinywidgets-tinyats"
    outcome_prefix = "TA"
    env = {"TINYATS_SANDBOX_KEY": API_KEY}
    demo_order = 900  # never the default demo vendor

    def seed(self, db_path: Path, *, size: int = 200, seed: int = 7, reset: bool = False) -> None:
        """``size`` people, deterministic in ``(size, seed)``: every seventh has a second address, and every
        fiftieth also has the previous person's first one (an e-mail two people share)."""

        def fill(conn: sqlite3.Connection) -> None:
            rng = rng_for("tinyats", seed, "people")
            start = datetime(2024, 1, 1, tzinfo=UTC)
            previous = ""
            for i in range(1, size + 1):
                (first, first_ascii), (last, last_ascii) = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                emails = [f"{first_ascii}.{last_ascii}.{i}@mail.example"]
                if i % 7 == 0:
                    emails.append(f"{first_ascii[:1]}{last_ascii}{i}@alt.example")
                if i % 50 == 0:
                    emails.append(previous)
                previous = emails[0]
                rec = {"id": 1000 + i, "first_name": first, "last_name": last, "emails": emails}
                rec |= {"phones": [], "tags": [], "fields": {}}
                _write(conn, rec, start + timedelta(hours=i, minutes=rng.randrange(60)))

        seed_file(db_path, schema, fill, seeded=f"{size}:{seed}", reset=reset)

    def demo_people(self, db_path: Path, *, n: int = 12, seed: int = 7) -> list[dict[str, Any]]:
        store = People(db_path)
        try:
            sql = "SELECT email, person, position FROM emails ORDER BY person, position"
            rows: list[tuple[str, int, int]] = [(e, p, pos) for e, p, pos in store.query(sql)]
            owners: dict[str, list[int]] = {}
            for email, pid, _ in rows:
                owners.setdefault(email, []).append(pid)
            primary, secondary, ambiguous = classify_emails(rows, {e: len(p) for e, p in owners.items()})

            def person(pid: int, email: str, kind: str) -> dict[str, Any]:
                rec = store.person(pid)
                return {
                    "email": email,
                    "first_name": rec["first_name"],
                    "last_name": rec["last_name"],
                    "kind": kind,
                }

            rng = rng_for("tinyats", seed, "demo")
            out = pick_people(
                rng,
                n=n,
                primary=primary,
                secondary=secondary,
                ambiguous=ambiguous,
                owners=owners.__getitem__,
                person=person,
            )
            return out + made_up_people(rng, lambda email: email in owners)
        finally:
            store.close()

    def note_texts(self, db_path: Path, email: str) -> list[str] | None:
        """Every note's text on every person with ``email``, from the data (for the conformance suite)."""
        store = People(db_path)
        try:
            sql = "SELECT n.data FROM notes n JOIN emails e ON e.person = n.person WHERE e.email = ?"
            return [json.loads(r[0])["body"] for r in store.query(sql, (email.strip().lower(),))]
        finally:
            store.close()

    def server(self, db_path: Path, **options: Any) -> Server:
        return Server(db_path, **options)

    def main(self, argv: list[str]) -> int:
        command = ServeCommand(
            prog="syncbridge sandbox tinyats",
            description="Local tinyats API sandbox",
            seed=lambda db, **kw: self.seed(Path(db), **kw),
            create_app=create_app,
            size_help="number of people to seed",
            banner=f" (API under {API}; key {API_KEY})",
        )
        return command.main(argv)

    def connector_block(self, base_url: str) -> dict[str, Any]:
        return {
            "type": "tinyats",
            "base_url": f"{base_url.rstrip('/')}{API}",
            "api_key": "${TINYATS_SANDBOX_KEY}",
            "page_size": 25,  # the demo's people span several pages
        }

    def history_fields(self) -> dict[str, str]:
        return {"mi_rating": "evaluation.rating", "mi_last_project": "project.title"}
