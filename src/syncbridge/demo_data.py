"""Demo data: a deterministic outcomes CSV for the sandbox people (``syncbridge demo`` and the tests)."""

from __future__ import annotations

import csv
import random
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from syncbridge.outcomes import CANONICAL_COLUMNS

__all__ = ["write_demo_outcomes"]

# (project title, role title, team, supervisor title, skill pool)
_DEMO_PROJECTS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    (
        "Marketing Analytics",
        "Marketing Analyst Intern",
        "Growth Marketing",
        "Marketing Analytics Lead",
        ("Excel", "SQL", "Google Analytics", "Data Visualization", "Copywriting"),
    ),
    (
        "Backend Engineering",
        "Software Engineering Intern",
        "Platform Engineering",
        "Engineering Manager",
        ("Python", "REST APIs", "PostgreSQL", "Automated Testing", "Docker"),
    ),
    (
        "Customer Churn Dashboard",
        "Data Analyst Intern",
        "Business Intelligence",
        "Senior Data Analyst",
        ("SQL", "Python", "Tableau", "Statistics", "Data Cleaning"),
    ),
    (
        "Onboarding Flow Redesign",
        "UX Design Intern",
        "Product Design",
        "Design Lead",
        ("Figma", "User Research", "Prototyping", "Accessibility"),
    ),
    (
        "Supplier Cost Analysis",
        "Finance Analyst Intern",
        "Procurement",
        "Finance Manager",
        ("Excel", "Financial Modeling", "SQL", "Presentation Skills"),
    ),
    (
        "Support Ticket Classification",
        "Machine Learning Intern",
        "Customer Experience",
        "Staff Data Scientist",
        ("Python", "scikit-learn", "NLP", "Data Cleaning"),
    ),
    (
        "Competitor Pricing Research",
        "Business Analyst Intern",
        "Strategy",
        "Strategy Director",
        ("Market Research", "Excel", "Presentation Skills", "Business Writing"),
    ),
    (
        "Release Automation",
        "DevOps Intern",
        "Developer Productivity",
        "Site Reliability Engineer",
        ("Bash", "CI/CD", "Docker", "Python"),
    ),
    (
        "Social Media Content Calendar",
        "Content Marketing Intern",
        "Brand",
        "Content Manager",
        ("Copywriting", "Canva", "Social Media", "Analytics"),
    ),
    (
        "Recruiting Funnel Report",
        "People Analytics Intern",
        "People Operations",
        "People Analytics Manager",
        ("Excel", "SQL", "Data Visualization", "Stakeholder Communication"),
    ),
)
_DEMO_SUPERVISORS: tuple[tuple[str, str], ...] = (
    ("Maria", "Lopez"),
    ("James", "Okafor"),
    ("Priya", "Raman"),
    ("Daniel", "Becker"),
    ("Sofia", "Andersson"),
    ("Kenji", "Watanabe"),
    ("Amara", "Nwosu"),
    ("Luca", "Bianchi"),
)
_DEMO_SCHOOLS: tuple[str, ...] = (
    "Riverside Community College",
    "Northgate University",
    "Lakeview Institute of Technology",
    "State University",
    "Harbor City College",
)
_DEMO_STRONG_COMMENTS: tuple[str, ...] = (
    "{first} delivered the {title} work ahead of schedule, documented every step, and presented the "
    "results to the team with confidence. We would hire {first} without hesitation.",
    "Outstanding: {first} asked sharp questions early, handled feedback well, and the {skill} work "
    "was production quality.",
    "{first} took full ownership of the project, communicated progress daily, and exceeded what we "
    "expected from a short engagement.",
)
_DEMO_WEAK_COMMENTS: tuple[str, ...] = (
    "{first} completed the core tasks of the {title} project; the final report needed two rounds of "
    "revisions.",
    "Good attitude and reliable attendance. {first} should build more depth in {skill} before taking "
    "on a similar project independently.",
    "{first} made steady progress, but deadlines slipped twice and status updates were irregular.",
    "Solid effort overall; {first} would benefit from more practice with {skill} and from asking for "
    "help sooner.",
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def write_demo_outcomes(
    path: Path, people: list[dict[str, Any]], *, employer: str = "Acme Corp", seed: int = 7
) -> int:
    """Write a demo outcomes CSV (canonical headers): one outcome per person, then exactly two bad rows.

    ``people`` are dicts with ``email``, ``first_name``, ``last_name`` and ``kind``.  About a third of
    the outcomes are *strong* (rating >= 4.5 and would_hire yes).  The two bad rows (rating 7; empty
    student_email) are quarantined when the file is read.  Returns the number of data rows written.
    Deterministic for a given ``people``, ``employer`` and ``seed``.
    """
    rng = random.Random(seed)
    domain = (re.sub(r"[^a-z0-9]+", "", employer.lower()) or "employer") + ".example"
    count = len(people)
    strong = set(rng.sample(range(count), round(count / 3))) if count else set()

    def outcome_row(index: int, person: Mapping[str, Any], is_strong: bool) -> dict[str, str]:
        title, role, team, sup_title, pool = rng.choice(_DEMO_PROJECTS)
        sup_first, sup_last = rng.choice(_DEMO_SUPERVISORS)
        start = date(2026, 1, 5) + timedelta(days=rng.randrange(0, 240))
        weeks = rng.randint(2, 8)
        end = start + timedelta(weeks=weeks, days=-1)
        skills = rng.sample(pool, rng.randint(2, min(4, len(pool))))
        if is_strong:
            rating = rng.choice((4.5, 4.6, 4.7, 4.8, 5.0))
            levels = [rng.randint(4, 5) for _ in skills]
            would_hire = "yes"
            comment = rng.choice(_DEMO_STRONG_COMMENTS)
        else:
            rating = rng.choice((2.5, 3.0, 3.2, 3.5, 3.8, 4.0, 4.2))
            levels = [rng.randint(2, 4) for _ in skills]
            would_hire = "yes" if rating >= 4.0 and rng.random() < 0.5 else "no"
            comment = rng.choice(_DEMO_WEAK_COMMENTS)
        project_id = f"PRJ-26-{index:04d}"
        first = str(person.get("first_name", "")).strip()
        base_url = f"https://docs.{domain}/internships/{project_id.lower()}"
        deliverables = [f"{base_url}/final-report"]
        if rng.random() < 0.5:
            deliverables.append(f"https://git.{domain}/interns/{_slug(title)}-{index:04d}")
        submitted = datetime.combine(
            end + timedelta(days=rng.randint(1, 6)), time(rng.randint(9, 17), rng.choice((0, 15, 30, 45)))
        ).replace(tzinfo=UTC)
        return {
            "outcome_id": f"MI-2026-{index:04d}",
            "student_email": str(person.get("email", "")),
            "student_first_name": first,
            "student_last_name": str(person.get("last_name", "")).strip(),
            "student_phone": f"+1-555-01{rng.randint(0, 99):02d}" if rng.random() < 0.6 else "",
            "student_school": rng.choice(_DEMO_SCHOOLS),
            "employer": employer,
            "project_id": project_id,
            "project_title": title,
            "role_title": role,
            "team": team,
            "supervisor_name": f"{sup_first} {sup_last}",
            "supervisor_email": f"{sup_first.lower()}.{sup_last.lower()}@{domain}",
            "supervisor_title": sup_title,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "status": "completed",
            "hours": str(weeks * rng.choice((8, 10, 12, 15))),
            "rating": f"{rating:.1f}",
            "would_hire": would_hire,
            "skills": "; ".join(f"{s}:{lv}" for s, lv in zip(skills, levels, strict=True)),
            "comments": comment.format(first=first or "The student", title=title, skill=skills[0]),
            "deliverables": " ".join(deliverables),
            "submitted_at": submitted.isoformat().replace("+00:00", "Z"),
        }

    rows = [outcome_row(i + 1, person, i in strong) for i, person in enumerate(people)]
    bad_rating = outcome_row(
        count + 1, {"email": "rowan.demo@students.example", "first_name": "Rowan", "last_name": "Demo"}, False
    )
    bad_rating["rating"] = "7"
    bad_rating["comments"] = "Demo row: the rating is out of range, so this row is quarantined."
    bad_email = outcome_row(count + 2, {"email": "", "first_name": "Sasha", "last_name": "Demo"}, False)
    bad_email["comments"] = "Demo row: the student e-mail is missing, so this row is quarantined."
    rows.extend([bad_rating, bad_email])

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CANONICAL_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
