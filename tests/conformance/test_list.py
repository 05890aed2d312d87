"""ListUsers: pages, their end messages and tokens, and bad requests, from
both services over the same five users (this module's own databases)."""

from __future__ import annotations

import base64

import grpc
import pytest
from polymesh.users.v1 import users_pb2

from .answers import (
    assert_invalid,
    both,
    ok_users,
    page_token,
    table_rows,
)

PAGE_TOKEN_INVALID = "is not a page token returned by ListUsers"
PEOPLE = [
    ("ada@example.com", "Ada Lovelace"),
    ("grace@example.com", "Grace Hopper"),
    ("alan@example.com", "Alan Turing"),
    ("edsger@example.com", "Edsger Dijkstra"),
    ("barbara@example.com", "Barbara Liskov"),
]


@pytest.fixture(scope="module")
def created(stubs) -> dict[str, list[users_pb2.User]]:
    """The five users of each implementation, in the order of their ids."""
    out: dict[str, list[users_pb2.User]] = {impl: [] for impl in stubs}
    for email, name in PEOPLE:
        users = ok_users(
            both(stubs, "CreateUser", users_pb2.CreateUserRequest(email=email, name=name))
        )
        for impl, user in users.items():
            out[impl].append(user)
    return {impl: sorted(users, key=lambda u: u.id.encode()) for impl, users in out.items()}


def page(stubs, size: int, tokens: dict[str, str]):
    return both(
        stubs,
        "ListUsers",
        lambda impl: users_pb2.ListUsersRequest(page_size=size, page_token=tokens[impl]),
    )


def split(responses: list[users_pb2.ListUsersResponse]) -> tuple[list[users_pb2.User], str]:
    """The users of a page and its next token; the end message comes last, once."""
    *items, end = responses
    assert end.WhichOneof("item") == "end"
    assert all(r.WhichOneof("item") == "user" for r in items)
    return [r.user for r in items], end.end.next_page_token


def test_pages_of_two(stubs, created) -> None:
    tokens = {impl: "" for impl in stubs}
    pages: dict[str, list[list[users_pb2.User]]] = {impl: [] for impl in stubs}
    for _ in range(3):
        answers = page(stubs, 2, tokens)
        for impl, answer in answers.items():
            assert answer.code == grpc.StatusCode.OK, answer
            users, tokens[impl] = split(answer.responses)
            pages[impl].append(users)
            if tokens[impl]:
                assert tokens[impl] == page_token(users[-1].id)
                assert base64.urlsafe_b64decode(tokens[impl] + "==").decode() == users[-1].id
    for impl in stubs:
        assert [len(p) for p in pages[impl]] == [2, 2, 1]
        assert tokens[impl] == ""
        # Every user once, in id order, as created.
        assert [u for p in pages[impl] for u in p] == created[impl]
    people = {impl: {(u.email, u.name) for p in pages[impl] for u in p} for impl in stubs}
    assert people["go"] == people["python"] == set(PEOPLE)


def test_first_page_at_default_size_is_the_last(stubs, created) -> None:
    for size in (0, 5, 5000):
        for impl, answer in page(stubs, size, {impl: "" for impl in stubs}).items():
            assert answer.code == grpc.StatusCode.OK
            users, token = split(answer.responses)
            assert users == created[impl]
            assert token == ""


def test_page_of_four_has_a_token(stubs, created) -> None:
    answers = page(stubs, 4, {impl: "" for impl in stubs})
    for impl, answer in answers.items():
        users, token = split(answer.responses)
        assert users == created[impl][:4]
        assert token == page_token(created[impl][3].id)


def test_token_with_line_breaks_names_the_same_page(stubs, created) -> None:
    """Base64 decoding skips CR and LF, in Go's strict decoder as well."""
    tokens = {}
    for impl in stubs:
        token = page_token(created[impl][1].id)
        tokens[impl] = token[:10] + "\r\n" + token[10:] + "\n"
    for impl, answer in page(stubs, 2, tokens).items():
        assert answer.code == grpc.StatusCode.OK, answer
        assert split(answer.responses) == (created[impl][2:4], page_token(created[impl][3].id))


def test_token_after_the_last_user_gives_an_empty_page(stubs, created) -> None:
    tokens = {impl: page_token(created[impl][-1].id) for impl in stubs}
    for answer in page(stubs, 2, tokens).values():
        assert answer.code == grpc.StatusCode.OK
        assert split(answer.responses) == ([], "")


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        page_token("0f8fad5b-d9cb-469f-a165-70867728950e") + "=",
        page_token("0f8fad5b-d9cb-469f-a165-70867728950e")[:-1],
        base64.urlsafe_b64encode(b"0f8fad5b-d9cb-469f-a165-70867728950").decode(),
        page_token("0F8FAD5B-D9CB-469F-A165-70867728950E"),
        base64.b64encode(b"\xff\xfe").decode(),
        "%%%",
        "é",
    ],
)
def test_bad_page_token(stubs, token: str) -> None:
    answers = both(stubs, "ListUsers", users_pb2.ListUsersRequest(page_size=2, page_token=token))
    assert_invalid(answers, ("page_token", PAGE_TOKEN_INVALID))


def test_negative_page_size(stubs) -> None:
    answers = both(stubs, "ListUsers", users_pb2.ListUsersRequest(page_size=-1))
    assert_invalid(answers, ("page_size", "must not be negative"))
    answers = both(
        stubs, "ListUsers", users_pb2.ListUsersRequest(page_size=-2147483648, page_token="x")
    )
    assert_invalid(
        answers, ("page_size", "must not be negative"), ("page_token", PAGE_TOKEN_INVALID)
    )


def test_databases_hold_the_same_rows(services, created) -> None:
    rows = {impl: table_rows(service.db) for impl, service in services.items()}
    assert rows["go"] == rows["python"]
    assert rows["go"]["users"] == sorted(PEOPLE)
