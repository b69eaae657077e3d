-- Webhook endpoints (SPEC "Webhooks"). `events` is the comma-separated list of the message types
-- subscribed to; `secret` the bytes that sign (symmetric: stored as they are, never returned);
-- `retired_secret` the one rotated out, which signs beside it until `retired_until`.

CREATE TABLE webhook_endpoints (
    webhook_id     TEXT    NOT NULL PRIMARY KEY,
    project        TEXT    NOT NULL,
    url            TEXT    NOT NULL,
    events         TEXT    NOT NULL,
    description    TEXT,
    enabled        INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    secret         BLOB    NOT NULL,
    retired_secret BLOB,
    retired_until  INTEGER,
    CHECK ((retired_secret IS NULL) = (retired_until IS NULL))
) WITHOUT ROWID;

-- `GET /admin/webhooks?project=`: a project's endpoints in creation order.
CREATE INDEX webhook_endpoints_project ON webhook_endpoints (project, created_at, webhook_id);
