-- What happened to an incident besides its transitions, for its timeline: a silence kept its
-- notification back (silenced), or let it go when nothing muted the incident any more
-- (unsilenced). Written in the transaction that did it; deleted with the incident.
CREATE TABLE notes (
    seq INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    detail TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX notes_incident ON notes (incident_id, seq);

-- The incident's severity at each transition (a rank, as in incidents), so that a timeline
-- says what an escalation went from and to; NULL for rows written before it was kept.
ALTER TABLE transitions ADD COLUMN severity BIGINT;
