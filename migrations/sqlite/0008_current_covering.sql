-- `view=current` pages read from the index alone (issue 25's target: a page within 1.2× of a
-- `view=all` page). The partial index of 0007 held each current event's key only, so a page
-- looked every row up in the table; this one carries every column a page reads (a second copy
-- of each current event: the storage trade is decision 36 in docs/decisions.md).
DROP INDEX events_current;
CREATE INDEX events_current ON events (
    project, session_id, seq,
    event_id, type, payload, timestamp, received_at, redacted_at, fingerprint, supersedes,
    superseded_by
) WHERE superseded_by IS NULL;
