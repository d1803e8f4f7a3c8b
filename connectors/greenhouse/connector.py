"""The Greenhouse Harvest v3 connector."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from syncbridge.connector import (
    Capability,
    Connector,
    ConnectorSettings,
    Record,
    StateStore,
    StreamSpec,
    Window,
    fields_present,
)
from syncbridge.errors import InvalidRequest, NotFound
from syncbridge.http import ApiClient
from syncbridge.model import (
    Application,
    Candidate,
    NewCandidate,
    NewRequisition,
    Note,
    Prescreen,
    Requisition,
)
from syncbridge.records import checked_dict, map_records

from . import mapping
from .client import build_client
from .webhooks import GreenhouseWebhooks

log = logging.getLogger("syncbridge.connectors.greenhouse")

MAX_IDS_PER_FILTER = 50


class GreenhouseSettings(ConnectorSettings):
    type: Literal["greenhouse"] = "greenhouse"
    client_id: str = Field(min_length=1, description="Harvest V3 (OAuth) client id")
    client_secret: SecretStr = Field(description="Harvest V3 (OAuth) client secret; use ${ENV}")
    user_id: int | None = Field(
        default=None, description="the `sub`: Greenhouse user id writes are attributed to (a Site Admin)"
    )
    base_url: str = "https://harvest.greenhouse.io"
    token_url: str = "https://auth.greenhouse.io/token"
    page_size: int = Field(default=500, ge=1, le=500)
    note_visibility: Literal["admin_only", "private", "public"] = "private"
    source_name: str | None = Field(
        default="Micro-internship",
        description="the source (by name, in GET /v3/sources) of every application syncbridge creates; "
        "null for none",
    )
    source_id: int | None = Field(default=None, description="or that source's id (wins over source_name)")


class GreenhouseConnector(Connector):
    type = "greenhouse"
    writes_counted = True
    webhooks = GreenhouseWebhooks()
    assessment_partner = True
    erasure_route = (
        "Greenhouse: notes cannot be deleted through Harvest; erase the person with Harvest's anonymize "
        "route (PUT /v1/candidates/{id}/anonymize?fields=..., scope harvest:candidates:anonymize) or "
        "delete the candidate (DELETE /v1/candidates/{id}), or in the Greenhouse UI"
    )
    settings_model = GreenhouseSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.read_candidates,
            Capability.read_requisitions,
            Capability.find_candidates,
            Capability.create_candidate,
            Capability.add_note,
            Capability.add_tags,
            Capability.set_fields,
            Capability.create_requisition,
            Capability.publish,
            Capability.attach,
            Capability.prescreen,
            Capability.nurture,
        }
    )
    streams = (
        StreamSpec("candidates", "candidate"),
        StreamSpec("applications", "application"),
        StreamSpec("jobs", "requisition"),
        StreamSpec("users", "other"),
        StreamSpec("custom_fields", "other"),
        StreamSpec("custom_field_options", "other"),  # select options: values are fitted to them at plan
    )

    def __init__(
        self,
        name: str,
        settings: ConnectorSettings,
        *,
        state: StateStore | None = None,
        client: ApiClient | None = None,
    ) -> None:
        super().__init__(name, settings, state=state)
        assert isinstance(settings, GreenhouseSettings)
        self.cfg = settings
        self.client = client or build_client(
            base_url=settings.base_url,
            token_url=settings.token_url,
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
            sub=settings.user_id,
            connector=name,
            **settings.http_options(),
        )
        self._tag_ids: dict[str, int] | None = None
        self._tag_lock = threading.Lock()
        self._source: int | None = None

    # reads ------------------------------------------------------------------------------------------
    _PATHS: ClassVar[dict[str, str]] = {
        "candidates": "/v3/candidates",
        "applications": "/v3/applications",
        "jobs": "/v3/jobs",
        "users": "/v3/users",
        "custom_fields": "/v3/custom_fields",
        "custom_field_options": "/v3/custom_field_options",
    }

    def read(self, stream: str, window: Window) -> Iterator[Sequence[Record]]:
        path = self._PATHS[stream]
        params = {
            "per_page": self.cfg.page_size,
            "updated_at": mapping.window_filter(window.since, window.until),
        }
        for page in self.client.paginate_link(path, params):
            # every record is untrusted: one without a valid id is refused and counted, never stored
            yield map_records(page, lambda rec: self._map(stream, rec), connector=self.name, stream=stream)

    def _map(self, stream: str, rec: dict[str, Any]) -> Record:
        if stream == "candidates":
            return mapping.candidate_from_v3(rec, self.name)
        if stream == "applications":
            return mapping.application_from_v3(rec, self.name)
        if stream == "jobs":
            return mapping.requisition_from_job(rec, self.name)
        return checked_dict(rec)

    def find_candidates(self, email: str) -> list[Candidate]:
        found: list[Candidate] = []
        for page in self.client.paginate_link("/v3/candidates", {"email": email, "per_page": 100}):
            mapped = map_records(
                page, lambda r: mapping.candidate_from_v3(r, self.name), connector=self.name, stream="lookup"
            )
            found.extend(c for c in mapped if isinstance(c, Candidate))
        return found

    def get_candidate(self, candidate_id: str) -> Candidate:
        page = self.client.get_json("/v3/candidates", {"ids": candidate_id})
        for rec in page if isinstance(page, list) else []:
            if isinstance(rec, dict) and str(rec.get("id")) == str(candidate_id):
                return mapping.candidate_from_v3(rec, self.name)
        raise NotFound(f"candidate {candidate_id} not found", status=404, connector=self.name)

    def check(self) -> dict[str, Any]:
        users = self.client.get_json("/v3/users", {"per_page": 1})
        return {"users_visible": len(users) if isinstance(users, list) else 0}

    # writes -----------------------------------------------------------------------------------------
    def create_candidate(self, new: NewCandidate) -> Candidate:
        """``POST /v3/candidates``, unless someone already carries the e-mail (then that person): the
        e-mail search is what proves a lost state store's creation absent before sending it again."""
        existing = self.find_candidates(new.email)
        if len(existing) == 1:
            log.info("%s: a candidate with that e-mail already exists; not creating another", self.name)
            return existing[0]
        if existing:
            raise InvalidRequest(
                f"{len(existing)} Greenhouse candidates already carry this e-mail; not creating another",
                connector=self.name,
            )
        source = self._source_id()  # before the POST: a missing source fails before anything is written
        body = self.client.send_json("POST", "/v3/candidates", mapping.new_candidate_body(new))
        record = body.get("candidate") if isinstance(body, dict) and "candidate" in body else body
        if not isinstance(record, dict) or "id" not in record:
            raise InvalidRequest("unexpected response to POST /v3/candidates", connector=self.name)
        app = body.get("application") if isinstance(body, dict) else None
        if source is not None and isinstance(app, dict):
            # the documented prospect-application body has no source_id; PATCH sets it on any application
            self._attribute(app)
        return mapping.candidate_from_v3(record, self.name)

    def add_note(self, candidate_id: str, note: Note) -> str:
        body: dict[str, Any] = {
            "candidate_id": int(candidate_id),
            "body": note.body_text(),
            "visibility": self.cfg.note_visibility,
            "note_type": "NOTE",
            "subject": note.subject,
        }
        if self.cfg.user_id is not None:
            body["user_id"] = self.cfg.user_id
        created = self.client.send_json("POST", "/v3/notes", body)
        return str(created["id"]) if isinstance(created, dict) and "id" in created else ""

    def _load_tags(self) -> dict[str, int]:
        tags: dict[str, int] = {}
        for page in self.client.paginate_link("/v3/candidate_tags", {"per_page": 500}):
            for t in page:
                if isinstance(t, dict) and isinstance(t.get("name"), str):
                    tags[t["name"]] = int(t["id"])
        return tags

    def _tag_id(self, name: str) -> int:
        """Get-or-create a tag in the dictionary.  A 422 on create means it exists (made by someone else
        in the meantime): reload the dictionary instead of failing."""
        with self._tag_lock:
            if self._tag_ids is None:
                self._tag_ids = self._load_tags()
            if name in self._tag_ids:
                return self._tag_ids[name]
            try:
                created = self.client.send_json("POST", "/v3/candidate_tags", {"name": name})
                self._tag_ids[name] = int(created["id"])
            except InvalidRequest:
                self._tag_ids = self._load_tags()
                if name not in self._tag_ids:
                    raise
            return self._tag_ids[name]

    def _applied_tag_ids(self, candidate_id: str) -> set[int]:
        applied: set[int] = set()
        for page in self.client.paginate_link("/v3/applied_candidate_tags", {"candidate_ids": candidate_id}):
            applied.update(int(r["candidate_tag_id"]) for r in page if isinstance(r, dict))
        return applied

    def add_tags(self, candidate_id: str, tags: Sequence[str]) -> None:
        current = set(self.get_candidate(candidate_id).tags)
        for name in tags:
            if name in current:
                continue
            tag_id = self._tag_id(name)
            try:
                self.client.send_json(
                    "POST",
                    "/v3/applied_candidate_tags",
                    {"candidate_id": int(candidate_id), "candidate_tag_id": tag_id},
                )
            except InvalidRequest:
                # 422 for a pair that already exists is success; anything else is re-raised
                if tag_id not in self._applied_tag_ids(candidate_id):
                    raise

    def set_fields(self, candidate_id: str, fields: Mapping[str, Any]) -> None:
        """Custom fields are an array on write and arrays *replace*: send current + new, merged."""
        current = self.get_candidate(candidate_id).custom_fields
        if fields_present(current, fields):
            return  # already there (a new state store proving its writes): nothing is sent
        merged = {k: v for k, v in current.items() if v is not None}
        merged.update(fields)
        # not resent after a 5xx or a dropped connection: Greenhouse documents no idempotency, so the
        # applier reconciles (has_fields) before any second PATCH
        self.client.send_json(
            "PATCH",
            f"/v3/candidates/{candidate_id}",
            {"custom_fields": mapping.write_custom_fields(merged)},
            idempotent=False,
        )

    # conversion -------------------------------------------------------------------------------------
    def find_requisition(self, code: str) -> Requisition | None:
        jobs = [
            j for j in self.client.get_json("/v3/jobs", {"requisition_id": code}) or [] if isinstance(j, dict)
        ]
        jobs.sort(key=lambda j: (j.get("status") != "open", -int(j["id"])))
        return mapping.requisition_from_job(jobs[0], self.name) if jobs else None

    def create_requisition(self, new: NewRequisition) -> Requisition:
        """``POST /v3/jobs`` from the rule's ``template_job_id``; custom job fields follow with a PATCH."""
        opts = new.options
        if "template_job_id" not in opts:
            raise InvalidRequest(
                "conversion rule needs requisition.options.template_job_id for Greenhouse",
                connector=self.name,
            )
        if opts.get("publish"):
            self._board(opts)  # a board that cannot be published on is refused before the job is made
        existing = self.find_requisition(new.code)  # a job made by an earlier run (or by hand)
        if existing is not None:
            if (existing.status or "").lower() in ("closed", "archived"):
                raise InvalidRequest(
                    f"Greenhouse already has job {existing.ref.id} with requisition id {new.code} and it is "
                    f"{existing.status}: reopen it, or change the rule's requisition code",
                    connector=self.name,
                )
            log.info(
                "%s: job %s already has requisition id %s; using it", self.name, existing.ref.id, new.code
            )
            self.complete_requisition(existing.ref.id, new)
            return existing
        body: dict[str, Any] = {
            "template_job_id": int(opts["template_job_id"]),
            "number_of_openings": new.openings,
            "job_name": new.title,
            "job_post_name": opts.get("job_post_name") or new.title,
            "requisition_id": new.code,
            "opening_ids": [f"{new.code}-{i}" for i in range(1, new.openings + 1)],
        }
        if new.description_html:
            body["notes"] = new.description_html  # the job's notes: else the template's are inherited
        for key in ("department_id", "office_ids", "external_department_id", "external_office_ids"):
            if key in opts:
                body[key] = opts[key]
        job = self.client.send_json("POST", "/v3/jobs", body)
        req = mapping.requisition_from_job(job, self.name)
        self.complete_requisition(req.ref.id, new)
        return req

    def complete_requisition(self, requisition_id: str, new: NewRequisition) -> None:
        if not new.fields:
            return
        jobs = self.client.get_json("/v3/jobs", {"ids": requisition_id}) or []
        current = mapping.read_custom_fields(jobs[0].get("custom_fields")) if jobs else {}
        if all(current.get(k) == v for k, v in new.fields.items()):
            return
        merged = {k: v for k, v in current.items() if v is not None} | dict(new.fields)
        self.client.send_json(
            "PATCH",
            f"/v3/jobs/{requisition_id}",
            {"custom_fields": mapping.write_custom_fields(merged)},
            idempotent=False,
        )

    def _job_boards(self) -> list[dict[str, Any]]:
        boards: list[dict[str, Any]] = []
        for page in self.client.paginate_link("/v3/job_boards", {"per_page": 500}):
            boards.extend(b for b in page if isinstance(b, dict) and "id" in b)
        return boards

    def _board(self, options: Mapping[str, Any]) -> int:
        """The job board named in ``options.board`` (an id, or a name matched case-insensitively).

        Never a guess: the v3 facts document no field telling an internal board from an external one, and
        list order is newest first, so "the first internal/external board" would be whichever board was
        made last (possibly a paused one).  A name shared by several boards, an unknown board or a board
        that is not live (a post is live only when its board is) is refused with one line naming it."""
        problem, board = self._resolve_board(options)
        if board is None:
            raise InvalidRequest(problem, connector=self.name)
        return board

    def _resolve_board(self, options: Mapping[str, Any]) -> tuple[str, int | None]:
        wanted = options.get("board")
        publish = options.get("publish")
        if wanted is None and publish not in (None, True, "internal", "external", "live"):
            wanted = publish  # `publish: <board id or name>` says where, too
        if wanted is None or str(wanted).strip() == "":
            return (
                "requisition.options.board: name the Greenhouse job board to publish on (its id or name); "
                f"publish: {publish!r} alone does not say which board",
                None,
            )
        boards = self._job_boards()
        text = str(wanted).strip()
        if isinstance(wanted, int) or text.isdigit():
            found = [b for b in boards if str(b.get("id")) == text]
        else:
            found = [b for b in boards if str(b.get("name") or "").strip().casefold() == text.casefold()]
        names = ", ".join(sorted(f"{b.get('name')} ({b.get('id')})" for b in boards)) or "none"
        if not found:
            return f"requisition.options.board: no Greenhouse job board {text!r} (boards: {names})", None
        if len(found) > 1:
            ids = ", ".join(str(b["id"]) for b in found)
            return f"requisition.options.board: {text!r} names several job boards ({ids}); give the id", None
        board = found[0]
        if board.get("live") is False:
            return (
                f"requisition.options.board: job board {board.get('name')!r} ({board['id']}) is not live; "
                "posts on it are seen by nobody",
                None,
            )
        return "", int(board["id"])

    def account_problems(self, rule_options: Sequence[Mapping[str, Any]]) -> list[str]:
        """The source the settings name, and the job board of each publishing rule (validate --online)."""
        problems: list[str] = []
        try:
            self._source_id()
        except InvalidRequest as exc:
            problems.append(exc.message)
        for options in rule_options:
            if options.get("publish"):
                problem, board = self._resolve_board(options)
                if board is None and problem not in problems:
                    problems.append(problem)
        return problems

    def _posts(self, requisition_id: str) -> list[dict[str, Any]]:
        posts: list[dict[str, Any]] = []
        for page in self.client.paginate_link("/v3/job_posts", {"job_ids": requisition_id, "per_page": 500}):
            posts.extend(p for p in page if isinstance(p, dict))
        return posts

    def publish(self, requisition_id: str, options: Mapping[str, Any]) -> str:
        """Make the **new job's** post live on the configured board.

        Greenhouse copies the template's posts onto a new job (as drafts); the copy on the board is set
        live.  When the new job has no post on that board, one of the new job's own posts is duplicated
        onto it (``POST /v3/job_posts`` duplicates a post *within its job*, so duplicating a template
        post would put a post on the template job).  Never a second post on the same board, never a post
        on the template.  The post is read back: a post that did not go live is an error, not a success."""
        board = self._board(options)
        posts = sorted(self._posts(requisition_id), key=lambda p: int(p["id"]))
        foreign = [p for p in posts if str(p.get("job_id")) != str(requisition_id)]
        if foreign:  # a server ignoring the job_ids filter must not make us publish someone else's post
            raise InvalidRequest(
                f"job posts of job {requisition_id} include other jobs' posts", connector=self.name
            )
        on_board = [p for p in posts if p.get("job_board_id") == board]
        if on_board:
            post = on_board[0]
        elif posts:
            post = self.client.send_json(
                "POST",
                "/v3/job_posts",
                {"template_job_post_id": int(posts[0]["id"]), "job_board_id": board, "status": "draft"},
            )
        else:
            raise InvalidRequest(
                f"job {requisition_id} has no job post to publish (give the template job a post)",
                connector=self.name,
            )
        changes: dict[str, Any] = {}
        if not post.get("live"):
            changes["job_application_status"] = "live"
        content = options.get("post_content")  # what candidates read; else the template post's text stays
        if content and post.get("content") != content:
            changes["content"] = str(content)
        if changes:
            post = self.client.send_json("PATCH", f"/v3/job_posts/{post['id']}", changes, idempotent=False)
        if not isinstance(post, dict) or not post.get("live"):
            post_id = post.get("id") if isinstance(post, dict) else "?"
            raise InvalidRequest(
                f"job post {post_id} on board {board} did not go live",
                connector=self.name,
            )
        return str(post["id"])

    def find_published(self, requisition_id: str, options: Mapping[str, Any]) -> str | None:
        board = self._board(options)
        for post in self._posts(requisition_id):
            if (
                str(post.get("job_id")) == str(requisition_id)
                and post.get("job_board_id") == board
                and post.get("live")
            ):
                return str(post["id"])
        return None

    def _source_id(self) -> int | None:
        """The id of the source applications syncbridge creates are attributed to: ``source_id``, or the
        source named ``source_name`` (case-insensitive) in ``GET /v3/sources``; None when both are unset.
        Sources cannot be created through Harvest, so a missing one is an error naming it."""
        if self.cfg.source_id is not None:
            return self.cfg.source_id
        if self.cfg.source_name is None:
            return None
        with self._tag_lock:
            if self._source is None:
                wanted = self.cfg.source_name.strip().casefold()
                found = [
                    int(s["id"])
                    for page in self.client.paginate_link("/v3/sources", {"per_page": 500})
                    for s in page
                    if isinstance(s, dict) and str(s.get("name") or "").strip().casefold() == wanted
                ]
                if len(found) != 1:
                    what = "no" if not found else "more than one"
                    raise InvalidRequest(
                        f"source_name: Greenhouse has {what} source named {self.cfg.source_name!r}; "
                        "create it (Configure > Sources) or set source_id, or source_name: null for none",
                        connector=self.name,
                    )
                self._source = found[0]
            return self._source

    def _attribute(self, application: Mapping[str, Any]) -> None:
        """Attribute an application syncbridge created to the configured source (``PATCH source_id``)."""
        source = self._source_id()
        if source is None or application.get("source_id") == source or "id" not in application:
            return
        self.client.send_json(
            "PATCH", f"/v3/applications/{application['id']}", {"source_id": source}, idempotent=True
        )

    def _applications(self, candidate_id: str) -> list[dict[str, Any]]:
        apps: list[dict[str, Any]] = []
        for page in self.client.paginate_link(
            "/v3/applications", {"candidate_ids": candidate_id, "per_page": 500}
        ):
            apps.extend(a for a in page if isinstance(a, dict))
        return apps

    def find_application(self, candidate_id: str, requisition_id: str) -> Application | None:
        for app in self._applications(candidate_id):
            if str(app.get("job_id")) == str(requisition_id) and not app.get("prospect"):
                return mapping.application_from_v3(app, self.name)
        return None

    def attach(self, candidate_id: str, requisition_id: str, *, stage: str | None = None) -> Application:
        """An application on the job; a prospect application (e.g. one syncbridge created) is converted
        instead of adding a second application."""
        apps = self._applications(candidate_id)
        for app in apps:
            if str(app.get("job_id")) == str(requisition_id) and not app.get("prospect"):
                return mapping.application_from_v3(app, self.name)
        source = self._source_id()
        prospect = next((a for a in apps if a.get("prospect") and a.get("job_id") is None), None)
        if prospect is not None:
            converted = self.client.send_json(
                "POST",
                f"/v3/applications/{prospect['id']}/convert_to_candidate",
                {"job_id": int(requisition_id)},
            )
            self._attribute(converted)
            return mapping.application_from_v3(converted, self.name)
        body: dict[str, Any] = {"candidate_id": int(candidate_id), "job_id": int(requisition_id)}
        if stage:
            body["initial_stage_id"] = int(stage)
        if source is not None:
            body["source_id"] = source
        return mapping.application_from_v3(self.client.send_json("POST", "/v3/applications", body), self.name)

    # early talent -----------------------------------------------------------------------------------
    def _prospect_application(self, candidate_id: str) -> dict[str, Any] | None:
        return next(
            (a for a in self._applications(candidate_id) if a.get("prospect") and a.get("job_id") is None),
            None,
        )

    def nurture(self, candidate_id: str, nurture: Mapping[str, Any]) -> str:
        """The person's prospect application (job-less) goes to the configured prospect pool and stage
        (``PATCH prospect_pool_id/prospect_stage_id``); a person without one gets one (``POST
        /v3/applications`` with ``prospect: true, prospect_pool_id, prospect_pool_stage_id``: the create
        and update bodies name the stage differently).  Then the tags and the follow-up date field.
        Every step is idempotent, so a retried nurture converges."""
        opts = nurture.get("options") or {}
        pool, stage = opts.get("prospect_pool_id"), opts.get("prospect_stage_id")
        prospect = self._prospect_application(candidate_id)
        if prospect is None:
            source = self._source_id()
            body: dict[str, Any] = {"candidate_id": int(candidate_id), "prospect": True}
            if pool is not None:
                body["prospect_pool_id"] = int(pool)
            if stage is not None:
                body["prospect_pool_stage_id"] = int(stage)
            if source is not None:
                body["source_id"] = source
            prospect = self.client.send_json("POST", "/v3/applications", body)
        else:
            changes = {
                k: int(v)
                for k, v in (("prospect_pool_id", pool), ("prospect_stage_id", stage))
                if v is not None and prospect.get(k) != int(v)
            }
            if changes:
                self.client.send_json("PATCH", f"/v3/applications/{prospect['id']}", changes, idempotent=True)
        if nurture.get("tags"):
            self.add_tags(candidate_id, nurture["tags"])
        if nurture.get("follow_up_field"):
            self.set_fields(candidate_id, {nurture["follow_up_field"]: nurture["follow_up"]})
        return str(prospect["id"])

    def find_nurture(self, candidate_id: str, nurture: Mapping[str, Any]) -> str | None:
        """Done when the prospect application, the tags and the follow-up date are there.  (The v3
        application record documents no pool/stage field to read back; the PATCH is idempotent anyway.)"""
        prospect = self._prospect_application(candidate_id)
        if prospect is None:
            return None
        person = self.get_candidate(candidate_id)
        if not set(nurture.get("tags") or ()) <= set(person.tags):
            return None
        field = nurture.get("follow_up_field")
        if field and person.custom_fields.get(field) != nurture.get("follow_up"):
            return None
        return str(prospect["id"])

    @staticmethod
    def _prescreen_filename(prescreen: Prescreen) -> str:
        return f"micro-internship-prescreen-{prescreen.marker.rsplit(':', 1)[-1][:16]}.txt"

    def write_prescreen(self, application_id: str, prescreen: Prescreen) -> str:
        """The evaluation summary as an attachment on the application (its file name carries the marker),
        then the prescreen custom fields (merged full list, since arrays replace)."""
        import base64

        ref = self.find_prescreen(application_id, prescreen)
        if ref is None:
            text = f"{prescreen.summary_text}\n\n[{prescreen.marker}]\n"
            created = self.client.send_json(
                "POST",
                "/v3/attachments",
                {
                    "application_id": int(application_id),
                    "filename": self._prescreen_filename(prescreen),
                    "type": "other",
                    "content": base64.b64encode(text.encode()).decode(),
                    "visibility": "private",
                },
            )
            ref = str(created["id"])
        self._set_application_fields(application_id, prescreen.fields)
        return ref

    def complete_prescreen(self, application_id: str, prescreen: Prescreen) -> None:
        self._set_application_fields(application_id, prescreen.fields)

    def _set_application_fields(self, application_id: str, fields: Mapping[str, Any]) -> None:
        if not fields:
            return
        apps = self.client.get_json("/v3/applications", {"ids": application_id}) or []
        current = mapping.read_custom_fields(apps[0].get("custom_fields")) if apps else {}
        if all(current.get(k) == v for k, v in fields.items()):
            return
        merged = {k: v for k, v in current.items() if v is not None} | dict(fields)
        self.client.send_json(
            "PATCH",
            f"/v3/applications/{application_id}",
            {"custom_fields": mapping.write_custom_fields(merged)},
            idempotent=False,
        )

    def find_prescreen(self, application_id: str, prescreen: Prescreen) -> str | None:
        name = self._prescreen_filename(prescreen)
        for page in self.client.paginate_link("/v3/attachments", {"application_ids": application_id}):
            for att in page:
                if isinstance(att, dict) and att.get("filename") == name:
                    return str(att["id"])
        return None

    # reconciliation ---------------------------------------------------------------------------------
    def find_note(self, candidate_id: str, marker: str) -> str | None:
        return self.find_notes(candidate_id, [marker]).get(marker)

    def find_notes(self, candidate_id: str, markers: Sequence[str]) -> dict[str, str]:
        """One read of the person's notes (``GET /v3/notes?candidate_ids=``), every marker checked."""
        found: dict[str, str] = {}
        for page in self.client.paginate_link("/v3/notes", {"candidate_ids": candidate_id, "per_page": 500}):
            for note in page:
                body = str(note.get("body") or "") if isinstance(note, dict) else ""
                for marker in markers:
                    if marker not in found and marker in body:
                        found[marker] = str(note.get("id"))
        return found

    def close(self) -> None:
        self.client.close()
