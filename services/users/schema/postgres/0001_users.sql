-- Users (PostgreSQL). Ids sort in byte order ("C" collation), as in SQLite.
-- See ../README.md.
CREATE TABLE users (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    email       TEXT NOT NULL,
    name        TEXT NOT NULL,
    create_time TIMESTAMPTZ NOT NULL,
    update_time TIMESTAMPTZ NOT NULL
);

CREATE UNIQUE INDEX users_email_key ON users (email);
