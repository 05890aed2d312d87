-- Users (SQLite). Times are RFC 3339 UTC text with 6 fractional digits,
-- so that text order is time order. See ../README.md.
CREATE TABLE users (
    id          TEXT NOT NULL PRIMARY KEY,
    email       TEXT NOT NULL,
    name        TEXT NOT NULL,
    create_time TEXT NOT NULL,
    update_time TEXT NOT NULL
);

CREATE UNIQUE INDEX users_email_key ON users (email);
