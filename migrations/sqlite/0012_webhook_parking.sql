-- The queues of a disabled endpoint are parked (decision 40): their `due_at` is moved up by
-- 2^50 ms (`outbox::PARKED`), out of the claims' range, and moved back when the endpoint is
-- enabled again, so that a claim never reads them (a backlog left by a long outage was read and
-- passed over by every claim, in the writer thread). Here: the endpoints disabled already.
UPDATE webhook_queues SET due_at = due_at + 1125899906842624
 WHERE due_at < 1125899906842624
   AND webhook_id IN (SELECT webhook_id FROM webhook_endpoints WHERE enabled = 0);
