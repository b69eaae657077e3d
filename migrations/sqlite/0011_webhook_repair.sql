-- Seeing and repairing deliveries, and claims that cost what they claim (SPEC "Webhooks";
-- decision 39): the deliveries of an endpoint listed newest first (all, or of one status),
-- messages sent again since a time, the failing streak that disables an endpoint after
-- `WEBHOOK_DISABLE_AFTER`, and one row per queue naming its head.

-- The first failed attempt since the last delivered one (NULL: not failing).
ALTER TABLE webhook_endpoints ADD COLUMN failing_since INTEGER;

-- `attempts` when the delivery was last sent again: the retry schedule counts from there.
ALTER TABLE webhook_deliveries ADD COLUMN schedule_from INTEGER NOT NULL DEFAULT 0;

-- The queues: one row per endpoint and session with a pending delivery, naming the oldest
-- (`head`), when it is due and who holds it. A claim reads these (as many as there are queues,
-- not as many as messages wait); a settle moves `head` on, or removes the row when nothing is
-- pending. The lease moves here from the deliveries.
CREATE TABLE webhook_queues (
    webhook_id  TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    head        INTEGER NOT NULL,
    due_at      INTEGER NOT NULL,
    lease       TEXT,
    lease_until INTEGER,
    PRIMARY KEY (webhook_id, session_id)
) WITHOUT ROWID;
CREATE INDEX webhook_queues_due ON webhook_queues (due_at);
INSERT INTO webhook_queues (webhook_id, session_id, head, due_at, lease, lease_until)
SELECT d.webhook_id, d.session_id, d.message_id, d.due_at, d.lease, d.lease_until
  FROM webhook_deliveries AS d
 WHERE d.status = 'pending'
   AND d.message_id = (SELECT min(q.message_id) FROM webhook_deliveries AS q
                        WHERE q.webhook_id = d.webhook_id AND q.session_id = d.session_id
                          AND q.status = 'pending');
DROP INDEX webhook_deliveries_due;
ALTER TABLE webhook_deliveries DROP COLUMN lease;
ALTER TABLE webhook_deliveries DROP COLUMN lease_until;

-- An endpoint's deliveries of one status, newest first (all statuses: the primary key).
CREATE INDEX webhook_deliveries_status ON webhook_deliveries (webhook_id, status, message_id);

-- Messages since a time (replay).
CREATE INDEX webhook_messages_recorded ON webhook_messages (recorded_at);
