"""The sandbox kit's declarative request-body checker (``syncbridge.sandbox.body``)."""

from __future__ import annotations

from typing import Any

import pytest

from syncbridge.sandbox.body import Checker, Field, Wording


class Bad(Exception):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(key, problem)
        self.key, self.problem = key, problem


USERS = {1, 2}
checker = Checker(
    Bad,
    lambda table, rec_id: table == "users" and rec_id in USERS,
    kinds={"upper": lambda key, value, f: str(value).upper()},
)
SPEC = {
    "name": Field(required=True, max_len=5),
    "age": Field("int"),
    "admin": Field("bool", none=False, to="is_admin"),
    "owner_ids": Field("ints", ref="users", none=[]),
    "color": Field("enum", required=True, choices=("red", "blue")),
    "shade": Field("enum", choices=("dark", None), message="pick a shade"),
    "code": Field("upper"),
    "tags": Field(lambda key, value: list(value or [])),
}


def problem(body: dict[str, Any], *, partial: bool = False) -> tuple[str, str]:
    with pytest.raises(Bad) as caught:
        checker.check(body, SPEC, partial=partial)
    return caught.value.key, caught.value.problem


def test_values_defaults_and_renames() -> None:
    body = {"name": "Ann", "color": "red", "admin": None, "owner_ids": [1], "code": "x", "tags": None}
    assert checker.check(body, SPEC) == {
        "name": "Ann",
        "is_admin": False,
        "owner_ids": [1],
        "color": "red",
        "code": "X",
        "tags": [],
    }
    assert checker.check({"age": 3}, SPEC, partial=True) == {"age": 3}  # an update: only what is given


def test_problems_in_the_default_wording() -> None:
    assert problem({"color": "red"}) == ("name", "is required")
    assert problem({"name": "  ", "color": "red"}) == ("name", "can't be blank")
    assert problem({"name": "Annabel", "color": "red"}) == ("name", "is too long (maximum is 5 characters)")
    assert problem({"name": 5, "color": "red"}) == ("name", "must be a string")
    assert problem({"name": "A", "color": "red", "age": True}) == ("age", "must be an integer")
    assert problem({"name": "A", "color": "red", "admin": 1}) == ("admin", "must be true or false")
    assert problem({"name": "A", "color": "red", "owner_ids": [1, "2"]}) == (
        "owner_ids",
        "must be an array of integers",
    )
    assert problem({"name": "A"}) == ("color", "must be one of: red, blue")  # a missing enum is checked
    assert problem({"name": "A", "color": ["red"]}) == ("color", "must be one of: red, blue")
    assert problem({"name": "A", "color": "red", "shade": "light"}) == ("shade", "pick a shade")
    assert problem({"name": "A", "color": "red", "owner_ids": [1, 3]}) == ("owner_ids", "unknown user 3")
    assert problem({"name": None}, partial=True) == ("name", "is required")


def test_own_wording() -> None:
    words = Wording(required="missing", unknown="no {noun} with id {id}")
    own = Checker(Bad, lambda table, rec_id: False, wording=words)
    with pytest.raises(Bad, match="missing"):
        own.check({}, {"x": Field(required=True)})
    with pytest.raises(Bad, match="no job post with id 7"):
        own.check({"x": 7}, {"x": Field("int", ref="job_posts")})
