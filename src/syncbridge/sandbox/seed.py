"""Deterministic seed data for sandboxes: names from many scripts, messy e-mails and phones, timestamps
spread over a span, ASCII folding, seeded RNGs, and the picker of demo people.

Everything that draws takes the caller's ``random.Random``: the same ``(size, seed)`` gives the same file.
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

__all__ = [
    "FIRST_NAMES",
    "LAST_NAMES",
    "MADE_UP_NAMES",
    "PERSONAL_DOMAINS",
    "SCHOOL_DOMAINS",
    "WORK_DOMAINS",
    "ascii_fold",
    "classify_emails",
    "conversion_rule",
    "made_up_people",
    "messy_email",
    "phone",
    "phone_digits",
    "pick_people",
    "rng_for",
    "seed_anchor",
    "spread",
    "stable_hex",
    "uuid_from",
]

Owner = TypeVar("Owner", bound=Hashable)

# fmt: off
#: (as written, ASCII form for e-mail local parts): accents, apostrophes, hyphens and non-Latin scripts
FIRST_NAMES = [
    ("José", "jose"), ("Zoë", "zoe"), ("Renée", "renee"), ("François", "francois"), ("Björn", "bjorn"),
    ("Søren", "soren"), ("Łukasz", "lukasz"), ("Mary-Kate", "marykate"), ("Jean-Luc", "jeanluc"),
    ("Siobhán", "siobhan"), ("Chloé", "chloe"), ("Maria", "maria"), ("James", "james"), ("Priya", "priya"),
    ("Aisha", "aisha"), ("Oluwaseun", "oluwaseun"), ("Mohammed", "mohammed"), ("Wei", "wei"),
    ("美咲", "misaki"), ("翔太", "shota"), ("Дмитрий", "dmitry"), ("Анна", "anna"), ("Ольга", "olga"),
    ("Sergei", "sergei"), ("Emily", "emily"), ("Michael", "michael"), ("Sarah", "sarah"), ("David", "david"),
    ("Fatima", "fatima"), ("Carlos", "carlos"), ("Ingrid", "ingrid"), ("Kwame", "kwame"), ("Yuki", "yuki"),
    ("Hana", "hana"), ("Liam", "liam"), ("Noah", "noah"), ("Olivia", "olivia"), ("Ava", "ava"),
    ("Jae-won", "jaewon"), ("민준", "minjun"), ("Ngozi", "ngozi"), ("Tomás", "tomas"), ("Ángel", "angel"),
    ("Dorothée", "dorothee"), ("Gaëlle", "gaelle"), ("Ana", "ana"), ("Sofía", "sofia"), ("Zeynep", "zeynep"),
    ("Mateo", "mateo"), ("Ethan", "ethan"), ("Amara", "amara"), ("Nikolai", "nikolai"), ("Elif", "elif"),
]
LAST_NAMES = [
    ("O'Brien", "obrien"), ("D'Angelo", "dangelo"), ("García", "garcia"), ("Müller", "muller"),
    ("Smith-Jones", "smithjones"), ("Nguyễn", "nguyen"), ("Østergaard", "ostergaard"),
    ("Kowalski", "kowalski"), ("Иванов", "ivanov"), ("Петрова", "petrova"), ("佐藤", "sato"),
    ("鈴木", "suzuki"), ("王", "wang"), ("李", "li"), ("김", "kim"), ("Fernández", "fernandez"),
    ("van der Berg", "vanderberg"), ("de la Cruz", "delacruz"), ("Smith", "smith"), ("Johnson", "johnson"),
    ("Williams", "williams"), ("Brown", "brown"), ("Okafor", "okafor"), ("Adeyemi", "adeyemi"),
    ("Patel", "patel"), ("Singh", "singh"), ("Chen", "chen"), ("Nakamura", "nakamura"), ("Rossi", "rossi"),
    ("Dubois", "dubois"), ("Lefèvre", "lefevre"), ("Şahin", "sahin"), ("Kovačević", "kovacevic"),
    ("Ó Súilleabháin", "osullivan"), ("MacDonald", "macdonald"), ("St. John", "stjohn"), ("Lopez", "lopez"),
    ("Haddad", "haddad"), ("Andersson", "andersson"), ("Mendes", "mendes"), ("Kaur", "kaur"),
    ("Yilmaz", "yilmaz"),
]
PERSONAL_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "proton.me", "icloud.com", "mail.ru", "qq.com",
                    "hotmail.co.uk", "gmx.de", "web.de"]
SCHOOL_DOMAINS = ["stateu.edu", "techinst.edu", "university.ac.uk", "uni-muenchen.de", "utokyo.ac.jp"]
WORK_DOMAINS = ["acme.io", "globex.com", "initech.com", "umbrella.co", "hooli.xyz", "vandelay.org"]
#: people nobody has (the demo's unmatched outcomes)
MADE_UP_NAMES = [("Quinn", "Holloway"), ("Marisol", "Ortega-Ruiz"), ("Tobias", "Brandt"),
                 ("Leilani", "Kahale")]
# fmt: on


def rng_for(vendor: str, seed: int | str, part: str) -> random.Random:
    """The RNG of one part of a seed (``"gh-sandbox"``, 7, ``"candidates"``): parts stay independent, so
    adding records of one kind does not move the others."""
    return random.Random(f"{vendor}:{seed}:{part}")


def uuid_from(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng``."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def stable_hex(*parts: Any) -> str:
    """32 hex digits determined by ``parts`` (ids that must not depend on draw order)."""
    return hashlib.md5(":".join(str(p) for p in parts).encode()).hexdigest()


def seed_anchor(anchor: datetime, *, lag: timedelta = timedelta(0)) -> datetime:
    """The newest seeded timestamp: ``anchor``, or today's midnight (UTC) minus ``lag`` if earlier, so
    that seeded records are never in the future."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return min(anchor, today - lag)


def spread(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A uniform time between ``start`` and ``end`` (``start`` when ``end`` is earlier)."""
    seconds = max(0.0, (end - start).total_seconds())
    return start + timedelta(seconds=rng.random() * seconds)


def ascii_fold(text: str) -> str:
    """Lower-case ASCII letters and digits only, accents dropped (``"Ó Súilleabháin"``: ``osuilleabhain``)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def messy_email(rng: random.Random, email: str) -> str:
    """An address as people type them: about 4% capitalised or shouted, 4% title-cased, 3% padded with
    white space."""
    roll = rng.random()
    if roll < 0.04:
        email = email.upper() if rng.random() < 0.3 else email[:1].upper() + email[1:]
    elif roll < 0.08:
        local, _, domain = email.partition("@")
        email = local.title() + "@" + domain.capitalize()
    if rng.random() < 0.03:
        email = rng.choice([" ", "  ", "\t"]) + email + rng.choice(["", " ", " \n"])
    return email


def phone_digits(rng: random.Random) -> tuple[int, int, int]:
    """An area code, exchange and line number."""
    return rng.randrange(200, 999), rng.randrange(100, 999), rng.randrange(1000, 9999)


def phone(rng: random.Random) -> str:
    """A phone number in one of four formats (US with and without punctuation, London, Germany)."""
    style = rng.randrange(4)
    a, b, c = phone_digits(rng)
    if style == 0:
        return f"+1 ({a}) {b}-{c}"
    if style == 1:
        return f"{a}.{b}.{c}"
    if style == 2:
        return f"+44 20 {b}{rng.randrange(10)} {c}"
    return f"+49{a}{b}{c}"


# --------------------------------------------------------------------------------------------------------
# demo people: the people a demo's outcomes file names


def classify_emails(
    rows: Iterable[tuple[str, Owner, int]], counts: Mapping[str, int]
) -> tuple[list[tuple[str, Owner]], list[tuple[str, Owner]], list[str]]:
    """Split ``(normalized e-mail, owner, position)`` rows by how a person would be found:
    ``primary`` (the first e-mail of exactly one owner), ``secondary`` (a later e-mail of exactly one
    owner) and ``ambiguous`` (e-mails exactly two owners have, sorted).  ``counts`` = owners per e-mail."""
    rows = list(rows)
    primary = [(e, o) for e, o, p in rows if p == 0 and counts.get(e) == 1]
    secondary = [(e, o) for e, o, p in rows if p > 0 and counts.get(e) == 1]
    ambiguous = sorted({e for e, _o, _p in rows if counts.get(e) == 2})
    return primary, secondary, ambiguous


def pick_people(
    rng: random.Random,
    *,
    n: int,
    primary: Sequence[tuple[str, Owner]],
    secondary: Sequence[tuple[str, Owner]],
    ambiguous: Sequence[str],
    owners: Callable[[str], Sequence[Owner]],
    person: Callable[[Owner, str, str], dict[str, Any]],
    rare_first: bool = True,
) -> list[dict[str, Any]]:
    """``n - 4`` people found by a primary e-mail, one by a secondary e-mail and one by an e-mail two
    people share, each owner used once; in that order.  ``person(owner, email, kind)`` renders one;
    ``owners(email)`` lists an ambiguous e-mail's owners (the first one is shown).

    ``rare_first`` picks the ambiguous and secondary ones before the primaries, so that a small seed
    still has one of each; otherwise the primaries are picked first."""
    used: set[Owner] = set()
    picked: dict[str, list[dict[str, Any]]] = {"primary": [], "secondary": [], "ambiguous": []}

    def pick_ambiguous() -> None:
        for email in rng.sample(list(ambiguous), len(ambiguous)):
            found = list(owners(email))
            if not used.intersection(found):
                used.update(found)
                picked["ambiguous"].append(person(found[0], email, "ambiguous"))
                return

    def pick_secondary() -> None:
        for email, owner in rng.sample(list(secondary), len(secondary)):
            if owner not in used:
                used.add(owner)
                picked["secondary"].append(person(owner, email, "secondary"))
                return

    def pick_primary() -> None:
        want = max(n - 4, 0)
        for email, owner in rng.sample(list(primary), len(primary)):
            if len(picked["primary"]) >= want:
                return
            if owner not in used:
                used.add(owner)
                picked["primary"].append(person(owner, email, "primary"))

    steps = (
        (pick_ambiguous, pick_secondary, pick_primary)
        if rare_first
        else (pick_primary, pick_secondary, pick_ambiguous)
    )
    for step in steps:
        step()
    return picked["primary"] + picked["secondary"] + picked["ambiguous"]


def made_up_people(
    rng: random.Random,
    taken: Callable[[str], bool],
    *,
    names: Sequence[tuple[str, str]] = MADE_UP_NAMES,
    domain: str = "nowhere.example",
    count: int = 2,
    offset_once: bool = True,
) -> list[dict[str, Any]]:
    """``count`` people nobody has (kind ``unmatched``), skipping an address for which ``taken`` is
    true.  ``offset_once``: one draw picks where in ``names`` to start; otherwise one draw per person."""
    out: list[dict[str, Any]] = []
    offset = rng.randrange(len(names)) if offset_once else 0
    for k in range(count):
        at = offset + k if offset_once else k + rng.randrange(len(names))
        first, last = names[at % len(names)]
        email = f"{first.lower()}.{ascii_fold(last)}.{rng.randrange(1000, 9999)}@{domain}"
        if taken(email):
            continue
        out.append({"email": email, "first_name": first, "last_name": last, "kind": "unmatched"})
    return out


def conversion_rule(
    vendor: str,
    employer: str,
    options: dict[str, Any],
    *,
    fields: dict[str, str] | None = None,
    prescreen: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A demo's conversion rule (``strong-intern-<vendor>``): strong micro-interns of ``employer`` (rating
    4.5 or more, would hire) get a requisition per team and role; ``options`` say how the vendor opens it,
    ``fields`` fill its custom fields, ``prescreen`` what the prescreen writes (each left out when
    ``None``)."""
    requisition: dict[str, Any] = {
        "title": "{project.role_title}",
        "code": "MI-{project.team}-{project.role_title}",
    }
    if fields is not None:
        requisition["fields"] = fields
    requisition["options"] = options
    rule = {
        "name": f"strong-intern-{vendor}",
        "when": {"employer": employer, "min_rating": 4.5, "would_hire": True},
        "requisition": requisition,
    }
    if prescreen is not None:
        rule["prescreen"] = prescreen
    return rule
