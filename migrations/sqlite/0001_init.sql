-- Sessions and their events. Times are integer milliseconds since the Unix epoch (UTC);
-- metadata and payloads are JSON objects kept as their compact text.

CREATE TABLE sessions (
    session_id  TEXT    NOT NULL PRIMARY KEY,
    status      TEXT    NOT NULL CHECK (status IN ('initiated', 'active', 'completed', 'failed')),
    language    TEXT,
    metadata    TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    event_count INTEGER NOT NULL DEFAULT 0 CHECK (event_count >= 0),
    last_seq    INTEGER NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- (session_id, seq) is the primary key: pages are range scans of it.
-- (session_id, event_id) is unique: the idempotency key of an append.
CREATE TABLE events (
    session_id  TEXT    NOT NULL REFERENCES sessions (session_id),
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    event_id    TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    timestamp   INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (session_id, seq),
    UNIQUE (session_id, event_id)
) WITHOUT ROWID;

-- Values created once per store and shared by every instance using it.
CREATE TABLE meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

INSERT INTO meta (key, value) VALUES ('shared_secret', randomblob(32));
