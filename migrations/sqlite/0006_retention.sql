-- Retention counts from the server's clock (SPEC "Retention"): the complete's time for a
-- closed session, the last update's for an open one; both are `updated_at`
-- (domain::Session::retained_since), never the client's `ended_at`. The sweep's index follows.
DROP INDEX sessions_by_retention;
CREATE INDEX sessions_by_retention ON sessions (updated_at);
