"""Calls to both implementations, and their answers in comparable form."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.protobuf import message as pb_message
from google.rpc import error_details_pb2, status_pb2
from polymesh.users.v1 import users_pb2, users_pb2_grpc

DETAILS_KEY = "grpc-status-details-bin"
UNKNOWN_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"

Stubs = dict[str, users_pb2_grpc.UserServiceStub]


@dataclass(frozen=True)
class Answer:
    """What one call answered: its status and, if OK, its messages."""

    code: grpc.StatusCode
    message: str = ""
    details: bytes = b""
    """The raw google.rpc.Status of the trailers (b"" when none was sent)."""
    responses: list[pb_message.Message] = field(default_factory=list)


def _error(err: grpc.RpcError, responses: list[pb_message.Message]) -> Answer:
    details = b""
    for key, value in err.trailing_metadata() or ():
        if key == DETAILS_KEY:
            details = value
    return Answer(err.code(), err.details() or "", details, responses)


def unary(stub: users_pb2_grpc.UserServiceStub, method: str, request) -> Answer:
    try:
        response = getattr(stub, method)(request, timeout=10)
    except grpc.RpcError as err:
        return _error(err, [])
    return Answer(grpc.StatusCode.OK, responses=[response])


def list_users(stub: users_pb2_grpc.UserServiceStub, request) -> Answer:
    responses: list[pb_message.Message] = []
    try:
        for response in stub.ListUsers(request, timeout=10):
            responses.append(response)
    except grpc.RpcError as err:
        return _error(err, responses)
    return Answer(grpc.StatusCode.OK, responses=responses)


def both(stubs: Stubs, method: str, request: Callable[[str], object] | object) -> dict[str, Answer]:
    """The answers of every implementation to one request (or to a request
    made per implementation, when request is a function of its name)."""
    answers = {}
    for name, stub in stubs.items():
        req = request(name) if callable(request) else request
        answers[name] = list_users(stub, req) if method == "ListUsers" else unary(stub, method, req)
    return answers


def assert_same_error(answers: dict[str, Answer]) -> Answer:
    """Every implementation answered the same status, message and detail bytes."""
    first_name, first = next(iter(answers.items()))
    for name, answer in answers.items():
        assert (answer.code, answer.message, answer.details) == (
            first.code,
            first.message,
            first.details,
        ), f"{name} and {first_name} differ"
    return first


def assert_invalid(answers: dict[str, Answer], *violations: tuple[str, str]) -> None:
    """INVALID_ARGUMENT from every implementation, identical byte for byte: the
    message is the first violation, the BadRequest detail lists all of them."""
    answer = assert_same_error(answers)
    assert answer.code == grpc.StatusCode.INVALID_ARGUMENT
    assert answer.message == f"{violations[0][0]}: {violations[0][1]}"
    status = status_pb2.Status.FromString(answer.details)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert status.message == answer.message
    assert len(status.details) == 1
    assert status.details[0].type_url == "type.googleapis.com/google.rpc.BadRequest"
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    assert [(v.field, v.description) for v in bad.field_violations] == list(violations)
    assert answer.responses == []


def assert_not_found(answers: dict[str, Answer], ids: dict[str, str]) -> None:
    """NOT_FOUND with a ResourceInfo naming ids[implementation]."""
    for name, answer in answers.items():
        assert answer.code == grpc.StatusCode.NOT_FOUND, name
        assert answer.message == "user not found", name
        status = status_pb2.Status.FromString(answer.details)
        assert status.code == grpc.StatusCode.NOT_FOUND.value[0]
        assert status.message == "user not found"
        assert len(status.details) == 1
        assert status.details[0].type_url == "type.googleapis.com/google.rpc.ResourceInfo"
        info = error_details_pb2.ResourceInfo()
        assert status.details[0].Unpack(info)
        assert info == error_details_pb2.ResourceInfo(
            resource_type="polymesh.users.v1.User",
            resource_name=ids[name],
            description="user not found",
        ), name
    if len(set(ids.values())) == 1:
        assert_same_error(answers)


def assert_email_taken(answers: dict[str, Answer]) -> None:
    answer = assert_same_error(answers)
    assert answer.code == grpc.StatusCode.ALREADY_EXISTS
    assert answer.message == "a user with this email already exists"
    assert answer.details == b""


def is_user_id(s: str) -> bool:
    """A canonical lowercase random (version 4) UUID."""
    import uuid

    try:
        parsed = uuid.UUID(s)
    except ValueError:
        return False
    return str(parsed) == s and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def comparable(user: users_pb2.User) -> tuple[str, str]:
    """A user without what differs by design between two databases (id, times)."""
    return (user.email, user.name)


def ok_users(answers: dict[str, Answer]) -> dict[str, users_pb2.User]:
    """The user of each OK answer; every implementation returns the same fields."""
    users = {}
    for name, answer in answers.items():
        assert answer.code == grpc.StatusCode.OK, f"{name}: {answer.code} {answer.message}"
        (response,) = answer.responses
        users[name] = response.user if response.ListFields() else users_pb2.User()
    assert len({comparable(u) for u in users.values()}) == 1, users
    return users


def page_token(user_id: str) -> str:
    return base64.urlsafe_b64encode(user_id.encode()).rstrip(b"=").decode()


def table_rows(db: Path) -> dict[str, list[tuple]]:
    """The rows of the users database, without ids and times, sorted."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        users = sorted(conn.execute("SELECT email, name FROM users"))
        migrations = sorted(conn.execute("SELECT version FROM schema_migrations"))
        schema = sorted(
            conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            )
        )
    conn.close()
    return {"users": users, "schema_migrations": migrations, "schema": schema}
