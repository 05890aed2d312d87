"""The validation of polymesh_users, check by check (see messages.py)."""

from __future__ import annotations

import base64

import pytest
from google.protobuf import field_mask_pb2
from polymesh.users.v1 import users_pb2
from polymesh_users import messages as m
from polymesh_users.validation import (
    Change,
    InvalidArgument,
    check_email,
    decode_page_token,
    encode_page_token,
    is_id,
    normalize_name,
    validate_create,
    validate_id,
    validate_list,
    validate_update,
)

ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def violations(fn, *args) -> list[tuple[str, str]]:
    with pytest.raises(InvalidArgument) as info:
        fn(*args)
    assert str(info.value) == info.value.message == "{}: {}".format(*info.value.violations[0])
    return info.value.violations


@pytest.mark.parametrize(
    "email",
    [
        "ada@example.com",
        "a@b",
        "zoë@exämple.com",
        "a.b.c@x.y.z",
        "a!#$%&'*+/=?^_`{|}~-@x",
        "ada@[127.0.0.1]",
        "ada@[::1]",
        "ada@[::ffff:1.2.3.4]",
        "x" * 64 + "@" + "y" * 189,  # 254 bytes
    ],
)
def test_plain_addresses_pass(email: str) -> None:
    assert check_email(email) == ""


@pytest.mark.parametrize(
    ("email", "desc"),
    [
        ("", m.DESC_REQUIRED),
        ("x" * 64 + "@" + "y" * 190, m.DESC_EMAIL_TOO_LONG),
        ("é" * 127 + "@x", m.DESC_EMAIL_TOO_LONG),  # 129 characters, 256 bytes
        ("ada", m.DESC_EMAIL_INVALID),
        ("ada@", m.DESC_EMAIL_INVALID),
        ("@x", m.DESC_EMAIL_INVALID),
        ("a@b@c", m.DESC_EMAIL_INVALID),
        ("Ada <ada@example.com>", m.DESC_EMAIL_INVALID),
        ("<ada@example.com>", m.DESC_EMAIL_INVALID),
        (" ada@example.com", m.DESC_EMAIL_INVALID),
        ("ada@example.com\t", m.DESC_EMAIL_INVALID),
        ("ada @example.com", m.DESC_EMAIL_INVALID),
        ("ada@example.com (Ada)", m.DESC_EMAIL_INVALID),
        ('"ada"@example.com', m.DESC_EMAIL_INVALID),
        (".ada@x", m.DESC_EMAIL_INVALID),
        ("ada.@x", m.DESC_EMAIL_INVALID),
        ("a..da@x", m.DESC_EMAIL_INVALID),
        ("ada@x..y", m.DESC_EMAIL_INVALID),
        ("ada@[1.2.3]", m.DESC_EMAIL_INVALID),
        ("ada@[01.2.3.4]", m.DESC_EMAIL_INVALID),
        ("ada@[fe80::1%eth0]", m.DESC_EMAIL_INVALID),
        ("ada@[example.com]", m.DESC_EMAIL_INVALID),
        ("ada@[1.2.3.4", m.DESC_EMAIL_INVALID),
        ("a(b)c@x", m.DESC_EMAIL_INVALID),
        ("a\x00b@x", m.DESC_EMAIL_INVALID),
    ],
)
def test_other_emails_fail(email: str, desc: str) -> None:
    assert check_email(email) == desc


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("Ad", "Ad"),
        ("  Ada Lovelace \t\n", "Ada Lovelace"),
        ("\u3000\u00a0Zoë\u2028", "Zoë"),
        ("A\u200bB", "A\u200bB"),  # zero width space is not white space for Go
        ("x" * 200, "x" * 200),
        ("\u0085" + "é" * 200 + "\u0085", "é" * 200),
    ],
)
def test_names_are_trimmed(name: str, stored: str) -> None:
    assert normalize_name(name) == (stored, "")


@pytest.mark.parametrize(
    ("name", "desc"),
    [
        ("", m.DESC_REQUIRED),
        (" ", m.DESC_NAME_TOO_SHORT),
        ("A", m.DESC_NAME_TOO_SHORT),
        ("\tA\u3000", m.DESC_NAME_TOO_SHORT),
        ("x" * 201, m.DESC_NAME_TOO_LONG),
        ("Ada\x00", m.DESC_NAME_CONTROL),
        ("A\x1bda", m.DESC_NAME_CONTROL),
        ("A\u0085B", m.DESC_NAME_CONTROL),  # trimmed at the ends only
        ("A\x7f", m.DESC_NAME_CONTROL),  # before the length check
    ],
)
def test_bad_names(name: str, desc: str) -> None:
    assert normalize_name(name) == ("", desc)


def test_create() -> None:
    assert validate_create(users_pb2.CreateUserRequest(email="a@b", name=" Ab ")) == ("a@b", "Ab")
    assert violations(validate_create, users_pb2.CreateUserRequest()) == [
        ("email", "required"),
        ("name", "required"),
    ]
    assert violations(validate_create, users_pb2.CreateUserRequest(email="a@b", name="A")) == [
        ("name", m.DESC_NAME_TOO_SHORT)
    ]


@pytest.mark.parametrize(
    ("id_", "ok"),
    [
        (ID, True),
        (ID.upper(), False),
        (ID[:-1], False),
        (ID + "0", False),
        (ID.replace("-", "_"), False),
        ("0f8fad5bd-9cb-469f-a165-70867728950e", False),
        ("", False),
    ],
)
def test_ids(id_: str, ok: bool) -> None:
    assert is_id(id_) is ok


def test_validate_id() -> None:
    validate_id(ID)
    assert violations(validate_id, "") == [("id", "required")]
    assert violations(validate_id, "x") == [("id", m.DESC_ID_INVALID)]


def test_page_tokens_are_go_base64_raw_url() -> None:
    token = encode_page_token(ID)
    assert token == base64.urlsafe_b64encode(ID.encode()).decode().rstrip("=")
    assert "=" not in token
    assert decode_page_token(token) == ID
    assert decode_page_token(token[:5] + "\r\n" + token[5:]) == ID
    for bad in [token + "=", token[:-1], token + "A", "%%%%", "", "é", encode_page_token("x")]:
        assert decode_page_token(bad) is None, bad


def test_page_tokens_need_zero_padding_bits() -> None:
    # "ab" is YWI; "YWJ" decodes to the same bytes only in a lenient decoder.
    assert decode_page_token("YWJ") is None


@pytest.mark.parametrize(
    ("size", "want"),
    [(0, m.DEFAULT_PAGE_SIZE), (1, 1), (1000, 1000), (1001, 1000), (2**31 - 1, 1000)],
)
def test_page_sizes(size: int, want: int) -> None:
    assert validate_list(users_pb2.ListUsersRequest(page_size=size)) == (want, "")


def test_list() -> None:
    req = users_pb2.ListUsersRequest(page_size=2, page_token=encode_page_token(ID))
    assert validate_list(req) == (2, ID)
    req = users_pb2.ListUsersRequest(page_size=-1, page_token="nope")
    assert violations(validate_list, req) == [
        ("page_size", m.DESC_PAGE_SIZE_NEGATIVE),
        ("page_token", m.DESC_PAGE_TOKEN_INVALID),
    ]


def update(paths: list[str] | None, id_: str = ID, email: str = "", name: str = ""):
    req = users_pb2.UpdateUserRequest(user=users_pb2.User(id=id_, email=email, name=name))
    if paths is not None:
        req.update_mask.CopyFrom(field_mask_pb2.FieldMask(paths=paths))
    return req


def test_update_follows_the_mask() -> None:
    assert validate_update(update(["email"], email="a@b", name="x")) == (ID, Change(email="a@b"))
    assert validate_update(update(["name"], email="bad", name=" Xy ")) == (ID, Change(name="Xy"))
    assert validate_update(update(["name", "email", "name"], email="a@b", name="Xy")) == (
        ID,
        Change(email="a@b", name="Xy"),
    )


def test_update_violations_in_order() -> None:
    assert violations(validate_update, update(None, id_="")) == [
        ("user.id", "required"),
        ("update_mask", m.DESC_UPDATE_MASK_EMPTY),
    ]
    assert violations(validate_update, update([])) == [("update_mask", m.DESC_UPDATE_MASK_EMPTY)]
    req = update(["bogus", "name", "email", "bogus", "name"], id_="X", email="e", name="")
    assert violations(validate_update, req) == [
        ("user.id", m.DESC_ID_INVALID),
        ("update_mask.paths[0]", m.DESC_UPDATE_MASK_PATH),
        ("user.name", "required"),
        ("user.email", m.DESC_EMAIL_INVALID),
    ]
    assert violations(validate_update, update(["email", "Email"], email="a@b")) == [
        ("update_mask.paths[1]", m.DESC_UPDATE_MASK_PATH)
    ]
