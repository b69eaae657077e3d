-- Deliveries written apart from the change (decision 45): a change records its webhook message
-- alone, in its own transaction; the message's deliveries (one per enabled endpoint of the
-- project subscribed to its type) and its queue are written later by a writer job that fans
-- out the messages recorded since `webhook_fanned_out`, the last message fanned out: before
-- every claim, and before any job that reads deliveries or changes an endpoint. The messages
-- recorded before this migration have their deliveries already.
INSERT INTO meta (key, value)
SELECT 'webhook_fanned_out', coalesce(max(message_id), 0) FROM webhook_messages;
