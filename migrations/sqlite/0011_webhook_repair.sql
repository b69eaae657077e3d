-- Seeing and repairing deliveries (SPEC "Webhooks"; decision 39): the deliveries of an endpoint
-- listed newest first (all, or of one status), messages sent again since a time, and the
-- failing streak that disables an endpoint after `WEBHOOK_DISABLE_AFTER`.

-- The first failed attempt since the last delivered one (NULL: not failing).
ALTER TABLE webhook_endpoints ADD COLUMN failing_since INTEGER;

-- `attempts` when the delivery was last sent again: the retry schedule counts from there.
ALTER TABLE webhook_deliveries ADD COLUMN schedule_from INTEGER NOT NULL DEFAULT 0;

-- An endpoint's deliveries of one status, newest first (all statuses: the primary key).
CREATE INDEX webhook_deliveries_status ON webhook_deliveries (webhook_id, status, message_id);

-- Messages since a time (replay).
CREATE INDEX webhook_messages_recorded ON webhook_messages (recorded_at);
