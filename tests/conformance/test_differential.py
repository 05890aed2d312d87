"""Seeded, bounded random requests: both services answer each one the same.

The emails and names are built from pieces chosen to hit the edges of the
rules (RFC 5322 specials, quoting, comments, IP literals, white space that Go
trims, control characters, the length limits)."""

from __future__ import annotations

import random

import grpc
from polymesh.users.v1 import users_pb2

from .answers import assert_same_error, both, ok_users

CASES = 300
EMAIL_PIECES = [
    "ada", "a", "é", "x1", "-", "+", "_", ".", "..", "@", "@", "example.com", "b.c",
    " ", "\t", "<", ">", '"', '\\"', "(c)", "(", ")", ",", ":", ";", "\\", "[", "]",
    "[127.0.0.1]", "[::1]", "[1.2.3]", "[01.2.3.4]", "[::ffff:1.2.3.4]", "%eth0",
    "\x00", "\x7f", "\u00a0", "=?utf-8?q?x?=", "!#$%&'*/=?^`{|}~",
]  # fmt: skip
NAME_PIECES = [
    "A", "Ada", "é", "Zoë", " ", "\t", "\n", "\u3000", "\u00a0", "\u0085", "\u200b",
    "\u2028", "\x00", "\x1f", "\x7f", "\u009f", "\ufeff", "x" * 99, "é" * 100,
]  # fmt: skip


LOCAL_PIECES = ["ada", "a", "é", "x1", "-", "+", ".", "!#$%&'*/=?^`{|}~", '"', " ", "("]
DOMAIN_PIECES = [
    "example.com", "b.c", "b..c", ".b", "b.", "[127.0.0.1]", "[::1]", "[1.2.3]",
    "[01.2.3.4]", "[::ffff:1.2.3.4]", "[fe80::1%eth0]", "[::1", "[a]", "[1::2::3]",
    "[255.255.255.255]", "[256.1.1.1]", "[1:2:3:4:5:6:7:8]", "[1:2:3:4:5:6:7:8:9]",
    "[::FFFF:1.2.3.4]", "[1.2.3.4 ]", "é.fr", "x", "x y", "x(c)",
]  # fmt: skip


def emails(rng: random.Random) -> list[str]:
    """Random piece strings, and addresses whose one part may be wrong."""
    out = ["".join(rng.choices(EMAIL_PIECES, k=rng.randint(1, 6))) for _ in range(CASES)]
    for _ in range(CASES):
        local = "".join(rng.choices(LOCAL_PIECES, k=rng.randint(1, 3)))
        out.append(f"{local}@{rng.choice(DOMAIN_PIECES)}")
    return out + ["a" * n + "@example.com" for n in (241, 242, 243)]


def names(rng: random.Random) -> list[str]:
    return ["".join(rng.choices(NAME_PIECES, k=rng.randint(1, 4))) for _ in range(CASES)]


def test_random_creates_answer_the_same(stubs) -> None:
    rng = random.Random(20250101)
    accepted = rejected = 0
    for i, email in enumerate(emails(rng)):
        request = users_pb2.CreateUserRequest(email=email, name=f"User {i}")
        answers = both(stubs, "CreateUser", request)
        # Both sides of the rules are reached (counted below).
        if answers["go"].code == grpc.StatusCode.OK:
            ok_users(answers)
            accepted += 1
        else:
            assert_same_error(answers)
            rejected += 1
    assert accepted > 50 and rejected > 50, (accepted, rejected)
    accepted = rejected = 0
    for i, name in enumerate(names(rng)):
        request = users_pb2.CreateUserRequest(email=f"name{i}@example.com", name=name)
        answers = both(stubs, "CreateUser", request)
        if answers["go"].code == grpc.StatusCode.OK:
            ok_users(answers)
            accepted += 1
        else:
            assert_same_error(answers)
            rejected += 1
    assert accepted > 50 and rejected > 50, (accepted, rejected)


def test_random_page_tokens_answer_the_same(stubs) -> None:
    rng = random.Random(7)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/\r\n"
    for _ in range(CASES):
        token = "".join(rng.choices(alphabet, k=rng.randint(1, 50)))
        size = rng.randint(-3, 3)
        answers = both(
            stubs, "ListUsers", users_pb2.ListUsersRequest(page_size=size, page_token=token)
        )
        assert_same_error(answers)
