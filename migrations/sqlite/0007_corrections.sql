-- Corrections (SPEC "Corrections"): the earlier event an event corrects, and the event that
-- corrects it (set in the same transaction as that event's insert).
ALTER TABLE events ADD COLUMN supersedes TEXT;
ALTER TABLE events ADD COLUMN superseded_by TEXT;

-- `view=current`: a session's events that no correction supersedes, by `seq` — a range of this
-- index whatever share of the session is superseded.
CREATE INDEX events_current ON events (project, session_id, seq) WHERE superseded_by IS NULL;
