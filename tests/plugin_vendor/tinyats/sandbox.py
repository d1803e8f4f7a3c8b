"""The tinyats sandbox: the API of ``tinyats/__init__.py`` over one SQLite file, and its plugin class.

``syncbridge sandbox tinyats serve --db F`` serves it (the default ``Sandbox.main``); the demo and the
conformance suite use :class:`TinyAtsSandbox`.  Faults (``fault_rate``) answer 429 or 503 without doing
anything, drop the connection, or do the work and then lose the answer (502): the last is what makes a
write's outcome uncertain, so the applier has to reconcile.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response

from syncbridge.plugins import Sandbox

# the one import of syncbridge's sandbox server helpers (the module may move; change it here only)
from syncbridge.sandbox.server import ThreadedSandbox, drop_connection, send_bytes

API = "/api/v1"
API_KEY = "sbx-tinyats-key-51d0"  # the sandbox's key: not a secret
MAX_LIMIT = 200

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY, data TEXT NOT NULL, updated TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS people_updated ON people(updated);
CREATE TABLE IF NOT EXISTS emails (email TEXT NOT NULL, person INTEGER NOT NULL, position INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS emails_email ON emails(email);
CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, person INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS notes_person ON notes(person);
"""

FIRST = ("Ada", "Bram", "Chioma", "Dev", "Elin", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kemi", "Luca")
LAST = ("Abara", "Berg", "Castillo", "Dunn", "Eze", "Fontaine", "Gallo", "Haas", "Ivanova", "Jensen")
NEWCOMERS = (("Quilla", "Moreau-Tan"), ("Osei", "Lindqvist"), ("Rhea", "Okonkwo"), ("Tavi", "Brennan"))


def _stamp(when: datetime) -> str:
    """Timestamps as fixed-width UTC text, so that text order is time order."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ApiProblem(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


class Store:
    """The sandbox's data: people (with an e-mail index) and their notes."""

    def __init__(self, db_path: str | Path) -> None:
        self.conn = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def person(self, pid: int) -> dict[str, Any]:
        row = self.conn.execute("SELECT data FROM people WHERE id = ?", (pid,)).fetchone()
        if row is None:
            raise ApiProblem(404, "not_found", f"no person {pid}")
        data: dict[str, Any] = json.loads(row[0])
        return data

    def put(self, rec: dict[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
        """Insert or replace a person (``updated_at`` set to ``now``), its e-mails indexed."""
        stamp = _stamp(now or datetime.now(UTC))
        rec["updated_at"] = stamp
        rec.setdefault("created_at", stamp)
        if "id" not in rec:
            rec["id"] = self.conn.execute("SELECT COALESCE(MAX(id), 1000) + 1 FROM people").fetchone()[0]
        self.conn.execute(
            "INSERT OR REPLACE INTO people(id, data, updated) VALUES (?, ?, ?)",
            (rec["id"], json.dumps(rec), stamp),
        )
        self.conn.execute("DELETE FROM emails WHERE person = ?", (rec["id"],))
        self.conn.executemany(
            "INSERT INTO emails(email, person, position) VALUES (?, ?, ?)",
            [(e.strip().lower(), rec["id"], i) for i, e in enumerate(rec["emails"])],
        )
        return rec

    def people(self, query: dict[str, str], after: int, limit: int) -> list[dict[str, Any]]:
        where: list[str] = ["id > ?"]
        args: list[Any] = [after]
        if "updated_since" in query:
            where.append("updated >= ?")
            args.append(_stamp(_parse_time(query["updated_since"])))
        if "updated_until" in query:
            where.append("updated <= ?")
            args.append(_stamp(_parse_time(query["updated_until"])))
        if "email" in query:
            where.append("id IN (SELECT person FROM emails WHERE email = ?)")
            args.append(query["email"].strip().lower())
        sql = f"SELECT data FROM people WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
        return [json.loads(r[0]) for r in self.conn.execute(sql, (*args, limit))]

    def notes(self, pid: int, after: int, limit: int) -> list[dict[str, Any]]:
        sql = "SELECT data FROM notes WHERE person = ? AND id > ? ORDER BY id LIMIT ?"
        return [json.loads(r[0]) for r in self.conn.execute(sql, (pid, after, limit))]

    def add_note(self, pid: int, subject: str, body: str) -> dict[str, Any]:
        rec = self.person(pid)
        note_id = self.conn.execute("SELECT COALESCE(MAX(id), 5000) + 1 FROM notes").fetchone()[0]
        note = {"id": note_id, "subject": subject, "body": body, "created_at": _stamp(datetime.now(UTC))}
        self.conn.execute("BEGIN")
        self.conn.execute(
            "INSERT INTO notes(id, person, data) VALUES (?, ?, ?)", (note_id, pid, json.dumps(note))
        )
        self.put(rec)  # a note is a change of the person
        self.conn.execute("COMMIT")
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
    return Response(json.dumps(body), status_code=status, media_type="application/json")


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


class Gate:
    """In front of the API: faults first (a flaky vendor), then the API key."""

    def __init__(self, store: Store, *, fault_rate: float, fault_seed: int, api_key: str) -> None:
        self.store, self.fault_rate, self.api_key = store, fault_rate, api_key
        self.rng = random.Random(fault_seed)
        self.faults = 0

    def close(self) -> None:
        self.store.close()

    async def __call__(self, scope: Any, receive: Any, send: Any, app: Any) -> None:
        if self.fault_rate > 0 and self.rng.random() < self.fault_rate:
            self.faults += 1
            kind = self.rng.choice(("429", "503", "drop", "lost"))
            if kind == "drop":
                await drop_connection(send)
            elif kind == "lost":  # the work is done, the answer never arrives whole
                await app(scope, receive, _discard)
                await send_bytes(send, 502, b'{"error": "bad_gateway", "message": "upstream answer lost"}')
            else:
                status = int(kind)
                await send_bytes(send, status, json.dumps({"error": kind, "message": "try again"}).encode())
            return
        key = dict(scope.get("headers") or []).get(b"x-tinyats-key", b"")
        if key.decode("latin-1") != self.api_key:
            await send_bytes(
                send, 401, b'{"error": "unauthorized", "message": "X-TinyATS-Key is missing or wrong"}'
            )
            return
        await app(scope, receive, send)


async def _discard(_message: Any) -> None:
    return None


class App(FastAPI):
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(f"{API}/"):
            await self.state.sandbox(scope, receive, send, super().__call__)
            return
        await super().__call__(scope, receive, send)


def create_app(
    db_path: str | Path, *, fault_rate: float = 0.0, fault_seed: int = 0, api_key: str = API_KEY
) -> FastAPI:
    store = Store(db_path)
    app = App(title="tinyats sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = Gate(store, fault_rate=fault_rate, fault_seed=fault_seed, api_key=api_key)

    async def problem(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiProblem)
        return _json({"error": exc.error, "message": exc.message}, exc.status)

    app.add_exception_handler(ApiProblem, problem)

    @app.get(f"{API}/account")
    async def account() -> Response:
        return _json(
            {
                "name": "tinyats sandbox",
                "people": store.conn.execute("SELECT COUNT(*) FROM people").fetchone()[0],
            }
        )

    @app.get(f"{API}/people")
    async def list_people(request: Request) -> Response:
        query = {
            k: request.query_params[k]
            for k in ("updated_since", "updated_until", "email")
            if k in request.query_params
        }
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
        body = await _body(request)
        fields = body.get("fields", {})
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
            store.put(rec)
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

    def create_app(self) -> FastAPI:
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
        fiftieth shares the previous person's address (an ambiguous e-mail).  Seeded once; ``reset`` wipes."""
        path = Path(db_path)
        if reset:
            for old in (path, path.with_name(path.name + "-journal")):
                old.unlink(missing_ok=True)
        store = Store(path)
        try:
            if store.meta("seeded"):
                return
            rng = random.Random(f"tinyats:{seed}")
            start = datetime(2024, 1, 1, tzinfo=UTC)
            store.conn.execute("BEGIN")
            previous = ""
            for i in range(1, size + 1):
                first, last = rng.choice(FIRST), rng.choice(LAST)
                emails = [f"{first}.{last}.{i}@mail.example".lower()]
                if i % 7 == 0:
                    emails.append(f"{first[0]}{last}{i}@alt.example".lower())
                if i % 50 == 0:
                    emails.append(previous)
                previous = emails[0]
                rec: dict[str, Any] = {
                    "id": 1000 + i,
                    "first_name": first,
                    "last_name": last,
                    "emails": emails,
                    "phones": [],
                    "tags": [],
                    "fields": {},
                    "created_at": _stamp(start + timedelta(hours=i)),
                }
                store.put(rec, now=start + timedelta(hours=i, minutes=rng.randrange(60)))
            store.conn.execute("INSERT INTO meta(key, value) VALUES ('seeded', ?)", (f"{size}:{seed}",))
            store.conn.execute("COMMIT")
        finally:
            store.close()

    def demo_people(self, db_path: Path, *, n: int = 12, seed: int = 7) -> list[dict[str, Any]]:
        """People for a demo outcomes file: ``n - 4`` primary addresses, one secondary, one ambiguous and
        two nobody has, each of a different person."""
        store = Store(db_path)
        try:
            rows = store.conn.execute(
                "SELECT email, person, position FROM emails ORDER BY person, position"
            ).fetchall()
            names = {p: store.person(p) for p in {r[1] for r in rows}}
        finally:
            store.close()
        owners: dict[str, set[int]] = {}
        for email, pid, _ in rows:
            owners.setdefault(email, set()).add(pid)
        rng = random.Random(f"tinyats-demo:{seed}")
        used: set[int] = set()
        out: list[dict[str, Any]] = []

        def pick(kind: str, candidates: list[tuple[str, int]], count: int) -> None:
            for email, pid in rng.sample(candidates, len(candidates)):
                if count <= 0:
                    return
                if not used & owners[email]:
                    used.update(owners[email])
                    name = {k: names[pid][k] for k in ("first_name", "last_name")}
                    out.append({"email": email, **name, "kind": kind})
                    count -= 1

        single = [(e, p, pos) for e, p, pos in rows if len(owners[e]) == 1]
        pick("ambiguous", sorted({(e, min(ps)) for e, ps in owners.items() if len(ps) > 1}), 1)
        pick("secondary", [(e, p) for e, p, pos in single if pos > 0], 1)
        pick("primary", [(e, p) for e, p, pos in single if pos == 0], max(n - 4, 0))
        for k, (first, last) in enumerate(rng.sample(NEWCOMERS, 2)):
            email = f"{first}.{last}.new{k}{rng.randrange(1000, 9999)}@elsewhere.example".lower()
            out.append({"email": email, "first_name": first, "last_name": last, "kind": "unmatched"})
        return out

    def note_texts(self, db_path: Path, email: str) -> list[str] | None:
        """Every note's text on every person with ``email``, from the data (for the conformance suite)."""
        store = Store(db_path)
        try:
            sql = "SELECT n.data FROM notes n JOIN emails e ON e.person = n.person WHERE e.email = ?"
            return [json.loads(r[0])["body"] for r in store.conn.execute(sql, (email.strip().lower(),))]
        finally:
            store.close()

    def server(self, db_path: Path, **options: Any) -> Server:
        return Server(db_path, **options)

    def connector_block(self, base_url: str) -> dict[str, Any]:
        return {
            "type": "tinyats",
            "base_url": f"{base_url.rstrip('/')}{API}",
            "api_key": "${TINYATS_SANDBOX_KEY}",
            "page_size": 25,  # the demo's people span several pages
        }

    def history_fields(self) -> dict[str, str]:
        return {"mi_rating": "evaluation.rating", "mi_last_project": "project.title"}
