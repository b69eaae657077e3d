-- Webhook messages and their deliveries (SPEC "Webhooks"; decision 38). A message is recorded
-- by the writer in the transaction of the change it announces, with one delivery per enabled
-- endpoint of the project subscribed to its type. A message holds ids only: its body is made
-- at each attempt from the session as it then stands, so an erased session's messages carry
-- ids only. `message_id` never repeats (AUTOINCREMENT): it is the receivers' idempotency key
-- (`webhook-id`) and its order is commit order.

CREATE TABLE webhook_messages (
    message_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    project     TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    event_id    TEXT,
    recorded_at INTEGER NOT NULL
);

-- One row per message and endpoint. `due_at`: when it is attempted (again); `lease` and
-- `lease_until`: the dispatcher that claimed it and until when (then another may take it over).
CREATE TABLE webhook_deliveries (
    webhook_id  TEXT    NOT NULL,
    message_id  INTEGER NOT NULL,
    session_id  TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    due_at      INTEGER NOT NULL,
    lease       TEXT,
    lease_until INTEGER,
    PRIMARY KEY (webhook_id, message_id)
) WITHOUT ROWID;

-- The queues: each endpoint's pending messages of one session in commit order; a claim takes
-- only a queue's head.
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (webhook_id, session_id, message_id)
    WHERE status = 'pending';

-- What is due: the claim's scan.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (due_at) WHERE status = 'pending';

-- Every attempt of a delivery: `n` from 1; a status code or an error.
CREATE TABLE webhook_attempts (
    webhook_id  TEXT    NOT NULL,
    message_id  INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    status_code INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL,
    CHECK ((status_code IS NULL) != (error IS NULL)),
    PRIMARY KEY (webhook_id, message_id, n)
) WITHOUT ROWID;
