-- API keys. A key is looked up by its public id; only the SHA-256 of its secret is stored.
-- `scopes` is the comma-separated list of scope names (`read,write`); times are milliseconds
-- since the epoch (UTC), like every time of this schema.

CREATE TABLE api_keys (
    key_id      TEXT    NOT NULL PRIMARY KEY,
    project     TEXT    NOT NULL,
    scopes      TEXT    NOT NULL,
    name        TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER,
    secret_hash BLOB    NOT NULL CHECK (length(secret_hash) = 32)
) WITHOUT ROWID;

-- `GET /admin/keys?project=`: a project's keys in creation order.
CREATE INDEX api_keys_project ON api_keys (project, created_at, key_id);
