"""The planner: (outcomes, links, rules, ledger) → the writes to make.  A pure function.

Every action has a deterministic **idempotency key** built from (connector, kind, outcome id, content
digest).  The link target is deliberately *not* part of the key: a person created by a previous run is
only known after that run, and the same outcome must still map to the same key, or a re-run would write
twice.  One outcome is linked to at most one person per connector, so nothing is lost by leaving it out.

Keys already ``done`` in the ledger produce no action, so a second run of the same inputs plans zero
writes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from syncbridge.config import Settings
from syncbridge.connector import Capability
from syncbridge.corrections import correction_text, snapshot
from syncbridge.fieldtypes import FieldDefs, fit_fields
from syncbridge.matching import Link
from syncbridge.model import Outcome
from syncbridge.nurture import plan_nurture
from syncbridge.redact import mask_email
from syncbridge.render import history_subject, history_text
from syncbridge.safety import sanitise_payload

Kind = Literal[
    "create_candidate",
    "add_note",
    "add_tags",
    "set_fields",
    "create_requisition",
    "publish",
    "attach",
    "prescreen",
    "nurture",
]

_CAPABILITY: dict[str, Capability] = {
    "create_candidate": Capability.create_candidate,
    "add_note": Capability.add_note,
    "add_tags": Capability.add_tags,
    "set_fields": Capability.set_fields,
    "create_requisition": Capability.create_requisition,
    "publish": Capability.publish,
    "attach": Capability.attach,
    "prescreen": Capability.prescreen,
    "nurture": Capability.nurture,
}
#: the order the applier runs kinds in (later kinds may depend on earlier ones)
KIND_ORDER = {k: i for i, k in enumerate(_CAPABILITY)}


class Action(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    connector: str
    kind: Kind
    outcome_id: str
    target: str | None  # the person's id; None until the create_candidate it depends on is done
    depends_on: str | None = None
    requisition: str | None = None  # conversion: the requisition id, when it already exists
    requisition_from: str | None = None  # ... else the key of the create_requisition that makes it
    application_from: str | None = None  # prescreen: the key of the attach that makes the application
    payload: dict[str, Any]
    summary: str  # one line for the plan table, with no personal data
    #: payload keys whose text started like a spreadsheet formula (neutralised unless the config says not)
    formulas: tuple[str, ...] = ()

    @property
    def marker(self) -> str:
        return f"syncbridge:{self.key}"


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


def action_key(connector: str, kind: str, outcome_id: str, content: Any) -> str:
    digest = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False)
    raw = f"{connector}\x1f{kind}\x1f{outcome_id}\x1f{digest}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def make_plan(
    settings: Settings,
    outcomes: Sequence[Outcome],
    links: Sequence[Link],
    *,
    capabilities: Mapping[str, frozenset[Capability]],
    done: Callable[[str], str | None],
    open_requisition: Callable[[str, str], str | None] = lambda _c, _code: None,
    approval: Callable[[str], str | None] = lambda _key: None,
    user_for: Callable[[str, str], str | None] = lambda _c, _email: None,
    unfinished: Callable[[str], bool] = lambda _key: False,
    closed_requisition: Callable[[str, str], bool] = lambda _c, _code: False,
    field_defs: Callable[[str], FieldDefs | None] = lambda _c: None,
    earlier_note: Callable[[str, str], dict[str, Any] | None] = lambda _c, _o: None,
    today: date | None = None,
) -> Plan:
    """Plan the history write-back and, for strong micro-interns, the conversion.

    ``done(key)`` returns the remote ref of a done key, else None; ``open_requisition(connector, code)``
    the id of an open requisition with that code in the mirror; ``approval(key)`` the recorded decision
    (``approved``/``rejected``/``pending``) of a manual approval; ``user_for(connector, email)`` the ATS
    user id of a colleague; ``field_defs(connector)`` the mirrored custom-field definitions that mapped
    values are fitted to (a value that cannot fit is reported in ``skipped`` and not sent);
    ``earlier_note(connector, outcome_id)`` the last history note written for the outcome (a corrected
    evaluation's note says it corrects that one, and what changed)."""
    plan = Plan()
    by_id = {o.outcome_id: o for o in outcomes}
    history = settings.history
    gaps: set[str] = set()

    def add(action: Action) -> bool:
        if done(action.key) is not None:
            plan.already_done += 1
            return False
        if _CAPABILITY[action.kind] not in capabilities.get(action.connector, frozenset()):
            gaps.add(f"{action.connector}: cannot {action.kind.replace('_', ' ')} (connector lacks it)")
            return False
        # the one place every write's text passes: control characters out, formulas neutralised
        # (syncbridge.safety); the key was computed from the content before, so toggling the setting
        # never makes a second write of the same outcome
        payload, formulas = sanitise_payload(
            action.payload, neutralise_formulas=settings.safety.neutralise_formulas
        )
        plan.add(action.model_copy(update={"payload": payload, "formulas": tuple(formulas)}))
        return True

    for link in links:
        o = by_id.get(link.outcome_id)
        if o is None or link.connector is None:
            continue
        c = link.connector
        target = link.candidate_id
        depends_on: str | None = None
        if link.status == "unmatched":
            if not settings.matching.create_unmatched:
                continue
            new = {
                "first_name": o.student.first_name,
                "last_name": o.student.last_name,
                "email": o.student.email,
                "phone": o.student.phone,
                "tags": list(settings.matching.new_candidate_tags),
            }
            create_key = action_key(c, "create_candidate", o.outcome_id, o.student.email)
            created_ref = done(create_key)
            if created_ref is None:
                add(
                    Action(
                        key=create_key,
                        connector=c,
                        kind="create_candidate",
                        outcome_id=o.outcome_id,
                        target=None,
                        payload=new,
                        summary=f"create prospect for {mask_email(o.student.email)}",
                    )
                )
                depends_on = create_key
            else:
                plan.already_done += 1
                target = created_ref
        elif link.status != "linked":
            continue
        elif unfinished(key := action_key(c, "create_candidate", o.outcome_id, o.student.email)):
            # a creation killed after the vendor made the person: the sync has linked them since.  Plan
            # it anyway, so the applier finds the person by e-mail and closes the entry (sends nothing)
            plan.add(
                Action(
                    key=key,
                    connector=c,
                    kind="create_candidate",
                    outcome_id=o.outcome_id,
                    target=None,
                    payload={
                        "first_name": o.student.first_name,
                        "last_name": o.student.last_name,
                        "email": o.student.email,
                        "phone": o.student.phone,
                        "tags": list(settings.matching.new_candidate_tags),
                    },
                    summary=f"finish the creation of {mask_email(o.student.email)} (crashed run)",
                )
            )

        common: dict[str, Any] = {
            "connector": c,
            "outcome_id": o.outcome_id,
            "target": target,
            "depends_on": depends_on,
        }
        earlier = earlier_note(c, o.outcome_id)
        key = action_key(c, "add_note", o.outcome_id, o.content_hash())
        correction = correction_text(earlier, o) if earlier and earlier["key"] != key else None
        if history.note:
            subject = ("Corrected: " if correction else "") + history_subject(o)
            add(
                Action(
                    key=key,
                    kind="add_note",
                    payload={
                        "subject": subject,
                        "text": f"{correction}\n\n{history_text(o)}" if correction else history_text(o),
                        "score": o.evaluation.rating,
                        "evaluation": snapshot(o),
                    },
                    summary=f"note: {subject}",
                    **common,
                )
            )
        if history.tags:
            tags = sorted(set(history.tags))
            add(
                Action(
                    key=action_key(c, "add_tags", o.outcome_id, tags),
                    kind="add_tags",
                    payload={"tags": tags},
                    summary="tags: " + ", ".join(tags),
                    **common,
                )
            )
        values = _fitted(plan, o, c, history.fields, "candidate", field_defs, user_for)
        if values:
            add(
                Action(
                    key=action_key(c, "set_fields", o.outcome_id, values),
                    kind="set_fields",
                    payload={"fields": values},
                    summary="fields: " + ", ".join(values),
                    **common,
                )
            )
        _plan_conversion(
            plan,
            settings,
            o,
            common,
            add,
            done,
            open_requisition,
            approval,
            user_for,
            unfinished,
            closed_requisition,
            field_defs,
            corrected=correction is not None,
            today=today or date.today(),
        )
    plan.skipped = sorted(gaps | set(plan.skipped))
    return plan


def _fitted(
    plan: Plan,
    o: Outcome,
    c: str,
    mapping: Mapping[str, str],
    scope: str,
    field_defs: Callable[[str], FieldDefs | None],
    user_for: Callable[[str, str], str | None],
) -> dict[str, Any]:
    """The mapped custom-field values fitted to the fields' types; what cannot fit goes to ``skipped``."""
    if not mapping:
        return {}
    values, problems = fit_fields(o, mapping, field_defs(c), scope, user_for=lambda email: user_for(c, email))
    plan.skipped.extend(f"outcome {o.outcome_id} on {c}: {p} (not sent)" for p in problems)
    return values


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


def _plan_conversion(
    plan: Plan,
    settings: Settings,
    o: Outcome,
    common: dict[str, Any],
    add: Callable[[Action], bool],
    done: Callable[[str], str | None],
    open_requisition: Callable[[str, str], str | None],
    approval: Callable[[str], str | None],
    user_for: Callable[[str, str], str | None],
    unfinished: Callable[[str], bool],
    closed_requisition: Callable[[str, str], bool] = lambda _c, _code: False,
    field_defs: Callable[[str], FieldDefs | None] = lambda _c: None,
    *,
    corrected: bool = False,
    today: date | None = None,
) -> None:
    from syncbridge.model import NewRequisition
    from syncbridge.render import (
        prescreen_html,
        prescreen_text,
        recommendation,
        render_template,
        requisition_code,
        requisition_description_html,
    )

    found = strong_rule(settings, o)
    if found is not None and found[1] and corrected:
        # a downgraded evaluation: say why a conversion that may have been planned before is not
        plan.skipped.append(
            f"{found[0].name}: outcome {o.outcome_id} was corrected and no longer meets the rule "
            f"({'; '.join(found[1])}): not converted"
        )
    if found is None or found[1]:
        return
    rule = found[0]
    c = common["connector"]
    if rule.connector is not None and rule.connector != c:
        plan.skipped.append(f"{rule.name}: outcome {o.outcome_id} is routed to {c}, not {rule.connector}")
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
    plan.strong.append(strong)
    conv = settings.conversion
    if not conv.enabled:
        strong.state = "strong (conversion disabled)"
        return
    nurture = plan_nurture(rule, o, today or date.today())
    if nurture is not None:
        # early talent: strong, but graduating too late to hire now; a prospect, not a conversion
        strong.state = nurture["state"]
        follow_field = nurture["payload"]["follow_up_field"]
        defs = field_defs(c) if follow_field else None
        if follow_field and defs:
            found_def = defs.get("candidate", follow_field)
            if found_def is None or found_def.value_type != "date":
                plan.skipped.append(
                    f"{rule.name}: nurture.follow_up_field {follow_field} is no candidate date field on "
                    f"{c}; the follow-up date of outcome {o.outcome_id} is not written"
                )
                nurture["payload"]["follow_up_field"] = None
        add(
            Action(
                key=action_key(c, "nurture", o.outcome_id, nurture["payload"]),
                kind="nurture",
                payload=nurture["payload"],
                summary=f"nurture: {nurture['state']}",
                **common,
            )
        )
        return
    if conv.approval == "manual":
        decision = approval(approval_key)
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
    existing = open_requisition(c, code)
    if existing is None and closed_requisition(c, code):
        # the role was opened before and has been closed since: opening another one with the same code
        # would clash (Workday ids are unique) or confuse recruiters, so a person decides
        strong.state += f", requisition {code} is closed: reopen it or change the rule's code"
        plan.skipped.append(f"{rule.name}: requisition {code} on {c} is closed; outcome {o.outcome_id} waits")
        return
    existing = existing or done(create_key)
    if existing and unfinished(create_key):
        # a crashed creation that the mirror already shows: plan it anyway so the applier reconciles
        # it by code and closes its ledger entry (nothing is sent: the requisition is found)
        existing = None
    req_fields: dict[str, Any] = {"requisition": existing, "requisition_from": None}
    if existing:
        strong.state += f", reuses requisition {existing}"
    else:
        supervisor = o.project.supervisor.email if o.project.supervisor else None
        manager = (user_for(c, supervisor) if supervisor else None) or tmpl.hiring_manager
        new = NewRequisition(
            code=code,
            title=render_template(tmpl.title, o) or o.project.title,
            openings=tmpl.openings,
            team=o.project.team,
            department=tmpl.department,
            location=tmpl.location,
            hiring_manager=manager,
            description_html=requisition_description_html(
                tmpl.description, render_template(tmpl.title, o) or o.project.title, o
            ),
            fields=_fitted(plan, o, c, tmpl.fields, "job", field_defs, user_for),
            options=dict(tmpl.options),
        )
        add(
            Action(
                key=create_key,
                connector=c,
                kind="create_requisition",
                outcome_id=o.outcome_id,
                target=None,
                payload=new.model_dump(mode="json"),
                summary=f"open requisition {code} ({new.title})",
            )
        )
        req_fields = {"requisition": None, "requisition_from": create_key}
        strong.state += ", new requisition"
    publish_to = tmpl.options.get("publish")
    if publish_to:
        add(
            Action(
                key=action_key(c, "publish", code, publish_to),
                connector=c,
                kind="publish",
                outcome_id=o.outcome_id,
                target=None,
                payload={"options": dict(tmpl.options)},
                summary=f"publish {code} ({publish_to})",
                **req_fields,
            )
        )
    person = {"target": common["target"], "depends_on": common["depends_on"]}
    attach_key = action_key(c, "attach", o.outcome_id, code)
    add(
        Action(
            key=attach_key,
            connector=c,
            kind="attach",
            outcome_id=o.outcome_id,
            payload={"stage": rule.prescreen.stage},
            summary=f"attach to {code}",
            **person,
            **req_fields,
        )
    )
    prescreen_key = action_key(c, "prescreen", o.outcome_id, [code, o.content_hash()])
    marker = f"syncbridge:{prescreen_key}"
    from syncbridge.model import Prescreen, SkillResult

    pre = Prescreen(
        outcome_id=o.outcome_id,
        score=o.evaluation.rating,
        recommendation=recommendation(o),
        skills=tuple(SkillResult(skill=sk.name, level=sk.level) for sk in o.evaluation.skills),
        deliverables=o.evaluation.deliverables,
        summary_text=prescreen_text(o),
        summary_html=prescreen_html(o),
        fields=_fitted(plan, o, c, rule.prescreen.fields, "application", field_defs, user_for),
        marker=marker,
        stage=rule.prescreen.stage,
    )
    app_ref = done(attach_key)
    add(
        Action(
            key=prescreen_key,
            connector=c,
            kind="prescreen",
            outcome_id=o.outcome_id,
            payload={
                "prescreen": pre.model_dump(mode="json"),
                "attachment": rule.prescreen.attachment,
                "application": app_ref,
            },
            application_from=None if app_ref else attach_key,
            summary=f"prescreen on {code}",
            **person,
        )
    )
