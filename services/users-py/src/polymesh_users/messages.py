"""The exact texts of the users API's errors, shared with the Go service.

They mirror services/users/internal/userapi/messages.go byte for byte, which
also documents the order of the checks.
"""

from __future__ import annotations

FIELD_EMAIL = "email"
FIELD_NAME = "name"
FIELD_ID = "id"
FIELD_USER_ID = "user.id"
FIELD_USER_EMAIL = "user.email"
FIELD_USER_NAME = "user.name"
FIELD_UPDATE_MASK = "update_mask"
FIELD_UPDATE_MASK_PATH = "update_mask.paths"  # followed by "[<index>]"
FIELD_PAGE_SIZE = "page_size"
FIELD_PAGE_TOKEN = "page_token"

DESC_REQUIRED = "required"
DESC_EMAIL_TOO_LONG = "must be at most 254 bytes"
DESC_EMAIL_INVALID = (
    "must be a plain email address such as ada@example.com, "
    "without a display name, angle brackets or surrounding spaces"
)
DESC_NAME_CONTROL = "must not contain control characters"
DESC_NAME_TOO_SHORT = (
    "must have at least 2 characters once leading and trailing white space is trimmed"
)
DESC_NAME_TOO_LONG = (
    "must have at most 200 characters once leading and trailing white space is trimmed"
)
DESC_ID_INVALID = "must be a user id: a lowercase UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e"
DESC_PAGE_SIZE_NEGATIVE = "must not be negative"
DESC_PAGE_TOKEN_INVALID = "is not a page token returned by ListUsers"
DESC_UPDATE_MASK_EMPTY = "must name at least one field to update: email, name"
DESC_UPDATE_MASK_PATH = "unknown field: the fields that can be updated are email and name"

MSG_USER_NOT_FOUND = "user not found"
MSG_EMAIL_TAKEN = "a user with this email already exists"
MSG_UNAVAILABLE = "the users database is unavailable; try again later"
MSG_INTERNAL = "internal error"

RESOURCE_TYPE_USER = "polymesh.users.v1.User"

MAX_EMAIL_BYTES = 254
MIN_NAME_CHARS = 2
MAX_NAME_CHARS = 200
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

# Go's unicode.IsSpace: trimmed from both ends of a name.
TRIMMED_SPACE = (
    "\t\n\v\f\r \u0085\u00a0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
