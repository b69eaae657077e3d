-- Projects: every session belongs to one, and a session id is unique within its project only.
-- The keys gain `project` in front; every session stored before belongs to `default`.
-- (SQLite cannot change a primary key in place: the tables are rebuilt, in the migration's
-- transaction, and renamed; renaming `sessions_v2` rewrites the foreign key of `events_v2`.)

CREATE TABLE sessions_v2 (
    project     TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('initiated', 'active', 'completed', 'failed')),
    language    TEXT,
    metadata    TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    event_count INTEGER NOT NULL DEFAULT 0 CHECK (event_count >= 0),
    last_seq    INTEGER NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (project, session_id)
) WITHOUT ROWID;

INSERT INTO sessions_v2 (project, session_id, status, language, metadata, started_at, ended_at,
                         event_count, last_seq, created_at, updated_at)
SELECT 'default', session_id, status, language, metadata, started_at, ended_at,
       event_count, last_seq, created_at, updated_at
  FROM sessions;

-- (project, session_id, seq) is the primary key: pages are range scans of it.
-- (project, session_id, event_id) is unique: the idempotency key of an append.
CREATE TABLE events_v2 (
    project     TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    event_id    TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    timestamp   INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (project, session_id, seq),
    UNIQUE (project, session_id, event_id),
    FOREIGN KEY (project, session_id) REFERENCES sessions_v2 (project, session_id)
) WITHOUT ROWID;

INSERT INTO events_v2 (project, session_id, seq, event_id, type, payload, timestamp, received_at)
SELECT 'default', session_id, seq, event_id, type, payload, timestamp, received_at
  FROM events;

DROP TABLE events;
DROP TABLE sessions;
ALTER TABLE sessions_v2 RENAME TO sessions;
ALTER TABLE events_v2 RENAME TO events;
