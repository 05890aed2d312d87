"""CreateUser, GetUser, UpdateUser and DeleteUser: the Go and the Python
service answer every request identically, and keep identical rows."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2
from polymesh.users.v1 import users_pb2

from .answers import (
    UNKNOWN_ID,
    assert_email_taken,
    assert_invalid,
    assert_not_found,
    assert_same_error,
    both,
    is_user_id,
    ok_users,
    table_rows,
)

EMAIL_INVALID = (
    "must be a plain email address such as ada@example.com, "
    "without a display name, angle brackets or surrounding spaces"
)
NAME_SHORT = "must have at least 2 characters once leading and trailing white space is trimmed"
NAME_LONG = "must have at most 200 characters once leading and trailing white space is trimmed"
NAME_CONTROL = "must not contain control characters"
ID_INVALID = "must be a user id: a lowercase UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e"
MASK_EMPTY = "must name at least one field to update: email, name"
MASK_PATH = "unknown field: the fields that can be updated are email and name"


def create(stubs, email: str, name: str) -> dict[str, users_pb2.User]:
    answers = both(stubs, "CreateUser", users_pb2.CreateUserRequest(email=email, name=name))
    return ok_users(answers)


def update(stubs, ids: dict[str, str], paths: list[str], email: str = "", name: str = ""):
    return both(
        stubs,
        "UpdateUser",
        lambda impl: users_pb2.UpdateUserRequest(
            user=users_pb2.User(id=ids[impl], email=email, name=name),
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        ),
    )


def ids_of(users: dict[str, users_pb2.User]) -> dict[str, str]:
    return {impl: u.id for impl, u in users.items()}


def test_create_returns_the_stored_user(stubs) -> None:
    users = create(stubs, "ada@example.com", "  Ada Lovelace\u3000")
    for user in users.values():
        assert is_user_id(user.id)
        assert (user.email, user.name) == ("ada@example.com", "Ada Lovelace")
        assert user.create_time == user.update_time
        assert user.create_time.seconds > 0
        assert user.create_time.nanos % 1000 == 0  # microseconds
    gets = both(stubs, "GetUser", lambda impl: users_pb2.GetUserRequest(id=users[impl].id))
    for impl, user in ok_users(gets).items():
        assert user == users[impl]


@pytest.mark.parametrize(
    ("email", "violation"),
    [
        ("", "required"),
        ("ada", EMAIL_INVALID),
        ("Ada <ada@example.com>", EMAIL_INVALID),
        ("<ada@example.com>", EMAIL_INVALID),
        (" ada@example.com", EMAIL_INVALID),
        ("ada@example.com ", EMAIL_INVALID),
        ("ada@example.com (Ada)", EMAIL_INVALID),
        ('"ada"@example.com', EMAIL_INVALID),
        ("ada@@example.com", EMAIL_INVALID),
        ("ada..l@example.com", EMAIL_INVALID),
        (".ada@example.com", EMAIL_INVALID),
        ("ada@example.com.", EMAIL_INVALID),
        ("ada@", EMAIL_INVALID),
        ("@example.com", EMAIL_INVALID),
        ("ada@[300.0.0.1]", EMAIL_INVALID),
        ("ada@[fe80::1%eth0]", EMAIL_INVALID),
        ("a,b@example.com", EMAIL_INVALID),
        ("x" * 243 + "@example.com", "must be at most 254 bytes"),
    ],
)
def test_create_rejects_an_email(stubs, email: str, violation: str) -> None:
    answers = both(stubs, "CreateUser", users_pb2.CreateUserRequest(email=email, name="Ada"))
    assert_invalid(answers, ("email", violation))


@pytest.mark.parametrize(
    "email",
    [
        "a@b",
        "zoë@example.com",
        "ada@[127.0.0.1]",
        "ada@[::1]",
        "a.b+c@x.y",
        "a!#$%&'*/=?^_`{|}~-@x",
    ],
)
def test_create_accepts_an_email(stubs, email: str) -> None:
    (user, *_) = create(stubs, email, "Ada").values()
    assert user.email == email


@pytest.mark.parametrize(
    ("name", "violation"),
    [
        ("", "required"),
        ("A", NAME_SHORT),
        ("  A \t", NAME_SHORT),
        ("\u3000\u00a0", NAME_SHORT),
        ("x" * 201, NAME_LONG),
        ("Ada\x00Lovelace", NAME_CONTROL),
        ("Ada\x7f", NAME_CONTROL),
        ("Ada\u0085Lovelace", NAME_CONTROL),
        ("A\x01", NAME_CONTROL),
    ],
)
def test_create_rejects_a_name(stubs, name: str, violation: str) -> None:
    answers = both(stubs, "CreateUser", users_pb2.CreateUserRequest(email="n@x.y", name=name))
    assert_invalid(answers, ("name", violation))


def test_create_lists_every_violation_in_order(stubs) -> None:
    answers = both(stubs, "CreateUser", users_pb2.CreateUserRequest(email="bad", name=""))
    assert_invalid(answers, ("email", EMAIL_INVALID), ("name", "required"))


def test_create_keeps_names_of_200_characters(stubs) -> None:
    (user, *_) = create(stubs, "long@example.com", " " + "é" * 200 + "\n").values()
    assert user.name == "é" * 200


def test_create_refuses_a_taken_email(stubs) -> None:
    create(stubs, "taken@example.com", "First")
    answers = both(
        stubs, "CreateUser", users_pb2.CreateUserRequest(email="taken@example.com", name="Second")
    )
    assert_email_taken(answers)
    # Compared byte for byte: another case is another address.
    create(stubs, "Taken@example.com", "Third")


def test_get_unknown_id_is_not_found(stubs) -> None:
    answers = both(stubs, "GetUser", users_pb2.GetUserRequest(id=UNKNOWN_ID))
    assert_not_found(answers, {impl: UNKNOWN_ID for impl in answers})


@pytest.mark.parametrize(
    ("id_", "violation"),
    [
        ("", "required"),
        ("nope", ID_INVALID),
        (UNKNOWN_ID.upper(), ID_INVALID),
        (UNKNOWN_ID.replace("-", ""), ID_INVALID),
        ("{" + UNKNOWN_ID + "}", ID_INVALID),
        (UNKNOWN_ID[:-1] + "g", ID_INVALID),
    ],
)
@pytest.mark.parametrize("method", ["GetUser", "DeleteUser"])
def test_malformed_id_is_invalid(stubs, method: str, id_: str, violation: str) -> None:
    request = (users_pb2.GetUserRequest if method == "GetUser" else users_pb2.DeleteUserRequest)(
        id=id_
    )
    assert_invalid(both(stubs, method, request), ("id", violation))


def test_update_email_name_and_both(stubs) -> None:
    created = create(stubs, "grace@example.com", "Grace")
    ids = ids_of(created)

    by_email = ok_users(update(stubs, ids, ["email"], email="hopper@example.com", name="ignored"))
    by_name = ok_users(update(stubs, ids, ["name"], email="ignored@example.com", name=" G. H. "))
    by_both = ok_users(update(stubs, ids, ["name", "email"], "gh@example.com", "Grace Hopper"))
    for impl in created:
        assert (by_email[impl].email, by_email[impl].name) == ("hopper@example.com", "Grace")
        assert (by_name[impl].email, by_name[impl].name) == ("hopper@example.com", "G. H.")
        assert (by_both[impl].email, by_both[impl].name) == ("gh@example.com", "Grace Hopper")
        for user in (by_email[impl], by_name[impl], by_both[impl]):
            assert user.id == ids[impl]
            assert user.create_time == created[impl].create_time
            assert user.update_time.ToDatetime() >= user.create_time.ToDatetime()
    got = ok_users(both(stubs, "GetUser", lambda impl: users_pb2.GetUserRequest(id=ids[impl])))
    assert got == by_both


def test_update_without_paths_is_invalid(stubs) -> None:
    ids = ids_of(create(stubs, "mask@example.com", "Mask"))
    assert_invalid(update(stubs, ids, [], email="x@example.com"), ("update_mask", MASK_EMPTY))
    answers = both(
        stubs,
        "UpdateUser",
        lambda impl: users_pb2.UpdateUserRequest(user=users_pb2.User(id=ids[impl], name="Xy")),
    )
    assert_invalid(answers, ("update_mask", MASK_EMPTY))


def test_update_unknown_paths_and_bad_values(stubs) -> None:
    ids = ids_of(create(stubs, "paths@example.com", "Paths"))
    assert_invalid(update(stubs, ids, ["nickname"], name="Xy"), ("update_mask.paths[0]", MASK_PATH))
    assert_invalid(
        update(stubs, ids, ["name", "id", "email", "name", "create_time"], "bad", "A"),
        ("user.name", NAME_SHORT),
        ("update_mask.paths[1]", MASK_PATH),
        ("user.email", EMAIL_INVALID),
        ("update_mask.paths[4]", MASK_PATH),
    )
    answers = both(
        stubs,
        "UpdateUser",
        users_pb2.UpdateUserRequest(update_mask=field_mask_pb2.FieldMask(paths=["email"])),
    )
    assert_invalid(answers, ("user.id", "required"), ("user.email", "required"))
    answers = both(stubs, "UpdateUser", users_pb2.UpdateUserRequest())
    assert_invalid(answers, ("user.id", "required"), ("update_mask", MASK_EMPTY))
    # Nothing changed.
    got = ok_users(both(stubs, "GetUser", lambda impl: users_pb2.GetUserRequest(id=ids[impl])))
    assert {(u.email, u.name) for u in got.values()} == {("paths@example.com", "Paths")}


def test_update_to_a_taken_email(stubs) -> None:
    create(stubs, "owner@example.com", "Owner")
    ids = ids_of(create(stubs, "other@example.com", "Other"))
    assert_email_taken(update(stubs, ids, ["email"], email="owner@example.com"))
    # Setting a user's own email again is no conflict.
    ok_users(update(stubs, ids, ["email"], email="other@example.com"))


def test_update_unknown_user_is_not_found(stubs) -> None:
    answers = update(stubs, {"go": UNKNOWN_ID, "python": UNKNOWN_ID}, ["name"], name="Nobody")
    assert_not_found(answers, {impl: UNKNOWN_ID for impl in answers})


def test_delete_then_get_and_delete_again(stubs) -> None:
    ids = ids_of(create(stubs, "gone@example.com", "Gone"))
    answers = both(stubs, "DeleteUser", lambda impl: users_pb2.DeleteUserRequest(id=ids[impl]))
    for answer in answers.values():
        assert answer.code == grpc.StatusCode.OK
        assert answer.responses == [users_pb2.DeleteUserResponse()]
    assert_not_found(
        both(stubs, "GetUser", lambda impl: users_pb2.GetUserRequest(id=ids[impl])), ids
    )
    assert_not_found(
        both(stubs, "DeleteUser", lambda impl: users_pb2.DeleteUserRequest(id=ids[impl])), ids
    )
    # The email is free again.
    create(stubs, "gone@example.com", "Back")


def test_not_found_details_match_byte_for_byte(stubs) -> None:
    answers = both(stubs, "DeleteUser", users_pb2.DeleteUserRequest(id=UNKNOWN_ID))
    answer = assert_same_error(answers)
    assert answer.code == grpc.StatusCode.NOT_FOUND


def test_zz_databases_hold_the_same_rows(services, stubs) -> None:
    """Runs last in this module: the same calls left the same rows."""
    rows = {impl: table_rows(service.db) for impl, service in services.items()}
    assert rows["go"] == rows["python"]
    assert ("owner@example.com", "Owner") in rows["go"]["users"]
    assert rows["go"]["schema_migrations"] == [(1,)]
