"""The planner: (outcomes, links, rules, ledger) → the writes to make.  A pure function.

Every action has a deterministic **idempotency key** built from (connector, kind, outcome id, content
digest).  The link target is deliberately *not* part of the key: a person created by a previous run is
only known after that run, and the same outcome must still map to the same key, or a re-run would write
twice.  One outcome is linked to at most one person per connector, so nothing is lost by leaving it out.

Keys already ``done`` in the ledger produce no action, so a second run of the same inputs plans zero
writes.  The planner reads the state only through a :class:`PlanState`; the kinds of action are the
models of :mod:`syncbridge.actions`.
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from syncbridge.actions import (
    KINDS,
    Action,
    AddNote,
    AddTags,
    Attach,
    AttachPayload,
    CreateCandidate,
    CreateRequisition,
    FieldsPayload,
    NotePayload,
    Nurture,
    NurturePayload,
    PersonPayload,
    PrescreenPayload,
    Publish,
    PublishPayload,
    SetFields,
    TagsPayload,
    WritePrescreen,
)
from syncbridge.config import Settings
from syncbridge.connector import Capability
from syncbridge.corrections import correction_text, snapshot
from syncbridge.fieldtypes import FieldDefs, fit_fields
from syncbridge.matching import Link
from syncbridge.model import NewRequisition, Outcome, Prescreen, SkillResult
from syncbridge.nurture import plan_nurture
from syncbridge.redact import mask_email
from syncbridge.render import (
    history_subject,
    history_text,
    prescreen_html,
    prescreen_text,
    recommendation,
    render_template,
    requisition_code,
    requisition_description_html,
)


class PlanState:
    """What the planner reads of the state, and nothing else: a read-only view.

    This base is an empty state store (nothing written, no requisitions, decisions, colleagues or field
    definitions); :class:`syncbridge.steps.StoreView` reads a real one."""

    def done(self, key: str) -> str | None:
        """The remote ref of a write whose key is done in the ledger, else None."""
        return None

    def unfinished(self, key: str) -> bool:
        """Is the key in the ledger but not done (started or failed: a crashed or failed write)?"""
        return False

    def open_requisition(self, connector: str, code: str) -> str | None:
        """The id of an open requisition with this code in the mirror."""
        return None

    def closed_requisition(self, connector: str, code: str) -> bool:
        """Was a requisition with this code opened before and closed since?"""
        return False

    def approval(self, key: str) -> str | None:
        """The recorded decision on a manual approval: ``approved``, ``rejected``, ``pending`` or None."""
        return None

    def user_for(self, connector: str, email: str) -> str | None:
        """The ATS user id of a colleague."""
        return None

    def field_defs(self, connector: str) -> FieldDefs | None:
        """The mirrored custom-field definitions that mapped values are fitted to."""
        return None

    def earlier_note(self, connector: str, outcome_id: str) -> Mapping[str, Any] | None:
        """The last history note written for the outcome (``{"key", "at", "payload"}``): a corrected
        evaluation's note says it corrects that one, and what changed."""
        return None


@dataclass
class Strong:
    """An outcome a conversion rule judged strong, and what happens about it (shown in every plan)."""

    outcome_id: str
    connector: str
    rule: str
    code: str
    state: str  # conversion disabled | approved | auto | awaiting approval | rejected | reuses <id> | ...
    approval_key: str
    summary: str = ""


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    already_done: int = 0
    skipped: list[str] = field(default_factory=list)  # capability gaps and similar, one line each
    strong: list[Strong] = field(default_factory=list)
    #: the keys in ``actions``: adding is O(1), so planning a million actions stays linear
    _keys: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._keys.update(a.key for a in self.actions)

    def add(self, action: Action) -> None:
        if action.key not in self._keys:
            self._keys.add(action.key)
            self.actions.append(action)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.actions:
            out[a.kind] = out.get(a.kind, 0) + 1
        return out

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "key": a.key[:12],
                "connector": a.connector,
                "action": a.kind,
                "outcome": a.outcome_id,
                "target": a.target or (f"(new, after {a.depends_on[:12]})" if a.depends_on else ""),
                "what": a.summary,
            }
            for a in self.actions
        ]


#: what ``json.dumps(content, sort_keys=True, default=str, ensure_ascii=False)`` uses, made once
_DIGEST = json.JSONEncoder(sort_keys=True, default=str, ensure_ascii=False)


def action_key(connector: str, kind: str, outcome_id: str, content: Any) -> str:
    digest = _DIGEST.encode(content)
    raw = f"{connector}\x1f{kind}\x1f{outcome_id}\x1f{digest}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def make_plan(
    settings: Settings,
    outcomes: Sequence[Outcome],
    links: Sequence[Link],
    *,
    capabilities: Mapping[str, frozenset[Capability]],
    state: PlanState,
    today: date | None = None,
) -> Plan:
    """Plan the history write-back and, for strong micro-interns, the conversion.

    A mapped custom-field value that cannot fit its field is reported in ``skipped`` and not sent; so
    is a write the connector cannot make (it lacks the capability)."""
    ctx = _Planning(settings, state, capabilities, today or date.today())
    by_id = {o.outcome_id: o for o in outcomes}
    with _no_cycle_collection():
        for link in links:
            o = by_id.get(link.outcome_id)
            if o is not None and link.connector is not None:
                _plan_outcome(ctx, o, link, link.connector)
    ctx.plan.skipped = sorted(ctx.gaps | set(ctx.plan.skipped))
    return ctx.plan


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Keep Python's cyclic garbage collector from walking the plan while it is made.

    A plan allocates several small objects per action (models, their field sets, payload dicts), none
    in a reference cycle: reference counting frees whatever is dropped.  The cyclic collector would
    still walk the young objects over and over and every live object (the outcomes and the whole plan
    so far) at each full pass, which was about half the time of a 100,000-action plan.  So it is
    paused while planning, and what planning made is then filed with the old objects (``freeze`` +
    ``unfreeze`` moves every tracked object to the oldest generation without a pass): the plan lives
    as long as the run, and the next full collection, when it comes, still looks at all of it.  A
    collector someone else paused stays paused."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        gc.enable()


@dataclass
class _Planning:
    """One plan being made: what every step reads, and the plan so far."""

    settings: Settings
    state: PlanState
    capabilities: Mapping[str, frozenset[Capability]]
    today: date
    plan: Plan = field(default_factory=Plan)
    gaps: set[str] = field(default_factory=set)  # capability gaps, one line each

    def add(self, action: Action) -> bool:
        if self.state.done(action.key) is not None:
            self.plan.already_done += 1
            return False
        if KINDS[action.kind].capability not in self.capabilities.get(action.connector, frozenset()):
            self.gaps.add(f"{action.connector}: cannot {action.kind.replace('_', ' ')} (connector lacks it)")
            return False
        # the one place every write's text passes: control characters out, formulas neutralised
        # (syncbridge.safety); the key was computed from the content before, so toggling the setting
        # never makes a second write of the same outcome
        self.plan.add(action.sanitised(neutralise_formulas=self.settings.safety.neutralise_formulas))
        return True

    def fitted(self, o: Outcome, c: str, mapping: Mapping[str, str], scope: str) -> dict[str, Any]:
        """The mapped custom-field values fitted to the fields' types; what cannot fit goes to ``skipped``."""
        if not mapping:
            return {}
        values, problems = fit_fields(
            o, mapping, self.state.field_defs(c), scope, user_for=lambda email: self.state.user_for(c, email)
        )
        self.plan.skipped.extend(f"outcome {o.outcome_id} on {c}: {p} (not sent)" for p in problems)
        return values


@dataclass(frozen=True)
class _Person:
    """Whom an outcome's writes land on: a linked person, or the creation a new one comes from."""

    connector: str
    outcome_id: str
    target: str | None
    depends_on: str | None

    def fields(self) -> dict[str, Any]:
        return {
            "connector": self.connector,
            "outcome_id": self.outcome_id,
            "target": self.target,
            "depends_on": self.depends_on,
        }


def _new_person(ctx: _Planning, o: Outcome) -> PersonPayload:
    s = o.student
    return PersonPayload(
        first_name=s.first_name,
        last_name=s.last_name,
        email=s.email,
        phone=s.phone,
        tags=list(ctx.settings.matching.new_candidate_tags),
    )


def _plan_outcome(ctx: _Planning, o: Outcome, link: Link, c: str) -> None:
    target = link.candidate_id
    depends_on: str | None = None
    create_key = action_key(c, "create_candidate", o.outcome_id, o.student.email)
    if link.status == "unmatched":
        if not ctx.settings.matching.create_unmatched:
            return
        created_ref = ctx.state.done(create_key)
        if created_ref is None:
            ctx.add(
                CreateCandidate(
                    key=create_key,
                    connector=c,
                    outcome_id=o.outcome_id,
                    target=None,
                    payload=_new_person(ctx, o),
                    summary=f"create prospect for {mask_email(o.student.email)}",
                )
            )
            depends_on = create_key
        else:
            ctx.plan.already_done += 1
            target = created_ref
    elif link.status != "linked":
        return
    elif ctx.state.unfinished(create_key):
        # a creation killed after the vendor made the person: the sync has linked them since.  Plan
        # it anyway, so the applier finds the person by e-mail and closes the entry (sends nothing)
        ctx.plan.add(
            CreateCandidate(
                key=create_key,
                connector=c,
                outcome_id=o.outcome_id,
                target=None,
                payload=_new_person(ctx, o),
                summary=f"finish the creation of {mask_email(o.student.email)} (crashed run)",
            )
        )

    who = _Person(c, o.outcome_id, target, depends_on)
    history = ctx.settings.history
    earlier = ctx.state.earlier_note(c, o.outcome_id)
    key = action_key(c, "add_note", o.outcome_id, o.content_hash())
    correction = correction_text(earlier, o) if earlier and earlier["key"] != key else None
    if history.note:
        subject = ("Corrected: " if correction else "") + history_subject(o)
        note = NotePayload(
            subject=subject,
            text=f"{correction}\n\n{history_text(o)}" if correction else history_text(o),
            score=o.evaluation.rating,
            evaluation=snapshot(o),
        )
        ctx.add(AddNote(key=key, payload=note, summary=f"note: {subject}", **who.fields()))
    if history.tags:
        tags = sorted(set(history.tags))
        ctx.add(
            AddTags(
                key=action_key(c, "add_tags", o.outcome_id, tags),
                payload=TagsPayload(tags=tags),
                summary="tags: " + ", ".join(tags),
                **who.fields(),
            )
        )
    values = ctx.fitted(o, c, history.fields, "candidate")
    if values:
        ctx.add(
            SetFields(
                key=action_key(c, "set_fields", o.outcome_id, values),
                payload=FieldsPayload(fields=values),
                summary="fields: " + ", ".join(values),
                **who.fields(),
            )
        )
    _plan_conversion(ctx, o, who, corrected=correction is not None)


def strong_rule(settings: Settings, o: Outcome) -> tuple[Any, list[str]] | None:
    """The first conversion rule for the outcome's employer/team, and why it is (not) strong.

    Returns None when no rule covers the outcome; else (rule, unmet conditions) — strong when empty."""
    for rule in settings.conversion.rules:
        w = rule.when
        if w.employer != "*" and w.employer.casefold() != o.employer.casefold():
            continue
        if w.team is not None and (o.project.team or "").casefold() != w.team.casefold():
            continue
        e = o.evaluation
        unmet = []
        if e.rating < w.min_rating:
            unmet.append(f"rating {e.rating:g} < {w.min_rating:g}")
        if w.would_hire is not None and e.would_hire != w.would_hire:
            unmet.append("would-hire answer")
        if w.completed and o.project.status.value != "completed":
            unmet.append(f"project {o.project.status.value}")
        levels = {sk.name.casefold(): sk.level for sk in e.skills}
        for skill, minimum in w.required_skills.items():
            if levels.get(skill.casefold(), 0) < minimum:
                unmet.append(f"{skill} below {minimum}")
        return rule, unmet
    return None


def _plan_conversion(ctx: _Planning, o: Outcome, who: _Person, *, corrected: bool) -> None:
    found = strong_rule(ctx.settings, o)
    if found is not None and found[1] and corrected:
        # a downgraded evaluation: say why a conversion that may have been planned before is not
        ctx.plan.skipped.append(
            f"{found[0].name}: outcome {o.outcome_id} was corrected and no longer meets the rule "
            f"({'; '.join(found[1])}): not converted"
        )
    if found is None or found[1]:
        return
    rule = found[0]
    c = who.connector
    if rule.connector is not None and rule.connector != c:
        ctx.plan.skipped.append(f"{rule.name}: outcome {o.outcome_id} is routed to {c}, not {rule.connector}")
        return
    tmpl = rule.requisition
    code = requisition_code(tmpl.code, o)
    approval_key = action_key(c, "convert", o.outcome_id, code)
    summary = (
        f"{o.project.title}: rating {o.evaluation.rating:g}/5, would hire: "
        f"{'yes' if o.evaluation.would_hire else 'no'}, skills: "
        + (", ".join(f"{s.name} {s.level}/5" for s in o.evaluation.skills) or "none")
    )
    strong = Strong(o.outcome_id, c, rule.name, code, "", approval_key, summary)
    ctx.plan.strong.append(strong)
    conv = ctx.settings.conversion
    if not conv.enabled:
        strong.state = "strong (conversion disabled)"
        return
    nurture = plan_nurture(rule, o, ctx.today)
    if nurture is not None:
        # early talent: strong, but graduating too late to hire now; a prospect, not a conversion
        strong.state = nurture["state"]
        follow_field = nurture["payload"]["follow_up_field"]
        defs = ctx.state.field_defs(c) if follow_field else None
        if follow_field and defs:
            found_def = defs.get("candidate", follow_field)
            if found_def is None or found_def.value_type != "date":
                ctx.plan.skipped.append(
                    f"{rule.name}: nurture.follow_up_field {follow_field} is no candidate date field on "
                    f"{c}; the follow-up date of outcome {o.outcome_id} is not written"
                )
                nurture["payload"]["follow_up_field"] = None
        ctx.add(
            Nurture(
                key=action_key(c, "nurture", o.outcome_id, nurture["payload"]),
                payload=NurturePayload(**nurture["payload"]),
                summary=f"nurture: {nurture['state']}",
                **who.fields(),
            )
        )
        return
    if conv.approval == "manual":
        decision = ctx.state.approval(approval_key)
        if decision == "rejected":
            strong.state = "rejected"
            return
        if decision != "approved":
            strong.state = "awaiting approval"
            return
        strong.state = "approved"
    else:
        strong.state = "auto"

    # the requisition: reuse an open one with the same code, or one this tool already created
    create_key = action_key(c, "create_requisition", code, code)
    existing = ctx.state.open_requisition(c, code)
    if existing is None and ctx.state.closed_requisition(c, code):
        # the role was opened before and has been closed since: opening another one with the same code
        # would clash (Workday ids are unique) or confuse recruiters, so a person decides
        strong.state += f", requisition {code} is closed: reopen it or change the rule's code"
        ctx.plan.skipped.append(
            f"{rule.name}: requisition {code} on {c} is closed; outcome {o.outcome_id} waits"
        )
        return
    existing = existing or ctx.state.done(create_key)
    if existing and ctx.state.unfinished(create_key):
        # a crashed creation that the mirror already shows: plan it anyway so the applier reconciles
        # it by code and closes its ledger entry (nothing is sent: the requisition is found)
        existing = None
    req_fields: dict[str, Any] = {"requisition": existing, "requisition_from": None}
    if existing:
        strong.state += f", reuses requisition {existing}"
    else:
        supervisor = o.project.supervisor.email if o.project.supervisor else None
        manager = (ctx.state.user_for(c, supervisor) if supervisor else None) or tmpl.hiring_manager
        title = render_template(tmpl.title, o) or o.project.title
        new = NewRequisition(
            code=code,
            title=title,
            openings=tmpl.openings,
            team=o.project.team,
            department=tmpl.department,
            location=tmpl.location,
            hiring_manager=manager,
            description_html=requisition_description_html(tmpl.description, title, o),
            fields=ctx.fitted(o, c, tmpl.fields, "job"),
            options=dict(tmpl.options),
        )
        ctx.add(
            CreateRequisition(
                key=create_key,
                connector=c,
                outcome_id=o.outcome_id,
                target=None,
                payload=new,
                summary=f"open requisition {code} ({new.title})",
            )
        )
        req_fields = {"requisition": None, "requisition_from": create_key}
        strong.state += ", new requisition"
    publish_to = tmpl.options.get("publish")
    if publish_to:
        ctx.add(
            Publish(
                key=action_key(c, "publish", code, publish_to),
                connector=c,
                outcome_id=o.outcome_id,
                target=None,
                payload=PublishPayload(options=dict(tmpl.options)),
                summary=f"publish {code} ({publish_to})",
                **req_fields,
            )
        )
    attach_key = action_key(c, "attach", o.outcome_id, code)
    ctx.add(
        Attach(
            key=attach_key,
            payload=AttachPayload(stage=rule.prescreen.stage),
            summary=f"attach to {code}",
            **who.fields(),
            **req_fields,
        )
    )
    prescreen_key = action_key(c, "prescreen", o.outcome_id, [code, o.content_hash()])
    pre = Prescreen(
        outcome_id=o.outcome_id,
        score=o.evaluation.rating,
        recommendation=recommendation(o),
        skills=tuple(SkillResult(skill=sk.name, level=sk.level) for sk in o.evaluation.skills),
        deliverables=o.evaluation.deliverables,
        summary_text=prescreen_text(o),
        summary_html=prescreen_html(o),
        fields=ctx.fitted(o, c, rule.prescreen.fields, "application"),
        marker=f"syncbridge:{prescreen_key}",
        stage=rule.prescreen.stage,
    )
    app_ref = ctx.state.done(attach_key)
    ctx.add(
        WritePrescreen(
            key=prescreen_key,
            payload=PrescreenPayload(
                prescreen=pre, attachment=rule.prescreen.attachment, application=app_ref
            ),
            application_from=None if app_ref else attach_key,
            summary=f"prescreen on {code}",
            **who.fields(),
        )
    )
