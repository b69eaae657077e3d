-- Erasure, redaction and retention.

-- A redacted event keeps `payload` = '{}', the time of its redaction and the SHA-256 of its
-- original payload (domain::Fingerprint), so that a retry of the original append is still a
-- replay and different content still a conflict.
ALTER TABLE events ADD COLUMN redacted_at INTEGER;
ALTER TABLE events ADD COLUMN fingerprint BLOB CHECK (fingerprint IS NULL OR length(fingerprint) = 32);

-- What remains of an erased session until `TOMBSTONE_RETENTION` has passed: its id and when.
CREATE TABLE tombstones (
    project    TEXT    NOT NULL,
    session_id TEXT    NOT NULL,
    erased_at  INTEGER NOT NULL,
    PRIMARY KEY (project, session_id)
) WITHOUT ROWID;

-- The retention sweep: expired tombstones, and sessions by the time retention counts from
-- (domain::Session::retained_since: ended_at, else updated_at), oldest first, all projects.
CREATE INDEX tombstones_by_erased ON tombstones (erased_at);
CREATE INDEX sessions_by_retention ON sessions (coalesce(ended_at, updated_at));
