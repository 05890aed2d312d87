"""Request validation, check for check as the Go service does it.

Every function raises InvalidArgument with the request's field violations
(in the order of messages.go) or returns what the store needs.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from polymesh.users.v1 import users_pb2

from . import messages as m

__all__ = [
    "Change",
    "InvalidArgument",
    "check_email",
    "decode_page_token",
    "encode_page_token",
    "is_id",
    "normalize_name",
    "validate_create",
    "validate_id",
    "validate_list",
    "validate_update",
]

_HEX = frozenset("0123456789abcdef")
# RFC 5322 specials: never atext.
_SPECIALS = frozenset('()<>[]:;@\\,"')


class InvalidArgument(Exception):
    """A request with field violations: (field, description) pairs, in order."""

    def __init__(self, violations: Sequence[tuple[str, str]]) -> None:
        self.violations = list(violations)
        field, description = self.violations[0]
        super().__init__(f"{field}: {description}")

    @property
    def message(self) -> str:
        field, description = self.violations[0]
        return f"{field}: {description}"


@dataclass(frozen=True)
class Change:
    """The fields an update sets; None leaves a field alone."""

    email: str | None = None
    name: str | None = None


def _is_vchar(c: str) -> bool:
    return "!" <= c <= "~" or ord(c) >= 0x80


def _is_atext(c: str) -> bool:
    return c == "." or (c not in _SPECIALS and _is_vchar(c))


def _is_dot_atom(s: str) -> bool:
    return (
        s != ""
        and all(_is_atext(c) for c in s)
        and not s.startswith(".")
        and not s.endswith(".")
        and ".." not in s
    )


def _is_ip(text: str) -> bool:
    """Go's net.ParseIP accepts text: IPv4 dotted decimal or IPv6, no zone."""
    if not text.isascii() or "%" in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_domain_literal(s: str) -> bool:
    if len(s) < 2 or s[0] != "[" or s[-1] != "]":
        return False
    dtext = s[1:-1]
    if any(c in "[]\\" or not _is_vchar(c) for c in dtext):
        return False
    return _is_ip(dtext)


def is_plain_address(email: str) -> bool:
    """Whether Go's net/mail.ParseAddress accepts email with Address == email
    and no display name: a dot-atom, "@", and a dot-atom or an IP literal.

    Quoted local parts, comments, spaces and angle brackets change the parsed
    Address, so they never pass.
    """
    local, at, domain = email.partition("@")
    if not at or not _is_dot_atom(local):
        return False
    if domain.startswith("["):
        return _is_domain_literal(domain)
    return _is_dot_atom(domain)


def check_email(email: str) -> str:
    """The violation of an email, or ""."""
    if email == "":
        return m.DESC_REQUIRED
    if len(email.encode()) > m.MAX_EMAIL_BYTES:
        return m.DESC_EMAIL_TOO_LONG
    if not is_plain_address(email):
        return m.DESC_EMAIL_INVALID
    return ""


def normalize_name(name: str) -> tuple[str, str]:
    """The name to store and its violation ("" if none)."""
    if name == "":
        return "", m.DESC_REQUIRED
    trimmed = name.strip(m.TRIMMED_SPACE)
    if any(unicodedata.category(c) == "Cc" for c in trimmed):
        return "", m.DESC_NAME_CONTROL
    if len(trimmed) < m.MIN_NAME_CHARS:
        return "", m.DESC_NAME_TOO_SHORT
    if len(trimmed) > m.MAX_NAME_CHARS:
        return "", m.DESC_NAME_TOO_LONG
    return trimmed, ""


def is_id(s: str) -> bool:
    """Whether s is a UUID in canonical lowercase form."""
    if len(s) != 36:
        return False
    for i, c in enumerate(s):
        if i in (8, 13, 18, 23):
            if c != "-":
                return False
        elif c not in _HEX:
            return False
    return True


def check_id(id_: str) -> str:
    if id_ == "":
        return m.DESC_REQUIRED
    if not is_id(id_):
        return m.DESC_ID_INVALID
    return ""


def encode_page_token(id_: str) -> str:
    """The token of the page after the user with this id."""
    return base64.urlsafe_b64encode(id_.encode()).rstrip(b"=").decode()


def decode_page_token(token: str) -> str | None:
    """The id a token names, if encode_page_token made it (canonical, no padding)."""
    # Go's decoder skips line breaks, even in strict mode.
    token = token.replace("\r", "").replace("\n", "")
    if not token.isascii() or "=" in token or len(token) % 4 == 1:
        return None
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    # Strict decoding: the unused bits of the last character must be zero,
    # which is the same as the token re-encoding to itself.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
        return None
    try:
        id_ = raw.decode()
    except UnicodeDecodeError:
        return None
    return id_ if is_id(id_) else None


def _raise(violations: list[tuple[str, str]]) -> None:
    if violations:
        raise InvalidArgument(violations)


def validate_create(req: users_pb2.CreateUserRequest) -> tuple[str, str]:
    """The email and the trimmed name to store."""
    violations: list[tuple[str, str]] = []
    if desc := check_email(req.email):
        violations.append((m.FIELD_EMAIL, desc))
    name, desc = normalize_name(req.name)
    if desc:
        violations.append((m.FIELD_NAME, desc))
    _raise(violations)
    return req.email, name


def validate_id(id_: str) -> None:
    """Checks the id of a GetUserRequest or DeleteUserRequest."""
    if desc := check_id(id_):
        raise InvalidArgument([(m.FIELD_ID, desc)])


def validate_list(req: users_pb2.ListUsersRequest) -> tuple[int, str]:
    """The page size and the cursor ("" for the first page)."""
    violations: list[tuple[str, str]] = []
    size = req.page_size
    page_size = 0
    if size < 0:
        violations.append((m.FIELD_PAGE_SIZE, m.DESC_PAGE_SIZE_NEGATIVE))
    elif size == 0:
        page_size = m.DEFAULT_PAGE_SIZE
    else:
        page_size = min(size, m.MAX_PAGE_SIZE)
    after = ""
    if req.page_token:
        decoded = decode_page_token(req.page_token)
        if decoded is None:
            violations.append((m.FIELD_PAGE_TOKEN, m.DESC_PAGE_TOKEN_INVALID))
        else:
            after = decoded
    _raise(violations)
    return page_size, after


def validate_update(req: users_pb2.UpdateUserRequest) -> tuple[str, Change]:
    """The id and the change to store."""
    violations: list[tuple[str, str]] = []
    user = req.user
    if desc := check_id(user.id):
        violations.append((m.FIELD_USER_ID, desc))
    paths = list(req.update_mask.paths)
    if not paths:
        violations.append((m.FIELD_UPDATE_MASK, m.DESC_UPDATE_MASK_EMPTY))
    email: str | None = None
    name: str | None = None
    seen: set[str] = set()
    for i, path in enumerate(paths):
        if path in seen:
            continue
        seen.add(path)
        if path == "email":
            if desc := check_email(user.email):
                violations.append((m.FIELD_USER_EMAIL, desc))
            else:
                email = user.email
        elif path == "name":
            trimmed, desc = normalize_name(user.name)
            if desc:
                violations.append((m.FIELD_USER_NAME, desc))
            else:
                name = trimmed
        else:
            violations.append((f"{m.FIELD_UPDATE_MASK_PATH}[{i}]", m.DESC_UPDATE_MASK_PATH))
    _raise(violations)
    return user.id, Change(email=email, name=name)
