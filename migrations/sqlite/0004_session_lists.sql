-- Finding a project's sessions (GET /sessions): every page is a range of one of these indexes,
-- in (created_at, session_id) order, whatever the number of sessions or the cursor's depth.
CREATE INDEX sessions_by_created ON sessions (project, created_at, session_id);
CREATE INDEX sessions_by_status ON sessions (project, status, created_at, session_id);

-- The top-level string entries of each session's metadata (`metadata.<key>=<value>` filters),
-- written in the transaction that inserts the session. Metadata never changes afterwards.
CREATE TABLE session_labels (
    project    TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    session_id TEXT    NOT NULL,
    PRIMARY KEY (project, key, value, created_at, session_id),
    FOREIGN KEY (project, session_id) REFERENCES sessions (project, session_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- Sessions stored before this migration get theirs from their metadata text.
INSERT INTO session_labels (project, key, value, created_at, session_id)
SELECT s.project, j.key, j.value, s.created_at, s.session_id
  FROM sessions s, json_each(s.metadata) j
 WHERE j.type = 'text';
